use super::*;

const SEC: Nanos = 1_000_000_000;

fn settings() -> Settings {
    Settings {
        failure_threshold: Some(3),
        rates: None,
        backoff: crate::Backoff::Fixed,
        success_threshold: 2,
        half_open_max_calls: 2,
        open_duration: 10 * SEC,
        probe_timeout: 5 * SEC,
        cancel_is_failure: false,
        enabled: true,
    }
}

fn admit(machine: &mut Machine, now: Nanos) -> Ticket {
    match machine.acquire(now).0 {
        Admission::Admit(ticket) => ticket,
        other => panic!("expected admission at {now}, got {other:?}"),
    }
}

fn fail(machine: &mut Machine, now: Nanos) -> Option<Change> {
    let ticket = admit(machine, now);
    machine.record(ticket, Report::Failure, now)
}

fn open(now: Nanos) -> Machine {
    let mut machine = Machine::new(settings(), 0);
    for _ in 0..3 {
        fail(&mut machine, now);
    }
    assert_eq!(machine.stored_state(), State::Open);
    machine
}

#[test]
fn consecutive_failures_open_and_a_success_resets_the_streak() {
    let mut m = Machine::new(settings(), 0);
    assert_eq!(fail(&mut m, 1), None);
    assert_eq!(fail(&mut m, 2), None);
    let ok = admit(&mut m, 3);
    assert_eq!(m.record(ok, Report::Success, 3), None);
    assert_eq!(m.failure_streak(), 0);
    fail(&mut m, 4);
    fail(&mut m, 5);
    let change = fail(&mut m, 6).expect("third failure in a row trips");
    assert_eq!((change.from, change.to), (State::Closed, State::Open));
    assert_eq!(change.reason, Reason::ConsecutiveFailures(3));
    assert_eq!(change.generation, 1);
    assert_eq!(m.open_until(), 6 + 10 * SEC);
}

#[test]
fn open_rejects_with_time_left_then_reads_half_open_at_the_deadline() {
    let mut m = open(0);
    assert_eq!(
        m.acquire(4 * SEC).0,
        Admission::Reject {
            state: State::Open,
            retry_after: Some(6 * SEC)
        }
    );
    assert_eq!(m.state_at(10 * SEC - 1), State::Open);
    assert_eq!(m.state_at(10 * SEC), State::HalfOpen);
    let change = m.tick(10 * SEC).expect("deadline passed");
    assert_eq!(change.reason, Reason::OpenTimeoutElapsed);
    assert_eq!(m.stored_state(), State::HalfOpen);
}

#[test]
fn half_open_limits_probes_and_closes_after_success_threshold() {
    let mut m = open(0);
    let t = 10 * SEC;
    let a = admit(&mut m, t);
    let b = admit(&mut m, t);
    assert!(a.probe != 0 && b.probe != 0 && a.probe != b.probe);
    // Every slot taken: a slot frees when the first lease runs out.
    assert_eq!(
        m.acquire(t + SEC).0,
        Admission::Reject {
            state: State::HalfOpen,
            retry_after: Some(m.settings().probe_timeout - SEC)
        }
    );
    assert_eq!(m.record(a, Report::Success, t), None);
    let c = admit(&mut m, t);
    let change = m
        .record(c, Report::Success, t)
        .expect("two successes close");
    assert_eq!(change.to, State::Closed);
    assert_eq!(change.reason, Reason::ProbesSucceeded(2));
    // b belongs to the half-open generation that just ended.
    assert_eq!(m.record(b, Report::Failure, t), None);
    assert_eq!(m.stored_state(), State::Closed);
}

#[test]
fn a_probe_failure_reopens_and_restarts_the_open_duration() {
    let mut m = open(0);
    let probe = admit(&mut m, 12 * SEC);
    let change = m.record(probe, Report::Failure, 12 * SEC).unwrap();
    assert_eq!((change.from, change.to), (State::HalfOpen, State::Open));
    assert_eq!(change.reason, Reason::ProbeFailed);
    assert_eq!(m.open_until(), 22 * SEC);
}

#[test]
fn a_lost_probe_frees_its_slot_and_its_late_outcome_is_ignored() {
    let mut m = open(0);
    let t = 10 * SEC;
    let lost = admit(&mut m, t);
    admit(&mut m, t);
    assert!(matches!(
        m.acquire(t + 5 * SEC - 1).0,
        Admission::Reject { .. }
    ));
    // Both probes are silent past probe_timeout: their slots are free again.
    let fresh = admit(&mut m, t + 5 * SEC);
    assert_eq!(m.probes_in_flight(), 1);
    assert_eq!(m.record(lost, Report::Failure, t + 6 * SEC), None);
    assert_eq!(m.stored_state(), State::HalfOpen);
    assert_eq!(m.record(fresh, Report::Success, t + 6 * SEC), None);
}

#[test]
fn cancellation_is_neutral_unless_configured_as_failure() {
    let mut m = open(0);
    let probe = admit(&mut m, 10 * SEC);
    assert_eq!(m.record(probe, Report::Cancelled, 10 * SEC), None);
    assert_eq!(m.probes_in_flight(), 0);
    assert_eq!(m.stored_state(), State::HalfOpen);

    let mut strict = Machine::new(
        Settings {
            cancel_is_failure: true,
            failure_threshold: Some(1),
            ..settings()
        },
        0,
    );
    let ticket = admit(&mut strict, 0);
    let change = strict.record(ticket, Report::Cancelled, 0).unwrap();
    assert_eq!(change.to, State::Open);
}

#[test]
fn ignored_outcomes_change_nothing_but_free_a_probe_slot() {
    let mut m = Machine::new(settings(), 0);
    fail(&mut m, 0);
    let ticket = admit(&mut m, 0);
    assert_eq!(m.record(ticket, Report::Ignored, 0), None);
    assert_eq!(m.failure_streak(), 1);
}

#[test]
fn stale_outcomes_never_flip_state() {
    let mut m = Machine::new(settings(), 0);
    let slow_success = admit(&mut m, 0);
    let slow_failures: Vec<_> = (0..3).map(|_| admit(&mut m, 0)).collect();
    for _ in 0..3 {
        fail(&mut m, 1);
    }
    // Admitted while closed, reported after the trip: ignored.
    assert_eq!(m.record(slow_success, Report::Success, 20 * SEC), None);
    assert_eq!(m.stored_state(), State::Open);
    m.manual(State::Closed, 21 * SEC);
    for ticket in slow_failures {
        assert_eq!(m.record(ticket, Report::Failure, 21 * SEC), None);
    }
    assert_eq!(m.failure_streak(), 0);
}

#[test]
fn manual_transitions_each_start_a_generation() {
    let mut m = Machine::new(settings(), 0);
    let cases = [
        (State::ForcedOpen, Reason::ForcedOpen),
        (State::Disabled, Reason::Disabled),
        (State::Open, Reason::Tripped),
        (State::Closed, Reason::Reset),
        (State::Closed, Reason::Reset),
    ];
    for (generation, (to, reason)) in (1..).zip(cases) {
        let change = m.manual(to, SEC);
        assert_eq!(
            (change.to, change.reason, change.generation),
            (to, reason, generation)
        );
    }
}

#[test]
fn forced_open_rejects_forever_and_disabled_admits_failures() {
    let mut m = Machine::new(settings(), 0);
    m.manual(State::ForcedOpen, 0);
    assert_eq!(
        m.acquire(1000 * SEC).0,
        Admission::Reject {
            state: State::ForcedOpen,
            retry_after: None
        }
    );
    m.manual(State::Disabled, 0);
    for _ in 0..10 {
        assert_eq!(fail(&mut m, 1), None);
    }
    assert_eq!(m.stored_state(), State::Disabled);
    assert_eq!(m.last_failure(), Some(1));
}

#[test]
fn trip_uses_the_normal_open_duration() {
    let mut m = Machine::new(settings(), 0);
    m.manual(State::Open, 3 * SEC);
    assert_eq!(m.open_until(), 13 * SEC);
}
