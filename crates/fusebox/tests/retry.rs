//! Retry settings are checked where a `Retry` is made, like a breaker's:
//! a bad one is a `ConfigError` naming it, never a silent extra attempt.

use std::time::Duration;

use fusebox::retry::Retry;
use fusebox::{CircuitBreaker, Error};

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder("retry")
        .failure_threshold(100)
        .build()
        .unwrap()
}

/// Runs `retry` on a call that always fails; returns the attempts made and
/// the delays slept.
fn attempts(retry: &Retry) -> (u32, Vec<Duration>) {
    let mut n = 0;
    let mut slept = Vec::new();
    let result = retry.call_with_sleep(
        &breaker(),
        || {
            n += 1;
            Err::<(), _>(n)
        },
        |d| slept.push(d),
    );
    assert_eq!(result, Err(Error::Inner(n)), "the last attempt's error");
    (n, slept)
}

#[test]
fn zero_attempts_is_refused_where_the_retry_is_made() {
    let err = Retry::new(0, Duration::from_millis(1), Duration::from_millis(1)).unwrap_err();
    assert_eq!(err.field, "max_attempts");
    assert_eq!(err.value, "0");
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn every_bad_setting_is_named() {
    let ms = Duration::from_millis;
    let year = Duration::from_secs(365 * 86_400);
    let cases = [
        (Retry::new(3, ms(2), ms(1)), "max_delay"),
        (Retry::new(3, year + ms(1), year + ms(1)), "base_delay"),
        (Retry::new(3, ms(1), Duration::MAX), "max_delay"),
    ];
    for (retry, field) in cases {
        let err = retry.unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }
    let err = Retry::new(3, ms(1), Duration::MAX).unwrap_err();
    assert!(err.to_string().contains("365d"), "{err}");
}

#[test]
fn the_attempts_made_are_exactly_max_attempts() {
    let ms = Duration::from_millis;
    for max in [1, 2, 5] {
        let retry = Retry::new(max, ms(1), ms(4)).unwrap();
        let (made, slept) = attempts(&retry);
        assert_eq!(made, max);
        assert_eq!(slept.len() as u32, max - 1, "one delay between attempts");
    }
    let zero_delays = Retry::new(3, Duration::ZERO, Duration::ZERO).unwrap();
    assert_eq!(attempts(&zero_delays), (3, vec![Duration::ZERO; 2]));
}

#[test]
fn the_default_is_valid() {
    let (made, slept) = attempts(&Retry::default());
    assert_eq!(made, 3);
    assert_eq!(
        slept,
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
}
