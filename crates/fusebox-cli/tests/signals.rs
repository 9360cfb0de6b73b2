//! `fusebox run` under timeouts and signals: the whole job is stopped,
//! nothing is left behind, and a run the user stopped counts for nothing.

mod common;

use common::{alive, pid_in, Env, Running};
use nix::sys::signal::Signal;

/// A job that starts a background `sleep`, writes its pid to `pid_file`,
/// says "ready" and waits; on `trap_signal` it writes `trapped` to
/// `trap_file` and exits 0.
fn job(env: &Env, trap_signal: &str) -> String {
    format!(
        "trap 'echo trapped > {trap}; exit 0' {trap_signal}; sleep 60 & echo $! > {pid}; echo ready; wait",
        trap = env.path("trapped").display(),
        pid = env.path("pid").display(),
    )
}

#[test]
fn a_timeout_terms_the_whole_group_then_counts_a_failure() {
    let env = Env::new();
    let script = job(&env, "TERM");
    let out = env.run(&[
        "run",
        "slow",
        "--failure-threshold",
        "1",
        // Long enough for the shell to set its trap on a loaded machine.
        "--timeout",
        "2s",
        "--kill-after",
        "5s",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(common::code(&out), 124, "{}", common::stderr(&out));
    let message = common::stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("ran longer than 2s"), "{message}");
    let trapped = std::fs::read_to_string(env.path("trapped")).unwrap();
    assert_eq!(trapped.trim(), "trapped", "the job got TERM first");
    assert!(!alive(pid_in(&env.path("pid"))), "the job's child survived");
    assert_eq!(
        env.status_json("slow")["state"],
        "open",
        "a timeout is a failure"
    );
}

#[test]
fn a_job_that_ignores_term_gets_kill_after_the_grace_period() {
    let env = Env::new();
    let script = format!(
        "trap '' TERM; sleep 60 & echo $! > {}; wait; wait",
        env.path("pid").display()
    );
    let out = env.run(&[
        "run",
        "stubborn",
        "--timeout",
        "1s",
        "--kill-after",
        "500ms",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(common::code(&out), 124, "{}", common::stderr(&out));
    assert!(
        !alive(pid_in(&env.path("pid"))),
        "KILL reached the whole group"
    );
}

/// fusebox gets `signal` while the job runs: the job's trap runs, its
/// background child is stopped too, fusebox exits 128+N, and the run is
/// neither a success nor a failure.
fn stopped_by(signal: Signal, name: &str) {
    let env = Env::new();
    let script = job(&env, name);
    let mut fusebox = env.start(&[
        "run",
        "sig",
        "--failure-threshold",
        "1",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(fusebox.line(), "ready");
    fusebox.signal(signal);
    let (code, message) = fusebox.finish();
    assert_eq!(code, 128 + signal as i32, "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains(signal.as_str()), "{message}");
    let trapped = std::fs::read_to_string(env.path("trapped")).unwrap();
    assert_eq!(trapped.trim(), "trapped", "the job got {signal}");
    assert!(!alive(pid_in(&env.path("pid"))), "the job's child survived");
    let status = env.status_json("sig");
    assert_eq!(
        status["state"], "closed",
        "exit 0 after a stop is no success either: {status}"
    );
}

#[test]
fn term_is_passed_to_the_job_and_the_run_is_neutral() {
    stopped_by(Signal::SIGTERM, "TERM");
}

#[test]
fn int_is_passed_to_the_job_even_though_its_background_children_ignore_it() {
    // A shell's background jobs ignore INT: fusebox stops them after the
    // shell ended.
    stopped_by(Signal::SIGINT, "INT");
}

#[test]
fn hup_is_passed_to_the_job() {
    stopped_by(Signal::SIGHUP, "HUP");
}

#[test]
fn a_stopped_trial_run_frees_its_slot() {
    let env = Env::new();
    let flags = ["probe", "--recovery-timeout", "1ms"];
    let out = env.run(&["trip", flags[0], flags[1], flags[2]]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let mut args = vec!["run"];
    args.extend(flags);
    args.extend(["--", "sh", "-c", "echo ready; sleep 60"]);
    let mut trial = env.start(&args);
    assert_eq!(trial.line(), "ready");

    let mut second = vec!["run"];
    second.extend(flags);
    second.extend(["--", "true"]);
    let out = env.run(&second);
    assert_eq!(common::code(&out), 75, "the trial run holds the only slot");
    assert!(common::stderr(&out).contains("trial run is in progress"));

    trial.signal(Signal::SIGTERM);
    let (code, _) = trial.finish();
    assert_eq!(code, 143);
    let status = env.status_json("probe");
    assert_eq!(
        status["state"], "half_open",
        "a stopped trial is no outcome"
    );
    assert_eq!(status["half_open_in_flight"], 0, "{status}");
    let out = env.run(&second);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert_eq!(env.status_json("probe")["state"], "closed");
}

#[test]
fn a_killed_fusebox_holds_the_trial_slot_only_for_the_probe_timeout() {
    let env = Env::new();
    let flags = ["probe", "--recovery-timeout", "1ms"];
    assert!(env
        .run(&["trip", flags[0], flags[1], flags[2]])
        .status
        .success());
    let script = format!(
        "echo $$ > {}; echo ready; sleep 60",
        env.path("pid").display()
    );
    let mut args = vec!["run"];
    args.extend(flags);
    args.extend(["--probe-timeout", "1ms", "--", "sh", "-c", &script]);
    let mut trial = env.start(&args);
    assert_eq!(trial.line(), "ready");
    trial.signal(Signal::SIGKILL);
    trial.child.wait().unwrap();
    // The job lives on in its own group; end it ourselves.
    let job = pid_in(&env.path("pid"));
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(job), Signal::SIGKILL);

    let mut next = vec!["run"];
    next.extend(flags);
    next.extend(["--", "true"]);
    let out = env.run(&next);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert_eq!(env.status_json("probe")["state"], "closed");
}

#[test]
fn a_reader_going_away_is_not_a_failure() {
    let env = Env::new();
    let mut yes = env.start(&["run", "io", "--failure-threshold", "1", "--", "yes"]);
    assert_eq!(yes.line(), "y");
    assert_eq!(yes.line(), "y");
    // Like `| head -2`: the reader closes its end.
    let Running { child, stdout } = yes;
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(128 + 13),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(
        env.status_json("io")["state"],
        "closed",
        "SIGPIPE is neutral"
    );
}

#[test]
fn a_job_killed_by_another_signal_is_still_a_failure() {
    let env = Env::new();
    let out = env.run(&[
        "run",
        "crash",
        "--failure-threshold",
        "1",
        "--",
        "sh",
        "-c",
        "kill -SEGV $$",
    ]);
    assert_eq!(common::code(&out), 128 + 11);
    assert_eq!(env.status_json("crash")["state"], "open");
}

#[test]
fn usr1_is_the_jobs_business() {
    let env = Env::new();
    let script = format!(
        "trap 'echo usr1 > {}; exit 0' USR1; echo ready; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
        env.path("trapped").display()
    );
    let mut fusebox = env.start(&[
        "run",
        "u",
        "--failure-threshold",
        "1",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(fusebox.line(), "ready");
    fusebox.signal(Signal::SIGUSR1);
    let (code, message) = fusebox.finish();
    assert_eq!(code, 0, "the job handled USR1 and exited 0: {message}");
    assert_eq!(
        std::fs::read_to_string(env.path("trapped")).unwrap().trim(),
        "usr1"
    );
}
