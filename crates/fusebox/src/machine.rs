//! The pure state machine: the single source of fusebox's semantics.
//!
//! [`Machine`] holds everything a breaker must remember and changes only
//! through its methods, each taking the current time as an argument. It reads
//! no clock, takes no lock and does no I/O, so the in-memory breaker, the
//! stores and the property tests all run exactly this code.

use std::sync::Arc;

use crate::clock::{to_nanos, Nanos};
use crate::window::{CallWindow, CountWindow, Tally, TimeWindow};

use crate::{Backoff, Reason, State, Window};
pub(crate) use fleet::{Batch, LOCAL_PROBE};

/// The settings the machine needs, already validated by the builder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    /// Consecutive failures that open the breaker, if that policy is on.
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) rates: Option<RateSettings>,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_max_calls: u32,
    pub(crate) open_duration: Nanos,
    pub(crate) backoff: Backoff,
    pub(crate) probe_timeout: Nanos,
    pub(crate) cancel_is_failure: bool,
    /// `false`: start disabled.
    pub(crate) enabled: bool,
}

/// The window policies: failure rate and slow-call rate share one window.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateSettings {
    pub(crate) window: Window,
    pub(crate) minimum_calls: u32,
    pub(crate) failure_rate: Option<f64>,
    /// Calls slower than this count as slow...
    pub(crate) slow_call: Option<Nanos>,
    /// ...and this share of slow calls opens the breaker.
    pub(crate) slow_rate: f64,
}

impl RateSettings {
    fn new_window(&self) -> CallWindow {
        match self.window {
            Window::Count(n) => CallWindow::Count(CountWindow::new(n)),
            Window::Time(d) => CallWindow::Time(TimeWindow::new(to_nanos(d))),
        }
    }

    /// Whether the calls in the window open the breaker.
    pub(crate) fn verdict(&self, tally: Tally) -> Option<Reason> {
        if tally.calls == 0 || tally.calls < u64::from(self.minimum_calls) {
            return None;
        }
        let share = |n: u64| n as f64 / tally.calls as f64;
        if let Some(threshold) = self.failure_rate {
            if share(tally.failures) >= threshold {
                return Some(Reason::FailureRate {
                    failures: tally.failures,
                    calls: tally.calls,
                });
            }
        }
        if self.slow_call.is_some() && share(tally.slow) >= self.slow_rate {
            return Some(Reason::SlowCallRate {
                slow: tally.slow,
                calls: tally.calls,
            });
        }
        None
    }
}

/// A finished call as the machine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) report: Report,
    /// Slower than the slow-call threshold.
    pub(crate) slow: bool,
    /// Already recorded in the window by the lock-free success path.
    pub(crate) windowed: bool,
}

impl From<Report> for Call {
    fn from(report: Report) -> Call {
        Call {
            report,
            slow: false,
            windowed: false,
        }
    }
}

/// What became of an admitted call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    Success,
    Failure,
    /// The classifier said this outcome says nothing about the dependency.
    Ignored,
    /// The permit was dropped without an outcome.
    Cancelled,
}

impl From<crate::Outcome> for Report {
    fn from(outcome: crate::Outcome) -> Report {
        match outcome {
            crate::Outcome::Success => Report::Success,
            crate::Outcome::Failure => Report::Failure,
            crate::Outcome::Ignored => Report::Ignored,
        }
    }
}

/// The largest generation a machine reaches, so that a generation always
/// fits the breaker's state word (which keeps 6 bits beside it) and never
/// reaches the refusal bit of the breaker's packed answer. At one
/// transition a nanosecond it lasts four years; a store record claiming
/// more is corrupt.
pub(crate) const MAX_GENERATION: u64 = (1 << 57) - 1;

/// Identifies an admitted call: the generation it was admitted in and, for a
/// half-open trial call, its probe id (0 for ordinary calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) generation: u64,
    pub(crate) probe: u64,
}

/// The answer to a request to run a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Admit(Ticket),
    Reject {
        state: State,
        retry_after: Option<Nanos>,
    },
}

/// A state change, before it is dressed up as a public [`crate::Transition`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Change {
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) reason: Reason,
    pub(crate) generation: u64,
    pub(crate) at: Nanos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probe {
    id: u64,
    deadline: Nanos,
}

/// All the state of one breaker.
#[derive(Debug)]
pub(crate) struct Machine {
    settings: Settings,
    state: State,
    generation: u64,
    since: Nanos,
    open_until: Nanos,
    /// The open duration chosen when the breaker last opened, kept in the
    /// store record so that a process with other settings (a `status`
    /// reader) still bounds the deadline by the duration its writer chose.
    open_for: Nanos,
    failure_streak: u32,
    /// Failures since the breaker last closed: kept while open and
    /// half-open, so a caller can see the count that tripped it.
    failures_since_closed: u64,
    probe_successes: u32,
    probes: Vec<Probe>,
    next_probe: u64,
    last_failure: Option<Nanos>,
    /// Consecutive re-opens, for the backoff.
    reopens: u32,
    /// xorshift64* state for the backoff's jitter.
    rng: u64,
    /// Why the breaker entered its state (`None`: it never changed state).
    why: Option<Reason>,
    /// Refusals recorded with `note_refusal` since the breaker last closed.
    /// Only callers that want them fleet-wide record them (the CLI does, one
    /// store write per refusal); the in-process breaker counts its own
    /// rejections in its counters and never writes for them.
    refusals: u64,
    /// Shared with the lock-free success path of the in-memory breaker.
    window: Option<Arc<CallWindow>>,
    /// The processes of a fleet in quorum mode (empty otherwise).
    members: Vec<members::Member>,
}

impl Machine {
    pub(crate) fn new(settings: Settings, now: Nanos) -> Machine {
        let probes = Vec::with_capacity(settings.half_open_max_calls as usize);
        let window = settings.rates.as_ref().map(|r| Arc::new(r.new_window()));
        let rng = match settings.backoff {
            Backoff::Exponential {
                seed: Some(seed), ..
            }
            | Backoff::FixedWithJitter { seed: Some(seed) } => seed,
            _ => {
                use std::hash::{BuildHasher, RandomState};
                RandomState::new().hash_one(now)
            }
        } | 1;
        Machine {
            state: if settings.enabled {
                State::Closed
            } else {
                State::Disabled
            },
            settings,
            generation: 0,
            since: now,
            open_until: 0,
            open_for: 0,
            failure_streak: 0,
            failures_since_closed: 0,
            probe_successes: 0,
            probes,
            next_probe: 1,
            last_failure: None,
            reopens: 0,
            rng,
            why: None,
            refusals: 0,
            window,
            members: Vec::new(),
        }
    }

    pub(crate) fn window(&self) -> Option<&Arc<CallWindow>> {
        self.window.as_ref()
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The state as stored, without applying elapsed time.
    pub(crate) fn stored_state(&self) -> State {
        self.state
    }

    /// The state a caller sees at `now`: an open breaker whose open duration
    /// has elapsed reads as half-open even before anything calls it.
    pub(crate) fn state_at(&self, now: Nanos) -> State {
        if self.state == State::Open && now >= self.open_until {
            State::HalfOpen
        } else {
            self.state
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn since(&self) -> Nanos {
        self.since
    }

    pub(crate) fn open_until(&self) -> Nanos {
        self.open_until
    }

    pub(crate) fn failure_streak(&self) -> u32 {
        self.failure_streak
    }

    pub(crate) fn failures_since_closed(&self) -> u64 {
        self.failures_since_closed
    }

    /// Why the breaker entered its state, if it ever changed state.
    pub(crate) fn why(&self) -> Option<Reason> {
        self.why
    }

    /// Refusals recorded since the breaker last closed.
    pub(crate) fn refusals(&self) -> u64 {
        self.refusals
    }

    /// Counts one refused call in the state (kept in a store's record).
    pub(crate) fn note_refusal(&mut self) {
        self.refusals = self.refusals.saturating_add(1);
    }

    pub(crate) fn probes_in_flight(&self) -> usize {
        self.probes.len()
    }

    /// Half-open with every trial slot taken.
    pub(crate) fn probes_full(&self) -> bool {
        self.state == State::HalfOpen
            && self.probes.len() >= self.settings.half_open_max_calls as usize
    }

    /// When the first trial call in flight will be declared lost (0: none).
    pub(crate) fn earliest_probe_deadline(&self) -> Nanos {
        self.probes.iter().map(|p| p.deadline).min().unwrap_or(0)
    }

    pub(crate) fn last_failure(&self) -> Option<Nanos> {
        self.last_failure
    }

    /// Applies the passage of time: an elapsed open duration moves the
    /// breaker to half-open, and probes silent past `probe_timeout` are
    /// declared lost and free their slots.
    pub(crate) fn tick(&mut self, now: Nanos) -> Option<Change> {
        match self.state {
            State::Open if now >= self.open_until => {
                let at = self.open_until;
                Some(self.enter(State::HalfOpen, Reason::OpenTimeoutElapsed, at))
            }
            State::HalfOpen => {
                self.probes.retain(|probe| probe.deadline > now);
                None
            }
            _ => None,
        }
    }

    /// Decides whether a call may run now.
    pub(crate) fn acquire(&mut self, now: Nanos) -> (Admission, Option<Change>) {
        let change = self.tick(now);
        let admission = match self.state {
            State::Closed | State::Disabled => Admission::Admit(self.ticket(0)),
            State::Open => Admission::Reject {
                state: State::Open,
                retry_after: Some(self.open_until.saturating_sub(now)),
            },
            State::ForcedOpen => Admission::Reject {
                state: State::ForcedOpen,
                retry_after: None,
            },
            State::HalfOpen => {
                if self.probes.len() < self.settings.half_open_max_calls as usize {
                    let id = self.next_probe;
                    // Ids only need to differ from those in flight; they
                    // wrap within 63 bits, the top one being the mark of a
                    // fleet-mode process's own trial calls.
                    let mark = id & LOCAL_PROBE;
                    self.next_probe = (id.wrapping_add(1) & !LOCAL_PROBE).max(1) | mark;
                    let deadline = now.saturating_add(self.settings.probe_timeout);
                    self.probes.push(Probe { id, deadline });
                    Admission::Admit(self.ticket(id))
                } else {
                    // The earliest moment a slot frees: the first trial
                    // call's lease running out.
                    Admission::Reject {
                        state: State::HalfOpen,
                        retry_after: Some(self.earliest_probe_deadline().saturating_sub(now)),
                    }
                }
            }
        };
        (admission, change)
    }

    /// Records the outcome of an admitted call. Outcomes from an earlier
    /// generation, and of probes already declared lost, change nothing.
    pub(crate) fn record(
        &mut self,
        ticket: Ticket,
        call: impl Into<Call>,
        now: Nanos,
    ) -> Option<Change> {
        let call = call.into();
        if ticket.generation != self.generation {
            return None;
        }
        if self.state == State::HalfOpen && !self.probes.iter().any(|p| p.id == ticket.probe) {
            return None; // a trial call already declared lost
        }
        let report = call.report;
        let report = match report {
            Report::Cancelled if self.settings.cancel_is_failure => Report::Failure,
            other => other,
        };
        if report == Report::Failure {
            self.last_failure = Some(now);
            self.failures_since_closed = self.failures_since_closed.saturating_add(1);
        }
        match self.state {
            State::Closed => match report {
                Report::Success => {
                    self.failure_streak = 0;
                    self.window_verdict(false, call, now)
                }
                Report::Failure => {
                    self.failure_streak = self.failure_streak.saturating_add(1);
                    let streak = self.failure_streak;
                    match self.settings.failure_threshold {
                        Some(threshold) if streak >= threshold => {
                            Some(self.enter(State::Open, Reason::ConsecutiveFailures(streak), now))
                        }
                        _ => self.window_verdict(true, call, now),
                    }
                }
                Report::Ignored | Report::Cancelled => None,
            },
            State::HalfOpen => {
                let slot = self.probes.iter().position(|p| p.id == ticket.probe)?;
                self.probes.swap_remove(slot);
                match report {
                    Report::Success => {
                        self.probe_successes = self.probe_successes.saturating_add(1);
                        let successes = self.probe_successes;
                        (successes >= self.settings.success_threshold).then(|| {
                            self.enter(State::Closed, Reason::ProbesSucceeded(successes), now)
                        })
                    }
                    Report::Failure => Some(self.enter(State::Open, Reason::ProbeFailed, now)),
                    Report::Ignored | Report::Cancelled => None,
                }
            }
            State::Open | State::ForcedOpen | State::Disabled => None,
        }
    }

    /// Moves to `to` by hand. Always starts a new generation, even when the
    /// state does not change, so outcomes of calls from before are ignored.
    pub(crate) fn manual(&mut self, to: State, now: Nanos) -> Change {
        let reason = match to {
            State::Closed => Reason::Reset,
            State::Open => Reason::Tripped,
            State::ForcedOpen => Reason::ForcedOpen,
            State::Disabled => Reason::Disabled,
            State::HalfOpen => Reason::OpenTimeoutElapsed,
        };
        if to == State::Closed {
            self.last_failure = None;
        }
        self.enter(to, reason, now)
    }

    /// Keeps an open breaker open until at least `until` (a dependency
    /// asked callers to stay away that long); in any other state, nothing.
    #[cfg(feature = "tower")]
    pub(crate) fn hold_open(&mut self, until: Nanos) {
        if self.state == State::Open && until > self.open_until {
            self.open_until = until;
        }
    }

    /// Records a closed-state call in the window and opens the breaker if a
    /// rate policy says so.
    fn window_verdict(&mut self, failed: bool, call: Call, now: Nanos) -> Option<Change> {
        let (window, rates) = (self.window.as_ref()?, self.settings.rates.as_ref()?);
        if !call.windowed {
            window.record(self.generation, now, failed, call.slow);
        }
        let reason = rates.verdict(window.tally(now))?;
        Some(self.enter(State::Open, reason, now))
    }

    /// The open duration for the `reopens`-th consecutive re-open.
    fn open_duration(&mut self) -> Nanos {
        let base = self.settings.open_duration;
        let (max, multiplier, jitter) = match self.settings.backoff {
            Backoff::Exponential {
                max,
                multiplier,
                jitter,
                ..
            } => (max, multiplier, jitter),
            Backoff::FixedWithJitter { .. } => {
                let spread = self.next_random() % (base / 2).saturating_add(1);
                return base.saturating_add(spread);
            }
            _ => return base,
        };
        let grown = base as f64 * multiplier.powi(self.reopens.min(1024) as i32);
        let ceiling = (grown.min(to_nanos(max) as f64) as Nanos).max(base);
        if !jitter || ceiling == base {
            return ceiling;
        }
        let spread = match (ceiling - base).checked_add(1) {
            Some(span) => self.next_random() % span,
            None => self.next_random(),
        };
        base + spread
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for spreading probes, and reproducible from a seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn ticket(&self, probe: u64) -> Ticket {
        Ticket {
            generation: self.generation,
            probe,
        }
    }

    fn enter(&mut self, to: State, reason: Reason, at: Nanos) -> Change {
        let from = self.state;
        self.state = to;
        // Wraps (after 2^57 transitions) rather than overflow the word.
        self.generation = (self.generation + 1) & MAX_GENERATION;
        self.since = at;
        self.why = Some(reason);
        self.failure_streak = 0;
        self.probe_successes = 0;
        self.probes.clear();
        match to {
            State::Open => {
                if from == State::HalfOpen && reason == Reason::ProbeFailed {
                    self.reopens = self.reopens.saturating_add(1);
                } else {
                    self.reopens = 0;
                }
                let duration = self.open_duration();
                self.open_for = duration;
                self.open_until = at.saturating_add(duration);
            }
            State::Closed => {
                self.reopens = 0;
                self.forget_open_members();
                self.failures_since_closed = 0;
                self.refusals = 0;
                if let Some(window) = &self.window {
                    window.clear(at, self.generation);
                }
            }
            _ => {}
        }
        Change {
            from,
            to,
            reason,
            generation: self.generation,
            at,
        }
    }
}

mod fleet;
mod members;
mod record;
#[cfg(test)]
mod tests;
