//! Idle connections kept for reuse, so that callers never queue behind one
//! connection: a caller takes an idle one or makes its own.

use std::sync::Mutex;

/// How many idle connections a store keeps; more are closed when returned.
const MAX_IDLE: usize = 16;

/// Idle connections of one store.
pub(crate) struct Pool<C> {
    idle: Mutex<Vec<C>>,
}

impl<C> Pool<C> {
    pub(crate) fn new() -> Pool<C> {
        Pool {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, if there is one. Never waits for a caller's
    /// store work: the lock only guards the list.
    pub(crate) fn take(&self) -> Option<C> {
        self.lock().pop()
    }

    /// Gives back a connection that is in a known good state.
    pub(crate) fn put(&self, connection: C) {
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<C>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
