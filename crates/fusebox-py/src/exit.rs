//! Store calls and the interpreter's exit.
//!
//! A call that waits on a store runs without the GIL. If the interpreter
//! begins to exit meanwhile (the call is on a daemon thread), taking the GIL
//! back ends the thread with `pthread_exit`, and that unwinding through Rust
//! frames aborts the whole process. So once the interpreter runs its `atexit`
//! callbacks, a store call finishing on any other thread than the exiting
//! one waits for the process to end instead of taking the GIL back. Non-daemon
//! threads have been joined by then, and the call has returned whatever it
//! held: the waiting thread holds no lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::{self, ThreadId};

use pyo3::prelude::*;
use pyo3::types::PyCFunction;

static EXITING: AtomicBool = AtomicBool::new(false);
static EXITING_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Registers the `atexit` callback that marks the exit.
pub(crate) fn watch(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let exiting = PyCFunction::new_closure(py, None, None, |_, _| {
        let _ = EXITING_THREAD.set(thread::current().id());
        EXITING.store(true, Ordering::Release);
    })?;
    py.import("atexit")?.call_method1("register", (exiting,))?;
    Ok(())
}

/// `f()` without the GIL (see the module docs for what happens at exit).
pub(crate) fn without_gil<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(|| {
        let done = f();
        if EXITING.load(Ordering::Acquire) && EXITING_THREAD.get() != Some(&thread::current().id())
        {
            loop {
                thread::park();
            }
        }
        done
    })
}
