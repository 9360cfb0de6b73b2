//! The manual clock saturates at its far end instead of wrapping back to
//! its origin, however large the jumps.

use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, ManualClock, State};

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn advancing_adds_up_and_saturates_at_the_far_end() {
    let clock = ManualClock::new();
    clock.advance(DAY);
    clock.advance(DAY * 364);
    assert_eq!(clock.elapsed(), DAY * 365);
    clock.advance(Duration::from_secs(1 << 32));
    assert_eq!(clock.elapsed(), DAY * 365 + Duration::from_secs(1 << 32));

    let far_end = Duration::from_nanos(u64::MAX);
    for jump in [
        Duration::from_nanos(u64::MAX),
        Duration::from_nanos(1 << 63),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
        Duration::from_nanos(1),
    ] {
        clock.advance(jump);
        assert_eq!(clock.elapsed(), far_end, "after a jump of {jump:?}");
        assert!(
            clock.now() > Instant::now() + DAY,
            "now() follows elapsed()"
        );
    }
}

#[test]
fn clones_share_the_saturated_time() {
    let clock = ManualClock::new();
    let other = clock.clone();
    clock.advance(Duration::from_nanos(u64::MAX - 5));
    other.advance(Duration::from_nanos(10));
    assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
    assert_eq!(other.elapsed(), Duration::from_nanos(u64::MAX));
}

#[test]
fn a_breaker_opened_near_the_far_end_recovers_after_a_jump_past_it() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("far_end")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    let minute = Duration::from_secs(60);
    clock.advance(Duration::from_nanos(u64::MAX) - minute);
    breaker.trip();
    assert_eq!(breaker.state(), State::Open);
    // A day later is past the end: the clock stops there, a minute after
    // the trip, instead of wrapping back to before it.
    clock.advance(DAY);
    assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.call(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(breaker.state(), State::Closed);
}
