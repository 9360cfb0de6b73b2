//! A process forks while its breaker holds outcomes the store has not
//! taken yet (the store was away): they are the parent's to write, and a
//! child that wrote them too would count them twice. (Fleet mode's
//! unsent calls: `fleet_while_away.rs`.)

mod common;

use std::time::Duration;

use common::write_lock::WriteLock;
use fusebox::{CircuitBreaker, ManualClock};
use fusebox_stores::SqliteStore;

common::write_lock_worker!();

#[test]
fn a_forked_child_does_not_write_its_parents_queued_outcomes_again() {
    if !common::is_worker() {
        common::run_alone("worker_fork_with_queued_outcomes");
    }
}

/// Worker: see `a_forked_child_does_not_write_its_parents_queued_outcomes_again`.
#[cfg(unix)]
#[test]
fn worker_fork_with_queued_outcomes() {
    if !common::is_worker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let breaker = |clock: &ManualClock| {
        CircuitBreaker::builder("api")
            .failure_threshold(10)
            .clock(clock.clone())
            .store(
                SqliteStore::open(&path)
                    .unwrap()
                    .timeout(Duration::from_millis(200))
                    .with_clock(clock.clone()),
            )
            .build()
            .unwrap()
    };
    let b = breaker(&clock);
    b.call(|| Ok::<(), &str>(())).unwrap();
    let lock = WriteLock::take(&path);
    for _ in 0..2 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert!(b.metrics().degraded, "the file is held by another process");
    lock.release();
    // Past the retry interval, in parent and child alike.
    clock.advance(Duration::from_secs(2));
    let child = common::fork::fork(|| {
        let _ = b.state();
        i32::from(b.metrics().degraded)
    });
    assert_eq!(child.wait(), 0, "the child reached the store");
    let _ = b.state();
    assert!(!b.metrics().degraded, "the store is back");
    let observer = breaker(&clock).metrics();
    assert_eq!(
        (
            observer.consecutive_failures,
            observer.failures_since_closed
        ),
        (2, 2),
        "two calls failed, in the parent, before the fork"
    );
    common::report("checked", "yes");
}
