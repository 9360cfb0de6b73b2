//! The Redis store against a real `redis-server` of the test's own, killed
//! and restarted to test faults.

mod common;

use std::time::Duration;

use common::{fleet, RedisServer};
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::RedisStore;

common::fleet_workers!();

#[test]
fn eight_processes_share_one_breaker() {
    let server = RedisServer::start();
    fleet::eight_processes_trip_one_breaker("worker_fail_until_rejected", &server.url());
}

#[test]
fn half_open_probes_are_limited_across_processes() {
    let server = RedisServer::start();
    fleet::half_open_probes_are_limited_fleet_wide("worker_take_a_probe", &server.url());
}

#[test]
fn eight_processes_share_one_breaker_in_fleet_mode() {
    let server = RedisServer::start();
    let url = format!("{}?sync=10ms", server.url());
    fleet::eight_processes_trip_one_breaker("worker_fail_until_rejected", &url);
}

#[test]
fn half_open_probes_are_limited_across_processes_in_fleet_mode() {
    let server = RedisServer::start();
    let url = format!("{}?sync=10ms", server.url());
    fleet::half_open_probes_are_limited_fleet_wide("worker_take_a_probe", &url);
}

fn client(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn one_hash_per_breaker_under_the_prefix_with_a_ttl() {
    let server = RedisServer::start();
    let b = CircuitBreaker::builder("pypi")
        .failure_threshold(1)
        .store(RedisStore::open(&server.url()).unwrap())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>(()));
    let mut raw = client(&server);
    let state: String = redis::cmd("HGET")
        .arg("circuit_breaker:pypi")
        .arg("state")
        .query(&mut raw)
        .unwrap();
    assert_eq!(state, "open");
    let ttl: i64 = redis::cmd("PTTL")
        .arg("circuit_breaker:pypi")
        .query(&mut raw)
        .unwrap();
    assert!(ttl > 0, "idle breakers must expire");

    let custom = CircuitBreaker::builder("pypi")
        .failure_threshold(1)
        .shared_store(fusebox_stores::open(&format!("{}?prefix=team_a:", server.url())).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        custom.state(),
        State::Closed,
        "another prefix, another breaker"
    );
}

#[test]
fn a_killed_server_degrades_calls_and_state_is_written_back_after_restart() {
    let mut server = RedisServer::start();
    let clock = ManualClock::new();
    let url = server.url();
    let store = || RedisStore::open(&url).unwrap().with_clock(clock.clone());
    let b = CircuitBreaker::builder("flaky")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(600))
        .store(store())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>(()));
    assert_eq!(b.metrics().consecutive_failures, 1);

    server.kill();
    // Calls go on without the store, on the last state seen.
    assert_eq!(b.call(|| Ok::<_, ()>(7)), Ok(7));
    assert!(b.metrics().degraded);
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>(()));
    }
    assert_eq!(
        b.state(),
        State::Open,
        "tripped locally while Redis was down"
    );

    server.restart();
    clock.advance(Duration::from_secs(1)); // the degraded breaker's retry interval
    assert!(!b.metrics().degraded);
    let observer = CircuitBreaker::builder("flaky")
        .store(store())
        .build()
        .unwrap();
    assert_eq!(
        observer.state(),
        State::Open,
        "the local state was written back"
    );
}

#[test]
fn fail_closed_rejects_while_the_server_is_down() {
    let mut server = RedisServer::start();
    let b = CircuitBreaker::builder("strict")
        .fail_closed(true)
        .store(RedisStore::open(&server.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(b.call(|| Ok::<_, ()>(1)), Ok(1));
    server.kill();
    assert!(b.call(|| Ok::<_, ()>(1)).is_err());
}

#[test]
fn a_server_that_never_answers_is_not_waited_on_forever() {
    // A listener that accepts connections and never replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/0", silent.local_addr().unwrap());
    let b = CircuitBreaker::builder("silent")
        .store(RedisStore::open(&url).unwrap())
        .build()
        .unwrap();
    assert_eq!(b.call(|| Ok::<_, ()>(1)), Ok(1), "fail open on local state");
    assert!(b.metrics().degraded);
}

#[test]
fn a_foreign_value_is_reset_not_trusted() {
    let server = RedisServer::start();
    let mut raw = client(&server);
    let _: () = redis::cmd("HSET")
        .arg("circuit_breaker:junk")
        .arg("machine")
        .arg("\u{0}garbage")
        .arg("version")
        .arg("7")
        .query(&mut raw)
        .unwrap();
    let b = CircuitBreaker::builder("junk")
        .store(RedisStore::open(&server.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(b.state(), State::Closed);
    let _ = b.call(|| Err::<(), _>(()));
    let machine: String = redis::cmd("HGET")
        .arg("circuit_breaker:junk")
        .arg("machine")
        .query(&mut raw)
        .unwrap();
    assert!(machine.starts_with("fusebox/1 state=closed"), "{machine}");

    // A key of the wrong type entirely.
    let _: () = redis::cmd("SET")
        .arg("circuit_breaker:str")
        .arg("x")
        .query(&mut raw)
        .unwrap();
    let b = CircuitBreaker::builder("str")
        .store(RedisStore::open(&server.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        b.call(|| Ok::<_, ()>(1)),
        Ok(1),
        "no panic; degraded instead"
    );
}
