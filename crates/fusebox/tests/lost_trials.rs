//! the machine's bookkeeping of half-open trial calls.

use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, State};

/// `Machine::record` says outcomes "of probes already declared lost change
/// nothing", but it counts a failure in `failures_since_closed` and
/// `last_failure` before it looks the probe up: a trial call declared lost
/// (its `probe_timeout` ran out) that fails later still moves both.
#[test]
fn a_lost_trial_calls_late_failure_changes_nothing() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("lost")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(10))
        .probe_timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_secs(10));
    let lost = b.try_acquire().unwrap();
    assert!(lost.is_probe());
    clock.advance(Duration::from_secs(6)); // its lease ran out
    let before = b.metrics(); // the tick declares it lost
    assert_eq!(before.state, State::HalfOpen);
    assert_eq!(before.half_open_in_flight, 0);
    lost.failure();
    let after = b.metrics();
    assert_eq!(after.state, State::HalfOpen, "a lost probe re-opened it");
    assert_eq!(
        (after.failures_since_closed, after.last_failure_time),
        (before.failures_since_closed, before.last_failure_time),
        "a lost trial call's outcome changed the failure bookkeeping"
    );
}
