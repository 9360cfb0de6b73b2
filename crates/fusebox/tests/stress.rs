//! Eight threads mixing calls, `reset`, `trip`, `force_open` and clock jumps
//! (by days and by 2^32 nanoseconds) on one breaker, checking after every
//! step what must hold whatever the interleaving: counts never exceed what
//! was done (a wrapped count would), rates are rates, no state appears that
//! no operation leads to, and no generation ever has more trial calls in
//! flight than `half_open_max_calls`. Bounded: a few seconds in debug.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Metrics, Outcome, Policy, State, Window};

const THREADS: u64 = 8;
const STEPS: u64 = 20_000;
const TRIAL_SLOTS: u32 = 2;
const WINDOW: u32 = 16;

#[derive(Default)]
struct Done {
    admitted: AtomicU64,
    refused: AtomicU64,
}

fn check(m: &Metrics, done: &Done) {
    let admitted = done.admitted.load(Ordering::SeqCst);
    let refused = done.refused.load(Ordering::SeqCst);
    let finished = m.successes + m.failures + m.ignored + m.cancelled;
    assert!(
        finished <= admitted,
        "{finished} outcomes of {admitted} calls: {m:?}"
    );
    assert!(
        m.rejections <= refused,
        "{} of {refused} refusals: {m:?}",
        m.rejections
    );
    assert!(m.slow <= finished);
    assert!((0.0..=1.0).contains(&m.failure_rate), "{m:?}");
    assert!(m.half_open_in_flight <= TRIAL_SLOTS, "{m:?}");
    assert_ne!(m.state, State::Disabled, "nothing disables it");
    if m.state == State::Closed {
        assert!(m.consecutive_failures < 5, "5 in a row trip it: {m:?}");
    }
    if m.state != State::HalfOpen {
        assert_eq!(m.half_open_in_flight, 0, "{m:?}");
    }
}

#[test]
fn eight_threads_of_calls_manual_control_and_clock_jumps() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("stress")
        .policy(Policy::consecutive(5).or(Policy::failure_rate(0.5, Window::count(WINDOW), 8)))
        .recovery_timeout(Duration::from_secs(30))
        .half_open_max_calls(TRIAL_SLOTS)
        .success_threshold(2)
        .probe_timeout(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    let done = Arc::new(Done::default());
    // Trial calls in flight per generation, as the callers see them: each
    // with the earliest its lease can end (a lost trial frees its slot).
    let trials: Arc<Mutex<HashMap<u64, Vec<Duration>>>> = Arc::default();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (breaker, clock, done, trials) =
                (breaker.clone(), clock.clone(), done.clone(), trials.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                for _ in 0..STEPS {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    match rng % 100 {
                        0 => breaker.reset(),
                        1 => breaker.trip(),
                        2 => breaker.force_open(),
                        3 => clock.advance(Duration::from_secs(2 * 86_400)),
                        4 => clock.advance(Duration::from_nanos(1 << 32)),
                        5..=9 => clock.advance(Duration::from_secs(31)),
                        roll => {
                            done.admitted.fetch_add(1, Ordering::SeqCst);
                            let before = clock.elapsed();
                            match breaker.try_acquire() {
                                Ok(permit) => {
                                    let generation = permit.generation();
                                    let lease_end = before + Duration::from_secs(60);
                                    if permit.is_probe() {
                                        let mut trials = trials.lock().unwrap();
                                        // Judged at a time read under the lock: a time
                                        // read before it may predate leases that ran
                                        // out (and slots given to later trial calls,
                                        // already in the map) while this thread waited.
                                        let after = clock.elapsed();
                                        let running = trials.entry(generation).or_default();
                                        let leased =
                                            running.iter().filter(|end| **end > after).count();
                                        assert!(
                                            leased < TRIAL_SLOTS as usize,
                                            "{} trial calls in generation {generation} at {after:?}: {running:?} {:?}",
                                            leased + 1, breaker.metrics()
                                        );
                                        running.push(lease_end);
                                    }
                                    if permit.is_probe() {
                                        // Forgotten before the outcome frees the slot, so
                                        // the count never includes a trial already over.
                                        let mut trials = trials.lock().unwrap();
                                        let running = trials.get_mut(&generation).unwrap();
                                        let mine = running
                                            .iter()
                                            .position(|end| *end == lease_end)
                                            .unwrap();
                                        running.swap_remove(mine);
                                    }
                                    match roll % 4 {
                                        0 => permit.failure(),
                                        1 => permit.record(Outcome::Ignored),
                                        2 => drop(permit),
                                        _ => permit.success(),
                                    }
                                }
                                Err(rejected) => {
                                    done.admitted.fetch_sub(1, Ordering::SeqCst);
                                    done.refused.fetch_add(1, Ordering::SeqCst);
                                    assert_ne!(rejected.state, State::Closed);
                                    if let Some(wait) = rejected.retry_after {
                                        assert!(wait <= Duration::from_secs(60), "{rejected}");
                                    }
                                }
                            }
                        }
                    }
                    check(&breaker.metrics(), &done);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    check(&breaker.metrics(), &done);

    // At rest the breaker still works by the rules: reset, five failures
    // open it, the open duration later a trial call closes it (with two).
    breaker.reset();
    for _ in 0..5 {
        let _ = breaker.call(|| Err::<(), _>("down"));
    }
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    for _ in 0..2 {
        breaker.call(|| Ok::<_, ()>(())).unwrap();
    }
    assert_eq!(breaker.state(), State::Closed);
}
