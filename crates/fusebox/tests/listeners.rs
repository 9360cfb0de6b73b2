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
