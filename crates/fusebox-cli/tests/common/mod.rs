//! The `fusebox` binary with its state in a temporary directory, and what
//! the end-to-end tests need to watch real processes.

#![allow(dead_code)] // each test file uses its own part of this

pub(crate) mod dashboard;
pub(crate) mod redis;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// A state directory of one test's own.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A path in the test's directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `fusebox` with its state in this directory and nothing from the
    /// caller's environment.
    pub(crate) fn fusebox(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fusebox"));
        cmd.env("FUSEBOX_STATE", self.path("state.db"))
            .env_remove("FUSEBOX_STORE")
            .env_remove("XDG_STATE_HOME")
            .stdin(Stdio::null());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.fusebox().args(args).output().unwrap()
    }

    /// Starts `fusebox ARGS` with its stdout (and so the job's) on a pipe.
    pub(crate) fn start(&self, args: &[&str]) -> Running {
        let mut child = self
            .fusebox()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Running { child, stdout }
    }

    /// `status NAME --json`, which must succeed.
    pub(crate) fn status_json(&self, name: &str) -> Value {
        let out = self.run(&["status", name, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A fusebox process started by [`Env::start`].
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) stdout: BufReader<ChildStdout>,
}

impl Running {
    /// The next line the job printed: blocks until the job got there.
    pub(crate) fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    pub(crate) fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for fusebox: its exit code and its stderr.
    pub(crate) fn finish(self) -> (i32, String) {
        let out = self.child.wait_with_output().unwrap();
        let code = out.status.code().expect("fusebox exits, it is not killed");
        (code, stderr(&out))
    }
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

/// Whether process `pid` exists, as `kill -0` tells (a zombie counts: a
/// process left unreaped is a survivor too).
pub(crate) fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// The pid a job wrote to `path`.
pub(crate) fn pid_in(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
