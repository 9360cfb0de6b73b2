//! Recording outcomes: without the lock whenever the machine would change
//! nothing (see the module documentation of `breaker`).

use super::{generation_of, state_of, Shared, GENERATION_SHIFT, STREAK_BIT};
use crate::clock::Nanos;
use crate::counters::Count;
use crate::machine::{Call, Report, Ticket};
use crate::sync::Ordering;
use crate::window::CallWindow;
use crate::State;

impl Shared {
    /// Records an outcome. The common case, a success while closed with no
    /// failure streak, is one load and compare plus the thread's own counter
    /// (and, with a rate policy, the window's lock-free record), inlined into
    /// the caller.
    #[inline(always)]
    pub(crate) fn report(&self, ticket: Ticket, report: Report, started: Nanos) {
        // The word is exactly "closed, this generation, no streak" only for
        // an untimed breaker, and only for a ticket admitted while closed:
        // a trial call's generation ended when the breaker closed.
        if matches!(report, Report::Success)
            && self.word.load(Ordering::Acquire)
                == ticket.generation << GENERATION_SHIFT | State::Closed.to_bits()
        {
            self.counters.add(Count::Success);
            match &self.window {
                Some(window) if !window.absorbs_success() => {
                    return self.report_windowed_success(window, ticket)
                }
                _ => return,
            }
        }
        self.report_other(ticket, report, started);
    }

    /// Records an outcome, without the lock when the machine would not change.
    #[inline(never)]
    fn report_other(&self, ticket: Ticket, report: Report, started: Nanos) {
        let slow = match (self.slow_call, report) {
            (Some(limit), Report::Success | Report::Failure) => {
                let took = self.clock.now().saturating_sub(started);
                #[cfg(feature = "metrics")]
                self.call_durations.record(took);
                took > limit
            }
            _ => false,
        };
        if slow {
            self.counters.add(Count::Slow);
        }
        if let (Some(_), Report::Success) = (&self.fleet, report) {
            // Counted with the batch, under the lock (see `report_fleet`).
        } else {
            self.counters.add(match report {
                Report::Success => Count::Success,
                Report::Failure => Count::Failure,
                Report::Ignored => Count::Ignored,
                Report::Cancelled => Count::Cancelled,
            });
        }
        let mut call = Call {
            report,
            slow,
            windowed: false,
        };
        if let Some(external) = &self.external {
            self.on_store(external, || external.record(&self.name, ticket, call));
            return;
        }
        if let Some(fleet) = &self.fleet {
            return self.report_fleet(fleet, ticket, call);
        }
        if ticket.probe == 0 {
            let word = self.word.load(Ordering::Acquire);
            if generation_of(word) != ticket.generation {
                return; // stale: the machine would ignore it
            }
            match (state_of(word), report) {
                (State::Closed, Report::Success) => {
                    if let Some(window) = &self.window {
                        if self.record_success(window, ticket, slow) {
                            call.windowed = true;
                            return self.report_slow(ticket, call);
                        }
                    }
                    if word & STREAK_BIT == 0 {
                        return; // nothing to reset
                    }
                    call.windowed = self.window.is_some();
                }
                (State::Closed | State::Disabled, Report::Ignored) => return,
                (State::Closed | State::Disabled, Report::Cancelled) if !self.cancel_is_failure => {
                    return
                }
                (State::Disabled, Report::Success) => return,
                _ => {}
            }
        }
        self.report_slow(ticket, call);
    }

    /// Records a closed-state success that changes the window, out of line
    /// so the inlined fast path stays small.
    #[inline(never)]
    fn report_windowed_success(&self, window: &CallWindow, ticket: Ticket) {
        if self.record_in_window(window, ticket, false) {
            // A rate may have crossed its threshold: the machine decides.
            let call = Call {
                report: Report::Success,
                slow: false,
                windowed: true,
            };
            self.report_slow(ticket, call);
        }
    }

    /// Records a closed-state success in the window; true if a rate policy
    /// may now open the breaker, which only the machine may decide.
    fn record_success(&self, window: &CallWindow, ticket: Ticket, slow: bool) -> bool {
        if !slow && window.absorbs_success() {
            return false;
        }
        self.record_in_window(window, ticket, slow)
    }

    /// [`record_success`](Self::record_success) once the window is known to
    /// change.
    fn record_in_window(&self, window: &CallWindow, ticket: Ticket, slow: bool) -> bool {
        let now = if window.needs_time() {
            self.clock.now()
        } else {
            0
        };
        window.record(ticket.generation, now, false, slow);
        window.troubled(now).is_some_and(|tally| {
            (tally.failures > 0 || tally.slow > 0)
                && self
                    .rates
                    .as_ref()
                    .is_some_and(|rates| rates.verdict(tally).is_some())
        })
    }

    #[cold]
    fn report_slow(&self, ticket: Ticket, call: Call) {
        self.with_machine(|machine, now| ((), machine.record(ticket, call, now)));
    }
}
