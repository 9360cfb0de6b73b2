//! Time to live: idle breakers expire, but a breaker that is read stays,
//! and a state set by hand (forced open, disabled) never expires on its
//! own. SQLite runs on a manual clock; in Redis, where the server keeps
//! the time to live, the test shortens the key's PTTL by hand (as time
//! would) and reads it back.

mod common;

use std::time::Duration;

use common::write_lock::WriteLock;
use common::RedisServer;
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::{RedisStore, SqliteStore};

const TTL: Duration = Duration::from_secs(3600);

common::write_lock_worker!();

fn sqlite(dir: &tempfile::TempDir, clock: &ManualClock) -> SqliteStore {
    SqliteStore::open(dir.path().join("state.db"))
        .unwrap()
        .ttl(TTL)
        .with_clock(clock.clone())
}

fn breaker(name: &str, store: impl fusebox::store::Store) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(24 * 3600))
        .store(store)
        .build()
        .unwrap()
}

fn updated_at(dir: &tempfile::TempDir, name: &str) -> Option<i64> {
    let raw = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
    raw.query_row(
        "SELECT updated_at FROM fusebox_state WHERE key = ?1",
        [format!("circuit_breaker:{name}")],
        |row| row.get(0),
    )
    .ok()
}

#[test]
fn sqlite_a_breaker_that_is_read_does_not_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = breaker("busy", sqlite(&dir, &clock));
    let _ = b.call(|| Err::<(), _>("down"));
    assert_eq!(b.state(), State::Open);
    // Six hours of reads, 40 minutes apart, with a one-hour TTL.
    for _ in 0..9 {
        clock.advance(Duration::from_secs(40 * 60));
        assert_eq!(b.state(), State::Open, "read, so kept alive");
    }
}

#[test]
fn sqlite_reads_refresh_the_time_only_now_and_then() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = breaker("calm", sqlite(&dir, &clock));
    let _ = b.call(|| Err::<(), _>("down"));
    let written = updated_at(&dir, "calm").unwrap();
    clock.advance(Duration::from_secs(60));
    let _ = b.state();
    assert_eq!(
        updated_at(&dir, "calm"),
        Some(written),
        "a read soon after writes nothing"
    );
    clock.advance(TTL / 2);
    let _ = b.state();
    assert!(
        updated_at(&dir, "calm").unwrap() > written,
        "a later read refreshes"
    );
}

#[test]
fn sqlite_a_read_due_to_refresh_is_not_held_up_by_a_locked_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let b = breaker("locked", sqlite(&dir, &clock));
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(TTL / 2);
    let lock = WriteLock::take(&dir.path().join("state.db"));
    let metrics = b.metrics();
    assert_eq!(metrics.state, State::Open);
    assert!(!metrics.degraded, "the refresh waits for a later read");
    lock.release();
}

#[test]
fn sqlite_manual_states_never_expire_and_survive_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let forced = breaker("forced", sqlite(&dir, &clock));
    forced.force_open();
    let disabled = breaker("disabled", sqlite(&dir, &clock));
    disabled.disable();
    let idle = breaker("idle", sqlite(&dir, &clock));
    let _ = idle.call(|| Err::<(), _>("down"));
    // Ten hours without a read, then a write elsewhere sweeps idle rows.
    clock.advance(TTL * 10);
    let _ = breaker("other", sqlite(&dir, &clock)).call(|| Err::<(), _>("down"));
    let names: Vec<String> = sqlite(&dir, &clock)
        .entries()
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        ["disabled", "forced", "other"],
        "only the idle row went"
    );
    assert_eq!(forced.state(), State::ForcedOpen);
    assert_eq!(disabled.state(), State::Disabled);
    assert_eq!(idle.state(), State::Closed, "expired");
}

fn pttl(raw: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(raw).unwrap()
}

fn pexpire(raw: &mut redis::Connection, key: &str, ms: i64) {
    let _: i64 = redis::cmd("PEXPIRE").arg(key).arg(ms).query(raw).unwrap();
}

#[test]
fn redis_a_breaker_that_is_read_does_not_expire() {
    let server = RedisServer::start();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let store = || RedisStore::open(&server.url()).unwrap().ttl(TTL);
    let b = breaker("busy", store());
    let _ = b.call(|| Err::<(), _>("down"));
    let key = "circuit_breaker:busy";
    assert!(pttl(&mut raw, key) > 3_500_000);

    // As if 20 minutes had passed: still more than half left, no refresh.
    pexpire(&mut raw, key, 2_400_000);
    assert_eq!(b.state(), State::Open);
    assert!(pttl(&mut raw, key) <= 2_400_000, "most reads write nothing");

    // As if 59 minutes had passed: the read keeps it alive.
    pexpire(&mut raw, key, 60_000);
    assert_eq!(b.state(), State::Open);
    assert!(pttl(&mut raw, key) > 3_500_000, "refreshed by the read");
}

#[test]
fn redis_manual_states_never_expire() {
    let server = RedisServer::start();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let store = || RedisStore::open(&server.url()).unwrap().ttl(TTL);
    let forced = breaker("forced", store());
    forced.force_open();
    assert_eq!(pttl(&mut raw, "circuit_breaker:forced"), -1, "persistent");
    let disabled = breaker("disabled", store());
    disabled.disable();
    assert_eq!(pttl(&mut raw, "circuit_breaker:disabled"), -1, "persistent");
    assert_eq!(forced.state(), State::ForcedOpen);
    assert_eq!(
        pttl(&mut raw, "circuit_breaker:forced"),
        -1,
        "reads keep it so"
    );

    forced.reset();
    assert!(
        pttl(&mut raw, "circuit_breaker:forced") > 0,
        "closed: expires again"
    );
}

#[test]
fn redis_peeking_reads_states_and_keeps_nothing_alive() {
    let server = RedisServer::start();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let store = || RedisStore::open(&server.url()).unwrap().ttl(TTL);
    let b = breaker("idle", store());
    let _ = b.call(|| Err::<(), _>("down"));
    let _: () = redis::cmd("SET")
        .arg("circuit_breaker:other")
        .arg("x")
        .query(&mut raw)
        .unwrap();
    // As if 59 minutes had passed: a breaker's own read would renew it.
    pexpire(&mut raw, "circuit_breaker:idle", 60_000);

    let names: Vec<String> = ["idle", "gone", "other"].map(String::from).to_vec();
    let states = store().peek(&names).unwrap();
    assert!(
        states[0].as_deref().unwrap().contains("state=open"),
        "{states:?}"
    );
    assert_eq!(states[1], None);
    assert_eq!(states[2].as_deref(), Some("(a redis string, not a hash)"));
    assert!(
        pttl(&mut raw, "circuit_breaker:idle") <= 60_000,
        "peeking renewed it"
    );

    // More names than one round trip takes.
    let many: Vec<String> = (0..450).map(|i| format!("n{i}")).collect();
    let states = store().peek(&many).unwrap();
    assert_eq!(states.len(), 450);
    assert!(states.iter().all(Option::is_none));
}
