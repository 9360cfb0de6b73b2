//! `fusebox status`: what a user asks (state, failures in total and in a
//! row, since when, retry in), every row it can read, and no writing.

mod common;

use common::{code, stderr, Env};
use rusqlite::Connection;
use serde_json::Value;

fn status(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["status"];
    all.extend(args);
    let out = env.run(&all);
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

fn fail(env: &Env, name: &str, flags: &[&str]) {
    let mut args = vec!["run", name];
    args.extend(flags);
    args.extend(["--", "sh", "-c", "exit 3"]);
    let out = env.run(&args);
    assert!(matches!(code(&out), 3 | 75), "{}", stderr(&out));
}

#[test]
fn an_unknown_name_is_an_error_not_a_healthy_row() {
    let env = Env::new();
    fail(&env, "real", &[]);
    for json in [false, true] {
        let mut args = vec!["nosuch"];
        if json {
            args.push("--json");
        }
        let (code, stdout, message) = status(&env, &args);
        assert_eq!(code, 1, "{message}");
        assert_eq!(stdout, "");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains("no breaker named 'nosuch'"), "{message}");
    }
}

#[test]
fn status_creates_nothing_when_there_is_no_state() {
    let env = Env::new();
    let dir = env.path("state");
    let (code, stdout, message) = status_in(&env, &dir, &[]);
    assert_eq!(code, 0, "{message}");
    assert_eq!(stdout, "");
    assert!(message.contains("no breakers yet"), "{message}");
    let (code, stdout, _) = status_in(&env, &dir, &["--json"]);
    assert_eq!((code, stdout.trim()), (0, "[]"));
    assert!(!dir.exists(), "status created the state directory");
}

fn status_in(env: &Env, dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = env
        .fusebox()
        .env("FUSEBOX_STATE", dir.join("state.db"))
        .arg("status")
        .args(args)
        .output()
        .unwrap();
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

#[test]
fn a_breaker_that_only_succeeded_is_listed() {
    let env = Env::new();
    assert!(env.run(&["run", "fine", "--", "true"]).status.success());
    let (code, table, _) = status(&env, &[]);
    assert_eq!(code, 0);
    let row = table.lines().nth(1).expect("a row for 'fine'");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..4], ["fine", "closed", "0", "0"], "{table}");
    let json = env.status_json("fine");
    assert_eq!(json["state"], "closed");
    assert_eq!(json["failures"], 0);
    assert_eq!(json["error"], Value::Null);
}

#[test]
fn an_open_breaker_shows_its_failures_and_when_to_retry() {
    let env = Env::new();
    let flags = ["--failure-threshold", "3", "--recovery-timeout", "1h"];
    for _ in 0..3 {
        fail(&env, "mirror", &flags);
    }
    let (code, table, _) = status(&env, &[]);
    assert_eq!(code, 0);
    assert!(table.starts_with("NAME"), "{table}");
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "FAILURES", "IN A ROW", "REFUSED", "SINCE", "RETRY IN", "WHY"]
    );
    let row = table.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..5], ["mirror", "open", "3", "0", "0"], "{table}");
    assert!(
        // An hour, less what the commands before took on a loaded machine.
        row.contains(" 59m ") || row.contains(" 1h "),
        "retry in as h/m/s: {row}"
    );
    assert!(
        row.ends_with("3 consecutive failures"),
        "why it is open: {row}"
    );

    // Runs refused while open are counted for everyone to see.
    for _ in 0..2 {
        fail(&env, "mirror", &flags);
    }
    assert_eq!(env.status_json("mirror")["refusals"], 2);

    let json = env.status_json("mirror");
    assert_eq!(json["state"], "open");
    assert_eq!(json["failures"], 3);
    assert_eq!(json["reason"], "3 consecutive failures");
    let retry = json["retry_after"].as_f64().unwrap();
    assert!(retry > 3000.0 && retry <= 3600.0, "{json}");
    assert!(
        json["since"].as_f64().unwrap() > 1.6e9,
        "a Unix time: {json}"
    );
    assert!(json["last_failure"].as_f64().unwrap() > 1.6e9, "{json}");
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "consecutive_failures",
            "error",
            "failures",
            "generation",
            "half_open_in_flight",
            "last_failure",
            "name",
            "reason",
            "refusals",
            "retry_after",
            "since",
            "state",
            "time_in_state"
        ]
    );
}

#[test]
fn a_disabled_breaker_still_counts_its_failures() {
    let env = Env::new();
    assert!(env.run(&["disable", "off"]).status.success());
    for _ in 0..7 {
        fail(&env, "off", &["--failure-threshold", "1"]);
    }
    let json = env.status_json("off");
    assert_eq!(json["state"], "disabled");
    assert_eq!(json["failures"], 7, "{json}");
    let (_, table, _) = status(&env, &["off"]);
    let cells: Vec<String> = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(&cells[..3], ["off", "disabled", "7"]);
}

/// Rows another tool (or damage) left in the state file.
fn put_rows(env: &Env) {
    let db = Connection::open(env.path("state.db")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let long = format!("circuit_breaker:{}", "a".repeat(70_000));
    let rows: [(&str, rusqlite::types::Value, rusqlite::types::Value); 5] = [
        (
            "circuit_breaker:garbage",
            "not ours".to_owned().into(),
            now.into(),
        ),
        ("circuit_breaker:blob", vec![0u8, 255].into(), now.into()),
        (&long, "fusebox/1 state=open".to_owned().into(), now.into()),
        (
            "circuit_breaker:line\nbreak",
            "x".to_owned().into(),
            now.into(),
        ),
        (
            "circuit_breaker:when",
            "x".to_owned().into(),
            "yesterday".to_owned().into(),
        ),
    ];
    for (key, machine, at) in rows {
        db.execute(
            "INSERT INTO fusebox_state (key, state, machine, updated_at) VALUES (?1, 'x', ?2, ?3)",
            rusqlite::params![key, machine, at],
        )
        .unwrap();
    }
}

#[test]
fn bad_rows_are_marked_and_never_hide_the_others() {
    let env = Env::new();
    fail(
        &env,
        "good",
        &["--failure-threshold", "1", "--recovery-timeout", "1h"],
    );
    put_rows(&env);
    let (code, table, message) = status(&env, &[]);
    assert_eq!(code, 0, "{message}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines.len(),
        7,
        "header, the good row and five marked rows: {table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("good ") && l.contains(" open ")),
        "{table}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("unreadable")).count(),
        5,
        "{table}"
    );
    assert!(
        lines.iter().all(|l| l.chars().count() < 200),
        "long names are cut: {table}"
    );
    assert!(
        table.contains("line\\u{a}break"),
        "a newline is shown, not printed: {table}"
    );
    assert_eq!(
        message.lines().count(),
        5,
        "one reason per bad row: {message}"
    );
    assert!(message.contains("BLOB"), "{message}");

    let out = env.run(&["status", "--json"]);
    assert_eq!(code_of(&out), 0);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 6);
    let good = all.iter().find(|r| r["name"] == "good").unwrap();
    assert_eq!(good["state"], "open");
    assert_eq!(
        all.iter()
            .filter(|r| r["state"] == "unreadable" && r["error"].is_string())
            .count(),
        5
    );
}

fn code_of(out: &std::process::Output) -> i32 {
    code(out)
}

#[test]
fn status_writes_nothing() {
    let env = Env::new();
    fail(
        &env,
        "moving",
        &["--failure-threshold", "1", "--recovery-timeout", "1ms"],
    );
    let read = || -> String {
        Connection::open(env.path("state.db"))
            .unwrap()
            .query_row("SELECT machine || updated_at FROM fusebox_state WHERE key = 'circuit_breaker:moving'", [], |r| r.get(0))
            .unwrap()
    };
    let before = read();
    // Past its 1 ms: reading it as half-open must not store that move.
    assert_eq!(env.status_json("moving")["state"], "half_open");
    let (code, _, _) = status(&env, &[]);
    assert_eq!(code, 0);
    assert_eq!(read(), before, "status changed the stored state");
}

#[test]
fn another_applications_database_is_refused_and_left_alone() {
    let env = Env::new();
    let app = env.path("app.db");
    let db = Connection::open(&app).unwrap();
    db.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann');").unwrap();
    drop(db);
    let url = format!("sqlite://{}", app.display());
    for args in [
        vec!["status", "--store", &url],
        vec!["run", "x", "--store", &url, "--", "true"],
        vec!["trip", "x", "--store", &url],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 74, "{args:?}");
        let message = stderr(&out);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains("not a fusebox state file"), "{message}");
    }
    let db = Connection::open(&app).unwrap();
    let mode: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "switched to WAL");
    let tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "a table was added");
}

#[test]
fn a_manual_state_is_listed_however_old_its_row_is() {
    // The stores never expire a forced-open or disabled breaker (it rejects
    // or admits until reset), so status must not hide it after the TTL.
    let env = Env::new();
    for (name, command) in [("held", "force-open"), ("off", "disable")] {
        let out = env.run(&[command, name]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    fail(&env, "idle", &[]);
    let db = Connection::open(env.path("state.db")).unwrap();
    // Untouched for far longer than the 7-day TTL.
    db.execute("UPDATE fusebox_state SET updated_at = 5", [])
        .unwrap();
    let (status_code, table, message) = status(&env, &[]);
    assert_eq!(status_code, 0, "{message}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("held ") && l.contains("forced_open")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("off ") && l.contains("disabled")),
        "{table}"
    );
    assert!(
        !table.contains("idle"),
        "an expired closed breaker is gone: {table}"
    );
    assert_eq!(env.status_json("held")["state"], "forced_open");
    // And the store agrees: the run is refused.
    let out = env.run(&["run", "held", "--", "true"]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
}

#[test]
fn a_deadline_beyond_the_open_duration_is_shown_as_runs_bound_it() {
    // A wall clock that jumped back (or a damaged value) leaves a stored
    // deadline a day away; every run bounds it by the open duration (30s),
    // and status must say the same, not "retry in 1d".
    let env = Env::new();
    fail(
        &env,
        "jumped",
        &["--failure-threshold", "1", "--recovery-timeout", "30s"],
    );
    let db = Connection::open(env.path("state.db")).unwrap();
    let text: String = db
        .query_row("SELECT machine FROM fusebox_state", [], |r| r.get(0))
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let moved: Vec<String> = text
        .split(' ')
        .map(|field| match field.strip_prefix("until=") {
            Some(_) => format!("until={}", now + 86_400 * 1_000_000_000),
            None => field.to_owned(),
        })
        .collect();
    db.execute("UPDATE fusebox_state SET machine = ?1", [moved.join(" ")])
        .unwrap();
    let retry = env.status_json("jumped")["retry_after"].as_f64().unwrap();
    assert!(retry <= 30.0, "status says retry in {retry}s");
    let (status_code, table, message) = status(&env, &[]);
    assert_eq!(status_code, 0, "{message}");
    assert!(!table.contains("1d"), "{table}");
    let out = env.run(&["run", "jumped", "--", "true"]);
    assert_eq!(code(&out), 75);
    assert!(
        stderr(&out).contains("retry in 30s") || stderr(&out).contains("retry in 29s"),
        "{}",
        stderr(&out)
    );
}
