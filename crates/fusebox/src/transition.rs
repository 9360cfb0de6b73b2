use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::{Name, State};

/// Why a breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The consecutive-failures policy tripped after this many failures in a row.
    ConsecutiveFailures(u32),
    /// The failure-rate policy tripped: this many of the calls in the window failed.
    FailureRate {
        /// Failed calls in the window.
        failures: u64,
        /// All calls in the window.
        calls: u64,
    },
    /// The slow-call policy tripped: this many of the calls in the window were slow.
    SlowCallRate {
        /// Slow calls in the window.
        slow: u64,
        /// All calls in the window.
        calls: u64,
    },
    /// The open duration elapsed; trial calls may now pass.
    OpenTimeoutElapsed,
    /// A trial call in the half-open state failed.
    ProbeFailed,
    /// This many trial calls in a row succeeded.
    ProbesSucceeded(u32),
    /// [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open) was called.
    ForcedOpen,
    /// [`CircuitBreaker::disable`](crate::CircuitBreaker::disable) was called.
    Disabled,
    /// [`CircuitBreaker::reset`](crate::CircuitBreaker::reset) was called.
    Reset,
    /// [`CircuitBreaker::trip`](crate::CircuitBreaker::trip) was called.
    Tripped,
    /// Enough processes of a fleet in quorum mode were open on their own
    /// calls (see [`Quorum`](crate::Quorum)).
    Quorum {
        /// Processes open on their own calls.
        open: u32,
        /// Processes seen alive within the liveness window.
        live: u32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ConsecutiveFailures(1) => f.write_str("1 failure"),
            Reason::ConsecutiveFailures(n) => write!(f, "{n} consecutive failures"),
            Reason::FailureRate { failures, calls } => {
                write!(f, "{failures} of the last {calls} calls failed")
            }
            Reason::SlowCallRate { slow, calls } => {
                write!(f, "{slow} of the last {calls} calls were slow")
            }
            Reason::OpenTimeoutElapsed => f.write_str("open duration elapsed"),
            Reason::ProbeFailed => f.write_str("trial call failed"),
            Reason::ProbesSucceeded(1) => f.write_str("trial call succeeded"),
            Reason::ProbesSucceeded(n) => write!(f, "{n} trial calls succeeded"),
            Reason::ForcedOpen => f.write_str("forced open by hand"),
            Reason::Disabled => f.write_str("disabled by hand"),
            Reason::Reset => f.write_str("reset by hand"),
            Reason::Tripped => f.write_str("tripped by hand"),
            Reason::Quorum { open, live } => {
                write!(f, "{open} of {live} processes open on their own calls")
            }
        }
    }
}

/// One change of state, as given to listeners.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The breaker's name.
    pub name: Name,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// What caused it.
    pub reason: Reason,
    /// The generation that starts with this transition.
    pub generation: u64,
    /// When it happened, on the breaker's clock.
    pub at: Instant,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit '{}' {} -> {}: {}",
            self.name, self.from, self.to, self.reason
        )
    }
}

/// A callback run after every transition, outside the breaker's lock.
pub(crate) type Listener = Arc<dyn Fn(&Transition) + Send + Sync>;

/// Emits the one INFO event and runs the listeners. A listener that panics
/// does not keep the others from seeing the transition: the first panic is
/// returned, for the caller to resume once nothing is left to announce.
pub(crate) fn announce(
    transition: &Transition,
    listeners: &[Listener],
) -> Option<Box<dyn std::any::Any + Send>> {
    tracing::info!(
        target: "fusebox",
        circuit = &*transition.name,
        from = transition.from.as_str(),
        to = transition.to.as_str(),
        reason = %transition.reason,
        generation = transition.generation,
        "{transition}"
    );
    let mut panicked = None;
    for listener in listeners {
        let run = std::panic::AssertUnwindSafe(|| listener(transition));
        if let Err(panic) = std::panic::catch_unwind(run) {
            panicked.get_or_insert(panic);
        }
    }
    panicked
}
