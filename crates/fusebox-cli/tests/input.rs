//! Bad input: one line on stderr naming the bad value and where it came
//! from, and the documented exit code; nothing run, nothing written.

mod common;

use common::{code, stderr, Env};

/// `out` failed with `wanted` and one line mentioning every `mentions`.
fn assert_refused(out: &std::process::Output, wanted: i32, mentions: &[&str]) {
    let message = stderr(out);
    assert_eq!(code(out), wanted, "{message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.starts_with("fusebox: "), "{message}");
    for word in mentions {
        assert!(message.contains(word), "{word:?} missing from {message}");
    }
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn durations_share_one_parser_and_one_wording() {
    let env = Env::new();
    let marker = env.path("ran");
    let touch = format!("touch {}", marker.display());
    for (flag, value, says) in [
        ("--recovery-timeout", "-5s", "greater than zero"),
        ("--recovery-timeout", "0", "greater than zero"),
        ("--recovery-timeout", "0s", "greater than zero"),
        ("--timeout", "0s", "greater than zero"),
        ("--timeout", "18446744073709551615s", "at most 365d"),
        ("--timeout", "999999999999s", "at most 365d"),
        ("--timeout", "1e19", "at most 365d"),
        ("--kill-after", "soon", "expected a number and a unit"),
        ("--probe-timeout", "-1", "greater than zero"),
    ] {
        let out = env.run(&["run", "d", flag, value, "--", "sh", "-c", &touch]);
        assert_refused(&out, 64, &[flag, value, says]);
    }
    assert!(!marker.exists(), "a refused run never starts COMMAND");
    for good in ["30", "0.5", "1m30s", "250ms"] {
        let out = env.run(&["run", "d", "--recovery-timeout", good, "--", "true"]);
        assert_eq!(code(&out), 0, "{good}: {}", stderr(&out));
    }
}

#[test]
fn failure_exit_codes_are_real_exit_codes() {
    let env = Env::new();
    let out = env.run(&["run", "c", "--failure-exit-codes", "0", "--", "true"]);
    assert_refused(&out, 64, &["--failure-exit-codes", "0 means success"]);
    let out = env.run(&["run", "c", "--failure-exit-codes", "300,-1", "--", "true"]);
    assert_refused(&out, 64, &["--failure-exit-codes", "\"300\"", "1 to 255"]);
    // Spaces after commas are fine.
    let flags = [
        "run",
        "c",
        "--failure-threshold",
        "1",
        "--failure-exit-codes",
        "2, 3",
    ];
    let mut args = flags.to_vec();
    args.extend(["--", "sh", "-c", "exit 3"]);
    assert_eq!(code(&env.run(&args)), 3);
    assert_eq!(
        env.status_json("c")["state"],
        "open",
        "3 counted as a failure"
    );
}

#[test]
fn run_without_the_separator_points_at_it() {
    let env = Env::new();
    assert_refused(&env.run(&["run", "x", "true"]), 64, &["'true'", "after --"]);
    assert_refused(&env.run(&["run", "x"]), 64, &["COMMAND", "after --"]);
}

#[test]
fn names_are_checked_before_anything_happens() {
    let env = Env::new();
    let long = "a".repeat(65_536);
    let out = env.run(&["trip", &long]);
    assert_refused(&out, 64, &["invalid breaker name", "65536 bytes", "256"]);
    assert!(stderr(&out).len() < 300, "the name is not printed whole");
    let out = env.run(&["trip", "ap\u{2060}i"]);
    assert_refused(&out, 64, &["invalid breaker name", "\\u{2060}"]);
    let out = env.run(&["run", "\u{202e}ipa", "--", "true"]);
    assert_refused(&out, 64, &["\\u{202e}"]);
    assert_refused(&env.run(&["trip", "  "]), 64, &["blank"]);
    assert_refused(&env.run(&["status", "a\nb"]), 64, &["invalid breaker name"]);
    assert!(!env.path("state.db").exists(), "nothing was written");
    // 256 bytes is still a name.
    assert!(env.run(&["trip", &"b".repeat(256)]).status.success());
}

#[test]
fn store_urls_are_checked_alike_and_their_source_is_named() {
    let env = Env::new();
    for (url, says) in [
        (
            "redis://127.0.0.1:6379/0?prefx=a",
            "unknown parameter \"prefx=a\"",
        ),
        ("redis://127.0.0.1:6379/abc", "database"),
        (
            "redis://127.0.0.1:6379/0?timeout=0s",
            "timeout must be longer than zero",
        ),
        (
            "sqlite:///tmp/x.db?timeout=0s",
            "timeout must be longer than zero",
        ),
        ("sqlite:///tmp/x.db?prefx=a", "prefx"),
        ("ftp://host/x", "ftp"),
        // The store reads `ca`: a file that is not there is named.
        (
            "rediss://u:pw@127.0.0.1:6380/0?ca=/no/such/ca.pem",
            "\"/no/such/ca.pem\"",
        ),
        (
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001/2",
            "only database 0",
        ),
    ] {
        let out = env.run(&["run", "x", "--store", url, "--", "true"]);
        assert_refused(&out, 64, &["--store", says]);
        assert!(
            !stderr(&out).contains("InvalidClientConfig"),
            "{}",
            stderr(&out)
        );
    }
    let out = env
        .fusebox()
        .env("FUSEBOX_STORE", "bogus")
        .arg("status")
        .output()
        .unwrap();
    assert_refused(&out, 64, &["$FUSEBOX_STORE", "bogus"]);
}

#[test]
fn the_memory_store_says_nothing_persists() {
    let env = Env::new();
    let out = env.run(&["run", "m", "--store", "memory:", "--", "true"]);
    assert_eq!(code(&out), 0);
    let message = stderr(&out);
    assert!(
        message.contains("memory:") && message.contains("keeps nothing"),
        "{message}"
    );
}

#[test]
fn an_unreachable_store_follows_one_rule_and_never_shows_the_password() {
    let env = Env::new();
    // Port 1 on loopback: nothing listens there.
    let url = "redis://:s3cretpw@127.0.0.1:1/0";
    let marker = env.path("ran");
    let touch = format!("touch {}", marker.display());

    let out = env.run(&["run", "x", "--store", url, "--", "sh", "-c", &touch]);
    assert_eq!(code(&out), 0, "fail-open: COMMAND runs");
    assert!(marker.exists());
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "one warning: {message}");
    assert!(
        message.contains("running COMMAND without the breaker"),
        "{message}"
    );

    std::fs::remove_file(&marker).unwrap();
    let out = env.run(&[
        "run",
        "x",
        "--fail-closed",
        "--store",
        url,
        "--",
        "sh",
        "-c",
        &touch,
    ]);
    assert_refused(&out, 74, &["cannot reach", "--fail-closed"]);
    assert!(!marker.exists());

    assert_refused(
        &env.run(&["trip", "x", "--store", url]),
        74,
        &["cannot reach", "unchanged"],
    );
    assert_refused(&env.run(&["status", "--store", url]), 74, &["cannot reach"]);
    for args in [
        vec!["status", "--store", url],
        vec!["run", "x", "--store", url, "--", "true"],
    ] {
        let message = stderr(&env.run(&args));
        assert!(!message.contains("s3cretpw"), "{message}");
        assert!(message.contains("redis://:***@127.0.0.1:1/0"), "{message}");
    }
}

#[test]
fn help_lists_the_exit_codes() {
    let env = Env::new();
    for args in [vec!["--help"], vec!["run", "--help"]] {
        let out = env.run(&args);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        for code in ["64", "74", "75", "124", "126", "127", "128+N"] {
            assert!(help.contains(code), "{args:?} lacks {code}");
        }
    }
}

#[test]
fn a_missing_or_unrunnable_command_is_127_or_126() {
    let env = Env::new();
    let out = env.run(&["run", "x", "--", "/no/such/command"]);
    assert_refused(&out, 127, &["/no/such/command"]);
    let out = env.run(&["run", "x", "--", "/etc"]);
    assert_refused(&out, 126, &["/etc"]);
    assert_eq!(
        env.status_json("x")["failures"],
        0,
        "never started: no failure"
    );
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let env = Env::new();
    assert!(env.run(&["trip", "p"]).status.success());
    for args in [vec!["trip", "p"], vec!["status"], vec!["status", "--json"]] {
        let mut child = env
            .fusebox()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before fusebox writes
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}
