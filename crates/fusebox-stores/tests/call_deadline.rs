//! The store timeout bounds a whole call, whatever other callers do: a
//! locked SQLite file, a Redis server busy in `DEBUG SLEEP`, a reply path
//! adding 40 ms per answer, or a host name that does not resolve.
//!
//! A generous bound is asserted (four timeouts, where queueing behind one
//! connection took up to the number of callers times the timeout); the
//! measured times are printed.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::write_lock::WriteLock;
use common::RedisServer;
use fusebox::store::{Store, StoreErrorKind};
use fusebox::{CircuitBreaker, ManualClock};
use fusebox_stores::{RedisStore, SqliteStore};

common::write_lock_worker!();

const TIMEOUT: Duration = Duration::from_millis(250);
const CALLERS: usize = 8;

/// Each of `CALLERS` threads makes one failing call through its own breaker
/// on `store`; returns how long each took, sorted, and whether each found
/// the store unusable.
fn callers_on(store: Arc<dyn Store>) -> Vec<(Duration, bool)> {
    let mut times: Vec<(Duration, bool)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|i| {
                let store = store.clone();
                scope.spawn(move || {
                    let breaker = CircuitBreaker::builder(format!("caller{i}"))
                        .shared_store(store)
                        .build()
                        .unwrap();
                    let started = Instant::now();
                    let _ = breaker.call(|| Err::<(), _>("down"));
                    let took = started.elapsed();
                    (took, breaker.metrics().degraded)
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    times.sort();
    times
}

fn assert_bounded(what: &str, times: &[(Duration, bool)]) {
    eprintln!(
        "{what}: {:?}",
        times.iter().map(|t| t.0).collect::<Vec<_>>()
    );
    for &(took, degraded) in times {
        assert!(degraded, "{what}: a call that could not reach the store");
        assert!(
            took < TIMEOUT * 4,
            "{what}: a call took {took:?} with a {TIMEOUT:?} timeout: {times:?}"
        );
    }
}

#[test]
fn callers_do_not_queue_behind_a_locked_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap().timeout(TIMEOUT);
    let lock = WriteLock::take(&path);
    let times = callers_on(Arc::new(store));
    lock.release();
    assert_bounded("sqlite, file held by another process", &times);
}

/// Redis 7 refuses `DEBUG` unless told otherwise.
const DEBUG: &[&str] = &["--enable-debug-command", "yes"];

/// Puts the server to sleep for `seconds`; returns once it stops answering.
fn debug_sleep(server: &RedisServer, seconds: u32) -> std::process::Child {
    let sleeper = Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "DEBUG", "SLEEP"])
        .arg(seconds.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("run redis-cli");
    let mut probe = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    // Long: a PING answered late by a loaded machine must not be taken
    // for the server asleep.
    probe
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    // Waiting for the other process to reach the server, not for time.
    let mut sleeper = sleeper;
    while redis::cmd("PING").query::<String>(&mut probe).is_ok() {
        if let Some(status) = sleeper.try_wait().unwrap() {
            panic!("redis-cli DEBUG SLEEP ended at once ({status}): is DEBUG enabled?");
        }
        std::thread::yield_now();
    }
    sleeper
}

#[test]
fn callers_do_not_queue_behind_a_sleeping_redis() {
    let server = RedisServer::start_with(DEBUG);
    let store = RedisStore::open(&server.url()).unwrap().timeout(TIMEOUT);
    // Connected before the server sleeps, so these calls wait on commands
    // (the next test connects to the sleeping server).
    let store: Arc<dyn Store> = Arc::new(store);
    std::thread::scope(|scope| {
        for _ in 0..CALLERS {
            scope.spawn(|| {
                // Connecting within the timeout may take more than one try
                // on a loaded machine.
                let started = Instant::now();
                while let Err(error) = store.transact("warm", &mut |_, _| None) {
                    assert!(started.elapsed() < Duration::from_secs(20), "{error}");
                }
            });
        }
    });
    let mut sleeper = debug_sleep(&server, 30);
    let times = callers_on(store);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_bounded("redis in DEBUG SLEEP", &times);
}

#[test]
fn new_connections_to_a_sleeping_redis_are_bounded_too() {
    let server = RedisServer::start_with(DEBUG);
    let store = RedisStore::open(&server.url()).unwrap().timeout(TIMEOUT);
    let mut sleeper = debug_sleep(&server, 30);
    let times = callers_on(Arc::new(store));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_bounded("redis in DEBUG SLEEP, connecting", &times);
}

#[test]
fn a_slow_reply_path_is_a_timeout_and_no_outcome_counts_twice() {
    let server = RedisServer::start();
    // One reply takes 100 ms, within the 150 ms timeout; two do not. (The
    // audit's 40 ms and 50 ms leave too little room on a loaded machine.)
    let port = common::slow_proxy::start(server.port, Duration::from_millis(100));
    let timeout = Duration::from_millis(150);
    let slow_url = format!("redis://127.0.0.1:{port}/0");
    let store = RedisStore::open(&slow_url).unwrap().timeout(timeout);
    // A read and a write take two replies, 200 ms: past the timeout, and
    // the write may have been stored. (The first call also connects, and
    // fails at its read. A thread kept off the CPU past both replies finds
    // them waiting and succeeds: no error then.)
    let errors: Vec<_> = (0..10)
        .filter_map(|_| {
            store
                .transact("slow", &mut |_, _| Some("fusebox/1 junk".to_owned()))
                .err()
        })
        .collect();
    assert!(
        errors
            .iter()
            .all(|e| e.kind == StoreErrorKind::Timeout && e.message.contains("redis store")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.maybe_written), "{errors:?}");

    // A breaker on that path: every write is in doubt, yet each failure
    // counts exactly once.
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("slow_breaker")
        .failure_threshold(100)
        .store(
            RedisStore::open(&slow_url)
                .unwrap()
                .timeout(timeout)
                .with_clock(clock.clone()),
        )
        .build()
        .unwrap();
    let mut degraded = 0;
    for _ in 0..6 {
        let _ = breaker.call(|| Err::<(), _>("down"));
        degraded += u32::from(breaker.metrics().degraded);
        clock.advance(Duration::from_secs(1));
    }
    for _ in 0..100 {
        if !breaker.metrics().degraded {
            break;
        }
        clock.advance(Duration::from_secs(1));
    }
    assert!(degraded > 0, "a store 200 ms away was never degraded");
    let observer = CircuitBreaker::builder("slow_breaker")
        .failure_threshold(100)
        .store(RedisStore::open(&server.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(observer.metrics().consecutive_failures, 6);
}

#[test]
fn a_host_that_does_not_resolve_is_a_quick_error() {
    let store = RedisStore::open("redis://unresolvable.invalid:6379/0")
        .unwrap()
        .timeout(TIMEOUT);
    let started = Instant::now();
    let error = store.transact("any", &mut |_, _| None).unwrap_err();
    eprintln!("unresolvable host: {:?}: {error}", started.elapsed());
    assert!(error.message.contains("unresolvable.invalid"), "{error}");
    let breaker = CircuitBreaker::builder("nowhere")
        .store(
            RedisStore::open("redis://unresolvable.invalid:6379/0")
                .unwrap()
                .timeout(TIMEOUT),
        )
        .build()
        .unwrap();
    assert_eq!(breaker.call(|| Ok::<_, ()>(1)), Ok(1), "fails open");
    assert!(breaker.metrics().degraded);
}
