#[cfg(feature = "metrics")]
pub(crate) mod export;

use std::time::{Duration, Instant};

use crate::breaker::Shared;
use crate::clock::Nanos;
use crate::counters::{Count, Totals};
use crate::machine::Machine;
use crate::{Name, Reason, State};

/// A snapshot of one breaker, from [`CircuitBreaker::metrics`].
///
/// Counts are totals since the breaker was built or last
/// [`reset`](crate::CircuitBreaker::reset).
///
/// [`CircuitBreaker::metrics`]: crate::CircuitBreaker::metrics
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The breaker's name.
    pub name: Name,
    /// The state at the time of the snapshot.
    pub state: State,
    /// The current generation; every transition starts a new one.
    pub generation: u64,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Calls refused without being run.
    pub rejections: u64,
    /// Calls whose outcome the classifier ignored.
    pub ignored: u64,
    /// Calls slower than the slow-call threshold (0 without that policy).
    pub slow: u64,
    /// Permits dropped without an outcome.
    pub cancelled: u64,
    /// The current run of consecutive failures while closed.
    pub consecutive_failures: u32,
    /// Failures since the breaker last closed (or was built or reset). It
    /// keeps the count that opened the breaker while open and half-open,
    /// and starts again at 0 when the breaker closes.
    pub failures_since_closed: u64,
    /// Why the breaker entered `state` (`None`: it never changed state). In
    /// a shared store this is the reason of whichever process moved it.
    pub reason: Option<Reason>,
    /// Refused calls recorded in the breaker's shared state with
    /// [`CircuitBreaker::record_refusal`](crate::CircuitBreaker::record_refusal)
    /// since it last closed. Rejections of this process alone are in
    /// `rejections`.
    pub refusals_recorded: u64,
    /// Trial calls running now (half-open only).
    pub half_open_in_flight: u32,
    /// With a rate policy, the share of failed calls in its window; else
    /// `failures / (successes + failures)`. 0 when there are no calls.
    pub failure_rate: f64,
    /// How long the breaker has been in `state`.
    pub time_in_state: Duration,
    /// When the last failure that counted toward the policy happened.
    pub last_failure_time: Option<Instant>,
    /// While open: how long until trial calls may pass; while half-open
    /// with every trial slot taken: until the first trial call's lease
    /// runs out.
    pub retry_after: Option<Duration>,
    /// The breaker's shared store could not be reached lately; it runs on
    /// local state until the store answers again.
    pub degraded: bool,
}

impl Metrics {
    pub(crate) fn new(
        shared: &Shared,
        machine: &Machine,
        totals: &Totals,
        now: Nanos,
        instant: impl Fn(Nanos) -> Instant,
    ) -> Metrics {
        let successes = totals.get(Count::Success);
        let failures = totals.get(Count::Failure);
        let (failed, finished) = match machine.window() {
            Some(window) => {
                let tally = window.tally(now);
                (tally.failures, tally.calls)
            }
            None => (failures, successes + failures),
        };
        Metrics {
            name: shared.name.clone(),
            state: machine.state_at(now),
            generation: machine.generation(),
            successes,
            failures,
            rejections: totals.rejections(),
            ignored: totals.get(Count::Ignored),
            slow: totals.get(Count::Slow),
            cancelled: totals.get(Count::Cancelled),
            consecutive_failures: machine.failure_streak(),
            failures_since_closed: machine.failures_since_closed(),
            reason: machine.why(),
            refusals_recorded: machine.refusals(),
            half_open_in_flight: machine.probes_in_flight() as u32,
            failure_rate: if finished == 0 {
                0.0
            } else {
                failed as f64 / finished as f64
            },
            time_in_state: Duration::from_nanos(now.saturating_sub(machine.since())),
            last_failure_time: machine.last_failure().map(instant),
            retry_after: match machine.state_at(now) {
                State::Open => Some(machine.open_until()),
                State::HalfOpen if machine.probes_full() => Some(machine.earliest_probe_deadline()),
                _ => None,
            }
            .map(|at| Duration::from_nanos(at.saturating_sub(now))),
            degraded: false,
        }
    }
}
