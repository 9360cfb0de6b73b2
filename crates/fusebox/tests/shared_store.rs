//! Breakers sharing a store behave as one, and agree with the in-memory
//! breaker; a foreign value under a key is reset, not trusted.

use std::time::Duration;

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, ManualClock, State};

fn shared(store: &MemoryStore, name: &str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(10))
        .store(store.clone())
        .build()
        .unwrap()
}

fn fail(b: &CircuitBreaker) {
    let _ = b.call(|| Err::<(), _>(()));
}

#[test]
fn failures_from_every_instance_add_up_and_all_see_open() {
    let clock = ManualClock::new();
    let store = MemoryStore::new().with_clock(clock.clone());
    let fleet: Vec<_> = (0..8).map(|_| shared(&store, "api")).collect();
    for b in fleet.iter().take(5) {
        assert_eq!(b.state(), State::Closed);
        fail(b);
    }
    for b in &fleet {
        assert_eq!(b.state(), State::Open);
        assert!(b.try_acquire().is_err());
    }
    assert_eq!(
        fleet[7].metrics().generation,
        1,
        "one transition, not eight"
    );

    clock.advance(Duration::from_secs(10));
    let probe = fleet[0].try_acquire().expect("one trial call fleet-wide");
    for b in &fleet {
        assert_eq!(b.try_acquire().unwrap_err().state, State::HalfOpen);
    }
    probe.success();
    for b in &fleet {
        assert_eq!(b.state(), State::Closed);
    }
}

#[test]
fn a_new_instance_does_not_reset_shared_state() {
    let store = MemoryStore::new().with_clock(ManualClock::new());
    let first = shared(&store, "db");
    for _ in 0..4 {
        fail(&first);
    }
    let late = shared(&store, "db");
    fail(&late);
    assert_eq!(first.state(), State::Open, "4 + 1 failures");
}

#[test]
fn manual_control_is_shared() {
    let store = MemoryStore::new().with_clock(ManualClock::new());
    let (a, b) = (shared(&store, "m"), shared(&store, "m"));
    a.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    b.reset();
    assert_eq!(a.state(), State::Closed);
    a.disable();
    assert_eq!(b.state(), State::Disabled);
}

#[test]
fn a_foreign_value_is_reset_with_a_warning_not_a_panic() {
    let store = MemoryStore::new().with_clock(ManualClock::new());
    for junk in [
        "",
        "hello",
        "fusebox/1 state=sideways",
        "fusebox/1 state=open gen=x",
    ] {
        store.put_raw("junk", junk);
        let b = shared(&store, "junk");
        assert_eq!(b.state(), State::Closed);
        fail(&b);
        assert!(store
            .raw("junk")
            .unwrap()
            .starts_with("fusebox/1 state=closed"));
    }
}

#[test]
fn a_rate_window_is_shared_through_the_store() {
    let store = MemoryStore::new().with_clock(ManualClock::new());
    let fleet: Vec<_> = (0..4)
        .map(|_| {
            CircuitBreaker::builder("rate")
                .failure_rate(0.5, fusebox::Window::count(10), 10)
                .store(store.clone())
                .build()
                .unwrap()
        })
        .collect();
    // Ten calls spread over four instances, half of them failures.
    for i in 0..10 {
        let b = &fleet[i % 4];
        if i % 2 == 0 {
            fail(b);
        } else {
            b.call(|| Ok::<_, ()>(())).unwrap();
        }
    }
    assert_eq!(
        fleet[0].state(),
        State::Open,
        "5 of the fleet's last 10 calls failed"
    );
}
