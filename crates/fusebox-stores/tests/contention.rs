//! Contention never loses an outcome: 16 writers (threads with a store
//! object each, or processes) fail 25 calls each on one breaker whose policy
//! never trips, and the stored streak ends at exactly 400. Writers that lose
//! the race past their timeout carry on locally and merge their outcomes
//! back on their next successful transaction.

mod common;

use std::time::Duration;

use common::deploy::{Kind, TestRedis};
use fusebox::store::Store;
use fusebox::{CircuitBreaker, ManualClock};
use fusebox_stores::{RedisStore, SqliteStore};

const WRITERS: usize = 16;
const FAILURES: u32 = 25;
/// How many times a writer may find the store still contended while
/// settling before the test gives up on it.
const MAX_SETTLE_ROUNDS: usize = 100_000;

/// Where the writers' store is: `sqlite:PATH` or a `redis://` URL.
fn open(at: &str, clock: &ManualClock, timeout: Duration) -> Box<dyn Fn() -> CircuitBreaker> {
    let at = at.to_owned();
    let clock = clock.clone();
    Box::new(move || {
        let builder = CircuitBreaker::builder("contended")
            .failure_threshold(1000)
            .recovery_timeout(Duration::from_secs(600));
        let builder = match at.strip_prefix("sqlite:") {
            Some(path) => builder.store(
                SqliteStore::open(path)
                    .unwrap()
                    .timeout(timeout)
                    .with_clock(clock.clone()),
            ),
            None => builder.store(
                RedisStore::open(&at)
                    .unwrap()
                    .timeout(timeout)
                    .with_clock(clock.clone()),
            ),
        };
        builder.build().unwrap()
    })
}

/// Fails `FAILURES` calls, then gives the breaker its retries (by moving
/// its own clock past the retry interval) until it is in sync with the
/// store. Returns how many of its calls found the store unusable.
fn fail_then_settle(at: &str, timeout: Duration) -> u32 {
    let clock = ManualClock::new();
    let breaker = open(at, &clock, timeout)();
    let mut degraded = 0;
    for _ in 0..FAILURES {
        let _ = breaker.call(|| Err::<(), _>("down"));
        degraded += u32::from(breaker.metrics().degraded);
    }
    for _ in 0..MAX_SETTLE_ROUNDS {
        if !breaker.metrics().degraded {
            return degraded;
        }
        clock.advance(Duration::from_secs(1));
    }
    panic!("the breaker never reached the store again");
}

/// The streak in the store, read by a breaker of its own (which, on a
/// loaded machine, may find the store busy at first, like any writer).
fn stored_streak(at: &str) -> u32 {
    let clock = ManualClock::new();
    let observer = open(at, &clock, Duration::from_secs(5))();
    for _ in 0..MAX_SETTLE_ROUNDS {
        let metrics = observer.metrics();
        if !metrics.degraded {
            return metrics.consecutive_failures;
        }
        clock.advance(Duration::from_secs(1));
    }
    panic!("the observer never reached the store");
}

fn threads(at: &str, timeout: Duration) {
    let degraded: Vec<u32> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| scope.spawn(|| fail_then_settle(at, timeout)))
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    eprintln!("calls that found the store unusable, per writer: {degraded:?}");
    assert_eq!(stored_streak(at), WRITERS as u32 * FAILURES);
}

/// Worker: one writer of the process fleet.
#[test]
fn worker_fail_then_settle() {
    if common::is_worker() {
        let timeout = Duration::from_millis(common::var("TIMEOUT_MS").parse().unwrap());
        let degraded = fail_then_settle(&common::var("STORE_AT"), timeout);
        common::report("degraded", degraded);
    }
}

fn processes(at: &str, timeout: Duration) {
    let vars = [
        ("STORE_AT", at.to_owned()),
        ("TIMEOUT_MS", timeout.as_millis().to_string()),
    ];
    let degraded: Vec<_> = common::run_workers("worker_fail_then_settle", &vars, WRITERS)
        .iter()
        .map(|out| common::tagged(out, "degraded")[0].clone())
        .collect();
    eprintln!("calls that found the store unusable, per process: {degraded:?}");
    assert_eq!(stored_streak(at), WRITERS as u32 * FAILURES);
}

fn sqlite_at(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("state.db");
    // Create the schema once, before the writers race.
    drop(SqliteStore::open(&path).unwrap());
    format!("sqlite:{}", path.display())
}

// SQLite writers wait for the file's write lock: a short timeout makes many
// of them give up and merge later, which is the path under test.
const SQLITE_TIMEOUT: Duration = Duration::from_millis(2);

#[test]
fn sixteen_threads_lose_no_failure_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    threads(&sqlite_at(&dir), SQLITE_TIMEOUT);
}

#[test]
fn sixteen_processes_lose_no_failure_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    processes(&sqlite_at(&dir), SQLITE_TIMEOUT);
}

// Redis writers race compare-and-set: with the default timeout the loser
// reads again until its call's budget is spent.
const REDIS_TIMEOUT: Duration = fusebox_stores::DEFAULT_TIMEOUT;

common::deploy::on_every_redis!(
    sixteen_threads_lose_no_failure_in_redis,
    sixteen_processes_lose_no_failure_in_redis,
    a_redis_writer_that_always_loses_gives_up_at_its_deadline,
);

fn sixteen_threads_lose_no_failure_in_redis(kind: Kind) {
    let redis = TestRedis::start(kind);
    threads(&redis.url(), REDIS_TIMEOUT);
}

fn sixteen_processes_lose_no_failure_in_redis(kind: Kind) {
    let redis = TestRedis::start(kind);
    processes(&redis.url(), REDIS_TIMEOUT);
}

/// The store's `transact` with a writer that always loses: the contended
/// call fails within the timeout, as an error, and stores nothing.
fn a_redis_writer_that_always_loses_gives_up_at_its_deadline(kind: Kind) {
    let redis = TestRedis::start(kind);
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .timeout(Duration::from_millis(500));
    let mut raw = redis.raw();
    let mut runs = 0;
    let result = store.transact("busy", &mut |_, _| {
        runs += 1;
        // Another writer bumps the version between our read and our write.
        let _: () = redis::cmd("HINCRBY")
            .arg("circuit_breaker:busy")
            .arg("version")
            .arg(1)
            .query(&mut *raw)
            .unwrap();
        Some(format!("attempt {runs}"))
    });
    let error = result.unwrap_err();
    assert_eq!(
        error.kind,
        fusebox::store::StoreErrorKind::Timeout,
        "{error}"
    );
    // Whether it says so depends on where the deadline fell (a reply still
    // in flight when it came is a write in doubt): the record tells.
    let stored: Vec<String> = redis::cmd("HVALS")
        .arg("circuit_breaker:busy")
        .query(&mut *raw)
        .unwrap();
    assert!(
        stored.iter().all(|value| !value.contains("attempt")),
        "a lost race wrote nothing: {error}; stored {stored:?}"
    );
    assert!(runs > 1, "it read again after losing");
}
