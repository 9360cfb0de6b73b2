//! The common traits the public types promise.

use fusebox::{CircuitBreaker, ManualClock, State, Window};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

#[test]
fn states_parse_their_names_and_sort_in_declaration_order() {
    for state in State::ALL {
        assert_eq!(state.as_str().parse::<State>(), Ok(state));
    }
    let error = "opened".parse::<State>().unwrap_err();
    assert!(error.to_string().contains("\"opened\""), "{error}");
    let sorted: Vec<State> = State::ALL
        .into_iter()
        .rev()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(sorted, State::ALL);
    let windows: HashSet<Window> = [
        Window::count(10),
        Window::count(10),
        Window::time(Duration::from_secs(1)),
    ]
    .into();
    assert_eq!(windows.len(), 2);
}

#[test]
fn an_owned_permit_can_be_ignored_and_says_what_it_is() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("owned")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let closed = b.try_acquire_owned().unwrap();
    assert!(!closed.is_probe());
    assert_eq!(closed.generation(), 0);
    closed.ignore();
    b.trip();
    clock.advance(Duration::from_secs(1));
    let trial = b.try_acquire_owned().unwrap();
    assert!(trial.is_probe());
    trial.ignore(); // frees the trial slot, counts nothing
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.try_acquire_owned().unwrap().is_probe());
    assert_eq!(b.metrics().ignored, 2);
}

#[test]
fn a_registry_forgets_a_breaker_it_is_told_to() {
    let registry = fusebox::Registry::new();
    let first = registry.get_or_create("tenant-42");
    first.trip();
    let removed = registry.remove("tenant-42").expect("it was made");
    assert_eq!(removed.name(), "tenant-42");
    assert!(registry.get("tenant-42").is_none());
    assert!(registry.remove("tenant-42").is_none());
    assert_eq!(registry.get_or_create("tenant-42").state(), State::Closed);
}

#[test]
fn store_error_kinds_hash_and_say_what_they_are() {
    use fusebox::store::StoreErrorKind;
    let kinds: HashSet<StoreErrorKind> = [
        StoreErrorKind::Timeout,
        StoreErrorKind::Timeout,
        StoreErrorKind::Open,
    ]
    .into();
    assert_eq!(kinds.len(), 2);
    assert_eq!(StoreErrorKind::Timeout.to_string(), "store timed out");
}
