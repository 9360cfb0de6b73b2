//! Quorum mode: each process opens on its own calls; the fleet opens for
//! all only when the quorum is met. Breakers on one shared in-process store
//! stand for processes; time is a manual clock and each synchronisation is
//! asked for (`sync_now`).

use std::time::Duration;

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, Error, ManualClock, Quorum, Reason, State};

const LIVENESS: Duration = Duration::from_secs(1);

fn process(store: &MemoryStore, clock: &ManualClock, quorum: Quorum) -> CircuitBreaker {
    CircuitBreaker::builder("quorum")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(30))
        .half_open_max_calls(1)
        .clock(clock.clone())
        .store(store.clone())
        .quorum(quorum.liveness(LIVENESS))
        .build()
        .unwrap()
}

fn fleet(n: usize, quorum: Quorum) -> (ManualClock, MemoryStore, Vec<CircuitBreaker>) {
    let clock = ManualClock::new();
    let store = MemoryStore::new()
        .with_clock(clock.clone())
        .sync_every(Duration::from_millis(10));
    let members = (0..n).map(|_| process(&store, &clock, quorum)).collect();
    (clock, store, members)
}

fn fail_until_open(b: &CircuitBreaker) {
    for _ in 0..3 {
        assert!(matches!(
            b.call(|| Err::<(), _>("down")),
            Err(Error::Inner(_))
        ));
    }
    assert_eq!(b.try_acquire().unwrap_err().state, State::Open);
}

fn sync_all(members: &[CircuitBreaker]) {
    for m in members {
        m.sync_now().unwrap();
    }
}

fn admits(b: &CircuitBreaker) -> bool {
    b.try_acquire().is_ok()
}

#[test]
fn one_sick_process_opens_only_itself_and_a_second_opens_all() {
    let (_clock, store, members) = fleet(4, Quorum::at_least(2));
    sync_all(&members);
    fail_until_open(&members[0]);
    sync_all(&members);
    assert!(!admits(&members[0]));
    assert!(members[1..].iter().all(admits), "the healthy ones carry on");
    assert!(store.raw("quorum").unwrap().contains("state=closed"));

    fail_until_open(&members[1]);
    members[1].sync_now().unwrap();
    let raw = store.raw("quorum").unwrap();
    assert!(raw.contains("state=open"), "{raw}");
    assert!(raw.contains("why=quorum:2/4"), "{raw}");
    sync_all(&members);
    for m in &members {
        let refused = m.try_acquire().unwrap_err();
        assert_eq!(refused.state, State::Open);
        assert_eq!(
            m.metrics().reason,
            Some(Reason::Quorum { open: 2, live: 4 })
        );
    }
}

#[test]
fn a_share_counts_the_living_only() {
    let (clock, _store, mut members) = fleet(4, Quorum::share(0.5));
    sync_all(&members);
    fail_until_open(&members[0]);
    members[0].sync_now().unwrap();
    // Two processes die without a word; the others keep synchronising.
    std::mem::forget(members.pop());
    std::mem::forget(members.pop());
    clock.advance(LIVENESS + Duration::from_millis(1));
    members[1].sync_now().unwrap();
    // One open of two alive: half, the share.
    members[0].sync_now().unwrap();
    members[1].sync_now().unwrap();
    assert_eq!(members[1].try_acquire().unwrap_err().state, State::Open);
}

#[test]
fn a_process_that_dies_stops_counting_within_the_liveness_window() {
    let (clock, store, mut members) = fleet(4, Quorum::at_least(2));
    sync_all(&members);
    fail_until_open(&members[0]);
    members[0].sync_now().unwrap();
    std::mem::forget(members.remove(0)); // dies open, without a word
    clock.advance(LIVENESS + Duration::from_millis(1));
    fail_until_open(&members[0]);
    members[0].sync_now().unwrap();
    let raw = store.raw("quorum").unwrap();
    assert!(
        raw.contains("state=closed"),
        "the dead one no longer counts: {raw}"
    );
    assert!(admits(&members[1]));
    // Within the window it still would have.
    fail_until_open(&members[1]);
    members[1].sync_now().unwrap();
    assert!(store.raw("quorum").unwrap().contains("state=open"));
}

#[test]
fn the_fleet_recovers_through_exact_trial_calls_and_forgets_who_was_open() {
    let (clock, store, members) = fleet(3, Quorum::at_least(2));
    sync_all(&members);
    fail_until_open(&members[0]);
    fail_until_open(&members[1]);
    sync_all(&members); // the second one's synchronisation opens the fleet...
    sync_all(&members); // ...and the first learns of it at its next
    assert!(store.raw("quorum").unwrap().contains("state=open"));
    clock.advance(Duration::from_secs(30));
    let probe = members[2]
        .try_acquire()
        .expect("one trial call, fleet-wide");
    assert!(members[0].try_acquire().is_err());
    probe.success();
    assert!(store.raw("quorum").unwrap().contains("state=closed"));
    sync_all(&members);
    assert!(members.iter().all(admits), "every process starts afresh");
    sync_all(&members);
    assert!(store.raw("quorum").unwrap().contains("state=closed"));
}

#[test]
fn quorum_needs_a_store_in_fleet_mode() {
    let exact = CircuitBreaker::builder("q")
        .store(MemoryStore::new())
        .quorum(Quorum::at_least(2))
        .build()
        .unwrap_err();
    assert!(exact.to_string().contains("fleet mode"), "{exact}");
    let in_memory = CircuitBreaker::builder("q")
        .quorum(Quorum::at_least(2))
        .build()
        .unwrap_err();
    assert!(in_memory.to_string().contains("quorum"), "{in_memory}");
    let store = MemoryStore::new().sync_every(Duration::from_millis(10));
    for bad in [Quorum::at_least(0), Quorum::share(0.0), Quorum::share(1.5)] {
        let error = CircuitBreaker::builder("q")
            .store(store.clone())
            .quorum(bad)
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("quorum"), "{error}");
    }
}

#[test]
fn a_member_heard_from_in_the_future_still_ages_out() {
    let (clock, store, members) = fleet(2, Quorum::at_least(2));
    sync_all(&members);
    // A foreign writer claims an open member last seen at the end of time.
    let raw = store.raw("quorum").unwrap();
    let forged = raw.replacen(" epoch=", &format!(" mem=abc:o:{} epoch=", u64::MAX), 1);
    store.put_raw("quorum", &forged);
    // Read now, it counts as heard from now (one open of two: not met)...
    members[1].sync_now().unwrap();
    assert!(store.raw("quorum").unwrap().contains("state=closed"));
    // ...and ages out like any other.
    clock.advance(LIVENESS + Duration::from_millis(1));
    fail_until_open(&members[0]);
    members[0].sync_now().unwrap();
    let raw = store.raw("quorum").unwrap();
    assert!(raw.contains("state=closed"), "{raw}");
}

#[test]
fn an_interval_of_any_length_is_taken() {
    let store = MemoryStore::new().sync_every(Duration::MAX);
    let b = CircuitBreaker::builder("long")
        .store(store)
        .quorum(Quorum::at_least(1))
        .build()
        .unwrap();
    assert!(b.try_acquire().is_ok());
}
