//! Python called from threads Rust started (fleet mode's synchronisation
//! thread, a store's change watcher): the `fusebox` logger and transition
//! callbacks.
//!
//! CPython before 3.14 ends a thread that wants the GIL once the interpreter
//! is finalizing with `pthread_exit`. A thread Rust started cannot be ended
//! so (its entry function cannot unwind, and the process aborts), and one
//! that waits for the GIL meanwhile waits for ever. So these threads stop
//! calling into Python before finalizing begins: at `atexit` time (after the
//! program's own threads were joined), [`before_exit`] closes the door and
//! waits, without the GIL, for those inside to come out.
//!
//! The other side of that lock: a breaker's last handle, which may wait for
//! a synchronisation on such a thread, is dropped without the GIL
//! ([`drop_detached`]).

#![allow(unsafe_code)] // one call CPython allows without the GIL

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::ffi;
use pyo3::prelude::*;

/// Set at exit: threads Rust started call into Python no more.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// Threads Rust started that are calling into Python now.
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// How long the exit waits for a thread inside (a logging handler that
/// never returns must not keep the program from exiting).
const PATIENCE: Duration = Duration::from_secs(5);

/// Runs `f` attached to the interpreter, from any thread; `None` if it
/// cannot be (the interpreter is going away, or, for a thread Rust started,
/// is about to).
pub(crate) fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    // SAFETY: callable without the GIL; non-null for a thread CPython knows
    // (one it started, or one attached now).
    let python_thread = unsafe { !ffi::PyGILState_GetThisThreadState().is_null() };
    if python_thread {
        return Python::try_attach(f);
    }
    // In before the door is checked, so that `before_exit` either sees this
    // thread inside or this thread sees the door closed.
    INSIDE.fetch_add(1, Ordering::SeqCst);
    let done = if CLOSED.load(Ordering::SeqCst) {
        None
    } else {
        Python::try_attach(f)
    };
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    done
}

/// Drops `value` with the GIL released, from a Python object's `Drop` (which
/// runs with it held): for what may wait on a fleet-mode synchronisation in
/// flight, whose thread may be waiting for the GIL to log.
pub(crate) fn drop_detached<T: Send>(value: T) {
    let mut value = Some(value);
    Python::try_attach(|py| {
        let value = value.take();
        py.detach(move || drop(value));
    });
    drop(value); // not attached after all: nothing to release
}

/// In a child forked from this process: the threads counted inside are the
/// parent's; registered with `os.register_at_fork`.
#[pyfunction]
pub(crate) fn after_fork_in_child() {
    INSIDE.store(0, Ordering::SeqCst);
}

/// Closes the door to threads Rust started and waits for those inside;
/// registered with `atexit` when the module is imported.
#[pyfunction]
pub(crate) fn before_exit(py: Python<'_>) {
    CLOSED.store(true, Ordering::SeqCst);
    py.detach(|| {
        let asked = Instant::now();
        while INSIDE.load(Ordering::SeqCst) > 0 && asked.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
