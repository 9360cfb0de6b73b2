//! A breaker made before `fork()` works in the child (pre-fork servers:
//! gunicorn, multiprocessing). Real time is the point: the child waits out
//! a short open duration on the system clock.
#![cfg(unix)]
#![allow(unsafe_code)] // fork, waitpid and _exit have no safe wrapper in std

use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, State};

/// Defect: the child inherited the parent's cached time, frozen at the
/// fork, and rejected up to 15 calls per thread after the deadline while
/// `state()` said half-open.
#[test]
fn a_forked_child_sees_the_recovery_timeout_on_time() {
    // Long enough for the rejections below on a loaded machine.
    let open_for = Duration::from_millis(300);
    let b = CircuitBreaker::builder("forked")
        .failure_threshold(1)
        .recovery_timeout(open_for)
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    let opened = Instant::now();
    // Rejections in the parent get the ticker publishing the cached time.
    for _ in 0..10_000 {
        assert!(b.try_acquire().is_err());
    }
    // SAFETY: the child only uses the breaker and exits with `_exit`,
    // running no destructor or handler of the parent's.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::sleep(
                open_for.saturating_sub(opened.elapsed()) + Duration::from_millis(5),
            );
            assert_eq!(b.state(), State::HalfOpen);
            // The very first call after the deadline is the trial call.
            match b.try_acquire() {
                Ok(permit) => {
                    permit.success();
                    i32::from(b.state() != State::Closed)
                }
                Err(_) => 3,
            }
        }))
        .unwrap_or(4);
        // SAFETY: ends the child without unwinding into the test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child made above; `status` outlives the call.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "1: not closed after the trial; 3: first call after the deadline rejected; 4: panicked"
    );
}
