//! Values fusebox did not write (another tool's, or damaged) never wedge a
//! breaker: each is reset like corrupt text, `reset` works, and one bad
//! entry never hides the others from listing.

mod common;

use common::deploy::{Kind, TestRedis};
use fusebox::store::Store;
use fusebox::{CircuitBreaker, State};
use fusebox_stores::{RedisStore, SqliteStore};

const THRESHOLD: u32 = 7;

/// Fails `THRESHOLD` calls: the breaker must open, then reset.
fn trips_and_resets(name: &str, store: impl Store) {
    let b = CircuitBreaker::builder(name)
        .failure_threshold(THRESHOLD)
        .store(store)
        .build()
        .unwrap();
    for _ in 0..THRESHOLD {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    let metrics = b.metrics();
    assert!(
        !metrics.degraded,
        "{name}: the store refused the reset value"
    );
    assert_eq!(metrics.state, State::Open, "{name}");
    b.reset();
    assert_eq!(b.state(), State::Closed, "{name}");
}

#[test]
fn sqlite_foreign_column_types_are_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    // Written now, so that the TTL sweep has no reason to delete them.
    let now = fusebox::__private::wall_clock_nanos() as i64;
    raw.execute_batch(&format!(
        "INSERT INTO fusebox_state VALUES ('circuit_breaker:blob', 'open', X'00FF10', {now});
         INSERT INTO fusebox_state VALUES
             ('circuit_breaker:bad_utf8', 'open', CAST(X'66FF' AS TEXT), {now});
         INSERT INTO fusebox_state VALUES ('circuit_breaker:text_time', 'open', 'x', 'yesterday');
         INSERT INTO fusebox_state VALUES ('circuit_breaker:real_time', 'open', 'x', {now}.5);
         INSERT INTO fusebox_state VALUES (X'FF00', 'open', 'x', {now});"
    ))
    .unwrap();
    trips_and_resets("good", SqliteStore::open(&path).unwrap());
    let names = SqliteStore::open(&path).unwrap().names().unwrap();
    assert_eq!(
        names,
        ["bad_utf8", "blob", "good", "real_time", "text_time"],
        "no bad row hides another"
    );
    for name in ["blob", "bad_utf8", "text_time", "real_time"] {
        trips_and_resets(name, SqliteStore::open(&path).unwrap());
    }
}

common::deploy::on_every_redis!(
    redis_a_foreign_version_is_reset,
    redis_foreign_types_and_bytes_are_reset,
);

fn redis_a_foreign_version_is_reset(kind: Kind) {
    let server = TestRedis::start(kind);
    let _: () = redis::cmd("HSET")
        .arg("circuit_breaker:versioned")
        .arg("version")
        .arg("not-a-number")
        .arg("machine")
        .arg("junk")
        .query(&mut *server.raw())
        .unwrap();
    trips_and_resets("versioned", RedisStore::open(&server.url()).unwrap());
}

fn redis_foreign_types_and_bytes_are_reset(kind: Kind) {
    let server = TestRedis::start(kind);
    let mut raw = server.raw();
    let _: () = redis::cmd("SET")
        .arg("circuit_breaker:string")
        .arg("another tool's value")
        .query(&mut *raw)
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg("circuit_breaker:list")
        .arg("x")
        .query(&mut *raw)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("circuit_breaker:bytes")
        .arg("machine")
        .arg(b"fusebox/1 \xff\xfe".as_slice())
        .arg("version")
        .arg(b"\xff".as_slice())
        .query(&mut *raw)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(b"circuit_breaker:\xff\xfe".as_slice())
        .arg("x")
        .query(&mut *raw)
        .unwrap();
    trips_and_resets("good", RedisStore::open(&server.url()).unwrap());
    let names = RedisStore::open(&server.url()).unwrap().names().unwrap();
    assert_eq!(
        names,
        ["bytes", "good", "list", "string"],
        "no bad key hides another"
    );
    for name in ["string", "list", "bytes"] {
        trips_and_resets(name, RedisStore::open(&server.url()).unwrap());
    }
}
