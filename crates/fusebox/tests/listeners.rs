//! Transitions reach listeners (and tracing) once each, with their reasons.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Reason, State, Transition};

#[test]
fn listeners_see_each_transition_once_in_order() {
    let clock = ManualClock::new();
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = seen.clone();
    let b = CircuitBreaker::builder("s3_upload")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .on_transition(move |t| sink.lock().unwrap().push(t.clone()))
        .build()
        .unwrap();

    for _ in 0..2 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    clock.advance(Duration::from_secs(10));
    b.call(|| Ok::<_, ()>(())).unwrap();
    for _ in 0..100 {
        b.call(|| Ok::<_, ()>(())).unwrap();
    }

    let seen = seen.lock().unwrap();
    let summary: Vec<_> = seen
        .iter()
        .map(|t| (t.from, t.to, t.reason, t.generation))
        .collect();
    assert_eq!(
        summary,
        [
            (
                State::Closed,
                State::Open,
                Reason::ConsecutiveFailures(2),
                1
            ),
            (State::Open, State::HalfOpen, Reason::OpenTimeoutElapsed, 2),
            (
                State::HalfOpen,
                State::Closed,
                Reason::ProbesSucceeded(1),
                3
            ),
        ]
    );
    assert_eq!(
        seen[0].to_string(),
        "circuit 's3_upload' closed -> open: 2 consecutive failures"
    );
    assert_eq!(seen[1].at, seen[0].at + Duration::from_secs(10));
}

/// Defect: transitions were announced after the lock was dropped, so two
/// threads could deliver theirs out of order (2 in 80,000 seen).
#[test]
fn racing_manual_transitions_reach_listeners_in_generation_order() {
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = seen.clone();
    let b = CircuitBreaker::builder("racing")
        .on_transition(move |t| sink.lock().unwrap().push(t.generation))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    if (i + t) % 2 == 0 {
                        b.trip();
                    } else {
                        b.reset();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 20_000, "every transition announced once");
    let expected: Vec<u64> = (1..=20_000).collect();
    assert!(
        *seen == expected,
        "out of order: {:?}",
        first_disorder(&seen)
    );
}

fn first_disorder(seen: &[u64]) -> Option<(usize, u64, u64)> {
    seen.windows(2)
        .position(|w| w[1] != w[0] + 1)
        .map(|i| (i, seen[i], seen[i + 1]))
}

/// A listener may use its breaker, even make a transition: that one is
/// announced after the current one, on the same thread, without deadlock.
#[test]
fn a_listener_may_call_its_breaker() {
    let seen: Arc<Mutex<Vec<(State, State)>>> = Arc::default();
    let sink = seen.clone();
    let me: Arc<Mutex<Option<CircuitBreaker>>> = Arc::default();
    let handle = me.clone();
    let b = CircuitBreaker::builder("reentrant")
        .on_transition(move |t| {
            sink.lock().unwrap().push((t.from, t.to));
            let breaker = handle.lock().unwrap().clone();
            if let Some(breaker) = breaker {
                let _ = breaker.metrics();
                if t.to == State::ForcedOpen {
                    breaker.reset();
                }
            }
        })
        .build()
        .unwrap();
    *me.lock().unwrap() = Some(b.clone());
    b.force_open();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Closed, State::ForcedOpen),
            (State::ForcedOpen, State::Closed)
        ]
    );
    *me.lock().unwrap() = None; // the breaker and its listener hold each other
}

/// A panicking listener does not stop later transitions from being announced.
#[test]
fn a_panicking_listener_does_not_silence_the_breaker() {
    let seen: Arc<Mutex<Vec<State>>> = Arc::default();
    let sink = seen.clone();
    let b = CircuitBreaker::builder("panicky")
        .on_transition(move |t| {
            sink.lock().unwrap().push(t.to);
            assert!(t.to != State::Open, "listener bug");
        })
        .build()
        .unwrap();
    let tripping = b.clone();
    assert!(std::thread::spawn(move || tripping.trip()).join().is_err());
    b.reset();
    assert_eq!(*seen.lock().unwrap(), [State::Open, State::Closed]);
}
