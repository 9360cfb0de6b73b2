//! `fusebox status --watch`: snapshots one after another on a pipe,
//! redrawn in place on a terminal, a store that cannot be read shown and
//! waited out, and a clean end on Ctrl-C or when the reader goes away.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::{code, stderr, Env, Running};
use nix::sys::signal::Signal;

/// The next snapshot on a pipe: its lines up to the blank line after it.
fn frame(job: &mut Running) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = job.line();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // the blank line before a snapshot
            }
            return lines;
        }
        lines.push(line);
        // A snapshot is a heading, then the table or one line of news;
        // the next heading starts the next one.
        if lines.len() > 1 && lines.last().unwrap().starts_with("state file ") {
            panic!("two headings without a blank line between: {lines:?}");
        }
    }
}

/// The first snapshot that shows `shown`: the watch writes one every
/// interval whether or not it is read, so those written before a change may
/// still wait in the pipe. Fails after 200 snapshots (seconds of them).
fn frame_showing(job: &mut Running, shown: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..200 {
        last = frame(job);
        if shown(&last) {
            return last;
        }
    }
    panic!("200 snapshots and none showed it; the last: {last:?}");
}

fn row<'a>(frame: &'a [String], name: &str) -> Option<&'a String> {
    frame
        .iter()
        .find(|l| l.split_whitespace().next() == Some(name))
}

#[test]
fn snapshots_follow_each_other_on_a_pipe_until_ctrl_c() {
    let env = Env::new();
    assert!(env.run(&["run", "api", "--", "true"]).status.success());
    let mut job = env.start(&["status", "--watch", "--interval", "100ms"]);
    let first = frame(&mut job);
    assert!(first[0].starts_with("state file "), "{first:?}");
    assert!(
        first[0].ends_with(", every 100ms (Ctrl-C to stop)"),
        "{first:?}"
    );
    assert!(first[1].starts_with("NAME"), "{first:?}");
    assert!(row(&first, "api").unwrap().contains("closed"), "{first:?}");
    assert!(
        !first.concat().contains('\x1b'),
        "no terminal codes on a pipe: {first:?}"
    );

    assert!(env.run(&["trip", "api"]).status.success());
    frame_showing(&mut job, |after| {
        row(after, "api").is_some_and(|row| row.contains("open"))
    });

    job.signal(Signal::SIGINT);
    let (status, errors) = job.finish();
    assert_eq!(status, 0, "{errors}");
    assert_eq!(errors, "");
}

#[test]
fn the_watch_ends_quietly_when_its_reader_goes_away() {
    let env = Env::new();
    assert!(env.run(&["trip", "api"]).status.success());
    let mut job = env.start(&["status", "--watch", "--interval", "50ms"]);
    frame(&mut job);
    let Running { child, stdout } = job;
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_store_that_cannot_be_read_is_shown_and_waited_out() {
    let env = Env::new();
    assert!(env.run(&["trip", "api"]).status.success());
    let path = env.path("state.db");
    let kept = env.path("kept.db");
    std::fs::rename(&path, &kept).unwrap();
    std::fs::write(&path, "not a database but long enough to be read as one").unwrap();
    let mut job = env.start(&["status", "--watch", "--interval", "50ms"]);
    let down = frame(&mut job);
    assert!(down[1].starts_with("store unreachable: "), "{down:?}");
    assert!(down[1].contains("is not an SQLite database"), "{down:?}");

    std::fs::rename(&kept, &path).unwrap();
    frame_showing(&mut job, |back| {
        row(back, "api").is_some_and(|row| row.contains("open"))
    });
    job.signal(Signal::SIGTERM);
    assert_eq!(job.finish().0, 0);
}

#[test]
fn json_watch_writes_one_line_per_snapshot() {
    let env = Env::new();
    assert!(env.run(&["trip", "api"]).status.success());
    let mut job = env.start(&["status", "--watch", "--json", "--interval", "50ms"]);
    for _ in 0..2 {
        let rows: serde_json::Value = serde_json::from_str(&job.line()).unwrap();
        assert_eq!(rows[0]["name"], "api");
        assert_eq!(rows[0]["state"], "open");
    }
    job.signal(Signal::SIGINT);
    assert_eq!(job.finish().0, 0);
}

#[test]
fn interval_is_for_watch_and_must_be_a_duration() {
    let env = Env::new();
    let out = env.run(&["status", "--interval", "2s"]);
    assert_eq!(code(&out), 64);
    assert!(
        stderr(&out).contains("--interval is for --watch"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["status", "--watch", "--interval", "soon"]);
    assert_eq!(code(&out), 64);
    assert!(
        stderr(&out).contains("--interval \"soon\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn on_a_terminal_each_snapshot_replaces_the_last() {
    let env = Env::new();
    assert!(env.run(&["trip", "api"]).status.success());
    // `script` gives the watch a real terminal; `timeout` sends it INT
    // after a few snapshots (waiting for process output, not moving a clock).
    let fusebox = env!("CARGO_BIN_EXE_fusebox");
    let command =
        format!("timeout --preserve-status -s INT 3 {fusebox} status --watch --interval 100ms");
    let mut child = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("FUSEBOX_STATE", env.path("state.db"))
        .env_remove("FUSEBOX_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {seen:?}");
    let clears = seen.matches("\x1b[H\x1b[2J").count();
    assert!(clears >= 2, "{clears} redraws in {seen:?}");
    assert!(seen.contains("api"), "{seen:?}");
}

#[test]
fn a_redis_password_never_shows_in_the_watch_or_the_empty_store_message() {
    let password = "s3cretpw";
    let server = common::redis::RedisServer::start(Some(password));
    let store = format!("redis://:{password}@127.0.0.1:{}/0", server.port);
    let env = Env::new();
    let out = env.run(&["status", "--store", &store]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no breakers yet in redis store redis://:***@127.0.0.1:"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(password), "{}", stderr(&out));

    let mut job = env.start(&["status", "--watch", "--interval", "50ms", "--store", &store]);
    let first = frame(&mut job);
    assert!(
        first[0].starts_with("redis store redis://:***@127.0.0.1:"),
        "{first:?}"
    );
    assert!(!first.concat().contains(password), "{first:?}");
    job.signal(Signal::SIGINT);
    assert_eq!(job.finish().0, 0);
}
