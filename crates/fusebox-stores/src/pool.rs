//! Idle connections kept for reuse, so that callers never queue behind one
//! connection: a caller takes an idle one or makes its own.
//!
//! A pool is fork-aware: after `fork()` the child inherits the parent's idle
//! connections, the same sockets and SQLite handles. Used from both
//! processes, a Redis socket interleaves their commands and replies (writes
//! lost or applied twice), and SQLite forbids carrying a handle across a
//! fork. So the first use in a new process forgets the inherited
//! connections (without closing them: closing would talk on the parent's
//! socket or file) and makes its own.

use std::sync::Mutex;

/// How many idle connections a store keeps; more are closed when returned.
const MAX_IDLE: usize = 16;

/// Idle connections of one store.
pub(crate) struct Pool<C> {
    idle: Mutex<Idle<C>>,
}

struct Idle<C> {
    /// The process the connections were made in.
    pid: u32,
    connections: Vec<C>,
}

impl<C> Pool<C> {
    pub(crate) fn new() -> Pool<C> {
        Pool {
            idle: Mutex::new(Idle {
                pid: std::process::id(),
                connections: Vec::new(),
            }),
        }
    }

    /// An idle connection of this process, if there is one. Never waits
    /// for a caller's store work: the lock only guards the list.
    pub(crate) fn take(&self) -> Option<C> {
        self.lock().connections.pop()
    }

    /// Gives back a connection that is in a known good state.
    pub(crate) fn put(&self, connection: C) {
        let mut idle = self.lock();
        if idle.connections.len() < MAX_IDLE {
            idle.connections.push(connection);
        }
    }

    /// The list, with connections inherited from a parent process
    /// forgotten.
    fn lock(&self) -> std::sync::MutexGuard<'_, Idle<C>> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pid = std::process::id();
        if idle.pid != pid {
            for inherited in idle.connections.drain(..) {
                std::mem::forget(inherited);
            }
            idle.pid = pid;
        }
        idle
    }
}
