//! Dropping a call without an outcome is neutral; late outcomes are stale.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use fusebox::{CircuitBreaker, Error, ManualClock, State};

/// A future that never completes, like a request to a hung server.
struct Hang;

impl Future for Hang {
    type Output = Result<(), &'static str>;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

fn half_open(clock: &ManualClock) -> CircuitBreaker {
    let b = CircuitBreaker::builder("cancel")
        .recovery_timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    b.trip();
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    b
}

#[test]
fn a_dropped_call_async_future_frees_its_half_open_slot() {
    let clock = ManualClock::new();
    let b = half_open(&clock);
    {
        let mut call = pin!(b.call_async(|| Hang));
        assert!(poll_once(call.as_mut()).is_pending());
        assert_eq!(b.metrics().half_open_in_flight, 1);
        assert!(b.try_acquire().is_err(), "the one probe slot is taken");
    } // the future is dropped here, mid-call
    let m = b.metrics();
    assert_eq!((m.half_open_in_flight, m.failures, m.cancelled), (0, 0, 1));
    assert_eq!(m.state, State::HalfOpen);
    let mut next = pin!(b.call_async(|| async { Ok::<_, &str>(1) }));
    assert_eq!(poll_once(next.as_mut()), Poll::Ready(Ok(1)));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn cancellation_can_count_as_failure_by_choice() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("strict")
        .failure_threshold(1)
        .count_cancelled_as_failure(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    drop(b.try_acquire().unwrap());
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_slow_success_from_before_the_trip_never_closes() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("stale")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    let slow = b.try_acquire().unwrap();
    b.call(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(b.state(), State::Open);
    slow.success();
    assert_eq!(b.state(), State::Open);

    clock.advance(Duration::from_secs(5));
    let slow_probe_era = b.try_acquire().unwrap(); // a probe
    b.reset();
    let before_reset = b.try_acquire().unwrap();
    b.reset();
    before_reset.failure();
    slow_probe_era.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
}

/// Pending on its first poll, then fails: a slow request.
struct SlowFailure(bool);

impl Future for SlowFailure {
    type Output = Result<(), &'static str>;
    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Err("timeout"))
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_late_async_failure_does_not_reopen_a_closed_breaker() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("late")
        .failure_threshold(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut slow = pin!(b.call_async(|| SlowFailure(false)));
    assert!(poll_once(slow.as_mut()).is_pending());
    b.trip();
    b.reset();
    // Admitted before the trip, failing after the reset: its own error comes
    // back, but the breaker's new generation ignores it.
    assert_eq!(
        poll_once(slow.as_mut()),
        Poll::Ready(Err(Error::Inner("timeout")))
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
}
