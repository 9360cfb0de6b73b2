//! Another process holding an SQLite file's write lock (`BEGIN IMMEDIATE`),
//! as a busy writer on the same host would.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Child;

/// The write lock held by a worker process until released or dropped.
pub struct WriteLock {
    child: Child,
}

impl WriteLock {
    /// Starts a worker that takes the lock; returns once it holds it. The
    /// test binary must run `write_lock_worker!()`.
    pub fn take(path: &Path) -> WriteLock {
        let mut child = super::spawn_worker(
            "worker_hold_write_lock",
            &[("DB_PATH", path.display().to_string())],
        );
        let out = BufReader::new(child.stdout.as_mut().unwrap());
        let locked = out
            .lines()
            .map_while(Result::ok)
            .any(|line| line == "@@locked true");
        assert!(locked, "the worker did not take the lock");
        WriteLock { child }
    }

    /// Lets the worker commit and exit.
    pub fn release(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_end(&mut Vec::new());
        }
        let _ = self.child.wait();
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The worker's side: `BEGIN IMMEDIATE` on `DB_PATH`, then wait for stdin.
pub fn hold() {
    let connection = rusqlite::Connection::open(super::var("DB_PATH")).unwrap();
    connection.execute_batch("BEGIN IMMEDIATE").unwrap();
    super::report("locked", true);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    connection.execute_batch("COMMIT").unwrap();
}
