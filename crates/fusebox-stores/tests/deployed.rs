//! Redis as companies run it: ACL users (on one server, over TLS and on a
//! cluster), certificates that must be checked, and a cluster whose
//! breakers spread over its masters and whose slots move.

mod common;

use std::time::Duration;

use common::deploy::{self, Kind, TestRedis};
use common::RedisServer;
use fusebox::store::{Store, StoreErrorKind};
use fusebox::{CircuitBreaker, State};
use fusebox_stores::RedisStore;

const PASSWORD: &str = "app-s3cret";

common::deploy::on_every_redis!(an_acl_user_shares_breakers_and_a_wrong_password_never_shows);

fn an_acl_user_shares_breakers_and_a_wrong_password_never_shows(kind: Kind) {
    let redis = TestRedis::start(kind);
    redis.add_user("app", PASSWORD);
    let url = redis.url_as("app", PASSWORD);
    let b = CircuitBreaker::builder("pypi")
        .failure_threshold(1)
        .store(RedisStore::open(&url).unwrap())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    assert!(!b.metrics().degraded, "the ACL user reaches the store");
    let store = RedisStore::open(&url).unwrap();
    assert_eq!(store.names().unwrap(), ["pypi"]);
    let observer = CircuitBreaker::builder("pypi")
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(observer.state(), State::Open, "one breaker for all users");

    let wrong = redis.url_as("app", "not-the-password");
    let store = RedisStore::open(&wrong).unwrap();
    let error = store.transact("pypi", &mut |_, _| None).unwrap_err();
    let listing = store.names().unwrap_err();
    for (what, text) in [
        ("the error", error.to_string()),
        ("the error's Debug", format!("{error:?}")),
        ("the listing's error", listing.to_string()),
        ("describe", store.describe()),
        ("Debug", format!("{store:?}")),
    ] {
        assert!(!text.contains("not-the-password"), "{what}: {text}");
        assert!(text.contains("app:***@"), "{what} names the user: {text}");
    }
    assert_eq!(error.kind, StoreErrorKind::Unavailable, "{error}");
    assert!(
        error.message.contains("authentication failed"),
        "says why: {error}"
    );
}

/// Breakers whose keys land on every master, by name.
const NAMES: [&str; 12] = [
    "pypi", "github", "s3", "payments", "search", "email", "auth", "cdn", "maps", "billing",
    "queue", "cache",
];

#[test]
fn a_cluster_spreads_breakers_over_its_masters_and_lists_them_all() {
    let redis = TestRedis::start(Kind::Cluster);
    for name in NAMES {
        let b = CircuitBreaker::builder(name)
            .failure_threshold(1)
            .store(RedisStore::open(&redis.url()).unwrap())
            .build()
            .unwrap();
        let _ = b.call(|| Err::<(), _>("down"));
        assert!(!b.metrics().degraded, "{name}");
    }
    let mut holders: Vec<u16> = NAMES
        .iter()
        .map(|name| {
            deploy::master_port_of(redis.servers[0].port, &format!("circuit_breaker:{name}"))
        })
        .collect();
    holders.sort_unstable();
    holders.dedup();
    assert_eq!(holders.len(), 3, "the names chosen land on every master");
    let mut names = RedisStore::open(&redis.url()).unwrap().names().unwrap();
    let mut expected = NAMES.map(str::to_owned).to_vec();
    names.sort();
    expected.sort();
    assert_eq!(names, expected, "listing visits every master");
}

#[test]
fn a_cluster_store_follows_a_slot_that_moved() {
    let redis = TestRedis::start(Kind::Cluster);
    let key = "circuit_breaker:moving";
    let b = CircuitBreaker::builder("moving")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(600))
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    assert_eq!(b.state(), State::Open);

    // Move the key's slot, with the key, to another master, as a
    // resharding does.
    let from_port = deploy::master_port_of(redis.servers[0].port, key);
    let mut nodes = redis.each_server();
    let from = redis
        .servers
        .iter()
        .position(|s| s.port == from_port)
        .unwrap();
    let to = (from + 1) % redis.servers.len();
    let to_port = redis.servers[to].port;
    let id = |connection: &mut redis::Connection| -> String {
        redis::cmd("CLUSTER").arg("MYID").query(connection).unwrap()
    };
    let (from_id, to_id) = (id(&mut nodes[from]), id(&mut nodes[to]));
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut nodes[0])
        .unwrap();
    let setslot = |connection: &mut redis::Connection, how: &str, node: &str| {
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(how)
            .arg(node)
            .query(connection)
            .unwrap();
    };
    setslot(&mut nodes[to], "IMPORTING", &from_id);
    setslot(&mut nodes[from], "MIGRATING", &to_id);
    let _: () = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(to_port)
        .arg(key)
        .arg(0)
        .arg(5000)
        .query(&mut nodes[from])
        .unwrap();
    for node in &mut nodes {
        setslot(node, "NODE", &to_id);
    }
    assert_eq!(deploy::master_port_of(redis.servers[0].port, key), to_port);

    // The store's map still sends the key to its old master, which
    // answers MOVED: the store reads the map again and follows.
    assert_eq!(b.state(), State::Open);
    let _ = b.call(|| Ok::<_, ()>(()));
    assert!(!b.metrics().degraded, "the call followed the slot");
    b.reset();
    let observer = CircuitBreaker::builder("moving")
        .store(RedisStore::open(&redis.url()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        observer.state(),
        State::Closed,
        "the reset reached the new master"
    );
}

#[test]
fn a_tls_server_whose_ca_is_not_given_is_not_trusted() {
    let redis = TestRedis::start(Kind::Tls);
    let url = format!("rediss://localhost:{}/0", redis.servers[0].port);
    let store = RedisStore::open(&url)
        .unwrap()
        .timeout(Duration::from_secs(5));
    let error = store.transact("api", &mut |_, _| None).unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::Unavailable, "{error}");
    assert!(error.message.contains("certificate"), "says why: {error}");
}

#[test]
fn a_tls_certificate_for_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = deploy::make_certificates_for(dir.path(), &["redis.internal"]);
    let args = deploy::tls_args(&ca, &cert, &key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = RedisServer::start_tls(&args, &ca);
    let url = format!("rediss://127.0.0.1:{}/0?ca={}", server.port, ca.display());
    let store = RedisStore::open(&url)
        .unwrap()
        .timeout(Duration::from_secs(5));
    let error = store.transact("api", &mut |_, _| None).unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::Unavailable, "{error}");
    assert!(error.message.contains("certificate"), "says why: {error}");
}

#[test]
fn a_ca_file_that_cannot_be_read_is_named() {
    let error =
        fusebox_stores::open("rediss://app:pw@localhost:6380/0?ca=/no/such/ca.pem&prefix=a:")
            .err()
            .unwrap();
    assert_eq!(error.kind, StoreErrorKind::Open);
    assert!(error.message.contains("/no/such/ca.pem"), "{error}");
    assert!(!error.message.contains(":pw@"), "{error}");
}

/// TLS, an ACL user and a cluster together, as managed Redis services run
/// them: breakers spread and are listed, a master killed degrades only
/// its breakers' calls, and its restart gets the local state back.
#[test]
fn a_tls_cluster_with_an_acl_user_serves_and_recovers() {
    let mut redis = TestRedis::start(Kind::TlsCluster);
    redis.add_user("app", PASSWORD);
    let url = redis.url_as("app", PASSWORD);
    assert!(url.starts_with("rediss+cluster://app:"), "{url}");
    let clock = fusebox::ManualClock::new();
    let breakers: Vec<CircuitBreaker> = NAMES
        .iter()
        .map(|name| {
            CircuitBreaker::builder(*name)
                .failure_threshold(1)
                .recovery_timeout(Duration::from_secs(600))
                .store(RedisStore::open(&url).unwrap().with_clock(clock.clone()))
                .build()
                .unwrap()
        })
        .collect();
    for b in &breakers {
        let _ = b.call(|| Err::<(), _>("down"));
        assert!(!b.metrics().degraded, "{}", b.name());
    }
    let mut names = RedisStore::open(&url).unwrap().names().unwrap();
    names.sort();
    let mut expected = NAMES.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(names, expected, "listing visits every master");

    let killed = redis.kill_holder_of("circuit_breaker:pypi");
    let pypi = &breakers[0];
    pypi.reset();
    assert!(pypi.metrics().degraded, "its master is down");
    redis.restart(killed);
    // The test's servers keep users in memory only (a real one loads its
    // ACL file on start): set the user up again on the restarted master.
    redis.add_user("app", PASSWORD);
    clock.advance(Duration::from_secs(1)); // the degraded breaker's retry interval
    assert!(!pypi.metrics().degraded);
    let observer = CircuitBreaker::builder("pypi")
        .store(RedisStore::open(&url).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        observer.state(),
        State::Closed,
        "the local reset was written back"
    );
}
