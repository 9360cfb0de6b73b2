//! A record that expired (or that a restarted server lost) and was made
//! again starts over at generation 0, so a generation alone cannot tell a
//! stale local copy from the fleet's state. The record's epoch can: a
//! breaker that changed state alone while locked out must not overwrite
//! a newer record that happens to carry the same generation.

mod common;

use std::time::Duration;

use common::deploy::{Kind, TestRedis};
use common::write_lock::WriteLock;
use fusebox::store::Store;
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::{RedisStore, SqliteStore};

common::write_lock_worker!();

fn breaker(store: impl Store) -> CircuitBreaker {
    CircuitBreaker::builder("api")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(10 * 3600))
        .store(store)
        .build()
        .unwrap()
}

#[test]
fn sqlite_a_stale_local_state_does_not_overwrite_a_remade_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let store = || {
        SqliteStore::open(&path)
            .unwrap()
            .ttl(Duration::from_secs(3600))
            .with_clock(clock.clone())
    };
    let a = breaker(store());
    let _ = a.call(|| Err::<(), _>("down"));
    assert_eq!(a.metrics().generation, 1, "open, in the store");

    // Locked out, `a` is reset alone: generation 2, to write back later.
    let lock = WriteLock::take(&path);
    a.reset();
    assert!(a.metrics().degraded);
    lock.release();

    // The record expires; another process makes a new one and trips it:
    // generation 1 again, a different record.
    clock.advance(Duration::from_secs(7200));
    let b = breaker(store());
    let _ = b.call(|| Err::<(), _>("down"));
    assert_eq!(b.metrics().generation, 1);

    assert_eq!(a.state(), State::Open, "a adopts the fleet's state");
    assert_eq!(b.state(), State::Open, "the new trip stands");
}

common::deploy::on_every_redis!(
    redis_a_stale_local_state_does_not_overwrite_a_record_made_after_a_restart
);

fn redis_a_stale_local_state_does_not_overwrite_a_record_made_after_a_restart(kind: Kind) {
    let mut server = TestRedis::start(kind);
    let clock = ManualClock::new();
    let url = server.url();
    let store = || RedisStore::open(&url).unwrap().with_clock(clock.clone());
    let a = breaker(store());
    let _ = a.call(|| Err::<(), _>("down"));

    // The server goes away; `a` is reset alone (generation 2).
    let killed = server.kill_holder_of("circuit_breaker:api");
    a.reset();
    assert!(a.metrics().degraded);

    // It comes back empty; another process trips the breaker (generation 1).
    server.restart(killed);
    let b = breaker(store());
    let _ = b.call(|| Err::<(), _>("down"));
    assert_eq!(b.metrics().generation, 1);

    clock.advance(Duration::from_secs(1)); // a's retry interval
    assert_eq!(a.state(), State::Open, "a adopts the fleet's state");
    assert_eq!(b.state(), State::Open, "the new trip stands");
}
