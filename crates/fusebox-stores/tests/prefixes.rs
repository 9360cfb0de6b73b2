//! A store's prefix matches exactly: no wildcards, no case folding, no
//! glob patterns, in listing and in the SQLite TTL sweep.

mod common;

use std::time::Duration;

use common::deploy::{Kind, TestRedis};
use fusebox::store::Store;
use fusebox::{CircuitBreaker, ManualClock};
use fusebox_stores::{RedisStore, SqliteStore};

fn trip(name: &str, store: impl Store) {
    let b = CircuitBreaker::builder(name)
        .failure_threshold(1)
        .store(store)
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
}

#[test]
fn sqlite_lists_only_its_own_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let prefixes = [
        "circuit_breaker:",
        "circuitXbreaker:",
        "CIRCUIT_BREAKER:",
        "circuit%",
    ];
    for (i, prefix) in prefixes.iter().enumerate() {
        trip(
            &format!("api{i}"),
            SqliteStore::open(&path).unwrap().prefix(*prefix),
        );
    }
    for (i, prefix) in prefixes.iter().enumerate() {
        let names = SqliteStore::open(&path)
            .unwrap()
            .prefix(*prefix)
            .names()
            .unwrap();
        assert_eq!(names, [format!("api{i}")], "prefix {prefix:?}");
    }
}

#[test]
fn sqlite_a_multibyte_key_under_a_wildcard_prefix_neither_panics_nor_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    trip("x", SqliteStore::open(&path).unwrap().prefix("aé"));
    trip("y", SqliteStore::open(&path).unwrap().prefix("a_"));
    let names = SqliteStore::open(&path)
        .unwrap()
        .prefix("a_")
        .names()
        .unwrap();
    assert_eq!(names, ["y"]);
}

#[test]
fn sqlite_the_ttl_sweep_deletes_only_its_own_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let open = |prefix: &str| {
        SqliteStore::open(&path)
            .unwrap()
            .prefix(prefix)
            .ttl(Duration::from_secs(3600))
            .with_clock(clock.clone())
    };
    trip("idle", open("circuitXbreaker:"));
    clock.advance(Duration::from_secs(7200));
    // A write under the default prefix sweeps its own idle rows only.
    trip("fresh", open("circuit_breaker:"));
    let raw = rusqlite::Connection::open(&path).unwrap();
    let kept: i64 = raw
        .query_row(
            "SELECT count(*) FROM fusebox_state WHERE key = 'circuitXbreaker:idle'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1, "another prefix's row is not this store's to sweep");
}

common::deploy::on_every_redis!(redis_a_prefix_with_glob_characters_lists_its_breakers);

fn redis_a_prefix_with_glob_characters_lists_its_breakers(kind: Kind) {
    let server = TestRedis::start(kind);
    let store = |prefix: &str| RedisStore::open(&server.url()).unwrap().prefix(prefix);
    trip("api", store("team[1]:"));
    trip("web", store("team1:"));
    trip("db", store("team*:"));
    assert_eq!(store("team[1]:").names().unwrap(), ["api"]);
    assert_eq!(store("team1:").names().unwrap(), ["web"]);
    assert_eq!(store("team*:").names().unwrap(), ["db"]);
}
