//! Quorum mode: a fleet breaker that opens for all only when enough of its
//! processes are open on their own calls.

use std::time::Duration;

use crate::ConfigError;

/// When a fleet in quorum mode opens for every process.
///
/// In quorum mode each process's breaker counts and trips on its own calls
/// alone, and opens only itself; with each synchronisation it tells the
/// store whether it is open, and that it is alive. The shared breaker opens
/// for all when `at_least(k)` processes (or `share(x)` of those alive) are
/// open at once. A process whose own network or pool is broken then cannot
/// open the breaker for a healthy fleet. A process not heard from within
/// the liveness window (by default the longer of one second and three
/// intervals) no longer counts, open or not.
///
/// Quorum mode needs a store in fleet mode (`sync_every`, or `?sync=` in a
/// store URL).
///
/// ```
/// use std::time::Duration;
/// use fusebox::store::MemoryStore;
/// use fusebox::{CircuitBreaker, Quorum};
///
/// let store = MemoryStore::new().sync_every(Duration::from_millis(10));
/// let breaker = CircuitBreaker::builder("payments")
///     .failure_threshold(5)
///     .store(store)
///     .quorum(Quorum::at_least(2))
///     .build()?;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quorum {
    pub(crate) rule: Rule,
    pub(crate) liveness: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Rule {
    AtLeast(u32),
    Share(f64),
}

impl Quorum {
    /// Opens the fleet when at least `processes` live processes are open.
    pub fn at_least(processes: u32) -> Quorum {
        Quorum {
            rule: Rule::AtLeast(processes),
            liveness: None,
        }
    }

    /// Opens the fleet when at least `share` (in (0, 1]) of the live
    /// processes are open, and at least one is.
    pub fn share(share: f64) -> Quorum {
        Quorum {
            rule: Rule::Share(share),
            liveness: None,
        }
    }

    /// A process not heard from for `window` no longer counts.
    #[must_use]
    pub fn liveness(mut self, window: Duration) -> Quorum {
        self.liveness = Some(window);
        self
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        match self.rule {
            Rule::AtLeast(0) => {
                return Err(ConfigError::new(
                    "quorum",
                    "at_least(0)",
                    "needs at least 1 process",
                ))
            }
            Rule::Share(x) if !(x > 0.0 && x <= 1.0) => {
                return Err(ConfigError::new(
                    "quorum",
                    format!("share({x})"),
                    "must be a share in (0, 1]",
                ))
            }
            _ => {}
        }
        if let Some(window) = self.liveness {
            if window.is_zero() || window > crate::Builder::MAX_DURATION {
                return Err(ConfigError::new(
                    "quorum liveness",
                    format!("{window:?}"),
                    "must be longer than zero and at most 365 days",
                ));
            }
        }
        Ok(())
    }
}
