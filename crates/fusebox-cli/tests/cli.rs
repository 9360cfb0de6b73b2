//! The `fusebox` binary driven as a user would, on real commands, with its
//! state in a temporary directory.

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn fusebox(&self) -> Command {
        let mut cmd = Command::cargo_bin("fusebox").unwrap();
        cmd.env("FUSEBOX_STATE", self.dir.path().join("state.db"))
            .env_remove("FUSEBOX_STORE")
            .env_remove("XDG_STATE_HOME");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.fusebox().args(args).output().unwrap()
    }

    fn status_json(&self, name: &str) -> Value {
        let out = self.run(&["status", name, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

const FAIL: &[&str] = &["--", "sh", "-c", "exit 3"];

fn run_with(env: &Env, flags: &[&str], command: &[&str]) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend_from_slice(command);
    env.run(&args)
}

#[test]
fn trips_after_n_failures_and_refuses_with_75_while_open() {
    let env = Env::new();
    let flags = [
        "slow_api",
        "--failure-threshold",
        "3",
        "--recovery-timeout",
        "1h",
    ];
    for _ in 0..3 {
        let out = run_with(&env, &flags, FAIL);
        assert_eq!(code(&out), 3, "COMMAND's own status");
    }
    let marker = env.dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let out = run_with(&env, &flags, &["--", "sh", "-c", &touch]);
    assert_eq!(code(&out), 75);
    assert!(!marker.exists(), "COMMAND must not run while open");
    let message = stderr(&out);
    assert!(
        message.starts_with("fusebox: circuit 'slow_api' is open; retry in "),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1);

    let status = env.status_json("slow_api");
    assert_eq!(status["state"], "open");
    assert_eq!(status["generation"], 1);
    assert!(status["retry_after"].as_f64().unwrap() > 3000.0);
}

#[test]
fn half_open_after_the_timeout_then_a_success_closes() {
    let env = Env::new();
    let flags = [
        "flaky",
        "--failure-threshold",
        "2",
        "--recovery-timeout",
        "1ms",
    ];
    run_with(&env, &flags, FAIL);
    run_with(&env, &flags, FAIL);
    // 1 ms has passed by the time the next process reads the state.
    assert_eq!(env.status_json("flaky")["state"], "half_open");
    let out = run_with(&env, &flags, &["--", "true"]);
    assert_eq!(code(&out), 0);
    let status = env.status_json("flaky");
    assert_eq!(status["state"], "closed");
    assert_eq!(status["failures"], 0);
}

#[test]
fn a_failed_trial_run_reopens() {
    let env = Env::new();
    let flags = [
        "again",
        "--failure-threshold",
        "1",
        "--recovery-timeout",
        "1ms",
    ];
    run_with(&env, &flags, FAIL);
    let reopen = [
        "again",
        "--failure-threshold",
        "1",
        "--recovery-timeout",
        "1h",
    ];
    assert_eq!(code(&run_with(&env, &reopen, FAIL)), 3, "the trial run ran");
    assert_eq!(env.status_json("again")["state"], "open");
}

#[test]
fn status_lists_every_breaker_as_a_table_and_json() {
    let env = Env::new();
    run_with(&env, &["a", "--failure-threshold", "1"], FAIL);
    run_with(&env, &["b"], &["--", "true"]);
    env.run(&["trip", "b"]);
    let out = env.run(&["status"]);
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[1].starts_with("a ") && lines[1].contains("open"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("b ") && lines[2].contains("open"),
        "{table}"
    );
    let out = env.run(&["status", "--json"]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].clone())
        .collect();
    assert_eq!(names, ["a", "b"]);
    for key in ["state", "failures", "retry_after", "generation"] {
        assert!(all[0].get(key).is_some(), "missing {key}");
    }
}

#[test]
fn manual_commands() {
    let env = Env::new();
    assert!(env.run(&["trip", "m"]).status.success());
    assert_eq!(code(&run_with(&env, &["m"], &["--", "true"])), 75);
    assert!(env.run(&["reset", "m"]).status.success());
    assert_eq!(code(&run_with(&env, &["m"], &["--", "true"])), 0);
    assert!(env.run(&["disable", "m"]).status.success());
    for _ in 0..10 {
        assert_eq!(
            code(&run_with(&env, &["m", "--failure-threshold", "1"], FAIL)),
            3
        );
    }
    assert_eq!(env.status_json("m")["state"], "disabled");
}

#[test]
fn failure_exit_codes_choose_what_counts() {
    let env = Env::new();
    let flags = [
        "codes",
        "--failure-threshold",
        "1",
        "--failure-exit-codes",
        "2,4",
    ];
    assert_eq!(code(&run_with(&env, &flags, FAIL)), 3);
    assert_eq!(
        env.status_json("codes")["state"],
        "closed",
        "3 is not a failure code"
    );
    assert_eq!(
        code(&run_with(&env, &flags, &["--", "sh", "-c", "exit 4"])),
        4
    );
    assert_eq!(env.status_json("codes")["state"], "open");
}

#[test]
fn a_timeout_kills_the_command_and_counts_as_failure() {
    let env = Env::new();
    let out = run_with(
        &env,
        &["slow", "--failure-threshold", "1", "--timeout", "100ms"],
        &["--", "sleep", "30"],
    );
    assert_eq!(code(&out), 124);
    assert!(stderr(&out).contains("was killed"), "{}", stderr(&out));
    assert_eq!(env.status_json("slow")["state"], "open");
}

#[test]
fn a_command_killed_by_a_signal_is_a_failure_and_exits_128_plus_n() {
    let env = Env::new();
    let out = run_with(
        &env,
        &["sig", "--failure-threshold", "1"],
        &["--", "sh", "-c", "kill -TERM $$"],
    );
    assert_eq!(code(&out), 128 + 15);
    assert_eq!(env.status_json("sig")["state"], "open");
}

#[test]
fn the_config_file_sets_what_flags_do_not() {
    let env = Env::new();
    let config = env.dir.path().join("fusebox.yaml");
    std::fs::write(
        &config,
        "breakers:\n  cfg:\n    failure_threshold: 2\n    recovery_timeout: 1h\n",
    )
    .unwrap();
    let config = config.display().to_string();
    run_with(&env, &["cfg", "--config", &config], FAIL);
    assert_eq!(env.status_json("cfg")["state"], "closed");
    run_with(&env, &["cfg", "--config", &config], FAIL);
    assert_eq!(env.status_json("cfg")["state"], "open");
    // A flag wins over the file.
    run_with(
        &env,
        &["cfg2", "--config", &config, "--failure-threshold", "1"],
        FAIL,
    );
    assert_eq!(env.status_json("cfg2")["state"], "open");
}

#[test]
fn the_store_can_come_from_the_environment() {
    let env = Env::new();
    let url = format!("sqlite://{}", env.dir.path().join("other.db").display());
    let out = env
        .fusebox()
        .env("FUSEBOX_STORE", &url)
        .args(["trip", "envstore"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run(&["status", "envstore"]);
    assert_eq!(code(&out), 1, "not in the default store");
    assert!(stderr(&out).contains("no breaker named 'envstore'"));
    let out = env.run(&["status", "envstore", "--json", "--store", &url]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state"], "open");
}

#[test]
fn eight_concurrent_runs_are_one_breaker() {
    let env = Env::new();
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("fusebox"))
                .env("FUSEBOX_STATE", env.dir.path().join("state.db"))
                .args([
                    "run",
                    "crowd",
                    "--failure-threshold",
                    "5",
                    "--recovery-timeout",
                    "1h",
                ])
                .args(["--", "sh", "-c", "exit 1"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ran = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let message = stderr(&out);
        assert!(!message.contains("locked"), "{message}");
        match code(&out) {
            1 => ran += 1,
            75 => assert!(message.contains("is open"), "{message}"),
            other => panic!("exit {other}: {message}"),
        }
    }
    assert!(ran >= 5, "only {ran} runs ran");
    let status = env.status_json("crowd");
    assert_eq!(status["state"], "open");
    assert_eq!(
        status["generation"], 1,
        "one transition, no lost or double ones"
    );
}

fn assert_usage(out: &Output, code_wanted: i32, mention: &str) {
    let message = stderr(out);
    assert_eq!(code(out), code_wanted, "{message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.starts_with("fusebox: "), "{message}");
    assert!(
        message.contains(mention),
        "{message:?} should mention {mention:?}"
    );
}

#[test]
fn bad_input_is_one_clear_line_and_the_right_exit_code() {
    let env = Env::new();
    assert_usage(
        &env.run(&["run", "x", "--frobnicate", "--", "true"]),
        64,
        "--frobnicate",
    );
    assert_usage(&env.run(&["run", "x", "true"]), 64, "true");
    assert_usage(&env.run(&["run", "x"]), 64, "COMMAND");
    assert_usage(
        &env.run(&["run", "x", "--failure-threshold", "0", "--", "true"]),
        64,
        "failure-threshold",
    );
    assert_usage(
        &env.run(&["run", "x", "--failure-threshold", "many", "--", "true"]),
        64,
        "many",
    );
    assert_usage(
        &env.run(&["run", "x", "--recovery-timeout", "soon", "--", "true"]),
        64,
        "soon",
    );
    assert_usage(
        &env.run(&["run", "x", "--timeout", "0s", "--", "true"]),
        64,
        "timeout",
    );
    assert_usage(
        &env.run(&["run", "x", "--store", "ftp://host/x", "--", "true"]),
        64,
        "ftp",
    );
    assert_usage(&env.run(&["frobnicate"]), 64, "frobnicate");
    assert_usage(&env.run(&[]), 64, "missing command");
    let config = env.dir.path().join("bad.yaml");
    std::fs::write(&config, "defaults:\n  failure_treshold: 1\n").unwrap();
    assert_usage(
        &env.run(&[
            "run",
            "x",
            "--config",
            &config.display().to_string(),
            "--",
            "true",
        ]),
        64,
        "failure_treshold",
    );

    let out = env
        .fusebox()
        .env("FUSEBOX_STATE", "/proc/fusebox-cannot-write-here/state.db")
        .args(["run", "x", "--", "true"])
        .output()
        .unwrap();
    assert_usage(&out, 74, "/proc/fusebox-cannot-write-here");

    let out = env.run(&["run", "x", "--", "/no/such/command"]);
    assert_eq!(code(&out), 127);
    assert!(env.run(&["--help"]).status.success());
}
