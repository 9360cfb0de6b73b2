//! The rate policies and the open-duration backoff, through the public API.

use std::time::Duration;

use fusebox::{Backoff, CircuitBreaker, ManualClock, Reason, State, Transition, Window};
use std::sync::{Arc, Mutex};

fn ok(b: &CircuitBreaker) {
    b.call(|| Ok::<_, ()>(())).unwrap();
}

fn fail(b: &CircuitBreaker) {
    b.call(|| Err::<(), _>(())).unwrap_err();
}

fn rate_breaker(clock: &ManualClock, window: Window, minimum_calls: u32) -> CircuitBreaker {
    CircuitBreaker::builder("rate")
        .failure_rate(0.5, window, minimum_calls)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn a_count_window_forgets_old_successes() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::count(100), 20);
    for _ in 0..10_000 {
        ok(&b);
    }
    for n in 1..=50 {
        assert_eq!(b.state(), State::Closed, "opened after only {n} failures");
        fail(&b);
    }
    assert_eq!(b.state(), State::Open, "50 of the last 100 calls failed");
}

#[test]
fn nothing_opens_below_minimum_calls_and_exactly_at_it_the_rate_counts() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::count(100), 10);
    for _ in 0..9 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "9 calls are fewer than 10");
    fail(&b);
    assert_eq!(
        b.state(),
        State::Open,
        "the 10th call reaches minimum_calls"
    );
}

#[test]
fn a_rate_exactly_at_the_threshold_opens() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("exact")
        .failure_rate(0.3, Window::count(10), 10)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..7 {
        ok(&b);
    }
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed, "2 of 9");
    fail(&b);
    assert_eq!(b.state(), State::Open, "3 of 10 is exactly 0.3");
}

#[test]
fn a_success_that_completes_minimum_calls_can_open() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::count(10), 4);
    fail(&b);
    fail(&b);
    fail(&b);
    ok(&b); // 3 of 4 failed: over the threshold once the window is full enough
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_time_window_drops_calls_older_than_its_span() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::time(Duration::from_secs(10)), 4);
    fail(&b);
    fail(&b);
    fail(&b);
    clock.advance(Duration::from_secs(11));
    ok(&b);
    ok(&b);
    ok(&b);
    fail(&b);
    assert_eq!(
        b.state(),
        State::Closed,
        "the early failures left the window"
    );
    assert_eq!(b.metrics().failure_rate, 0.25);
}

#[test]
fn a_time_window_after_a_long_idle_gap_starts_empty() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::time(Duration::from_secs(1)), 2);
    for _ in 0..100 {
        ok(&b);
    }
    clock.advance(Duration::from_secs(86_400 * 365));
    fail(&b);
    assert_eq!(b.state(), State::Closed, "one call is below minimum_calls");
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_time_window_with_a_clock_that_does_not_move() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::time(Duration::from_secs(60)), 100);
    for _ in 0..100 {
        ok(&b);
    }
    for _ in 0..99 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "99 of 199");
    fail(&b);
    assert_eq!(b.state(), State::Open, "100 of 200");
}

#[test]
fn slow_calls_open_the_breaker() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("slow")
        .slow_calls(Duration::from_millis(500), 0.5)
        .sliding_window(Window::count(4), 4)
        .clock(clock.clone())
        .build()
        .unwrap();
    let slow = || {
        b.call(|| {
            clock.advance(Duration::from_millis(501));
            Ok::<_, ()>(())
        })
    };
    slow().unwrap();
    ok(&b);
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    slow().unwrap();
    assert_eq!(b.state(), State::Open, "2 of 4 calls were slow");
    assert_eq!(b.metrics().slow, 2);
}

#[test]
fn policies_combine_whichever_trips_first() {
    let clock = ManualClock::new();
    let log: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = log.clone();
    let b = CircuitBreaker::builder("both")
        .failure_threshold(3)
        .failure_rate(0.5, Window::count(10), 10)
        .clock(clock.clone())
        .on_transition(move |t| sink.lock().unwrap().push(t.clone()))
        .build()
        .unwrap();
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open, "consecutive policy");
    b.reset();
    for _ in 0..3 {
        fail(&b);
        fail(&b);
        ok(&b);
    }
    assert_eq!(b.state(), State::Closed, "6 of 9: below minimum_calls");
    fail(&b);
    assert_eq!(b.state(), State::Open, "rate policy, never three in a row");
    assert_eq!(
        reasons(&log),
        [
            Reason::ConsecutiveFailures(3),
            Reason::Reset,
            Reason::FailureRate {
                failures: 7,
                calls: 10
            }
        ]
    );
}

#[test]
fn the_rate_window_restarts_when_the_breaker_closes() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("restart")
        .failure_rate(0.5, Window::count(10), 2)
        .recovery_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(1));
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(
        b.state(),
        State::Closed,
        "one failure alone is below minimum_calls"
    );
}

fn reasons(log: &Arc<Mutex<Vec<Transition>>>) -> Vec<Reason> {
    log.lock().unwrap().iter().map(|t| t.reason).collect()
}

fn open_durations(backoff: Backoff, reopens: usize) -> Vec<Duration> {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("backoff")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(1))
        .backoff(backoff)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    let mut durations = Vec::new();
    for _ in 0..reopens {
        let wait = b.try_acquire().unwrap_err().retry_after.unwrap();
        durations.push(wait);
        clock.advance(wait);
        fail(&b); // the trial call fails: re-open
    }
    durations
}

/// `Backoff::Fixed.jitter(true)` is a jittered fixed backoff, as
/// resilience4j's randomized wait interval and Polly's constant backoff
/// with jitter are: each open lasts between `recovery_timeout` and half as
/// long again, so a fleet that opened together does not probe together.
#[test]
fn a_fixed_backoff_with_jitter_spreads_its_open_durations() {
    let durations = open_durations(Backoff::Fixed.jitter(true).seed(7), 20);
    for d in &durations {
        assert!(
            (Duration::from_secs(1)..=Duration::from_millis(1500)).contains(d),
            "{d:?} is outside [recovery_timeout, 1.5 × recovery_timeout]"
        );
    }
    let mut distinct = durations.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 10, "jitter was ignored: {durations:?}");
    assert_eq!(
        durations,
        open_durations(Backoff::Fixed.jitter(true).seed(7), 20),
        "a seed repeats them"
    );
    assert_eq!(Backoff::Fixed.jitter(true).jitter(false), Backoff::Fixed);
}

#[test]
fn exponential_backoff_grows_to_its_cap_and_resets_on_close() {
    let secs = |s: &[u64]| {
        s.iter()
            .map(|&s| Duration::from_secs(s))
            .collect::<Vec<_>>()
    };
    let exponential = Backoff::exponential(Duration::from_secs(10));
    assert_eq!(open_durations(exponential, 6), secs(&[1, 2, 4, 8, 10, 10]));
    assert_eq!(open_durations(Backoff::Fixed, 3), secs(&[1, 1, 1]));

    let clock = ManualClock::new();
    let log: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = log.clone();
    let b = CircuitBreaker::builder("reset")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(1))
        .backoff(exponential)
        .clock(clock.clone())
        .on_transition(move |t| sink.lock().unwrap().push(t.clone()))
        .build()
        .unwrap();
    fail(&b);
    clock.advance(Duration::from_secs(1));
    fail(&b);
    clock.advance(Duration::from_secs(2));
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(1)),
        "closing resets the backoff"
    );
    assert_eq!(reasons(&log)[0], Reason::ConsecutiveFailures(1));
}

#[test]
fn jitter_stays_between_the_base_and_the_exponential_value_and_repeats_by_seed() {
    let jittered = Backoff::exponential(Duration::from_secs(60))
        .jitter(true)
        .seed(7);
    let first = open_durations(jittered, 8);
    assert_eq!(
        first,
        open_durations(jittered, 8),
        "same seed, same durations"
    );
    assert_ne!(first, open_durations(jittered.seed(8), 8));
    for (n, d) in first.iter().enumerate() {
        let ceiling = Duration::from_secs((1u64 << n).min(60));
        assert!(*d >= Duration::from_secs(1) && *d <= ceiling, "{n}: {d:?}");
    }
}

#[test]
fn bad_policy_values_name_the_field() {
    let cases = [
        (
            CircuitBreaker::builder("x").failure_rate(0.0, Window::count(10), 1),
            "failure_rate",
        ),
        (
            CircuitBreaker::builder("x").failure_rate(f64::NAN, Window::count(10), 1),
            "failure_rate",
        ),
        (
            CircuitBreaker::builder("x").failure_rate(1.5, Window::count(10), 1),
            "failure_rate",
        ),
        (
            CircuitBreaker::builder("x").failure_rate(0.5, Window::count(0), 1),
            "window",
        ),
        (
            CircuitBreaker::builder("x").failure_rate(0.5, Window::time(Duration::ZERO), 1),
            "window",
        ),
        (
            CircuitBreaker::builder("x").failure_rate(0.5, Window::count(10), 0),
            "minimum_calls",
        ),
        (
            CircuitBreaker::builder("x").slow_calls(Duration::ZERO, 0.5),
            "slow_call_duration",
        ),
        (
            CircuitBreaker::builder("x").slow_calls(Duration::from_secs(1), -0.1),
            "slow_call_rate",
        ),
        (
            CircuitBreaker::builder("x").backoff(Backoff::exponential(Duration::from_secs(1))),
            "backoff.max",
        ),
        (
            CircuitBreaker::builder("x")
                .backoff(Backoff::exponential(Duration::from_secs(60)).multiplier(0.5)),
            "backoff.multiplier",
        ),
    ];
    for (builder, field) in cases {
        assert_eq!(builder.build().unwrap_err().field, field);
    }
}

#[test]
fn a_policy_value_combines_the_same_way() {
    use fusebox::Policy;
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("value")
        .policy(Policy::consecutive(3).or(Policy::failure_rate(0.5, Window::count(10), 10)))
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        fail(&b);
        fail(&b);
        ok(&b);
    }
    fail(&b);
    assert_eq!(b.state(), State::Open, "7 of 10 failed, never 3 in a row");
    let b = CircuitBreaker::builder("value2")
        .policy(Policy::failure_rate(0.5, Window::count(4), 4))
        .build()
        .unwrap();
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(
        b.state(),
        State::Closed,
        "no consecutive policy when a rate is chosen"
    );
}

#[test]
fn minimum_calls_above_a_count_window_is_refused_naming_both() {
    let err = CircuitBreaker::builder("rate")
        .failure_rate(0.5, Window::count(10), 20)
        .build()
        .unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.value.as_str()),
        ("minimum_calls", "20")
    );
    assert!(err.expected.contains("10 calls"), "{err}");
    let err = CircuitBreaker::builder("slow")
        .slow_calls(Duration::from_secs(1), 0.5)
        .sliding_window(Window::count(5), 6)
        .build()
        .unwrap_err();
    assert_eq!(err.field, "minimum_calls", "{err}");
}

#[test]
fn minimum_calls_equal_to_the_window_trips_when_it_is_full() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock, Window::count(10), 10);
    for _ in 0..9 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "9 calls are fewer than 10");
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn durations_beyond_a_year_are_refused_not_capped() {
    let year = Duration::from_secs(365 * 86_400);
    let builder = || CircuitBreaker::builder("long");
    let cases = [
        (builder().recovery_timeout(year * 2), "recovery_timeout"),
        (builder().probe_timeout(Duration::MAX), "probe_timeout"),
        (
            builder().failure_rate(0.5, Window::time(year * 2), 10),
            "window",
        ),
        (
            builder().slow_calls(Duration::from_secs(u64::MAX), 0.5),
            "slow_call_duration",
        ),
        (
            builder().backoff(Backoff::exponential(Duration::MAX)),
            "backoff.max",
        ),
    ];
    for (builder, field) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.field, field, "{err}");
        assert!(err.expected.contains("365d"), "{err}");
    }
    builder().recovery_timeout(year).build().unwrap();
}
