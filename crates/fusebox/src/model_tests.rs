//! The concurrent breaker checked against the pure machine: random
//! sequences of acquire / outcome / drop / clock moves / manual control are
//! applied to both, and after every step they must agree.

use std::time::Duration;

use proptest::prelude::*;

use crate::clock::to_nanos;
use crate::machine::{Admission, Call, Machine, RateSettings, Report, Settings, Ticket};
use crate::{Backoff, CircuitBreaker, ManualClock, Permit, State, Window};

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

fn rates() -> impl Strategy<Value = Option<RateSettings>> {
    let window = prop_oneof![
        (1u32..12).prop_map(Window::Count),
        (100u64..3000).prop_map(|ms| Window::Time(Duration::from_millis(ms))),
    ];
    let rate = prop_oneof![
        Just(None),
        (1u32..=10).prop_map(|t| Some(f64::from(t) / 10.0))
    ];
    let slow = prop_oneof![
        Just(None),
        (1u64..800, 1u32..=10).prop_map(|(ms, r)| Some((ms, f64::from(r) / 10.0)))
    ];
    prop_oneof![
        Just(None),
        (window, 1u32..6, rate, slow).prop_map(|(window, minimum_calls, failure_rate, slow)| {
            let failure_rate = failure_rate.or(slow.is_none().then_some(0.5));
            // The builder refuses a minimum a count window cannot hold.
            let minimum_calls = match window {
                Window::Count(n) => minimum_calls.min(n),
                Window::Time(_) => minimum_calls,
            };
            Some(RateSettings {
                window,
                minimum_calls,
                failure_rate,
                slow_call: slow.map(|(ms, _)| ms * 1_000_000),
                slow_rate: slow.map_or(1.0, |(_, rate)| rate),
            })
        }),
    ]
}

fn backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        Just(Backoff::Fixed),
        any::<u64>().prop_map(|seed| Backoff::Fixed.jitter(true).seed(seed)),
        (1u64..5, any::<bool>(), any::<u64>()).prop_map(|(factor, jitter, seed)| {
            Backoff::exponential(Duration::from_millis(1000 * factor))
                .jitter(jitter)
                .seed(seed)
        }),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        (prop::option::of(1u32..4), rates(), backoff()),
        (1u32..3, 1u32..3, 1u64..1000, 1u64..1500, any::<bool>()),
    )
        .prop_map(
            |(
                (consecutive, rates, backoff),
                (successes, probes, open_ms, probe_ms, cancel_is_failure),
            )| {
                Settings {
                    failure_threshold: consecutive.or(rates.is_none().then_some(5)),
                    rates,
                    backoff,
                    success_threshold: successes,
                    half_open_max_calls: probes,
                    open_duration: open_ms * 1_000_000,
                    probe_timeout: probe_ms * 1_000_000,
                    cancel_is_failure,
                    enabled: true,
                }
            },
        )
}

fn build(settings: &Settings, clock: &ManualClock, shared: bool) -> CircuitBreaker {
    let mut builder = CircuitBreaker::builder("model")
        .success_threshold(settings.success_threshold)
        .half_open_max_calls(settings.half_open_max_calls)
        .recovery_timeout(Duration::from_nanos(settings.open_duration))
        .probe_timeout(Duration::from_nanos(settings.probe_timeout))
        .count_cancelled_as_failure(settings.cancel_is_failure)
        .backoff(settings.backoff)
        .clock(clock.clone());
    if let Some(n) = settings.failure_threshold {
        builder = builder.failure_threshold(n);
    }
    if let Some(rates) = &settings.rates {
        builder = builder.sliding_window(rates.window, rates.minimum_calls);
        if let Some(threshold) = rates.failure_rate {
            builder = builder.failure_rate(threshold, rates.window, rates.minimum_calls);
        }
        if let Some(slow) = rates.slow_call {
            builder = builder.slow_calls(Duration::from_nanos(slow), rates.slow_rate);
        }
    }
    if shared {
        builder = builder.store(crate::store::MemoryStore::new().with_clock(clock.clone()));
    }
    builder.build().unwrap()
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
        check(settings, ops, false)?;
    }

    #[test]
    fn breaker_on_a_shared_store_agrees_with_the_pure_machine(
        settings in settings(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        check(settings, ops, true)?;
    }
}

fn check(settings: Settings, ops: Vec<Op>, shared: bool) -> Result<(), TestCaseError> {
    {
        let clock = ManualClock::new();
        let breaker = build(&settings, &clock, shared);
        let mut model = Machine::new(settings.clone(), 0);
        let mut held: Vec<(Permit<'_>, Ticket, u64)> = Vec::new();
        let slow_call = settings.rates.as_ref().and_then(|r| r.slow_call);
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
                            held.push((permit, ticket, now));
                        }
                        (Err(rejected), Admission::Reject { state, retry_after }) => {
                            rejections += 1;
                            prop_assert_eq!(rejected.state, state);
                            prop_assert_eq!(
                                rejected.retry_after,
                                retry_after.map(Duration::from_nanos)
                            );
                        }
                        (got, want) => prop_assert!(
                            false,
                            "breaker {:?}, model {:?}",
                            got.map(|p| p.generation()),
                            want
                        ),
                    }
                }
                Op::Finish(index, report) if !held.is_empty() => {
                    let (permit, ticket, started) = held.swap_remove(index % held.len());
                    let timed = matches!(report, Report::Success | Report::Failure);
                    let slow = timed && slow_call.is_some_and(|limit| now - started > limit);
                    model.record(
                        ticket,
                        Call {
                            report,
                            slow,
                            windowed: false,
                        },
                        now,
                    );
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
            prop_assert_eq!(
                metrics.half_open_in_flight as usize,
                model.probes_in_flight()
            );
        }
        prop_assert!(breaker.metrics().rejections <= rejections);
    }
    Ok(())
}
