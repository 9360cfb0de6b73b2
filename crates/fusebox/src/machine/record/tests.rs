use proptest::prelude::*;

use super::*;
use crate::machine::{Admission, RateSettings, Report, Settings};
use crate::Window;

const SEC: Nanos = 1_000_000_000;

fn settings() -> Settings {
    Settings {
        failure_threshold: Some(3),
        rates: Some(RateSettings {
            window: Window::Count(4),
            minimum_calls: 4,
            failure_rate: Some(0.5),
            slow_call: None,
            slow_rate: 1.0,
        }),
        backoff: crate::Backoff::Fixed,
        success_threshold: 1,
        half_open_max_calls: 1,
        open_duration: 10 * SEC,
        probe_timeout: 5 * SEC,
        cancel_is_failure: false,
        enabled: true,
    }
}

fn decoded(text: &str, now: Nanos) -> Machine {
    let mut machine = Machine::new(settings(), now);
    machine.decode(text, now).expect("a valid record");
    machine
}

const HALF_OPEN: &str = "fusebox/1 state=half_open gen=4 since=0 until=0 streak=0 ps=0 next=7 lf=- re=0 rng=1 probes=6@18446744073709551615 win=-";

#[test]
fn a_record_round_trips() {
    let mut machine = Machine::new(settings(), 0);
    for _ in 0..3 {
        let Admission::Admit(ticket) = machine.acquire(SEC).0 else {
            panic!("closed admits")
        };
        machine.record(ticket, Report::Failure, SEC);
    }
    let text = machine.encode();
    assert!(text.contains("fsc=3"), "{text}");
    let copy = decoded(&text, 2 * SEC);
    assert_eq!(copy.encode(), text);
}

/// Defect: `win=` before the other fields made the field count underflow.
#[test]
fn field_order_does_not_matter() {
    let text = "fusebox/1 win=- state=closed gen=1 since=0 until=0 streak=0 ps=0 next=1 lf=- re=0 rng=1 probes=";
    assert_eq!(decoded(text, 0).stored_state(), State::Closed);
}

#[test]
fn a_missing_or_repeated_field_is_corrupt_and_an_unknown_one_is_skipped() {
    let mut machine = Machine::new(settings(), 0);
    let missing =
        "fusebox/1 state=closed gen=1 since=0 until=0 streak=0 ps=0 next=1 lf=- re=0 rng=1";
    assert!(machine.decode(missing, 0).unwrap_err().contains("probes"));
    let twice = format!("{missing} probes= gen=2");
    assert!(machine.decode(&twice, 0).unwrap_err().contains("twice"));
    let newer = format!("{missing} probes= later=field");
    assert_eq!(decoded(&newer, 0).generation(), 1);
}

/// Defect: `next=u64::MAX` overflowed when the next trial call was admitted.
/// (Stored ids are of 63 bits: the top one marks a fleet-mode process's
/// own trial calls, and is dropped from what a store holds.)
#[test]
fn the_largest_trial_id_does_not_overflow() {
    let text = HALF_OPEN
        .replace("next=7", "next=18446744073709551615")
        .replace("probes=6@18446744073709551615", "probes=");
    let mut machine = decoded(&text, 0);
    let Admission::Admit(first) = machine.acquire(0).0 else {
        panic!("half-open admits a trial call")
    };
    assert_eq!(first.probe, u64::MAX >> 1);
    assert_eq!(machine.record(first, Report::Ignored, 0), None);
    let Admission::Admit(second) = machine.acquire(0).0 else {
        panic!("the slot was freed")
    };
    assert_ne!(second.probe, first.probe);
    assert_ne!(second.probe, 0, "0 means an ordinary call");
}

/// Defect: a stored trial deadline of u64::MAX kept the breaker half-open
/// until someone reset it.
#[test]
fn stored_deadlines_are_bounded_by_the_settings_in_force() {
    let now = 100 * SEC;
    let mut machine = decoded(HALF_OPEN, now);
    assert!(matches!(machine.acquire(now).0, Admission::Reject { .. }));
    // The lease is this process's probe_timeout, counted from the read.
    let after = now + settings().probe_timeout;
    assert!(matches!(machine.acquire(after).0, Admission::Admit(_)));

    let open = "fusebox/1 state=open gen=2 since=0 until=18446744073709551615 streak=0 ps=0 next=1 lf=- re=0 rng=1 probes=";
    let mut machine = decoded(open, now);
    assert_eq!(machine.open_until(), now + settings().open_duration);
    assert!(matches!(
        machine.acquire(now + settings().open_duration).0,
        Admission::Admit(_)
    ));
}

#[test]
fn times_from_the_future_are_brought_back_to_now() {
    let text = "fusebox/1 state=closed gen=1 since=900 until=0 streak=0 ps=0 next=1 lf=950 re=0 rng=1 probes=";
    let machine = decoded(text, 100);
    assert_eq!(machine.since(), 100);
    assert_eq!(machine.last_failure(), Some(100));
}

fn field_values() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("4294967296".to_owned()),
        Just("144115188075855872".to_owned()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u8>().prop_map(|n| n.to_string()),
        "[a-z_@,.:0-9-]{0,12}",
        "c4:[0-9]{1,3}:[0-9]{1,3}:[0-9]{0,5}",
        "t[0-9]{1,4}:[0-9]{1,3}:[0-9a-f.,]{0,40}",
        "[0-9]{1,20}@[0-9]{1,20}(,[0-9]{1,20}@[0-9]{1,20}){0,3}",
        "\\PC{0,8}",
    ]
}

proptest! {
    /// Parsing store data is total: any text is a state or an error, never
    /// a panic (debug builds check every overflow), and a state it accepts
    /// runs the machine without panicking either.
    #[test]
    fn decoding_any_record_is_total(
        fields in prop::collection::vec(
            (prop::sample::select(vec![
                "state", "gen", "since", "until", "streak", "fsc", "ps", "next", "lf",
                "re", "rng", "probes", "win", "other",
            ]), field_values()),
            0..16,
        ),
        states in prop::sample::select(vec!["closed", "open", "half_open", "forced_open", "disabled", "bogus"]),
        now in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
    ) {
        let mut text = format!("{TAG} state={states}");
        for (key, value) in &fields {
            text.push(' ');
            text.push_str(key);
            text.push('=');
            text.push_str(value);
        }
        let mut machine = Machine::new(settings(), 0);
        if machine.decode(&text, now).is_ok() {
            for step in [0, 1, SEC, u64::MAX / 2, u64::MAX] {
                let at = now.saturating_add(step);
                machine.tick(at);
                if let (Admission::Admit(ticket), _) = machine.acquire(at) {
                    machine.record(ticket, Report::Failure, at);
                }
                let _ = machine.encode();
            }
        }
    }
}

#[test]
fn the_largest_stored_counts_saturate() {
    let text = "fusebox/1 state=half_open gen=4 since=0 until=0 streak=4294967295 fsc=18446744073709551615 ps=4294967295 next=7 lf=- re=4294967295 rng=1 probes=";
    let mut machine = decoded(text, 0);
    let Admission::Admit(ticket) = machine.acquire(0).0 else {
        panic!("half-open admits a trial call")
    };
    let change = machine.record(ticket, Report::Success, 0).expect("closes");
    assert_eq!(change.to, State::Closed);
}

/// A reader with shorter settings (a `status` command on defaults) keeps
/// the deadline the writer chose, up to a year; without the writer's
/// duration, or beyond a year, the reader's settings bound it.
#[test]
fn the_writers_open_duration_bounds_its_deadline() {
    let hour = 3_600 * SEC;
    let written = format!("fusebox/1 state=open gen=2 since=0 until={hour} od={hour} streak=0 ps=0 next=1 lf=- re=0 rng=1 probes=");
    assert_eq!(decoded(&written, SEC).open_until(), hour);
    let absurd = written.replace(
        &format!("until={hour} od={hour}"),
        "until=18446744073709551615 od=18446744073709551615",
    );
    assert_eq!(decoded(&absurd, 0).open_until(), LONGEST_STORED_OPEN);
}

#[test]
fn why_and_refusals_round_trip_and_old_records_read_without_them() {
    let mut machine = Machine::new(settings(), 0);
    for _ in 0..3 {
        let Admission::Admit(ticket) = machine.acquire(SEC).0 else {
            panic!("closed admits")
        };
        machine.record(ticket, Report::Failure, SEC);
    }
    machine.note_refusal();
    machine.note_refusal();
    let text = machine.encode();
    assert!(
        text.contains(" why=failures:3 ") && text.contains(" ref=2 "),
        "{text}"
    );
    let copy = decoded(&text, 2 * SEC);
    assert_eq!(copy.why(), Some(Reason::ConsecutiveFailures(3)));
    assert_eq!(copy.refusals(), 2);
    assert_eq!(copy.encode(), text);

    // A record written before these fields existed: no reason, no refusals.
    let old = decoded(HALF_OPEN, 0);
    assert_eq!((old.why(), old.refusals()), (None, 0));
    // A reason this version does not know is no reason to refuse the record.
    let newer = HALF_OPEN.replace(" win=-", " why=moon_phase:3 win=-");
    assert_eq!(decoded(&newer, 0).why(), None);
}

#[test]
fn every_reason_has_a_token_that_reads_back() {
    for reason in [
        Reason::ConsecutiveFailures(5),
        Reason::FailureRate {
            failures: 5,
            calls: 10,
        },
        Reason::SlowCallRate { slow: 3, calls: 10 },
        Reason::OpenTimeoutElapsed,
        Reason::ProbeFailed,
        Reason::ProbesSucceeded(2),
        Reason::ForcedOpen,
        Reason::Disabled,
        Reason::Reset,
        Reason::Tripped,
    ] {
        let token = encode_reason(reason);
        assert!(!token.contains(' ') && !token.contains('='), "{token}");
        assert_eq!(decode_reason(&token), Some(reason), "{token}");
    }
    for bad in ["", "failures", "failures:x", "rate:5", "rate:a/b", "nope"] {
        assert_eq!(decode_reason(bad), None, "{bad:?}");
    }
}

#[test]
fn closing_clears_the_refusals() {
    let mut machine = Machine::new(settings(), 0);
    machine.manual(State::Open, 0);
    machine.note_refusal();
    assert_eq!(machine.refusals(), 1);
    machine.manual(State::Closed, SEC);
    assert_eq!(machine.refusals(), 0);
    assert_eq!(machine.why(), Some(Reason::Reset));
}
