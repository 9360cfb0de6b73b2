//! `fork()` for tests of what a pre-fork server's workers inherit.
#![allow(unsafe_code)] // fork, waitpid and _exit have no safe wrapper in std

/// A child process forked by [`fork`].
pub struct Forked(libc::pid_t);

/// Forks; the child runs `child`, whose result is its exit code (a panic
/// is 101), and exits without running anything of the parent's.
pub fn fork(child: impl FnOnce() -> i32) -> Forked {
    // SAFETY: the child runs only `child` and leaves with `_exit`, running
    // no destructor or handler of the parent's.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the child without unwinding into the test harness.
        unsafe { libc::_exit(code) };
    }
    Forked(pid)
}

impl Forked {
    /// Waits for the child to exit; its exit code.
    pub fn wait(self) -> i32 {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` outlives the call.
        let waited = unsafe { libc::waitpid(self.0, &mut status, 0) };
        assert_eq!(waited, self.0);
        assert!(libc::WIFEXITED(status), "child died: status {status}");
        libc::WEXITSTATUS(status)
    }
}
