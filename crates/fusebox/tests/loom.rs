//! Model-checked interleavings of the admission and transition code.
//!
//! Run with `RUSTFLAGS="--cfg fusebox_loom" cargo test -p fusebox --test loom --release`.
#![cfg(fusebox_loom)]

use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, State};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

fn half_open(max_calls: u32) -> CircuitBreaker {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("loom")
        .half_open_max_calls(max_calls)
        .success_threshold(2)
        .recovery_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    b.trip();
    clock.advance(Duration::from_secs(1));
    b
}

#[test]
fn half_open_admits_at_most_the_limit() {
    loom::model(|| {
        let b = half_open(1);
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                thread::spawn(move || {
                    if let Ok(permit) = b.try_acquire() {
                        assert_eq!(admitted.fetch_add(1, Ordering::SeqCst), 0);
                        admitted.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.metrics().half_open_in_flight, 0);
    });
}

#[test]
fn a_success_racing_a_failure_leaves_a_consistent_streak() {
    loom::model(|| {
        let b = CircuitBreaker::builder("loom")
            .failure_threshold(2)
            .build()
            .unwrap();
        let first = b.try_acquire().unwrap();
        first.failure();
        let other = b.clone();
        let t = thread::spawn(move || {
            if let Ok(permit) = other.try_acquire() {
                permit.success();
            }
        });
        let failed = b.try_acquire().map(|p| p.failure()).is_ok();
        t.join().unwrap();
        let m = b.metrics();
        // Either order is fine, but the mirror and the machine must agree:
        // the success either reset the streak before the second failure
        // (streak 1, closed) or came after the trip (open, stale).
        match m.state {
            State::Closed => assert_eq!(m.consecutive_failures, 1),
            State::Open => assert!(failed),
            other => panic!("unexpected state {other}"),
        }
        assert_eq!(b.state(), m.state);
    });
}
