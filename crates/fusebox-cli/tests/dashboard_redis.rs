//! `fusebox dashboard` on a real Redis server holding breakers written by
//! other processes: what it shows, keys it does not understand, the
//! password kept secret, and a server that goes away and comes back.

mod common;

use common::dashboard::{breaker, Dashboard};
use common::redis::RedisServer;
use common::{stderr, Env};

const PASSWORD: &str = "s3cretpw";

fn url(server: &RedisServer) -> String {
    format!(
        "redis://:{PASSWORD}@127.0.0.1:{}/0?prefix=team:",
        server.port
    )
}

#[test]
fn a_redis_fleet_is_shown_live_and_its_password_never() {
    let server = RedisServer::start(Some(PASSWORD));
    let env = Env::new();
    let store = url(&server);
    for _ in 0..2 {
        env.run(&[
            "run",
            "api",
            "--store",
            &store,
            "--failure-threshold",
            "2",
            "--",
            "false",
        ]);
    }
    assert!(env
        .run(&["run", "search", "--store", &store, "--", "true"])
        .status
        .success());
    // Another tool's string under the prefix, and a record from a newer
    // fusebox with a field this one does not know.
    server.cli(Some(PASSWORD), &["SET", "team:other", "hello"]);
    let record = server.cli(Some(PASSWORD), &["HGET", "team:api", "machine"]);
    // New fields go in the machine's text, before the record's epoch.
    let newer = record
        .trim()
        .replacen(" epoch=", " fleet=3 zz=new epoch=", 1);
    assert_ne!(newer, record.trim());
    server.cli(
        Some(PASSWORD),
        &["HSET", "team:newer", "machine", &newer, "version", "1"],
    );

    let dashboard = Dashboard::start(&env, &store, "300ms", false);
    let mut events = dashboard.events();
    let first = events.since_scan(1);
    assert_eq!(first["error"], serde_json::Value::Null, "{first}");
    assert_eq!(breaker(&first, "api")["state"], "open");
    assert_eq!(breaker(&first, "api")["failures"], 2);
    assert_eq!(breaker(&first, "search")["state"], "closed");
    assert_eq!(breaker(&first, "newer")["state"], "open");
    let other = breaker(&first, "other");
    assert_eq!(other["state"], "unreadable");
    assert!(
        other["error"].as_str().unwrap().contains("not fusebox's"),
        "{other}"
    );

    let out = env.run(&["trip", "search", "--store", &store]);
    assert!(out.status.success(), "{}", stderr(&out));
    let next = events.since_scan(dashboard.scan_after_now());
    assert_eq!(breaker(&next, "search")["state"], "open");
    assert_eq!(breaker(&next, "search")["transitions"][0]["to"], "open");

    let shown = first["store"].as_str().unwrap();
    assert!(shown.contains(":***@127.0.0.1"), "{shown}");
    let metrics = dashboard.get("/metrics").body;
    assert!(
        metrics.contains("fusebox_unreadable{name=\"other\"} 1"),
        "{metrics}"
    );
    for text in [
        dashboard.get("/").body,
        dashboard.get("/api/breakers").body,
        metrics,
        dashboard.log(),
    ] {
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[test]
fn a_redis_server_that_goes_away_shows_and_the_page_recovers() {
    let server = RedisServer::start(Some(PASSWORD));
    let port = server.port;
    let env = Env::new();
    let store = url(&server);
    assert!(env
        .run(&["trip", "api", "--store", &store])
        .status
        .success());
    let dashboard = Dashboard::start(&env, &store, "200ms", false);
    let mut events = dashboard.events();
    assert_eq!(breaker(&events.since_scan(1), "api")["state"], "open");

    drop(server);
    let down = events.since_scan(dashboard.scan_after_now());
    let error = down["error"].as_str().unwrap();
    assert!(
        error.starts_with("store unreachable: cannot reach redis store redis://:***@127.0.0.1:"),
        "{error}"
    );
    assert!(!error.contains(PASSWORD));
    for path in ["/", "/api/breakers", "/metrics"] {
        assert_eq!(dashboard.get(path).status, 200, "{path}");
    }
    assert!(dashboard
        .get("/metrics")
        .body
        .contains("fusebox_dashboard_store_up 0"));

    // A new server on the same port (empty: the old one kept nothing).
    let _server = RedisServer::start_on(port, Some(PASSWORD));
    assert!(env
        .run(&["trip", "back", "--store", &store])
        .status
        .success());
    let back = events.since_scan(dashboard.scan_after_now());
    assert_eq!(back["error"], serde_json::Value::Null, "{back}");
    assert_eq!(breaker(&back, "back")["state"], "open");
}

#[test]
fn watching_keeps_no_idle_breaker_alive() {
    let server = RedisServer::start(Some(PASSWORD));
    let env = Env::new();
    let store = url(&server);
    assert!(env
        .run(&["trip", "idle", "--store", &store])
        .status
        .success());
    // An idle breaker near the end of its time to live (a minute left of
    // the 7 days): reads by people must not renew it, only use does.
    server.cli(Some(PASSWORD), &["PEXPIRE", "team:idle", "60000"]);
    let out = env.run(&["status", "--store", &store]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dashboard = Dashboard::start(&env, &store, "100ms", false);
    let mut events = dashboard.events();
    assert_eq!(breaker(&events.since_scan(3), "idle")["state"], "open");
    let left: i64 = server
        .cli(Some(PASSWORD), &["PTTL", "team:idle"])
        .trim()
        .parse()
        .unwrap();
    assert!(
        (0..=60_000).contains(&left),
        "time to live renewed: {left} ms"
    );
}
