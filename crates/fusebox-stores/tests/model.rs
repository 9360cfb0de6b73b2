//! Random sequences of calls, outcomes, clock moves and manual control,
//! applied to a breaker kept in a real store and to the in-memory breaker
//! (itself checked against the pure state machine): after every step they
//! must agree on state, generation, streak, trial calls and admissions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use fusebox::store::Store;
use fusebox::{Backoff, CircuitBreaker, ManualClock, Permit, State, Window};
use fusebox_stores::{RedisStore, SqliteStore};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Finish(prop::sample::Index, u8),
    AdvanceMs(u64),
    Manual(State),
}

fn op() -> impl Strategy<Value = Op> {
    let manual = prop_oneof![
        Just(State::Closed),
        Just(State::Open),
        Just(State::ForcedOpen),
        Just(State::Disabled),
    ];
    prop_oneof![
        6 => Just(Op::Acquire),
        8 => (any::<prop::sample::Index>(), 0u8..4).prop_map(|(i, r)| Op::Finish(i, r)),
        3 => (0u64..1500).prop_map(Op::AdvanceMs),
        1 => manual.prop_map(Op::Manual),
    ]
}

#[derive(Clone, Debug)]
struct Settings {
    failures: u32,
    successes: u32,
    probes: u32,
    open_ms: u64,
    probe_ms: u64,
    rate: Option<(u32, u32)>,
    backoff_seed: Option<u64>,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1u32..4,
        1u32..3,
        1u32..3,
        1u64..1000,
        1u64..1500,
        prop::option::of((1u32..8, 1u32..5)),
        prop::option::of(any::<u64>()),
    )
        .prop_map(
            |(failures, successes, probes, open_ms, probe_ms, rate, backoff_seed)| Settings {
                failures,
                successes,
                probes,
                open_ms,
                probe_ms,
                rate,
                backoff_seed,
            },
        )
}

fn build(s: &Settings, clock: &ManualClock, store: Option<Arc<dyn Store>>) -> CircuitBreaker {
    let mut b = CircuitBreaker::builder("model")
        .failure_threshold(s.failures)
        .success_threshold(s.successes)
        .half_open_max_calls(s.probes)
        .recovery_timeout(Duration::from_millis(s.open_ms))
        .probe_timeout(Duration::from_millis(s.probe_ms))
        .clock(clock.clone());
    if let Some((size, minimum)) = s.rate {
        // A count window never holds more than `size` calls: the builder
        // refuses a larger minimum.
        b = b.failure_rate(0.5, Window::count(size), minimum.min(size));
    }
    if let Some(seed) = s.backoff_seed {
        b = b.backoff(
            Backoff::exponential(Duration::from_secs(5))
                .jitter(true)
                .seed(seed),
        );
    }
    if let Some(store) = store {
        b = b.shared_store(store);
    }
    b.build().unwrap()
}

fn finish(permit: Permit<'_>, kind: u8) {
    match kind {
        0 => permit.success(),
        1 => permit.failure(),
        2 => permit.ignore(),
        _ => drop(permit),
    }
}

fn check(
    settings: &Settings,
    ops: &[Op],
    clock: &ManualClock,
    store: Arc<dyn Store>,
) -> Result<(), TestCaseError> {
    let memory = build(settings, clock, None);
    let shared = build(settings, clock, Some(store));
    let mut held: Vec<(Permit<'_>, Permit<'_>)> = Vec::new();
    for op in ops {
        match op {
            Op::Acquire => match (memory.try_acquire(), shared.try_acquire()) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(a.is_probe(), b.is_probe());
                    prop_assert_eq!(a.generation(), b.generation());
                    held.push((a, b));
                }
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a.state, b.state);
                    prop_assert_eq!(a.retry_after, b.retry_after);
                }
                (a, b) => prop_assert!(false, "memory {:?}, store {:?}", a.is_ok(), b.is_ok()),
            },
            Op::Finish(index, kind) if !held.is_empty() => {
                let (a, b) = held.swap_remove(index.index(held.len()));
                finish(a, *kind);
                finish(b, *kind);
            }
            Op::Finish(..) => {}
            Op::AdvanceMs(ms) => clock.advance(Duration::from_millis(*ms)),
            Op::Manual(to) => {
                for b in [&memory, &shared] {
                    match to {
                        State::Closed => b.reset(),
                        State::Open => b.trip(),
                        State::ForcedOpen => b.force_open(),
                        _ => b.disable(),
                    }
                }
            }
        }
        let (a, b) = (memory.metrics(), shared.metrics());
        prop_assert!(!b.degraded);
        prop_assert_eq!(a.state, b.state);
        prop_assert_eq!(a.generation, b.generation);
        prop_assert_eq!(a.consecutive_failures, b.consecutive_failures);
        prop_assert_eq!(a.half_open_in_flight, b.half_open_in_flight);
        prop_assert_eq!(a.failure_rate, b.failure_rate);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_breaker_in_sqlite_agrees_with_the_in_memory_breaker(
        settings in settings(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let store = SqliteStore::open(dir.path().join("state.db")).unwrap().with_clock(clock.clone());
        check(&settings, &ops, &clock, Arc::new(store))?;
    }
}

common::deploy::on_every_redis!(a_breaker_in_redis_agrees_with_the_in_memory_breaker);

fn a_breaker_in_redis_agrees_with_the_in_memory_breaker(kind: common::deploy::Kind) {
    let server = common::deploy::TestRedis::start(kind);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    let case = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(
        &(settings(), prop::collection::vec(op(), 1..60)),
        |(settings, ops)| {
            let clock = ManualClock::new();
            // A fresh key prefix per case: the cases share one server.
            let prefix = format!(
                "model{}:",
                case.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let store = RedisStore::open(&server.url())
                .unwrap()
                .timeout(Duration::from_secs(2))
                .prefix(prefix)
                .with_clock(clock.clone());
            check(&settings, &ops, &clock, Arc::new(store))
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
