//! The Redis store against real servers of the test's own (one plain
//! server, one speaking only TLS, a three-master cluster), killed and
//! restarted to test faults. Each case runs against each deployment.

mod common;

use std::time::Duration;

use common::deploy::{Kind, TestRedis};
use common::{fleet, RedisServer};
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::RedisStore;

common::fleet_workers!();

common::deploy::on_every_redis!(
    eight_processes_share_one_breaker,
    half_open_probes_are_limited_across_processes,
    eight_processes_share_one_breaker_in_fleet_mode,
    half_open_probes_are_limited_across_processes_in_fleet_mode,
    one_hash_per_breaker_under_the_prefix_with_a_ttl,
    a_killed_server_degrades_calls_and_state_is_written_back_after_restart,
    fail_closed_rejects_while_the_server_is_down,
    a_foreign_value_is_reset_not_trusted,
);

fn eight_processes_share_one_breaker(kind: Kind) {
    let redis = TestRedis::start(kind);
    fleet::eight_processes_trip_one_breaker("worker_fail_until_rejected", &redis.url());
}

fn half_open_probes_are_limited_across_processes(kind: Kind) {
    let redis = TestRedis::start(kind);
    fleet::half_open_probes_are_limited_fleet_wide("worker_take_a_probe", &redis.url());
}

fn eight_processes_share_one_breaker_in_fleet_mode(kind: Kind) {
    let redis = TestRedis::start(kind);
    let url = redis.url_with("sync=10ms");
    fleet::eight_processes_trip_one_breaker("worker_fail_until_rejected", &url);
}

fn half_open_probes_are_limited_across_processes_in_fleet_mode(kind: Kind) {
    let redis = TestRedis::start(kind);
    let url = redis.url_with("sync=10ms");
    fleet::half_open_probes_are_limited_fleet_wide("worker_take_a_probe", &url);
}

fn one_hash_per_breaker_under_the_prefix_with_a_ttl(kind: Kind) {
    let redis = TestRedis::start(kind);
    let b = CircuitBreaker::builder("pypi")
        .failure_threshold(1)
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>(()));
    let mut raw = redis.raw();
    let state: String = redis::cmd("HGET")
        .arg("circuit_breaker:pypi")
        .arg("state")
        .query(&mut *raw)
        .unwrap();
    assert_eq!(state, "open");
    let ttl: i64 = redis::cmd("PTTL")
        .arg("circuit_breaker:pypi")
        .query(&mut *raw)
        .unwrap();
    assert!(ttl > 0, "idle breakers must expire");

    let custom = CircuitBreaker::builder("pypi")
        .failure_threshold(1)
        .shared_store(fusebox_stores::open(&redis.url_with("prefix=team_a:")).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        custom.state(),
        State::Closed,
        "another prefix, another breaker"
    );
}

fn a_killed_server_degrades_calls_and_state_is_written_back_after_restart(kind: Kind) {
    let mut redis = TestRedis::start(kind);
    let clock = ManualClock::new();
    let url = redis.url();
    let store = || RedisStore::open(&url).unwrap().with_clock(clock.clone());
    let b = CircuitBreaker::builder("flaky")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(600))
        .store(store())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>(()));
    assert_eq!(b.metrics().consecutive_failures, 1);

    let killed = redis.kill_holder_of("circuit_breaker:flaky");
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

    redis.restart(killed);
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

fn fail_closed_rejects_while_the_server_is_down(kind: Kind) {
    let mut redis = TestRedis::start(kind);
    let b = CircuitBreaker::builder("strict")
        .fail_closed(true)
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(b.call(|| Ok::<_, ()>(1)), Ok(1));
    redis.kill_holder_of("circuit_breaker:strict");
    assert!(b.call(|| Ok::<_, ()>(1)).is_err());
}

fn a_foreign_value_is_reset_not_trusted(kind: Kind) {
    let redis = TestRedis::start(kind);
    let mut raw = redis.raw();
    let _: () = redis::cmd("HSET")
        .arg("circuit_breaker:junk")
        .arg("machine")
        .arg("\u{0}garbage")
        .arg("version")
        .arg("7")
        .query(&mut *raw)
        .unwrap();
    let b = CircuitBreaker::builder("junk")
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(b.state(), State::Closed);
    let _ = b.call(|| Err::<(), _>(()));
    let machine: String = redis::cmd("HGET")
        .arg("circuit_breaker:junk")
        .arg("machine")
        .query(&mut *raw)
        .unwrap();
    assert!(machine.starts_with("fusebox/1 state=closed"), "{machine}");

    // A key of the wrong type entirely.
    let _: () = redis::cmd("SET")
        .arg("circuit_breaker:str")
        .arg("x")
        .query(&mut *raw)
        .unwrap();
    let b = CircuitBreaker::builder("str")
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        b.call(|| Ok::<_, ()>(1)),
        Ok(1),
        "no panic; degraded instead"
    );
}

#[test]
fn a_server_that_never_answers_is_not_waited_on_forever() {
    // A listener that accepts connections and never replies: neither to
    // commands nor to a TLS handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    for url in [
        format!("redis://{address}/0"),
        format!("rediss://localhost:{}/0", address.port()),
        format!("redis+cluster://{address}/"),
    ] {
        let b = CircuitBreaker::builder("silent")
            .store(RedisStore::open(&url).unwrap())
            .build()
            .unwrap();
        assert_eq!(
            b.call(|| Ok::<_, ()>(1)),
            Ok(1),
            "{url}: fail open on local state"
        );
        assert!(b.metrics().degraded, "{url}");
    }
}

#[test]
fn a_plain_server_is_still_reachable_by_its_bare_url() {
    let server = RedisServer::start();
    let b = CircuitBreaker::builder("bare")
        .failure_threshold(1)
        .store(RedisStore::open(&format!("redis://127.0.0.1:{}", server.port)).unwrap())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>(()));
    assert!(!b.metrics().degraded);
    assert_eq!(b.state(), State::Open);
}
