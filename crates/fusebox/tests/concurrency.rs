//! Many threads on one breaker: probe limits hold and counts add up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, State};

#[test]
fn half_open_never_admits_more_than_the_limit() {
    const LIMIT: usize = 3;
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("probes")
        .half_open_max_calls(LIMIT as u32)
        .success_threshold(1_000_000)
        .recovery_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    b.trip();
    clock.advance(Duration::from_secs(1));

    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (b, running, peak, barrier) =
                (b.clone(), running.clone(), peak.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut admitted = 0;
                for n in 0..20_000 {
                    if let Ok(permit) = b.try_acquire() {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        running.fetch_sub(1, Ordering::SeqCst);
                        admitted += 1;
                        if (n + i) % 2 == 0 {
                            permit.success();
                        } else {
                            drop(permit);
                        }
                    }
                }
                admitted
            })
        })
        .collect();
    let admitted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(peak.load(Ordering::SeqCst) <= LIMIT);
    assert_eq!(b.state(), State::HalfOpen);
    let m = b.metrics();
    assert_eq!(m.successes + m.cancelled, admitted);
    assert_eq!(admitted + m.rejections, 8 * 20_000);
    assert_eq!(m.half_open_in_flight, 0);
}

#[test]
fn counts_add_up_after_hammering_a_closed_breaker() {
    let b = CircuitBreaker::builder("hammer")
        .failure_threshold(1_000_000)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                for n in 0..10_000u32 {
                    let _ = b.call(|| if (n + i) % 10 == 0 { Err(n) } else { Ok(n) });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = b.metrics();
    assert_eq!(m.successes, 216_000);
    assert_eq!(m.failures, 24_000);
    assert_eq!(m.state, State::Closed);
}

#[test]
fn racing_failures_trip_exactly_once() {
    let transitions = Arc::new(AtomicUsize::new(0));
    let seen = transitions.clone();
    let b = CircuitBreaker::builder("race")
        .failure_threshold(50)
        .on_transition(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    let _ = b.call(|| Err::<(), _>(()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(transitions.load(Ordering::SeqCst), 1);
    let m = b.metrics();
    assert_eq!(m.failures + m.rejections, 8000);
}

/// Defect: `reset()` racing lock-free successes wrapped the count window's
/// failure total to 2^64 - 1, and the breaker tripped on a rate of ~1.8e19.
/// Three threads fail one call in eight: four failures in a row never
/// happen, so a rate of 1.0 over four calls must never trip.
#[test]
fn resets_racing_successes_never_trip_a_rate_policy() {
    use fusebox::Window;
    let trips = Arc::new(AtomicUsize::new(0));
    let counter = trips.clone();
    let b = CircuitBreaker::builder("reset_race")
        .failure_rate(1.0, Window::count(4), 4)
        .on_transition(move |t| {
            if t.to == State::Open {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (b, done) = (b.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..300_000u64 {
                    let _ = b.call(|| if i % 8 == 0 { Err(()) } else { Ok(()) });
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    while done.load(Ordering::Relaxed) < 3 {
        b.reset();
        let rate = b.metrics().failure_rate;
        assert!((0.0..=1.0).contains(&rate), "failure rate {rate}");
    }
    for caller in callers {
        caller.join().unwrap();
    }
    assert_eq!(trips.load(Ordering::Relaxed), 0);
    assert_eq!(b.state(), State::Closed);
}
