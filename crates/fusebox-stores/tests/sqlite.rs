//! The SQLite store with real files and real processes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use common::fleet;
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::SqliteStore;

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("state.db").display())
}

common::fleet_workers!();

/// Worker: holds an exclusive lock on the database until its stdin closes.
#[test]
fn worker_lock_database() {
    if common::is_worker() {
        let connection = rusqlite::Connection::open(common::var("DB_PATH")).unwrap();
        connection.execute_batch("BEGIN EXCLUSIVE").unwrap();
        common::report("locked", true);
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        connection.execute_batch("COMMIT").unwrap();
    }
}

#[test]
fn eight_processes_share_one_breaker() {
    let dir = tempfile::tempdir().unwrap();
    fleet::eight_processes_trip_one_breaker("worker_fail_until_rejected", &url(&dir));
}

#[test]
fn half_open_probes_are_limited_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    fleet::half_open_probes_are_limited_fleet_wide("worker_take_a_probe", &url(&dir));
}

#[test]
fn eight_processes_share_one_breaker_in_fleet_mode() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}?sync=10ms", url(&dir));
    fleet::eight_processes_trip_one_breaker("worker_fail_until_rejected", &url);
}

#[test]
fn half_open_probes_are_limited_across_processes_in_fleet_mode() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}?sync=10ms", url(&dir));
    fleet::half_open_probes_are_limited_fleet_wide("worker_take_a_probe", &url);
}

#[test]
fn state_survives_a_restart_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let open = || {
        SqliteStore::open(dir.path().join("state.db"))
            .unwrap()
            .with_clock(clock.clone())
    };
    let first = CircuitBreaker::builder("cron")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(60))
        .store(open())
        .build()
        .unwrap();
    let _ = first.call(|| Err::<(), _>(()));
    drop(first);
    let second = CircuitBreaker::builder("cron")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(60))
        .store(open())
        .build()
        .unwrap();
    let _ = second.call(|| Err::<(), _>(()));
    assert_eq!(second.state(), State::Open, "1 + 1 failures across runs");
    clock.advance(Duration::from_secs(60));
    assert_eq!(second.state(), State::HalfOpen);
    let entries = open().entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "cron");
}

#[test]
fn a_locked_file_degrades_to_local_state_then_writes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("locked")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(600))
        .store(SqliteStore::open(&path).unwrap().with_clock(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(b.state(), State::Closed);

    let mut locker = common::spawn_worker(
        "worker_lock_database",
        &[("DB_PATH", path.display().to_string())],
    );
    let mut out = BufReader::new(locker.stdout.take().unwrap());
    let locked = out
        .by_ref()
        .lines()
        .map_while(Result::ok)
        .any(|l| l == "@@locked true");
    assert!(locked, "the locker did not lock");

    // The store is locked: calls go on, on local state.
    let _ = b.call(|| Err::<(), _>(()));
    let _ = b.call(|| Err::<(), _>(()));
    let metrics = b.metrics();
    assert!(metrics.degraded);
    assert_eq!(metrics.state, State::Open, "tripped on local state");

    // The lock goes away: the local open state is written back.
    locker.stdin.take().unwrap().write_all(b"done\n").unwrap();
    std::io::copy(&mut out, &mut std::io::sink()).unwrap();
    assert!(locker.wait().unwrap().success());
    let observer = CircuitBreaker::builder("locked")
        .failure_threshold(2)
        .store(SqliteStore::open(&path).unwrap().with_clock(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(
        observer.state(),
        State::Closed,
        "nothing reached the store yet"
    );
    // A degraded breaker retries the store at most once a second.
    clock.advance(Duration::from_secs(1));
    assert!(!b.metrics().degraded, "the store answers again");
    assert_eq!(
        observer.state(),
        State::Open,
        "local state was written back"
    );
}

#[test]
fn a_foreign_row_is_reset_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO fusebox_state VALUES ('circuit_breaker:junk', 'open', 'not ours at all', 0)",
        [],
    )
    .unwrap();
    let b = CircuitBreaker::builder("junk")
        .store(SqliteStore::open(&path).unwrap())
        .build()
        .unwrap();
    assert_eq!(b.state(), State::Closed);
    let _ = b.call(|| Err::<(), _>(()));
    let machine: String = raw
        .query_row(
            "SELECT machine FROM fusebox_state WHERE key = 'circuit_breaker:junk'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(machine.starts_with("fusebox/1 state=closed"), "{machine}");
}

#[test]
fn an_unopenable_path_is_a_clear_error() {
    let err = SqliteStore::open("/nonexistent/dir/state.db")
        .err()
        .unwrap();
    assert!(err.message.contains("/nonexistent/dir/state.db"), "{err}");
}

#[test]
fn idle_breakers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let open = || {
        SqliteStore::open(dir.path().join("state.db"))
            .unwrap()
            .ttl(Duration::from_secs(3600))
            .with_clock(clock.clone())
    };
    let idle = CircuitBreaker::builder("idle")
        .failure_threshold(1)
        .store(open())
        .build()
        .unwrap();
    let _ = idle.call(|| Err::<(), _>(()));
    assert_eq!(idle.state(), State::Open);
    clock.advance(Duration::from_secs(3601));
    assert_eq!(idle.state(), State::Closed, "expired state reads as new");
    let busy = CircuitBreaker::builder("busy")
        .failure_threshold(1)
        .store(open())
        .build()
        .unwrap();
    let _ = busy.call(|| Err::<(), _>(()));
    let names: Vec<_> = open()
        .entries()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["busy"], "the idle row was deleted");
}

/// Worker: opens the database (perhaps creating it) and reads a breaker.
#[test]
fn worker_open_and_read() {
    if common::is_worker() {
        let store = SqliteStore::open(common::var("DB_PATH"))
            .map(|s| s.timeout(Duration::from_secs(5)))
            .unwrap();
        let b = CircuitBreaker::builder("fresh")
            .store(store)
            .build()
            .unwrap();
        let _ = b.call(|| Err::<(), _>(()));
        common::report("degraded", b.metrics().degraded);
    }
}

#[test]
fn many_processes_creating_one_new_database_all_succeed() {
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("new{round}.db"));
        let workers: Vec<_> = (0..12)
            .map(|_| {
                common::spawn_worker(
                    "worker_open_and_read",
                    &[("DB_PATH", path.display().to_string())],
                )
            })
            .collect();
        let mut finished = 0;
        for worker in workers {
            let out = worker.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "worker failed: {text}");
            finished += 1;
            assert_eq!(common::tagged(&text, "degraded"), ["false"], "{text}");
        }
        assert_eq!(finished, 12);
        let b = CircuitBreaker::builder("fresh")
            .store(SqliteStore::open(&path).unwrap())
            .build()
            .unwrap();
        assert_eq!(b.metrics().state, State::Open, "12 failures in total");
    }
}
