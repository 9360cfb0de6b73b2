//! Fleet mode's figures, each against a running store:
//!
//! - `closed URL`: a closed, successful call through a breaker in fleet mode
//!   (`URL?sync=10ms`) against an in-memory breaker, in the same run, with
//!   the store operations the fleet breaker made per second of calls.
//! - `propagation REDIS_URL TRIPS`: how long a trip made by one process
//!   takes to refuse calls in another (p50, p99, max).
//! - `overshoot URL PROCESSES THRESHOLD`: processes failing at full speed;
//!   the fleet's failure count at the trip against the threshold.
//!
//! Run by `scripts/fleet_bench.sh`, which starts its own redis-server.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fusebox::CircuitBreaker;

const SYNC: &str = "sync=10ms";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["closed", url] => closed(url),
        ["propagation", url, trips] => propagation(url, trips.parse().expect("TRIPS")),
        ["watch", url] => watch(url),
        ["overshoot", url, processes, threshold] => overshoot(
            url,
            processes.parse().expect("PROCESSES"),
            threshold.parse().expect("THRESHOLD"),
        ),
        ["fail", url, threshold] => fail(url, threshold.parse().expect("THRESHOLD")),
        _ => {
            eprintln!(
                "usage: fleet_bench closed URL | propagation REDIS_URL TRIPS | \
                 overshoot URL PROCESSES THRESHOLD"
            );
            std::process::exit(64);
        }
    }
}

fn with_sync(url: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{SYNC}")
}

fn fleet_breaker(url: &str, name: &str, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(threshold)
        .recovery_timeout(Duration::from_secs(3600))
        .shared_store(fusebox_stores::open(&with_sync(url)).expect("open store"))
        .build()
        .expect("build")
}

/// Nanoseconds per closed successful call over `calls` calls.
fn per_call(breaker: &CircuitBreaker, calls: u64) -> f64 {
    let start = Instant::now();
    for i in 0..calls {
        let _ = black_box(breaker.call(|| Ok::<_, ()>(black_box(i))));
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn closed(url: &str) {
    const CALLS: u64 = 20_000_000;
    const ROUNDS: usize = 7;
    let memory = CircuitBreaker::builder("bench")
        .failure_threshold(5)
        .build()
        .expect("build");
    let fleet = fleet_breaker(url, "bench-closed", 5);
    let (mut best_memory, mut best_fleet) = (f64::MAX, f64::MAX);
    let mut ratios = Vec::new();
    for _ in 0..ROUNDS {
        let m = per_call(&memory, CALLS);
        let f = per_call(&fleet, CALLS);
        best_memory = best_memory.min(m);
        best_fleet = best_fleet.min(f);
        ratios.push(f / m);
    }
    // Store commands over three seconds of calls at full speed, connections
    // made and scripts loaded already.
    let ops_before = store_operations(url);
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        per_call(&fleet, 1_000_000);
        calls += 1_000_000;
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = store_operations(url).zip(ops_before).map(|(a, b)| a - b);
    assert!(!fleet.metrics().degraded, "the store was not reachable");
    ratios.sort_by(f64::total_cmp);
    println!(
        "{}: closed successful call, fastest of {ROUNDS} x {CALLS}: in memory {best_memory:.2} ns, \
         fleet mode {best_fleet:.2} ns; ratio fleet/memory: best {:.2}, median {:.2}",
        fusebox_stores::redact_url(url),
        best_fleet / best_memory,
        ratios[ROUNDS / 2],
    );
    if let Some(ops) = ops {
        println!(
            "  store commands while calling: {ops} in {secs:.1} s = {:.0}/s \
             ({:.0} million calls/s through the fleet breaker)",
            ops as f64 / secs,
            calls as f64 / secs / 1e6
        );
    }
}

/// Commands the Redis server ran so far (None for other stores).
fn store_operations(url: &str) -> Option<u64> {
    let url = url.split('?').next()?;
    if !url.starts_with("redis") {
        return None;
    }
    let mut connection = redis::Client::open(url).ok()?.get_connection().ok()?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut connection)
        .ok()?;
    let processed = info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))?
        .trim()
        .parse::<u64>()
        .ok()?;
    // This query itself and the connection's handshake are two commands.
    Some(processed.saturating_sub(2))
}

fn wall_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

/// Trips the breaker `trips` times while another process watches it.
fn propagation(url: &str, trips: usize) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["watch", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn watcher");
    let mut from_child = BufReader::new(child.stdout.take().expect("stdout"));
    let mut to_child = child.stdin.take().expect("stdin");
    let tripper = fleet_breaker(url, "bench-propagation", 5);
    let mut took = Vec::with_capacity(trips);
    let mut line = String::new();
    for _ in 0..trips {
        tripper.reset();
        writeln!(to_child, "wait").expect("to watcher");
        line.clear();
        from_child.read_line(&mut line).expect("from watcher"); // "closed"
        let tripped_at = wall_nanos();
        tripper.trip();
        line.clear();
        from_child.read_line(&mut line).expect("from watcher");
        let refused_at: u128 = line.trim().parse().expect("a time");
        took.push(Duration::from_nanos(
            u64::try_from(refused_at.saturating_sub(tripped_at)).unwrap_or(u64::MAX),
        ));
    }
    drop(to_child);
    let _ = child.wait();
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    println!(
        "trip seen by another process, {trips} trips: p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        took[took.len() - 1]
    );
}

/// The watching process: on each "wait", waits until its breaker admits
/// calls, says "closed", then calls until refused and prints when.
fn watch(url: &str) {
    let watcher = fleet_breaker(url, "bench-propagation", 5);
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            return;
        }
        while watcher.try_acquire().is_err() {
            std::thread::yield_now();
        }
        writeln!(out, "closed").expect("to parent");
        out.flush().expect("flush");
        while let Ok(permit) = watcher.try_acquire() {
            permit.ignore();
        }
        writeln!(out, "{}", wall_nanos()).expect("to parent");
        out.flush().expect("flush");
    }
}

fn overshoot(url: &str, processes: usize, threshold: u32) {
    let exe = std::env::current_exe().expect("own path");
    let mut children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args(["fail", url, &threshold.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    // All start failing together, once each has its breaker.
    let mut outputs: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")))
        .collect();
    for out in &mut outputs {
        let mut ready = String::new();
        out.read_line(&mut ready).expect("ready");
    }
    for child in &mut children {
        writeln!(child.stdin.as_mut().expect("stdin"), "go").expect("go");
    }
    let mut made = 0u64;
    for (mut child, mut out) in children.into_iter().zip(outputs) {
        let mut count = String::new();
        out.read_line(&mut count).expect("a count");
        made += count.trim().parse::<u64>().expect("a count");
        let _ = child.wait();
    }
    let observer = CircuitBreaker::builder("bench-overshoot")
        .failure_threshold(threshold)
        .shared_store(fusebox_stores::open(url).expect("open store"))
        .build()
        .expect("build");
    let metrics = observer.metrics();
    println!(
        "{processes} processes failing at full speed, threshold {threshold}: the fleet counted \
         {} at the trip (overshoot {}, transitions {}); {made} failures made in all",
        metrics.failures_since_closed,
        metrics
            .failures_since_closed
            .saturating_sub(u64::from(threshold)),
        metrics.generation,
    );
    observer.reset();
}

/// One failing process: fails until refused; prints its failures.
fn fail(url: &str, threshold: u32) {
    let breaker = fleet_breaker(url, "bench-overshoot", threshold);
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("go");
    let mut failed = 0u64;
    while let Err(fusebox::Error::Inner(())) = breaker.call(|| Err::<(), _>(())) {
        failed += 1;
    }
    drop(breaker);
    println!("{failed}");
}
