//! Feature `serde`: breakers as JSON, in the shapes documented on the impls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Name, Reason, State, Transition};
use serde_json::{json, Value};

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("serializes")
}

#[test]
fn states_and_names_are_strings() {
    for state in State::ALL {
        assert_eq!(to_json(state), json!(state.as_str()));
    }
    assert_eq!(to_json(State::HalfOpen), json!("half_open"));
    assert_eq!(to_json(Name::new("s3_upload")), json!("s3_upload"));
    let long = "tenant-".repeat(10);
    assert_eq!(to_json(Name::new(&long)), json!(long));
}

#[test]
fn reasons_carry_a_kind_their_counts_and_a_message() {
    assert_eq!(
        to_json(Reason::ConsecutiveFailures(3)),
        json!({"kind": "consecutive_failures", "failures": 3, "message": "3 consecutive failures"})
    );
    assert_eq!(
        to_json(Reason::FailureRate {
            failures: 6,
            calls: 10
        }),
        json!({"kind": "failure_rate", "failures": 6, "calls": 10,
               "message": "6 of the last 10 calls failed"})
    );
    assert_eq!(
        to_json(Reason::SlowCallRate { slow: 2, calls: 4 }),
        json!({"kind": "slow_call_rate", "slow": 2, "calls": 4,
               "message": "2 of the last 4 calls were slow"})
    );
    assert_eq!(
        to_json(Reason::ProbesSucceeded(2)),
        json!({"kind": "probes_succeeded", "successes": 2, "message": "2 trial calls succeeded"})
    );
    for (reason, kind) in [
        (Reason::OpenTimeoutElapsed, "open_timeout_elapsed"),
        (Reason::ProbeFailed, "probe_failed"),
        (Reason::ForcedOpen, "forced_open"),
        (Reason::Disabled, "disabled"),
        (Reason::Reset, "reset"),
        (Reason::Tripped, "tripped"),
    ] {
        assert_eq!(
            to_json(reason),
            json!({"kind": kind, "message": reason.to_string()})
        );
    }
}

fn tripped_breaker() -> (CircuitBreaker, ManualClock, Arc<Mutex<Vec<Transition>>>) {
    let clock = ManualClock::new();
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = seen.clone();
    let breaker = CircuitBreaker::builder("payments")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .on_transition(move |t| sink.lock().unwrap().push(t.clone()))
        .build()
        .unwrap();
    breaker.call(|| Ok::<_, &str>(())).unwrap();
    for _ in 0..2 {
        let _ = breaker.call(|| Err::<(), _>("down"));
    }
    let _ = breaker.call(|| Ok::<_, &str>(()));
    clock.advance(Duration::from_millis(7500));
    (breaker, clock, seen)
}

#[test]
fn a_transition_has_its_states_reason_and_generation_but_no_instant() {
    let (_breaker, _clock, seen) = tripped_breaker();
    let seen = seen.lock().unwrap();
    assert_eq!(
        to_json(&seen[0]),
        json!({
            "name": "payments",
            "from": "closed",
            "to": "open",
            "reason": {"kind": "consecutive_failures", "failures": 2,
                       "message": "2 consecutive failures"},
            "generation": seen[0].generation,
        })
    );
}

#[test]
fn metrics_have_every_count_and_durations_in_seconds() {
    let (breaker, _clock, _) = tripped_breaker();
    let metrics = breaker.metrics();
    assert_eq!(
        to_json(&metrics),
        json!({
            "name": "payments",
            "state": "open",
            "generation": metrics.generation,
            "successes": 1,
            "failures": 2,
            "rejections": 1,
            "ignored": 0,
            "slow": 0,
            "cancelled": 0,
            "consecutive_failures": 0,
            "failures_since_closed": 2,
            "half_open_in_flight": 0,
            "failure_rate": 2.0 / 3.0,
            "time_in_state": 7.5,
            "retry_after": 22.5,
            "degraded": false,
        })
    );
}

#[test]
fn a_closed_breaker_has_no_retry_after() {
    let breaker = CircuitBreaker::builder("idle")
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let value = to_json(breaker.metrics());
    assert_eq!(value["retry_after"], Value::Null);
    assert_eq!(value["state"], json!("closed"));
    assert_eq!(value["time_in_state"], json!(0.0));
}
