//! The concurrent breaker checked against the pure machine: random
//! sequences of acquire / outcome / drop / clock moves / manual control are
//! applied to both, and after every step they must agree.

use std::time::Duration;

use proptest::prelude::*;

use crate::clock::to_nanos;
use crate::machine::{Admission, Machine, Report, Settings, Ticket};
use crate::{CircuitBreaker, ManualClock, Permit, State};

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Finish(usize, Report),
    AdvanceMs(u64),
    Manual(State),
}

fn op() -> impl Strategy<Value = Op> {
    let report = prop_oneof![
        Just(Report::Success),
        Just(Report::Failure),
        Just(Report::Ignored),
        Just(Report::Cancelled),
    ];
    let manual = prop_oneof![
        Just(State::Closed),
        Just(State::Open),
        Just(State::ForcedOpen),
        Just(State::Disabled),
    ];
    prop_oneof![
        6 => Just(Op::Acquire),
        8 => (any::<prop::sample::Index>(), report).prop_map(|(i, r)| Op::Finish(i.index(64), r)),
        3 => (0u64..1500).prop_map(Op::AdvanceMs),
        1 => manual.prop_map(Op::Manual),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1u32..4,
        1u32..3,
        1u32..3,
        1u64..1000,
        1u64..1500,
        any::<bool>(),
    )
        .prop_map(
            |(failures, successes, probes, open_ms, probe_ms, cancel_is_failure)| Settings {
                failure_threshold: failures,
                success_threshold: successes,
                half_open_max_calls: probes,
                open_duration: open_ms * 1_000_000,
                probe_timeout: probe_ms * 1_000_000,
                cancel_is_failure,
            },
        )
}

fn build(settings: &Settings, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("model")
        .failure_threshold(settings.failure_threshold)
        .success_threshold(settings.success_threshold)
        .half_open_max_calls(settings.half_open_max_calls)
        .recovery_timeout(Duration::from_nanos(settings.open_duration))
        .probe_timeout(Duration::from_nanos(settings.probe_timeout))
        .count_cancelled_as_failure(settings.cancel_is_failure)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn finish(permit: Permit<'_>, report: Report) {
    match report {
        Report::Success => permit.success(),
        Report::Failure => permit.failure(),
        Report::Ignored => permit.ignore(),
        Report::Cancelled => drop(permit),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_agrees_with_the_pure_machine(
        settings in settings(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let clock = ManualClock::new();
        let breaker = build(&settings, &clock);
        let mut model = Machine::new(settings.clone(), 0);
        let mut held: Vec<(Permit<'_>, Ticket)> = Vec::new();
        let mut rejections = 0u64;

        for op in ops {
            let now = to_nanos(clock.elapsed());
            match op {
                Op::Acquire => {
                    let (expected, _) = model.acquire(now);
                    match (breaker.try_acquire(), expected) {
                        (Ok(permit), Admission::Admit(ticket)) => {
                            prop_assert_eq!(permit.is_probe(), ticket.probe != 0);
                            prop_assert_eq!(permit.generation(), ticket.generation);
                            held.push((permit, ticket));
                        }
                        (Err(rejected), Admission::Reject { state, retry_after }) => {
                            rejections += 1;
                            prop_assert_eq!(rejected.state, state);
                            prop_assert_eq!(rejected.retry_after, retry_after.map(Duration::from_nanos));
                        }
                        (got, want) => prop_assert!(false, "breaker {:?}, model {:?}", got.map(|p| p.generation()), want),
                    }
                }
                Op::Finish(index, report) if !held.is_empty() => {
                    let (permit, ticket) = held.swap_remove(index % held.len());
                    model.record(ticket, report, now);
                    finish(permit, report);
                }
                Op::Finish(..) => {}
                Op::AdvanceMs(ms) => clock.advance(Duration::from_millis(ms)),
                Op::Manual(to) => {
                    model.manual(to, now);
                    match to {
                        State::Closed => breaker.reset(),
                        State::Open => breaker.trip(),
                        State::ForcedOpen => breaker.force_open(),
                        _ => breaker.disable(),
                    }
                }
            }
            let now = to_nanos(clock.elapsed());
            prop_assert_eq!(breaker.state(), model.state_at(now));
            let metrics = breaker.metrics();
            model.tick(now);
            prop_assert_eq!(metrics.state, model.state_at(now));
            prop_assert_eq!(metrics.generation, model.generation());
            prop_assert_eq!(metrics.consecutive_failures, model.failure_streak());
            prop_assert_eq!(metrics.half_open_in_flight as usize, model.probes_in_flight());
        }
        prop_assert!(breaker.metrics().rejections <= rejections);
    }
}
