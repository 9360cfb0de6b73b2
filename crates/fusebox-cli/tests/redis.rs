//! The command line on a real Redis server: one breaker for every run,
//! `status` showing every key it can, and the password never shown.

mod common;

use common::redis::RedisServer;
use common::{code, stderr, Env};
use serde_json::Value;

const PASSWORD: &str = "s3cretpw";

#[test]
fn runs_share_a_breaker_and_status_marks_foreign_values() {
    let server = RedisServer::start(Some(PASSWORD));
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port);
    let env = Env::new();
    let fail = [
        "run",
        "api",
        "--store",
        &url,
        "--failure-threshold",
        "2",
        "--",
        "sh",
        "-c",
        "exit 3",
    ];
    assert_eq!(code(&env.run(&fail)), 3);
    assert_eq!(code(&env.run(&fail)), 3);
    let out = env.run(&fail);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(env
        .run(&["run", "fine", "--store", &url, "--", "true"])
        .status
        .success());
    // Another tool writes a plain string under fusebox's prefix.
    server.cli(Some(PASSWORD), &["SET", "circuit_breaker:other", "hello"]);

    let out = env.run(&["status", "--json", "--store", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("api")["state"], "open");
    assert_eq!(by_name("api")["failures"], 2);
    assert_eq!(by_name("fine")["state"], "closed");
    assert_eq!(by_name("other")["state"], "unreadable");
    assert!(!stderr(&out).contains(PASSWORD));

    let raw = server.cli(Some(PASSWORD), &["HGETALL", "circuit_breaker:api"]);
    let again = env.run(&["status", "--store", &url]);
    assert_eq!(code(&again), 0);
    assert_eq!(
        server.cli(Some(PASSWORD), &["HGETALL", "circuit_breaker:api"]),
        raw,
        "status wrote"
    );
}

#[test]
fn a_wrong_password_is_never_printed() {
    let server = RedisServer::start(Some(PASSWORD));
    let url = format!("redis://:wrongpass@127.0.0.1:{}/0", server.port);
    let env = Env::new();
    for args in [
        vec!["status", "--store", &url],
        vec!["trip", "x", "--store", &url],
        vec!["run", "x", "--fail-closed", "--store", &url, "--", "true"],
    ] {
        let out = env.run(&args);
        let message = stderr(&out);
        assert_eq!(code(&out), 74, "{args:?}: {message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(!message.contains("wrongpass"), "{message}");
        assert!(message.contains(":***@127.0.0.1"), "{message}");
    }
}
