//! Fleet mode on a shared in-process store: each breaker built on the same
//! store and name stands for one process. Time is a manual clock, and
//! synchronisations happen when a test asks for them (`sync_now`).

mod common;

use common::{fail, succeed};

use std::time::Duration;

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, Error, ManualClock, State};

const NAME: &str = "fleet";

fn store(clock: &ManualClock) -> MemoryStore {
    MemoryStore::new()
        .with_clock(clock.clone())
        .sync_every(Duration::from_millis(10))
}

fn process(store: &MemoryStore, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder(NAME)
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(30))
        .half_open_max_calls(1)
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap()
}

/// The field `key` of the stored record.
fn field(store: &MemoryStore, key: &str) -> String {
    common::stored_field(store, NAME, key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", store.raw(NAME)))
}

#[test]
fn closed_calls_touch_the_store_only_when_synchronised() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let a = process(&store, &clock);
    for _ in 0..1000 {
        succeed(&a).unwrap();
    }
    fail(&a).unwrap_err();
    assert_eq!(store.raw(NAME), None, "no call may write the store");
    a.sync_now().unwrap();
    assert_eq!(field(&store, "streak"), "1");
    assert_eq!(field(&store, "fsc"), "1");
    assert_eq!(a.metrics().successes, 1000);
}

#[test]
fn failures_of_several_processes_add_up_and_trip_every_one() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b, c) = (
        process(&store, &clock),
        process(&store, &clock),
        process(&store, &clock),
    );
    for p in [&a, &b] {
        for _ in 0..2 {
            fail(p).unwrap_err();
        }
        p.sync_now().unwrap();
    }
    assert_eq!(field(&store, "state"), "closed");
    assert_eq!(field(&store, "streak"), "4");
    // c has seen none of it yet, but its view now includes the four.
    c.sync_now().unwrap();
    assert_eq!(c.metrics().consecutive_failures, 4);
    assert_eq!(fail(&c), Err(Error::Inner("down")));
    // Its own view trips: it refuses at once, and the store agrees.
    assert!(c.try_acquire().is_err());
    c.sync_now().unwrap();
    assert_eq!(field(&store, "state"), "open");
    assert_eq!(field(&store, "fsc"), "5");
    assert_eq!(c.state(), State::Open);
    // The others follow at their next synchronisation.
    assert!(a.try_acquire().is_ok(), "a has not synchronised yet");
    a.sync_now().unwrap();
    let rejected = a.try_acquire().unwrap_err();
    assert_eq!(rejected.state, State::Open);
    assert_eq!(rejected.retry_after, Some(Duration::from_secs(30)));
}

#[test]
fn a_success_anywhere_breaks_the_streak() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b) = (process(&store, &clock), process(&store, &clock));
    for _ in 0..3 {
        fail(&a).unwrap_err();
    }
    a.sync_now().unwrap();
    fail(&b).unwrap_err();
    succeed(&b).unwrap();
    fail(&b).unwrap_err();
    b.sync_now().unwrap();
    assert_eq!(field(&store, "streak"), "1");
    assert_eq!(field(&store, "fsc"), "5");
    assert_eq!(field(&store, "state"), "closed");
}

#[test]
fn trial_calls_stay_exact_across_the_fleet() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b) = (process(&store, &clock), process(&store, &clock));
    a.trip();
    b.sync_now().unwrap();
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    let probe = a.try_acquire().expect("the first trial call");
    assert!(probe.is_probe());
    let refused = b.try_acquire().unwrap_err();
    assert_eq!(refused.state, State::HalfOpen);
    probe.success();
    assert_eq!(field(&store, "state"), "closed");
    assert_eq!(a.state(), State::Closed);
    b.sync_now().unwrap();
    assert!(b.try_acquire().is_ok());
}

#[test]
fn calls_of_a_generation_the_fleet_left_count_for_nothing() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b) = (process(&store, &clock), process(&store, &clock));
    for _ in 0..4 {
        fail(&a).unwrap_err();
    }
    // Meanwhile b trips the breaker and resets it: a new generation.
    b.trip();
    b.reset();
    a.sync_now().unwrap();
    assert_eq!(field(&store, "state"), "closed");
    assert_eq!(field(&store, "streak"), "0");
    assert_eq!(a.metrics().consecutive_failures, 0);
    // a's next failures count from zero.
    fail(&a).unwrap_err();
    a.sync_now().unwrap();
    assert_eq!(field(&store, "streak"), "1");
}

#[test]
fn a_permit_from_before_a_trip_reports_into_nothing() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b) = (process(&store, &clock), process(&store, &clock));
    let held = a.try_acquire().unwrap();
    b.trip();
    b.reset();
    a.sync_now().unwrap();
    held.failure();
    a.sync_now().unwrap();
    assert_eq!(field(&store, "streak"), "0");
    assert_eq!(field(&store, "fsc"), "0");
}

#[test]
fn dropping_the_last_handle_sends_what_was_counted() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let a = process(&store, &clock);
    fail(&a).unwrap_err();
    fail(&a).unwrap_err();
    drop(a);
    assert_eq!(field(&store, "streak"), "2");
}

#[test]
fn manual_operations_reach_the_store_at_once() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b) = (process(&store, &clock), process(&store, &clock));
    a.force_open();
    assert_eq!(field(&store, "state"), "forced_open");
    b.sync_now().unwrap();
    assert_eq!(b.try_acquire().unwrap_err().state, State::ForcedOpen);
    b.reset();
    a.sync_now().unwrap();
    assert!(a.try_acquire().is_ok());
}

/// Threads of this process with `name` (Linux shows them in /proc).
#[cfg(target_os = "linux")]
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn one_thread_synchronises_every_breaker_of_the_process() {
    let store = MemoryStore::new().sync_every(Duration::from_millis(5));
    let breakers: Vec<CircuitBreaker> = (0..200)
        .map(|i| {
            CircuitBreaker::builder(format!("host-{i}"))
                .store(store.clone())
                .build()
                .unwrap()
        })
        .collect();
    for b in &breakers {
        fail(b).unwrap_err();
    }
    // A new thread takes its name only once it runs, and a thread that found
    // nothing left to serve may still be ending: wait until exactly one.
    let started = std::time::Instant::now();
    while threads_named("fusebox-sync") != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} synchronisation threads for 200 breakers",
            threads_named("fusebox-sync")
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // Every breaker is synchronised by it: their failures reach the store.
    while (0..200).any(|i| {
        store
            .raw(&format!("host-{i}"))
            .is_none_or(|r| !r.contains("fsc=1"))
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not synchronised"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(breakers);
}
