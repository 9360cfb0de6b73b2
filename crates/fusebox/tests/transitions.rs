//! Every transition of SPEC section 1, through the public API, with a manual clock.

use std::time::Duration;

use fusebox::{CircuitBreaker, ConfigError, Error, ManualClock, Outcome, State};

fn breaker(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("api")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(30))
        .success_threshold(2)
        .half_open_max_calls(1)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn fail(breaker: &CircuitBreaker) -> Result<(), Error<&'static str>> {
    breaker.call(|| Err("boom"))
}

fn succeed(breaker: &CircuitBreaker) -> Result<u32, Error<&'static str>> {
    breaker.call(|| Ok(7))
}

#[test]
fn the_tripping_call_returns_its_own_error_and_later_calls_are_rejected() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    assert_eq!(fail(&b), Err(Error::Inner("boom")));
    assert_eq!(fail(&b), Err(Error::Inner("boom")));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(fail(&b), Err(Error::Inner("boom")));
    assert_eq!(b.state(), State::Open);

    let mut ran = false;
    let err = b
        .call(|| {
            ran = true;
            Ok::<_, &str>(())
        })
        .unwrap_err();
    assert!(!ran, "an open breaker must not run the call");
    let rejected = err.rejected().unwrap();
    assert_eq!(rejected.name, "api");
    assert_eq!(rejected.state, State::Open);
    assert_eq!(rejected.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(err.to_string(), "circuit 'api' is open; retry in 30.0s");
}

#[test]
fn retry_after_counts_down_with_the_clock() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    b.trip();
    clock.advance(Duration::from_millis(17_700));
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after, Some(Duration::from_millis(12_300)));
    assert_eq!(
        rejected.to_string(),
        "circuit 'api' is open; retry in 12.3s"
    );
}

#[test]
fn a_success_resets_the_failure_streak() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    for _ in 0..5 {
        fail(&b).unwrap_err();
        fail(&b).unwrap_err();
        succeed(&b).unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().failures, 10);
}

#[test]
fn open_reads_half_open_after_the_timeout_without_any_call() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    b.trip();
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_millis(1));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.metrics().state, State::HalfOpen);
}

#[test]
fn half_open_admits_one_probe_and_closes_after_two_successes() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    b.trip();
    clock.advance(Duration::from_secs(30));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    let other = b.try_acquire().unwrap_err();
    assert_eq!(other.state, State::HalfOpen);
    probe.success();
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b).unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_probe_failure_reopens_for_a_full_timeout() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    b.trip();
    clock.advance(Duration::from_secs(45));
    assert_eq!(fail(&b), Err(Error::Inner("boom")));
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(30))
    );
}

#[test]
fn a_hung_probe_is_released_after_probe_timeout() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("hung")
        .recovery_timeout(Duration::from_secs(1))
        .probe_timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    b.trip();
    clock.advance(Duration::from_secs(1));
    let hung = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(4));
    assert!(b.try_acquire().is_err());
    clock.advance(Duration::from_secs(1));
    let fresh = b.try_acquire().expect("the lost probe's slot is free");
    hung.failure(); // too late: ignored
    assert_eq!(b.state(), State::HalfOpen);
    fresh.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn manual_control() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    clock.advance(Duration::from_secs(3600));
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.state, State::ForcedOpen);
    assert_eq!(rejected.retry_after, None);

    b.disable();
    for _ in 0..10 {
        fail(&b).unwrap_err();
    }
    assert_eq!(b.state(), State::Disabled);
    assert_eq!(b.metrics().failures, 10);

    b.reset();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.failures, m.rejections, m.last_failure_time),
        (0, 0, None)
    );

    b.trip();
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn the_classifier_decides_what_counts() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let not_found = |r: &Result<(), &str>| match r {
        Err(e) if *e == "not found" => Outcome::Ignored,
        Err(e) if *e == "redirect" => Outcome::Success,
        other => Outcome::of(other),
    };
    for _ in 0..10 {
        let err = b.call_with(not_found, || Err("not found")).unwrap_err();
        assert_eq!(err, Error::Inner("not found"));
    }
    fail(&b).unwrap_err();
    fail(&b).unwrap_err();
    b.call_with(not_found, || Err("redirect")).unwrap_err();
    fail(&b).unwrap_err();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!((m.ignored, m.failures, m.successes), (10, 3, 1));
}

#[test]
fn metrics_report_counts_rate_and_time_in_state() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    succeed(&b).unwrap();
    fail(&b).unwrap_err();
    clock.advance(Duration::from_secs(2));
    fail(&b).unwrap_err();
    fail(&b).unwrap_err();
    clock.advance(Duration::from_secs(5));
    b.try_acquire().unwrap_err();
    let m = b.metrics();
    assert_eq!(m.name, "api");
    assert_eq!(m.state, State::Open);
    assert_eq!(m.generation, 1);
    assert_eq!((m.successes, m.failures, m.rejections), (1, 3, 1));
    assert_eq!(m.failure_rate, 0.75);
    assert_eq!(m.time_in_state, Duration::from_secs(5));
    assert_eq!(
        m.last_failure_time,
        Some(clock.now() - Duration::from_secs(5))
    );
}

#[test]
fn invalid_settings_are_refused_with_the_field_named() {
    let cases: [(fusebox::Builder, &str); 6] = [
        (
            CircuitBreaker::builder("x").failure_threshold(0),
            "failure_threshold",
        ),
        (
            CircuitBreaker::builder("x").success_threshold(0),
            "success_threshold",
        ),
        (
            CircuitBreaker::builder("x").half_open_max_calls(0),
            "half_open_max_calls",
        ),
        (
            CircuitBreaker::builder("x").recovery_timeout(Duration::ZERO),
            "recovery_timeout",
        ),
        (
            CircuitBreaker::builder("x").probe_timeout(Duration::ZERO),
            "probe_timeout",
        ),
        (CircuitBreaker::builder(""), "name"),
    ];
    for (builder, field) in cases {
        let err: ConfigError = builder.build().unwrap_err();
        assert_eq!(err.field, field);
        assert!(
            err.to_string().starts_with(&format!("invalid {field} = ")),
            "{err}"
        );
    }
    let err = fusebox::__private::duration_from_secs("recovery_timeout", f64::NAN).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid recovery_timeout = NaN: must be a finite number of seconds greater than zero"
    );
    assert!(fusebox::__private::duration_from_secs("recovery_timeout", -1.0).is_err());
    assert_eq!(
        fusebox::__private::duration_from_secs("t", 0.25),
        Ok(Duration::from_millis(250))
    );
}

#[test]
fn clones_share_one_breaker_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<CircuitBreaker>();
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let clone = b.clone();
    std::thread::spawn(move || clone.trip()).join().unwrap();
    assert_eq!(b.state(), State::Open);
}
