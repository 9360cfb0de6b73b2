//! 1,000 breakers and 50 viewers: the store is still read once per
//! interval (the scans are counted, not timed), and the server's memory
//! does not grow with viewers who read slowly or not at all.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::dashboard::Dashboard;
use common::Env;

const BREAKERS: usize = 1_000;
const VIEWERS: usize = 50;
/// Viewers that subscribe and never read a byte.
const IDLE: usize = 10;
const INTERVAL: Duration = Duration::from_millis(400);
/// Snapshots each reading viewer waits for, per round.
const ROUND: usize = 5;

/// Fills the state file with `BREAKERS` breakers, half open, half closed:
/// two real ones written by `fusebox`, copied under other names.
fn fill(env: &Env) {
    assert!(env.run(&["trip", "open-0"]).status.success());
    assert!(env.run(&["run", "closed-0", "--", "true"]).status.success());
    let db = rusqlite::Connection::open(env.path("state.db")).unwrap();
    db.execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {half})
         INSERT INTO fusebox_state (key, state, machine, updated_at)
         SELECT replace(key, '-0', '-' || i), state, machine, updated_at
         FROM fusebox_state, n WHERE key IN ('circuit_breaker:open-0', 'circuit_breaker:closed-0');",
        half = BREAKERS / 2 - 1
    ))
    .unwrap();
    let count: usize = db
        .query_row("SELECT count(*) FROM fusebox_state", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, BREAKERS);
}

/// The resident memory of process `pid`, in kB.
fn resident_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap()
}

/// The scan number of a snapshot as sent (JSON keys are sorted, so
/// `"scan"` comes after `"breakers"`: found from the end).
fn scan_of(data: &str) -> u64 {
    let at = data.rfind("\"scan\":").unwrap() + "\"scan\":".len();
    let digits: String = data[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// Every reading viewer waits for `ROUND` more snapshots, each on its own
/// thread (only the last is parsed whole: parsing 40 copies of every
/// snapshot would cost the test more than the server); returns the viewers.
fn round(viewers: Vec<common::dashboard::Events>) -> Vec<common::dashboard::Events> {
    let handles: Vec<_> = viewers
        .into_iter()
        .map(|mut events| {
            std::thread::spawn(move || {
                let mut last = 0;
                let mut seen = 0;
                while seen < ROUND {
                    let data = events.next_text();
                    let scan = scan_of(&data);
                    if scan == 0 {
                        continue; // sent before the first scan ended
                    }
                    assert!(scan > last, "scan {scan} after {last}: one event per scan");
                    last = scan;
                    seen += 1;
                    if seen == ROUND {
                        let snapshot: serde_json::Value = serde_json::from_str(&data).unwrap();
                        assert_eq!(snapshot["breakers"].as_array().unwrap().len(), BREAKERS);
                    }
                }
                events
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn a_thousand_breakers_and_fifty_viewers_cost_one_scan_per_interval() {
    let env = Env::new();
    fill(&env);
    let started = Instant::now();
    let store = format!("sqlite://{}", env.path("state.db").display());
    let dashboard = Dashboard::start(&env, &store, "400ms", false);
    let pid = dashboard.child.id();
    let mut readers = Vec::new();
    for _ in 0..VIEWERS - IDLE {
        readers.push(dashboard.events());
    }
    // Subscribed, never read: the server must not queue snapshots for them.
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| {
            let mut stream = TcpStream::connect(&dashboard.address).unwrap();
            write!(stream, "GET /events HTTP/1.0\r\n\r\n").unwrap();
            stream
        })
        .collect();

    let readers = round(readers);
    let memory_after_first = resident_kb(pid);
    let readers = round(readers);
    let readers = round(readers);
    let memory_after_third = resident_kb(pid);
    let scans = dashboard.scans();
    let elapsed = started.elapsed();

    // At most one scan per interval since the dashboard started (the
    // clock of the test starts earlier, so this bound is generous), and
    // one more for the scan at start. Were viewers causing scans, 40
    // readers taking 15 snapshots each would have caused hundreds.
    let intervals = (elapsed.as_secs_f64() / INTERVAL.as_secs_f64()).floor() as u64;
    eprintln!(
        "load: {BREAKERS} breakers, {VIEWERS} viewers ({IDLE} idle): {scans} scans in {elapsed:?} ({intervals} intervals); resident {memory_after_first} kB after round 1, {memory_after_third} kB after round 3"
    );
    assert!(
        scans <= intervals + 1,
        "{scans} scans in {intervals} intervals"
    );
    assert!(
        scans >= (3 * ROUND) as u64,
        "{scans} scans for {} snapshots",
        3 * ROUND
    );
    // Two more rounds of snapshots to 40 viewers (and 10 that read
    // nothing) leave memory where it was, within 16 MiB of allocator slack.
    assert!(
        memory_after_third <= memory_after_first + 16 * 1024,
        "resident memory grew from {memory_after_first} kB to {memory_after_third} kB"
    );
    assert_eq!(dashboard.get("/").status, 200);
    drop((readers, idle));
}
