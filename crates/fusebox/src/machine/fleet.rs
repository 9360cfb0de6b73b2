//! What fleet mode needs from the machine: outcomes counted by one process
//! merged into the shared state in one step, and the shared state copied
//! into a process's local machine.
//!
//! A process in fleet mode counts the outcomes of its closed calls locally
//! and sends them as one [`Batch`] per interval. The batch keeps what the
//! policies need of the order of those outcomes: whether any call succeeded,
//! and how many failed after the last success.

use super::{Machine, Probe, Report};
use crate::clock::Nanos;
use crate::window::CallWindow;
use crate::{Reason, State};

/// Probe ids of trial calls a fleet-mode process admitted alone (its store
/// could not be reached) carry this bit, so their outcomes go to the local
/// machine and not to the store, whose trial calls they are not.
pub(crate) const LOCAL_PROBE: u64 = 1 << 63;

/// The outcomes of one process's closed calls between two flushes.
///
/// Merged into the shared streak, it is exactly the calls replayed in this
/// process's order, given that no run of failures between two of its
/// successes reaches the threshold (the process's own view would have
/// tripped first): the failures before its first success extend the shared
/// streak, and those after its last success start the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    /// The generation the calls were admitted in: a batch changes only the
    /// same generation of the shared state (never a newer one).
    pub(crate) generation: u64,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    /// Failures before the first success; all of them when none succeeded.
    pub(crate) head: u64,
    /// Failures after the last success; all of them when none succeeded.
    pub(crate) tail: u64,
    /// Calls (of either outcome) slower than the slow-call limit.
    pub(crate) slow: u64,
}

impl Batch {
    /// An empty batch for calls of `generation`.
    pub(crate) fn new(generation: u64) -> Batch {
        Batch {
            generation,
            ..Batch::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.successes == 0 && self.failures == 0 && self.slow == 0
    }

    /// Counts one more call, after those already counted.
    pub(crate) fn count(&mut self, report: Report, slow: bool) {
        match report {
            Report::Success => {
                self.successes = self.successes.saturating_add(1);
                self.tail = 0;
            }
            Report::Failure => {
                if self.successes == 0 {
                    self.head = self.head.saturating_add(1);
                }
                self.failures = self.failures.saturating_add(1);
                self.tail = self.tail.saturating_add(1);
            }
            Report::Ignored | Report::Cancelled => return,
        }
        if slow {
            self.slow = self.slow.saturating_add(1);
        }
    }

    /// Adds the calls of `later`, made after these, of the same generation.
    pub(crate) fn then(&mut self, later: &Batch) {
        if self.successes == 0 {
            self.head = self.head.saturating_add(later.head);
        }
        self.tail = if later.successes > 0 {
            later.tail
        } else {
            self.tail.saturating_add(later.failures)
        };
        self.successes = self.successes.saturating_add(later.successes);
        self.failures = self.failures.saturating_add(later.failures);
        self.slow = self.slow.saturating_add(later.slow);
    }

    /// The calls in an order consistent with the batch, as (failed, slow):
    /// the failures before the last success spread evenly among the
    /// successes, then the tail. Slow calls are spread evenly over all.
    #[cfg(test)]
    pub(crate) fn outcomes(&self) -> impl Iterator<Item = (bool, bool)> + '_ {
        self.last_outcomes(u64::MAX)
    }

    /// The last `n` of [`outcomes`](Self::outcomes), without walking the
    /// ones before (a batch may hold billions of calls).
    pub(crate) fn last_outcomes(&self, n: u64) -> impl Iterator<Item = (bool, bool)> + '_ {
        let total = self.successes.saturating_add(self.failures);
        let tail = self.tail.min(self.failures);
        let head = total - tail;
        let head_failures = self.failures - tail;
        (total.saturating_sub(n)..total).map(move |i| {
            let failed = i >= head || spread(i, head, head_failures);
            (failed, spread(i, total, self.slow.min(total)))
        })
    }
}

/// Whether item `i` of `n` is one of `k` spread evenly among them.
fn spread(i: u64, n: u64, k: u64) -> bool {
    let (i, n, k) = (u128::from(i), u128::from(n), u128::from(k));
    n > 0 && (i + 1) * k / n > i * k / n
}

impl Machine {
    /// Merges a process's batch of closed calls. A batch of another
    /// generation (the breaker opened, or was reset, since those calls were
    /// admitted) changes nothing; so does one that reaches a breaker no
    /// longer closed.
    pub(crate) fn merge(&mut self, batch: &Batch, now: Nanos) -> Option<Change> {
        if batch.generation != self.generation || self.state != State::Closed || batch.is_empty() {
            return None;
        }
        if batch.failures > 0 {
            self.last_failure = Some(now);
            self.failures_since_closed = self.failures_since_closed.saturating_add(batch.failures);
        }
        let before = u64::from(self.failure_streak);
        let (run, streak) = if batch.successes > 0 {
            // The run the batch's first failures extend, then its last.
            let head = before.saturating_add(batch.head.min(batch.failures));
            (head.max(batch.tail), batch.tail.min(batch.failures))
        } else {
            let run = before.saturating_add(batch.failures);
            (run, run)
        };
        self.failure_streak = u32::try_from(streak).unwrap_or(u32::MAX);
        if let Some(threshold) = self.settings.failure_threshold {
            if batch.failures > 0 && run >= u64::from(threshold) {
                let run = u32::try_from(run).unwrap_or(u32::MAX);
                return Some(self.enter(State::Open, Reason::ConsecutiveFailures(run), now));
            }
        }
        let (window, rates) = (self.window.as_ref()?, self.settings.rates.as_ref()?);
        window.record_batch(self.generation, now, batch);
        let reason = rates.verdict(window.tally(now))?;
        Some(self.enter(State::Open, reason, now))
    }

    /// The failure streak of a local machine that keeps its own calls on
    /// top of the shared state it took.
    pub(crate) fn set_failure_streak(&mut self, streak: u32) {
        if self.state == State::Closed {
            self.failure_streak = streak;
        }
    }

    /// Trial calls this machine admits from now on are marked
    /// [`LOCAL_PROBE`] (a fleet-mode process's local machine).
    pub(crate) fn mark_local_probes(&mut self) {
        self.next_probe |= LOCAL_PROBE;
    }

    /// The shared state alone, without the window (which stays with its
    /// machine): what a process copies into its local machine.
    pub(crate) fn snapshot(&self) -> Machine {
        Machine {
            settings: self.settings.clone(),
            state: self.state,
            generation: self.generation,
            since: self.since,
            open_until: self.open_until,
            open_for: self.open_for,
            failure_streak: self.failure_streak,
            failures_since_closed: self.failures_since_closed,
            probe_successes: self.probe_successes,
            probes: self.probes.clone(),
            next_probe: self.next_probe,
            last_failure: self.last_failure,
            reopens: self.reopens,
            rng: self.rng,
            why: self.why,
            refusals: self.refusals,
            window: None,
            members: self.members.clone(),
        }
    }

    /// Takes the shared state of `fleet` (a [`snapshot`](Self::snapshot)),
    /// its times moved to this machine's clock by `local`. The window
    /// keeps this process's own calls of the generation; a new generation
    /// starts it empty. Trial calls this machine admits from now on are
    /// marked [`LOCAL_PROBE`].
    pub(crate) fn adopt(&mut self, fleet: &Machine, now: Nanos, local: impl Fn(Nanos) -> Nanos) {
        let new_generation = fleet.generation != self.generation;
        self.state = fleet.state;
        self.generation = fleet.generation;
        self.since = local(fleet.since);
        self.open_until = local(fleet.open_until);
        self.open_for = fleet.open_for;
        self.failure_streak = fleet.failure_streak;
        self.failures_since_closed = fleet.failures_since_closed;
        self.probe_successes = fleet.probe_successes;
        self.probes.clear();
        self.probes.extend(fleet.probes.iter().map(|probe| Probe {
            id: probe.id,
            deadline: local(probe.deadline),
        }));
        self.next_probe = fleet.next_probe | LOCAL_PROBE;
        self.last_failure = fleet.last_failure.map(&local);
        self.reopens = fleet.reopens;
        self.why = fleet.why;
        self.refusals = fleet.refusals;
        if new_generation {
            if let Some(window) = &self.window {
                window.clear(now, self.generation);
            }
        }
    }
}

use super::Change;

impl CallWindow {
    /// Records a batch of calls of `generation` (see [`Batch::outcomes`]):
    /// a count window takes the last calls it holds room for, a time window
    /// counts them all in the current slice.
    pub(crate) fn record_batch(&self, generation: u64, now: Nanos, batch: &Batch) {
        match self {
            CallWindow::Count(w) => {
                for (failed, slow) in batch.last_outcomes(w.size()) {
                    w.record(generation, failed, slow);
                }
            }
            CallWindow::Time(w) => {
                let calls = batch.successes.saturating_add(batch.failures);
                w.record_many(
                    generation,
                    now,
                    calls,
                    batch.failures,
                    batch.slow.min(calls),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(outcomes: &str) -> Batch {
        let mut batch = Batch::new(0);
        for c in outcomes.chars() {
            let report = if c == 'f' {
                Report::Failure
            } else {
                Report::Success
            };
            batch.count(report, false);
        }
        batch
    }

    #[test]
    fn a_batch_keeps_the_failures_after_the_last_success() {
        assert_eq!((batch("ffsff").head, batch("ffsff").tail), (2, 2));
        assert_eq!((batch("fff").head, batch("fff").tail), (3, 3));
        assert_eq!((batch("ffs").head, batch("ffs").tail), (2, 0));
        let mut joined = batch("ff");
        joined.then(&batch("fsf"));
        assert_eq!((joined.head, joined.tail), (3, 1));
        joined.then(&batch("ff"));
        assert_eq!(
            (joined.successes, joined.failures, joined.head, joined.tail),
            (1, 6, 3, 3)
        );
        joined.then(&batch("sf"));
        assert_eq!(
            (joined.successes, joined.failures, joined.head, joined.tail),
            (2, 7, 3, 1)
        );
    }

    #[test]
    fn outcomes_end_with_the_tail_and_spread_the_rest() {
        let b = batch("fsfsssff");
        let order: String = b
            .outcomes()
            .map(|(failed, _)| if failed { 'f' } else { 's' })
            .collect();
        assert_eq!(order.len(), 8);
        assert!(order.ends_with("ff"));
        assert_eq!(order.matches('f').count(), 4);
        assert_eq!(b.outcomes().filter(|o| o.1).count(), 0);
        let slow = Batch {
            slow: 3,
            ..batch("ssssss")
        };
        assert_eq!(slow.outcomes().filter(|o| o.1).count(), 3);
    }

    #[test]
    fn spread_picks_exactly_k_of_n() {
        for n in 0..40u64 {
            for k in 0..=n {
                assert_eq!((0..n).filter(|&i| spread(i, n, k)).count() as u64, k);
            }
        }
        assert!(spread(u64::MAX - 1, u64::MAX, u64::MAX));
    }
}
