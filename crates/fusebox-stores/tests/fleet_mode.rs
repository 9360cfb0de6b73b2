//! Fleet mode (`sync_every`) against a real `redis-server`: processes at
//! full speed, change messages lost, the server killed and restarted.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RedisServer;
use fusebox::{CircuitBreaker, State};
use fusebox_stores::RedisStore;

const PROCESSES: usize = 8;
const INTERVAL: Duration = Duration::from_millis(10);
/// Long enough that a loaded machine never pushes a worker into degraded
/// mode: these tests are about sharing, not timeouts.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

fn store(url: &str, interval: Duration) -> RedisStore {
    RedisStore::open(url)
        .unwrap()
        .timeout(STORE_TIMEOUT)
        .sync_every(interval)
}

fn breaker(url: &str, threshold: u32, heard: Arc<AtomicU32>) -> CircuitBreaker {
    CircuitBreaker::builder("fleet")
        .failure_threshold(threshold)
        .recovery_timeout(Duration::from_secs(600))
        .on_transition(move |_| {
            heard.fetch_add(1, Ordering::Relaxed);
        })
        .store(store(url, INTERVAL))
        .build()
        .unwrap()
}

/// The shared state as an exact-mode process reads it.
fn observed(url: &str) -> fusebox::Metrics {
    CircuitBreaker::builder("fleet")
        .failure_threshold(u32::MAX)
        .store(RedisStore::open(url).unwrap().timeout(STORE_TIMEOUT))
        .build()
        .unwrap()
        .metrics()
}

fn run_workers(entry: &str, vars: &[(&str, String)]) -> Vec<String> {
    common::run_workers(entry, vars, PROCESSES)
}

fn sum(outputs: &[String], tag: &str) -> u64 {
    outputs
        .iter()
        .map(|o| common::tagged(o, tag)[0].parse::<u64>().unwrap())
        .sum()
}

/// Worker: fails calls as fast as it can until the breaker refuses one.
#[test]
fn worker_fail_at_full_speed() {
    if !common::is_worker() {
        return;
    }
    let threshold = common::var("THRESHOLD").parse().unwrap();
    let heard = Arc::new(AtomicU32::new(0));
    let b = breaker(&common::var("STORE_URL"), threshold, heard.clone());
    let mut failed = 0u64;
    let started = Instant::now();
    loop {
        match b.call(|| Err::<(), _>("down")) {
            Err(fusebox::Error::Inner(_)) => failed += 1,
            Err(fusebox::Error::Open(_)) => break,
            Ok(()) => unreachable!(),
        }
        assert!(started.elapsed() < PATIENCE, "never refused");
    }
    drop(b);
    common::report("failed", failed);
    common::report("heard", heard.load(Ordering::Relaxed));
}

#[test]
fn eight_processes_at_full_speed_trip_once_within_the_bound() {
    let server = RedisServer::start();
    let threshold = 1000u32;
    let outputs = run_workers(
        "worker_fail_at_full_speed",
        &[
            ("STORE_URL", server.url()),
            ("THRESHOLD", threshold.to_string()),
        ],
    );
    let metrics = observed(&server.url());
    assert_eq!(metrics.state, State::Open);
    assert_eq!(metrics.generation, 1, "exactly one transition in the store");
    assert_eq!(sum(&outputs, "heard"), 1, "one process made the trip");
    let at_trip = metrics.failures_since_closed;
    let failed = sum(&outputs, "failed");
    assert!(at_trip >= u64::from(threshold), "tripped at {at_trip}");
    assert!(at_trip <= failed, "{at_trip} counted of {failed} made");
    // Each process trips on its own view (the fleet's streak at its last
    // synchronisation plus its own failures since), so no batch holds more
    // than `threshold` failures.
    assert!(
        at_trip < PROCESSES as u64 * u64::from(threshold),
        "{at_trip} failures merged"
    );
    eprintln!(
        "fleet total at the trip: {at_trip} (threshold {threshold}, overshoot {}); \
         failures made: {failed}",
        at_trip - u64::from(threshold)
    );
}

/// Worker: makes CALLS calls at full speed, one in three failing, on a
/// breaker that never trips; reports its failures.
#[test]
fn worker_count_at_full_speed() {
    if !common::is_worker() {
        return;
    }
    let b = breaker(&common::var("STORE_URL"), u32::MAX, Arc::default());
    let calls: u64 = common::var("CALLS").parse().unwrap();
    let mut failed = 0u64;
    for i in 0..calls {
        if i % 3 == 2 {
            let _ = b.call(|| Err::<(), _>("down"));
            failed += 1;
        } else {
            let _ = b.call(|| Ok::<_, ()>(()));
        }
    }
    assert!(!b.metrics().degraded);
    drop(b); // the last synchronisation
    common::report("failed", failed);
}

#[test]
fn every_outcome_of_eight_processes_is_counted_once() {
    let server = RedisServer::start();
    let outputs = run_workers(
        "worker_count_at_full_speed",
        &[("STORE_URL", server.url()), ("CALLS", "300000".to_owned())],
    );
    let metrics = observed(&server.url());
    assert_eq!(metrics.state, State::Closed);
    assert_eq!(metrics.failures_since_closed, sum(&outputs, "failed"));
}

/// Waits until `b` refuses a call; how long that took.
fn until_refused(b: &CircuitBreaker) -> Duration {
    let started = Instant::now();
    while b.try_acquire().is_ok() {
        assert!(started.elapsed() < PATIENCE, "the trip never arrived");
        std::thread::sleep(Duration::from_micros(200));
    }
    started.elapsed()
}

fn fleet_member(url: &str, interval: Duration) -> CircuitBreaker {
    CircuitBreaker::builder("fleet")
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(600))
        .store(store(url, interval))
        .build()
        .unwrap()
}

#[test]
fn a_trip_reaches_the_other_processes_by_message() {
    let server = RedisServer::start();
    // An interval of an hour: only the message can bring the trip this soon.
    let a = fleet_member(&server.url(), Duration::from_secs(3600));
    let b = fleet_member(&server.url(), Duration::from_secs(3600));
    // The subscriber connects on its own thread: wait until it listens.
    let mut raw = client(&server);
    while pubsub_clients(&mut raw) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    a.trip();
    let took = until_refused(&b);
    eprintln!("trip seen by the other process after {took:?}");
}

#[test]
fn a_lost_message_is_made_up_for_by_the_next_synchronisation() {
    let server = RedisServer::start();
    let interval = Duration::from_millis(50);
    let a = fleet_member(&server.url(), interval);
    let b = fleet_member(&server.url(), interval);
    let mut raw = client(&server);
    while pubsub_clients(&mut raw) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Cut both subscribers off; they take a while to subscribe again, and
    // the trip's message goes out meanwhile.
    let _: redis::Value = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query(&mut raw)
        .unwrap();
    a.trip();
    let took = until_refused(&b);
    eprintln!("trip seen without its message after {took:?} (interval {interval:?})");
}

#[test]
fn failures_counted_while_redis_is_down_are_merged_when_it_returns() {
    let mut server = RedisServer::start();
    let url = server.url();
    let a = CircuitBreaker::builder("fleet")
        .failure_threshold(100)
        .store(
            RedisStore::open(&url)
                .unwrap()
                .timeout(Duration::from_secs(2))
                .sync_every(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        let _ = a.call(|| Err::<(), _>("down"));
    }
    a.sync_now().unwrap();
    server.kill();
    for _ in 0..4 {
        let _ = a.call(|| Err::<(), _>("down"));
    }
    assert!(a.sync_now().is_err());
    assert!(a.metrics().degraded);
    assert_eq!(a.metrics().consecutive_failures, 7, "it counts on alone");
    server.restart(); // empty: the server kept nothing on disk
    let started = Instant::now();
    while a.sync_now().is_err() {
        assert!(started.elapsed() < PATIENCE, "never reconciled");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!a.metrics().degraded);
    let metrics = observed(&url);
    assert_eq!(
        metrics.failures_since_closed, 4,
        "the failures made while the server was away reach the new record"
    );
    assert_eq!(a.metrics().consecutive_failures, 4);
}

fn client(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn pubsub_clients(raw: &mut redis::Connection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg(&["LIST", "TYPE", "pubsub"])
        .query(raw)
        .unwrap();
    list.lines().count()
}

/// A fleet-mode breaker made before `fork()` synchronises in the child too
/// (pre-fork servers): the child has none of its parent's threads, so its
/// first `state()` starts them again.
#[cfg(unix)]
#[test]
fn a_forked_child_hears_of_a_trip() {
    let server = RedisServer::start();
    // Only a message can bring the trip: the interval is an hour.
    let b = fleet_member(&server.url(), Duration::from_secs(3600));
    let mut raw = client(&server);
    while pubsub_clients(&mut raw) < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let child = common::fork::fork(|| {
        assert_eq!(b.state(), State::Closed);
        let started = Instant::now();
        while b.try_acquire().is_ok() {
            if started.elapsed() > PATIENCE {
                return 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        0
    });
    // The child subscribes on a thread of its own.
    let started = Instant::now();
    while pubsub_clients(&mut raw) < 2 {
        assert!(started.elapsed() < PATIENCE, "the child never subscribed");
        std::thread::sleep(Duration::from_millis(1));
    }
    let other = fleet_member(&server.url(), Duration::from_secs(3600));
    other.trip();
    assert_eq!(
        child.wait(),
        0,
        "1: the trip never reached the child; 101: the child panicked"
    );
}

// Long enough that a stalled machine does not age a live member out.
const QUORUM_LIVENESS: Duration = Duration::from_secs(2);

fn quorum_member(url: &str, name: &str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(600))
        .store(store(url, INTERVAL))
        .quorum(fusebox::Quorum::at_least(2).liveness(QUORUM_LIVENESS))
        .build()
        .unwrap()
}

fn fail_until_refused(b: &CircuitBreaker) {
    let started = Instant::now();
    while let Err(fusebox::Error::Inner(_)) | Ok(()) = b.call(|| Err::<(), _>("down")) {
        assert!(started.elapsed() < PATIENCE, "never refused");
    }
}

fn stored_state(raw: &mut redis::Connection, name: &str) -> String {
    let machine: String = redis::cmd("HGET")
        .arg(format!("circuit_breaker:{name}"))
        .arg("machine")
        .query(raw)
        .unwrap();
    machine
        .split(' ')
        .find_map(|f| f.strip_prefix("state="))
        .unwrap()
        .to_owned()
}

/// Each member has a store of its own (its own connections and
/// subscriber), as a process would.
#[test]
fn quorum_one_sick_process_opens_itself_and_two_open_the_fleet() {
    let server = RedisServer::start();
    let url = server.url();
    let members: Vec<_> = (0..4).map(|_| quorum_member(&url, "quorum")).collect();
    let mut raw = client(&server);
    fail_until_refused(&members[0]);
    for m in &members {
        m.sync_now().unwrap();
    }
    assert_eq!(stored_state(&mut raw, "quorum"), "closed");
    assert!(members[1..].iter().all(|m| m.try_acquire().is_ok()));
    fail_until_refused(&members[1]);
    members[1].sync_now().unwrap();
    assert_eq!(stored_state(&mut raw, "quorum"), "open");
    // The others hear of it by message, or at their next interval.
    for m in &members[2..] {
        until_refused(m);
        assert_eq!(
            m.metrics().reason,
            Some(fusebox::Reason::Quorum { open: 2, live: 4 })
        );
    }
}

/// Worker: a quorum member that fails until it is open on its own, says
/// so, and waits to be killed.
#[test]
fn worker_quorum_member_open_alone() {
    if !common::is_worker() {
        return;
    }
    let b = quorum_member(&common::var("STORE_URL"), "mortal");
    fail_until_refused(&b);
    b.sync_now().unwrap();
    common::report("open", true);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn quorum_a_dead_process_stops_counting_within_the_liveness_window() {
    let server = RedisServer::start();
    let url = server.url();
    let mut worker = common::spawn_worker(
        "worker_quorum_member_open_alone",
        &[("STORE_URL", url.clone())],
    );
    let mut out = BufReader::new(worker.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("@@open") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the worker ended");
    }
    worker.kill().unwrap(); // SIGKILL: no last word
    let _ = worker.wait();
    // Real time is the point: the dead member's last word ages out.
    std::thread::sleep(QUORUM_LIVENESS + Duration::from_millis(50));
    let survivor = quorum_member(&url, "mortal");
    fail_until_refused(&survivor);
    survivor.sync_now().unwrap();
    let mut raw = client(&server);
    assert_eq!(
        stored_state(&mut raw, "mortal"),
        "closed",
        "one live process open of one: at_least(2) is not met"
    );
    let second = quorum_member(&url, "mortal");
    fail_until_refused(&second);
    second.sync_now().unwrap();
    assert_eq!(stored_state(&mut raw, "mortal"), "open");
}

#[test]
fn a_trip_made_while_redis_is_down_is_written_when_it_returns() {
    let mut server = RedisServer::start();
    let url = server.url();
    let a = CircuitBreaker::builder("fleet")
        .failure_threshold(5)
        .store(
            RedisStore::open(&url)
                .unwrap()
                .timeout(Duration::from_secs(2))
                .sync_every(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    server.kill();
    a.trip();
    assert_eq!(a.try_acquire().unwrap_err().state, State::Open);
    server.restart();
    let started = Instant::now();
    while a.sync_now().is_err() {
        assert!(started.elapsed() < PATIENCE, "never reconciled");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        observed(&url).state,
        State::Open,
        "the trip reached the store"
    );
    assert_eq!(a.try_acquire().unwrap_err().state, State::Open);
}
