//! Fleet mode against the exact breaker, on random schedules: processes
//! make calls and synchronise in any order; an exact (in-memory) breaker is
//! fed each process's calls, in that process's order, when it synchronises.
//! "Consecutive" across a fleet means exactly that order, so the two must
//! agree on every decision: the shared state trips at the same
//! synchronisation as the exact breaker, and until then holds the same
//! streak and the same count of failures.

mod common;

use std::time::Duration;

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, ManualClock, State};
use proptest::prelude::*;

const PROCESSES: usize = 3;

#[derive(Clone, Copy, Debug)]
enum Op {
    Call { process: usize, fails: bool },
    Sync { process: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PROCESSES, any::<bool>()).prop_map(|(process, fails)| Op::Call { process, fails }),
        1 => (0..PROCESSES).prop_map(|process| Op::Sync { process }),
    ]
}

fn field(store: &MemoryStore, key: &str) -> Option<u64> {
    common::stored_field(store, "model", key)?.parse().ok()
}

fn report(permit: fusebox::Permit<'_>, fails: bool) {
    if fails {
        permit.failure();
    } else {
        permit.success();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_fleet_decides_as_the_exact_breaker_fed_in_synchronisation_order(
        threshold in 1..8u32,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let clock = ManualClock::new();
        let store = MemoryStore::new().with_clock(clock.clone()).sync_every(Duration::from_millis(10));
        let build = |b: fusebox::Builder| {
            b.failure_threshold(threshold)
                .recovery_timeout(Duration::from_secs(60))
                .clock(clock.clone())
                .build()
                .unwrap()
        };
        let fleet: Vec<CircuitBreaker> = (0..PROCESSES)
            .map(|_| build(CircuitBreaker::builder("model").store(store.clone())))
            .collect();
        let exact = build(CircuitBreaker::builder("exact"));
        let mut unsent: Vec<Vec<bool>> = vec![Vec::new(); PROCESSES];
        for op in ops {
            match op {
                Op::Call { process, fails } => {
                    if let Ok(permit) = fleet[process].try_acquire() {
                        report(permit, fails);
                        unsent[process].push(fails);
                    }
                }
                Op::Sync { process } => {
                    fleet[process].sync_now().unwrap();
                    for fails in unsent[process].drain(..) {
                        if let Ok(permit) = exact.try_acquire() {
                            report(permit, fails);
                        }
                    }
                    let stored = store.raw("model").unwrap_or_default();
                    let open = stored.contains("state=open");
                    prop_assert_eq!(open, exact.state() == State::Open, "{}", stored);
                    if open {
                        return Ok(()); // both refuse from here on
                    }
                    let metrics = exact.metrics();
                    prop_assert_eq!(
                        field(&store, "streak").unwrap_or(0),
                        u64::from(metrics.consecutive_failures)
                    );
                    prop_assert_eq!(
                        field(&store, "fsc").unwrap_or(0),
                        metrics.failures_since_closed
                    );
                }
            }
        }
    }
}
