//! The tower layer: failures trip the breaker, rejections never reach the
//! inner service, a dropped response future is neutral.
#![cfg(feature = "tower")]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use fusebox::{CircuitBreaker, CircuitBreakerLayer, Error, ManualClock, State};
use tower::{Service, ServiceBuilder, ServiceExt};

fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

#[test]
fn failures_trip_and_rejections_skip_the_inner_service() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("tower")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service_fn(move |x: u32| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if x == 0 {
                    Err("zero")
                } else {
                    Ok(x * 2)
                }
            }
        });

    let svc = ready(service.ready()).unwrap();
    assert_eq!(ready(svc.call(4)), Ok(8));
    for _ in 0..2 {
        let svc = ready(service.ready()).unwrap();
        assert_eq!(ready(svc.call(0)), Err(Error::Inner("zero")));
    }
    assert_eq!(breaker.state(), State::Open);
    let svc = ready(service.ready()).unwrap();
    assert!(matches!(ready(svc.call(1)), Err(Error::Open(_))));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the rejected call never ran"
    );

    clock.advance(Duration::from_secs(5));
    let svc = ready(service.ready()).unwrap();
    assert_eq!(ready(svc.call(3)), Ok(6));
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_dropped_response_future_frees_the_trial_slot() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("tower-drop")
        .recovery_timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.trip();
    clock.advance(Duration::from_secs(5));
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service_fn(|_: ()| std::future::pending::<Result<(), ()>>());
    let svc = ready(service.ready()).unwrap();
    let mut call = Box::pin(svc.call(()));
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    assert_eq!(breaker.metrics().half_open_in_flight, 1);
    drop(call);
    let m = breaker.metrics();
    assert_eq!(
        (m.half_open_in_flight, m.failures, m.state),
        (0, 0, State::HalfOpen)
    );
}
