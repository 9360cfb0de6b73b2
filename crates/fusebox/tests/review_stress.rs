//! Review: the rare "N trial calls in generation G" failure of `stress.rs`
//! is the test's bookkeeping, not the breaker. `stress.rs` reads `after`
//! (the time it judges leases at) *before* taking the `trials` lock; while
//! it waits for the lock, time moves on, other trial calls' leases run out,
//! the breaker (correctly) gives their slots to new trial calls, and those
//! are in the map when the stale `after` is compared against them. The
//! replay below runs that interleaving step by step with the bookkeeping
//! code of `stress.rs`, and checks with the breaker's own metrics that no
//! more than `half_open_max_calls` trial calls ever held a slot.

use std::collections::HashMap;
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Permit};

const TRIAL_SLOTS: u32 = 2;
const LEASE: Duration = Duration::from_secs(60);

/// `stress.rs`'s check, verbatim: `after` is whatever the caller read.
fn note_trial(
    trials: &mut HashMap<u64, Vec<Duration>>,
    permit: &Permit<'_>,
    before: Duration,
    after: Duration,
) -> Result<Duration, String> {
    let generation = permit.generation();
    let lease_end = before + LEASE;
    let running = trials.entry(generation).or_default();
    let leased = running.iter().filter(|end| **end > after).count();
    if leased >= TRIAL_SLOTS as usize {
        return Err(format!(
            "{} trial calls in generation {generation} at {after:?}: {running:?}",
            leased + 1
        ));
    }
    running.push(lease_end);
    Ok(lease_end)
}

#[test]
fn the_stress_bookkeeping_counts_trials_whose_lease_ended_while_it_waited_for_its_lock() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("stress")
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(30))
        .half_open_max_calls(TRIAL_SLOTS)
        .success_threshold(2)
        .probe_timeout(LEASE)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut trials: HashMap<u64, Vec<Duration>> = HashMap::new();
    let mut most_in_flight = 0;
    let mut watch = |b: &CircuitBreaker| {
        most_in_flight = most_in_flight.max(b.metrics().half_open_in_flight);
    };
    b.trip();
    clock.advance(Duration::from_secs(30)); // half-open at t = 30 s

    // Thread X: a trial call, booked at once (lease to 90 s).
    let before_x = clock.elapsed();
    let x = b.try_acquire().unwrap();
    assert!(x.is_probe());
    let after_x = clock.elapsed();
    note_trial(&mut trials, &x, before_x, after_x).unwrap();
    watch(&b);

    // Thread W: a trial call; reads `after` = 30 s, then waits for the
    // `trials` lock (the scheduler runs others first, under heavy load).
    let before_w = clock.elapsed();
    let w = b.try_acquire().unwrap();
    assert!(w.is_probe());
    let after_w = clock.elapsed();
    watch(&b);

    // Other threads: two clock steps of 31 s (t = 92 s): both leases have
    // run out, so the breaker frees both slots and admits thread Z.
    clock.advance(Duration::from_secs(31));
    clock.advance(Duration::from_secs(31));
    let before_z = clock.elapsed();
    let z = b.try_acquire().expect("both leases ran out: a slot is free");
    assert!(z.is_probe());
    let after_z = clock.elapsed();
    watch(&b);
    note_trial(&mut trials, &z, before_z, after_z).expect("X's lease ended at 90 s");

    // The breaker never had more trial calls holding slots than allowed.
    assert!(most_in_flight <= TRIAL_SLOTS, "{most_in_flight}");
    assert_eq!(b.metrics().half_open_in_flight, 1, "only Z holds a slot");

    // Thread W gets the lock at last. Judged at the `after` it read before
    // waiting (what stress.rs did), the leases say three trial calls:
    let mut stale = trials.clone();
    let misread = note_trial(&mut stale, &w, before_w, after_w);
    assert!(misread.unwrap_err().starts_with("3 trial calls"));
    // Judged at the time read under the lock (stress.rs since the fix),
    // X's lease has ended and W's booking is fine.
    let after_w_locked = clock.elapsed();
    let booked = note_trial(&mut trials, &w, before_w, after_w_locked);
    assert!(
        booked.is_ok(),
        "the breaker never over-admitted: {}",
        booked.unwrap_err()
    );
    drop((x, w, z));
}
