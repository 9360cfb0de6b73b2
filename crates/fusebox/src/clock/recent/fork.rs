//! Noticing `fork()` without a system call per read: the C library runs a
//! handler in the child before `fork()` returns there.

/// Has `handler` run in the child of every later `fork()` of this process.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn after_fork_in_child(handler: extern "C" fn()) {
    // SAFETY: `pthread_atfork` only records the function pointers; the
    // handler is a plain `extern "C" fn` with no captured state that does
    // nothing but atomic stores, which are async-signal-safe. A failure
    // (ENOMEM) leaves the older safeguard: every 16th read checks the clock.
    unsafe {
        libc::pthread_atfork(None, None, Some(handler));
    }
}

/// No `fork()` to watch for.
#[cfg(not(unix))]
pub(super) fn after_fork_in_child(_handler: extern "C" fn()) {}
