//! Settings as values, built outside the crate: a registry whose breakers
//! use a rate policy, a slow-call policy and a backoff without a file.

use std::time::Duration;

use fusebox::{BackoffConfig, BreakerConfig, ManualClock, RatePolicy, Registry, SlowCalls, State};

#[test]
fn a_registry_with_a_rate_policy_built_in_code() {
    let mut defaults = BreakerConfig::default();
    defaults.policy = Some(
        RatePolicy::new(0.5)
            .window(fusebox::Window::count(4))
            .minimum_calls(4),
    );
    defaults.slow_calls = Some(SlowCalls::new(Duration::from_secs(5), 1.0));
    defaults.backoff = Some(
        BackoffConfig::new(Duration::from_secs(600))
            .multiplier(3.0)
            .jitter(false)
            .seed(7),
    );
    let clock = ManualClock::new();
    let registry = Registry::new()
        .with_clock(clock)
        .with_defaults(defaults)
        .unwrap();
    let b = registry.get_or_create("api");
    for ok in [true, false, true] {
        let _ = b.call(|| if ok { Ok(()) } else { Err(()) });
    }
    assert_eq!(b.state(), State::Closed, "3 calls: under the minimum");
    let _ = b.call(|| Err::<(), _>(()));
    assert_eq!(b.state(), State::Open, "2 of 4 failed: rate 0.5");
}

#[test]
fn an_invalid_rate_built_in_code_is_refused_by_the_registry() {
    let mut defaults = BreakerConfig::default();
    defaults.policy = Some(RatePolicy::new(1.5));
    let error = Registry::new().with_defaults(defaults).unwrap_err();
    assert!(error.to_string().contains("1.5"), "{error}");
}
