//! One store call's time budget.
//!
//! `store_timeout` bounds a whole call: waiting for a connection, making
//! one, waiting for a lock and every command of the transaction all draw
//! on the same budget, so no step can wait the full timeout again after
//! another step used part of it.

use std::time::{Duration, Instant};

/// When the current store call must have finished.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    end: Instant,
    timeout: Duration,
}

impl Deadline {
    /// A budget of `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + timeout,
            timeout,
        }
    }

    /// The time left, or `None` when it is spent.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.end
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }

    /// How long the next wait may take: what is left, but at least
    /// `floor`. A call that is over its budget because its thread was kept
    /// off the CPU (not because it waited) still gets an answer that is
    /// ready at once; only waiting is bounded.
    pub(crate) fn wait_at_most(&self, floor: Duration) -> Duration {
        self.remaining().unwrap_or_default().max(floor)
    }

    /// The whole budget, for messages.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}
