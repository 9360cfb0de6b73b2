//! The fleet model (`fleet_model.rs`) widened to every outcome a
//! call can have (ignored, cancelled, with and without
//! `count_cancelled_as_failure`), to resets made by any process, and to
//! five processes. Calls are made one at a time (no permit held across a
//! synchronisation: `fleet_races.rs` covers those). An exact in-memory
//! breaker is fed each process's admitted calls in its order when it
//! synchronises; calls a process made before it heard of a reset count for
//! nothing, in the fleet as documented, and so are not fed.

mod common;

use std::time::Duration;

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, ManualClock, State};
use proptest::prelude::*;

const PROCESSES: usize = 5;

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Success,
    Failure,
    Ignored,
    Cancelled,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Call { process: usize, outcome: Outcome },
    Sync { process: usize },
    Reset { process: usize },
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Ignored),
        Just(Outcome::Cancelled),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..PROCESSES, outcome()).prop_map(|(process, outcome)| Op::Call { process, outcome }),
        2 => (0..PROCESSES).prop_map(|process| Op::Sync { process }),
        1 => (0..PROCESSES).prop_map(|process| Op::Reset { process }),
    ]
}

fn field(store: &MemoryStore, key: &str) -> Option<u64> {
    common::stored_field(store, "model", key)?.parse().ok()
}

fn report(permit: fusebox::Permit<'_>, outcome: Outcome) {
    match outcome {
        Outcome::Success => permit.success(),
        Outcome::Failure => permit.failure(),
        Outcome::Ignored => permit.ignore(),
        Outcome::Cancelled => drop(permit),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_fleet_decides_as_the_exact_breaker_with_every_outcome_and_resets(
        threshold in 1..8u32,
        cancel_is_failure in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let clock = ManualClock::new();
        let store = MemoryStore::new().with_clock(clock.clone()).sync_every(Duration::from_millis(10));
        let build = |b: fusebox::Builder| {
            b.failure_threshold(threshold)
                .count_cancelled_as_failure(cancel_is_failure)
                .recovery_timeout(Duration::from_secs(60))
                .clock(clock.clone())
                .build()
                .unwrap()
        };
        let fleet: Vec<CircuitBreaker> = (0..PROCESSES)
            .map(|_| build(CircuitBreaker::builder("model").store(store.clone())))
            .collect();
        let exact = build(CircuitBreaker::builder("exact"));
        let mut unsent: Vec<Vec<Outcome>> = vec![Vec::new(); PROCESSES];
        // A process that has not synchronised since a reset elsewhere.
        let mut stale = [false; PROCESSES];
        for op in ops {
            match op {
                Op::Call { process, outcome } => {
                    if let Ok(permit) = fleet[process].try_acquire() {
                        report(permit, outcome);
                        unsent[process].push(outcome);
                    }
                }
                Op::Reset { process } => {
                    fleet[process].reset();
                    exact.reset();
                    for (p, calls) in unsent.iter_mut().enumerate() {
                        calls.clear();
                        stale[p] = p != process;
                    }
                }
                Op::Sync { process } => {
                    fleet[process].sync_now().unwrap();
                    let calls: Vec<Outcome> = unsent[process].drain(..).collect();
                    if !std::mem::take(&mut stale[process]) {
                        for outcome in calls {
                            if let Ok(permit) = exact.try_acquire() {
                                report(permit, outcome);
                            }
                        }
                    }
                    let stored = store.raw("model").unwrap_or_default();
                    let open = stored.contains("state=open");
                    prop_assert_eq!(open, exact.state() == State::Open, "{}", stored);
                    if open {
                        return Ok(());
                    }
                    let metrics = exact.metrics();
                    prop_assert_eq!(
                        field(&store, "streak").unwrap_or(0),
                        u64::from(metrics.consecutive_failures),
                        "{}", stored
                    );
                    prop_assert_eq!(
                        field(&store, "fsc").unwrap_or(0),
                        metrics.failures_since_closed,
                        "{}", stored
                    );
                }
            }
        }
    }
}
