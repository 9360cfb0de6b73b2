//! `fusebox dashboard` over HTTP, on a real SQLite file written by other
//! `fusebox` processes: the JSON, the metrics, the events, the token and
//! the escaping.

mod common;

use common::dashboard::{breaker, Dashboard, TOKEN};
use common::{code, stderr, Env};

fn store(env: &Env) -> String {
    format!("sqlite://{}", env.path("state.db").display())
}

/// Two failures in a row open `name` (the runs are other processes).
fn fail_twice(env: &Env, name: &str) {
    for _ in 0..2 {
        let out = env.run(&["run", name, "--failure-threshold", "2", "--", "false"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
    }
}

#[test]
fn api_and_metrics_show_what_other_processes_did() {
    let env = Env::new();
    fail_twice(&env, "api");
    assert!(env.run(&["trip", "pay"]).status.success());
    assert!(env.run(&["run", "fine", "--", "true"]).status.success());
    let dashboard = Dashboard::start(&env, &store(&env), "200ms", false);
    let mut events = dashboard.events();
    let first = events.since_scan(1);
    assert_eq!(first["error"], serde_json::Value::Null);
    assert_eq!(first["control"], false);

    let snapshot = dashboard.breakers();
    let api = breaker(&snapshot, "api");
    assert_eq!(api["state"], "open");
    assert_eq!(api["failures"], 2);
    assert!(api["retry_after"].as_f64().unwrap() > 0.0);
    assert_eq!(breaker(&snapshot, "pay")["reason"], "tripped by hand");
    assert_eq!(breaker(&snapshot, "fine")["state"], "closed");

    let metrics = dashboard.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for line in [
        "fusebox_state{name=\"api\",state=\"open\"} 1",
        "fusebox_state{name=\"api\",state=\"closed\"} 0",
        "fusebox_state{name=\"fine\",state=\"closed\"} 1",
        "fusebox_failures_since_closed{name=\"api\"} 2",
        "fusebox_dashboard_store_up 1",
        "# TYPE fusebox_transitions_total counter",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "no {line:?} in\n{}",
            metrics.body
        );
    }
}

#[test]
fn events_push_a_trip_by_another_process_in_the_next_scan() {
    let env = Env::new();
    assert!(env.run(&["run", "db", "--", "true"]).status.success());
    let dashboard = Dashboard::start(&env, &store(&env), "300ms", false);
    let mut events = dashboard.events();
    assert_eq!(breaker(&events.since_scan(1), "db")["state"], "closed");

    let out = env.run(&["trip", "db"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let next = events.since_scan(dashboard.scan_after_now());
    let db = breaker(&next, "db");
    assert_eq!(db["state"], "open", "{next}");
    assert_eq!(db["transitions"][0]["from"], "closed");
    assert_eq!(db["transitions"][0]["to"], "open");
    assert_eq!(db["transitions"][0]["reason"], "tripped by hand");
    let metrics = dashboard.get("/metrics").body;
    assert!(
        metrics.contains("fusebox_transitions_total{name=\"db\",from=\"closed\",to=\"open\"} 1"),
        "{metrics}"
    );
}

#[test]
fn control_needs_the_token_and_changes_the_store() {
    let env = Env::new();
    assert!(env.run(&["run", "api", "--", "true"]).status.success());
    let dashboard = Dashboard::start(&env, &store(&env), "200ms", true);
    let trip = r#"{"name": "api", "action": "force_open"}"#;
    let wrong = format!("Bearer {}X", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    for auth in [
        None,
        Some(wrong.as_str()),
        Some(basic.as_str()),
        Some("Bearer "),
    ] {
        let response = dashboard.control(trip, auth);
        assert_eq!(response.status, 401, "{auth:?}: {}", response.body);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(env.status_json("api")["state"], "closed");

    let bearer = format!("Bearer {TOKEN}");
    let response = dashboard.control(trip, Some(&bearer));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["state"], "forced_open");
    assert_eq!(env.status_json("api")["state"], "forced_open");
    let response = dashboard.control(r#"{"name": "api", "action": "reset"}"#, Some(&bearer));
    assert_eq!(response.json()["state"], "closed");
    assert_eq!(env.status_json("api")["state"], "closed");

    let response = dashboard.control(r#"{"name": "api", "action": "explode"}"#, Some(&bearer));
    assert_eq!(response.status, 400);
    assert!(response.json()["error"]
        .as_str()
        .unwrap()
        .contains("\"explode\""));
    let response = dashboard.control(r#"{"name": " ", "action": "trip"}"#, Some(&bearer));
    assert_eq!(response.status, 400, "{}", response.body);

    let log = dashboard.log();
    assert!(
        log.contains("dashboard: force_open circuit 'api' for 127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains("dashboard: reset circuit 'api' for 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("control refused for 127.0.0.1:"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[test]
fn without_a_token_the_dashboard_is_read_only_and_stays_on_loopback() {
    let env = Env::new();
    let dashboard = Dashboard::start(&env, &store(&env), "1s", false);
    let response = dashboard.control(
        r#"{"name": "api", "action": "trip"}"#,
        Some(&format!("Bearer {TOKEN}")),
    );
    assert_eq!(response.status, 403, "{}", response.body);
    assert!(response.body.contains("--token-file"));

    let out = env.run(&[
        "dashboard",
        "--listen",
        "0.0.0.0:0",
        "--store",
        &store(&env),
    ]);
    assert_eq!(code(&out), 64);
    assert!(
        stderr(&out).contains("not a loopback address"),
        "{}",
        stderr(&out)
    );

    let token = env.path("open-token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = env.run(&[
        "dashboard",
        "--store",
        &store(&env),
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 64);
    assert!(
        stderr(&out).contains("every user can read it"),
        "{}",
        stderr(&out)
    );

    let out = env.run(&["dashboard", "--store", "memory:"]);
    assert_eq!(code(&out), 64);
    assert!(stderr(&out).contains("memory: store"), "{}", stderr(&out));

    let empty = env.path("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    std::fs::set_permissions(&empty, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = env.run(&[
        "dashboard",
        "--store",
        &store(&env),
        "--token-file",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 64);
    assert!(stderr(&out).contains("it is empty"), "{}", stderr(&out));
}

#[test]
fn a_loopback_dashboard_answers_only_requests_to_a_loopback_name() {
    let env = Env::new();
    let dashboard = Dashboard::start(&env, &store(&env), "1s", false);
    let port = dashboard.address.rsplit(':').next().unwrap().to_owned();
    for host in [
        "rebound.example:7040".to_owned(),
        format!("evil.test:{port}"),
    ] {
        let response = dashboard.get_with_host("/api/breakers", &host);
        assert_eq!(response.status, 403, "{host}: {}", response.body);
    }
    for host in [
        format!("localhost:{port}"),
        "127.0.0.1:8080".to_owned(),
        "[::1]:7040".to_owned(),
    ] {
        assert_eq!(
            dashboard.get_with_host("/api/breakers", &host).status,
            200,
            "{host}"
        );
    }
}

#[test]
fn names_with_markup_are_text() {
    let env = Env::new();
    let evil = "<script>alert(1)</script>";
    let quoted = r#"say "hi" \ bye & co"#;
    assert!(env.run(&["trip", evil]).status.success());
    assert!(env.run(&["trip", quoted]).status.success());
    let dashboard = Dashboard::start(&env, &store(&env), "200ms", false);
    dashboard.events().since_scan(1);

    let page = dashboard.get("/");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(evil), "{}", page.body);
    assert!(page
        .body
        .contains(r"\u003cscript\u003ealert(1)\u003c/script\u003e"));
    assert!(
        page.body.contains(r#"say \"hi\" \\ bye \u0026 co"#),
        "{}",
        page.body
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    assert_eq!(breaker(&dashboard.breakers(), evil)["state"], "open");
    let metrics = dashboard.get("/metrics").body;
    assert!(
        metrics.contains(r#"fusebox_state{name="say \"hi\" \\ bye & co",state="open"} 1"#),
        "{metrics}"
    );
    let script = dashboard.get("/assets/app.js");
    assert_eq!(script.status, 200);
    assert!(script.body.contains("textContent"));
    assert!(!script.body.contains("innerHTML"));
    assert_eq!(dashboard.get("/assets/nope.js").status, 404);
}

#[test]
fn a_store_that_cannot_be_read_shows_and_the_page_recovers() {
    let env = Env::new();
    assert!(env.run(&["trip", "api"]).status.success());
    let path = env.path("state.db");
    let dashboard = Dashboard::start(&env, &store(&env), "200ms", false);
    let mut events = dashboard.events();
    assert_eq!(breaker(&events.since_scan(1), "api")["state"], "open");

    let kept = env.path("kept.db");
    std::fs::rename(&path, &kept).unwrap();
    std::fs::write(
        &path,
        "this is not a database, it is a text file that is long enough",
    )
    .unwrap();
    let down = events.since_scan(dashboard.scan_after_now());
    let error = down["error"].as_str().unwrap();
    assert!(error.starts_with("store unreachable: "), "{error}");
    assert!(error.contains("is not an SQLite database"), "{error}");
    // The last rows stay visible, marked by the error; the server serves on.
    assert_eq!(breaker(&down, "api")["state"], "open");
    assert_eq!(dashboard.get("/").status, 200);
    let metrics = dashboard.get("/metrics").body;
    assert!(
        metrics.contains("fusebox_dashboard_store_up 0"),
        "{metrics}"
    );
    assert!(!metrics.contains("fusebox_state{"), "{metrics}");

    std::fs::rename(&kept, &path).unwrap();
    let back = events.since_scan(dashboard.scan_after_now());
    assert_eq!(back["error"], serde_json::Value::Null);
    assert_eq!(breaker(&back, "api")["state"], "open");
}

#[test]
fn the_last_five_transitions_are_kept_newest_first() {
    let env = Env::new();
    assert!(env.run(&["run", "db", "--", "true"]).status.success());
    let dashboard = Dashboard::start(&env, &store(&env), "100ms", false);
    let mut events = dashboard.events();
    events.since_scan(1);
    let mut last = serde_json::Value::Null;
    for i in 0..7 {
        let command = if i % 2 == 0 { "trip" } else { "reset" };
        assert!(env.run(&[command, "db"]).status.success());
        last = events.since_scan(dashboard.scan_after_now());
    }
    let transitions = breaker(&last, "db")["transitions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(transitions.len(), 5, "{transitions:?}");
    // The seventh change (a trip) first, then the sixth (a reset)...
    assert_eq!(transitions[0]["to"], "open");
    assert_eq!(transitions[1]["to"], "closed");
    assert!(transitions[0]["at"].as_f64() >= transitions[4]["at"].as_f64());
    let metrics = dashboard.get("/metrics").body;
    assert!(
        metrics.contains("fusebox_transitions_total{name=\"db\",from=\"closed\",to=\"open\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fusebox_transitions_total{name=\"db\",from=\"open\",to=\"closed\"} 3"),
        "{metrics}"
    );
}

#[test]
fn ctrl_c_and_term_stop_the_dashboard_cleanly_with_viewers_connected() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let env = Env::new();
        let mut dashboard = Dashboard::start(&env, &store(&env), "200ms", false);
        let mut events = dashboard.events();
        events.since_scan(1);
        kill(Pid::from_raw(dashboard.child.id() as i32), signal).unwrap();
        let status = dashboard.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{signal}: {}", dashboard.log());
    }
}
