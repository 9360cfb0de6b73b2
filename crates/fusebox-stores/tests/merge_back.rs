//! Outcomes recorded while the store was out of reach are merged back when
//! it returns, in the generation they belong to; those of a generation the
//! fleet has left are ignored, like any stale outcome.

mod common;

use std::time::Duration;

use common::write_lock::WriteLock;
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::SqliteStore;

common::write_lock_worker!();

fn breaker(path: &std::path::Path, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("api")
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(600))
        .store(SqliteStore::open(path).unwrap().with_clock(clock.clone()))
        .build()
        .unwrap()
}

#[test]
fn failures_counted_while_locked_out_reach_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let b = breaker(&path, &clock);
    let _ = b.call(|| Err::<(), _>("down"));
    let lock = WriteLock::take(&path);
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert!(b.metrics().degraded);
    lock.release();
    clock.advance(Duration::from_secs(1)); // the retry interval
    assert!(!b.metrics().degraded);
    let observer = breaker(&path, &clock);
    assert_eq!(observer.metrics().consecutive_failures, 4, "1 + 3 merged");
    // The fifth failure, from anyone, opens it for all.
    let _ = observer.call(|| Err::<(), _>("down"));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn failures_of_a_generation_the_fleet_left_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let b = breaker(&path, &clock);
    let lock = WriteLock::take(&path);
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert!(b.metrics().degraded);
    lock.release();
    // Meanwhile an operator trips and resets the breaker elsewhere.
    let operator = breaker(&path, &clock);
    operator.trip();
    operator.reset();
    clock.advance(Duration::from_secs(1));
    let metrics = b.metrics();
    assert!(!metrics.degraded);
    assert_eq!(metrics.generation, 2);
    assert_eq!(
        metrics.consecutive_failures, 0,
        "stale failures do not count"
    );
}
