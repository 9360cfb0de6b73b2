//! The in-memory breaker shared by all clones of a [`CircuitBreaker`].
//!
//! # The hot path
//!
//! The pure [`Machine`] behind a mutex is the source of truth. In front of it
//! sits `word`, one `AtomicU64` that mirrors the machine's state, generation
//! and whether its failure streak is non-zero, republished (under the lock)
//! after every change. That is enough to decide the common cases without the
//! lock:
//!
//! * **Closed, admit**: one atomic load. The permit remembers the generation.
//! * **Closed, success**: one atomic load; if the generation still matches and
//!   the streak is zero, the machine would change nothing, so nothing shared
//!   is written. The success is counted in the calling thread's own cache
//!   line (see `counters`).
//! * **Open, reject**: one load of `word`, one of the stored deadline, and
//!   one of the cached coarse time (`Clock::recent`, refreshed by a
//!   background thread) to compare them. The precise clock is read only
//!   within a few milliseconds of the deadline, and it alone admits.
//! * **Half-open, every trial slot taken, reject**: the same, against the
//!   earliest moment a trial call could be declared lost.
//!
//! A breaker whose state lives in a store keeps `word` at `EXTERNAL_BIT`,
//! which no fast case matches, and goes to the store every time.
//!
//! Everything else (failures, half-open probes, elapsed deadlines, manual
//! control) takes the lock and runs the machine. Each of the fast cases is a
//! case in which the machine would return the same answer and change nothing,
//! which is what the model tests check.

use std::time::Duration;

pub(crate) use answer::Answer;

use crate::clock::{Clock, Nanos, COARSE_LAG};
use crate::counters::{Count, Counters, Totals};
use crate::external::External;
use crate::machine::{Admission, Call, Change, Machine, RateSettings, Report, Ticket};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::transition::{announce, Listener};
use crate::window::CallWindow;
use crate::{Metrics, Rejected, State, Transition};
use std::sync::Arc;

mod answer;

const STATE_BITS: u64 = 0b111;
const STREAK_BIT: u64 = 0b1000;
/// Set for a breaker whose state is in a store: no fast path applies.
const EXTERNAL_BIT: u64 = 0b1_0000;
/// Set while half-open with every trial slot taken: rejections need no lock
/// until the earliest trial call's `probe_timeout` runs out.
const PROBES_FULL_BIT: u64 = 0b10_0000;
/// Set for a breaker that times its calls (a slow-call policy): no closed
/// fast path applies, since each call must read the clock.
const TIMED_BIT: u64 = 0b100_0000;
const GENERATION_SHIFT: u32 = 7;
const _: () = assert!(crate::machine::MAX_GENERATION.leading_zeros() >= GENERATION_SHIFT);

fn encode(machine: &Machine) -> u64 {
    let streak = if machine.failure_streak() > 0 {
        STREAK_BIT
    } else {
        0
    };
    let full = if machine.probes_full() {
        PROBES_FULL_BIT
    } else {
        0
    };
    let timed = if slow_call_limit(machine).is_some() {
        TIMED_BIT
    } else {
        0
    };
    machine.stored_state().to_bits()
        | streak
        | full
        | timed
        | (machine.generation() << GENERATION_SHIFT)
}

fn slow_call_limit(machine: &Machine) -> Option<Nanos> {
    machine.settings().rates.as_ref().and_then(|r| r.slow_call)
}

/// The `word` of a breaker: its machine's mirror, or the store bit alone.
fn mirror(machine: &Machine, external: bool) -> u64 {
    if external {
        EXTERNAL_BIT
    } else {
        encode(machine)
    }
}

#[inline]
fn state_of(word: u64) -> State {
    State::from_bits(word & STATE_BITS)
}

#[inline]
fn generation_of(word: u64) -> u64 {
    word >> GENERATION_SHIFT
}

pub(crate) struct Locked {
    pub(crate) machine: Machine,
    /// Totals at the last reset; metrics report counts since then.
    baseline: Totals,
}

pub(crate) struct Shared {
    word: AtomicU64,
    open_until: AtomicU64,
    /// The earliest deadline of a trial call in flight, when half-open.
    probe_deadline: AtomicU64,
    locked: Mutex<Locked>,
    counters: Counters,
    pub(crate) name: &'static str,
    pub(crate) clock: Clock,
    listeners: Box<[Listener]>,
    /// Copies of the machine's settings, read on the fast paths.
    cancel_is_failure: bool,
    rates: Option<RateSettings>,
    slow_call: Option<Nanos>,
    /// The machine's window, recorded into by lock-free successes.
    window: Option<Arc<CallWindow>>,
    /// The store holding the state, for a shared breaker.
    external: Option<External>,
}

impl Shared {
    pub(crate) fn new(
        name: &'static str,
        machine: Machine,
        clock: Clock,
        listeners: Vec<Listener>,
        external: Option<External>,
    ) -> Shared {
        let settings = machine.settings().clone();
        let window = machine.window().cloned();
        let word = mirror(&machine, external.is_some());
        if external.is_none() {
            // Only in-memory breakers reject on the cached time.
            clock.prepare_recent();
        }
        Shared {
            word: AtomicU64::new(word),
            open_until: AtomicU64::new(machine.open_until()),
            probe_deadline: AtomicU64::new(0),
            locked: Mutex::new(Locked {
                machine,
                baseline: Totals::default(),
            }),
            counters: Counters::new(),
            name,
            clock,
            listeners: listeners.into_boxed_slice(),
            cancel_is_failure: settings.cancel_is_failure,
            slow_call: settings.rates.as_ref().and_then(|r| r.slow_call),
            rates: settings.rates,
            window,
            external,
        }
    }

    /// Admission: a ticket and the call's start time (0 if calls are not
    /// timed), or the refusing state and when to retry. The closed, untimed
    /// case is small enough to inline into every caller, and once inlined
    /// it tests nothing more: the caller's match on the result folds away.
    #[inline(always)]
    pub(crate) fn acquire(&self) -> Result<(Ticket, Nanos), (State, Option<Nanos>)> {
        let word = self.word.load(Ordering::Acquire);
        if word & (STATE_BITS | EXTERNAL_BIT | TIMED_BIT) == State::Closed.to_bits() {
            let ticket = Ticket {
                generation: generation_of(word),
                probe: 0,
            };
            return Ok((ticket, 0));
        }
        const REFUSING: u64 = STATE_BITS | EXTERNAL_BIT | PROBES_FULL_BIT;
        let answer = if word & (STATE_BITS | EXTERNAL_BIT) == State::Open.to_bits() {
            self.reject_open()
        } else if word & REFUSING == State::HalfOpen.to_bits() | PROBES_FULL_BIT {
            self.reject_half_open()
        } else {
            self.acquire_other(word)
        };
        let ticket = answer.ticket()?;
        Ok((ticket, self.start_time()))
    }

    #[inline(never)]
    fn acquire_other(&self, word: u64) -> Answer {
        if let Some(external) = &self.external {
            return self.acquire_external(external);
        }
        match state_of(word) {
            State::Closed | State::Disabled => Answer::admit(Ticket {
                generation: generation_of(word),
                probe: 0,
            }),
            State::Open => self.reject_open(),
            State::ForcedOpen => self.reject(State::ForcedOpen, None),
            // With every trial slot taken, `acquire` refused already.
            State::HalfOpen => self.acquire_slow(),
        }
    }

    /// Rejects a call while open, unless the open duration has elapsed.
    /// Inlined: the common rejection is three loads, a compare and the
    /// thread's own counter, less than a call would cost.
    #[inline(always)]
    fn reject_open(&self) -> Answer {
        let until = self.open_until.load(Ordering::Relaxed);
        // Far from the deadline the coarse clock settles it; near it, the
        // precise one does, so no call is admitted early or late.
        let coarse = self.clock.recent();
        if coarse.saturating_add(COARSE_LAG) < until {
            return self.reject(State::Open, Some(until - coarse));
        }
        self.reject_open_precisely(until)
    }

    /// Rejects a call while every trial slot is taken, unless the earliest
    /// trial call may have been lost (its `probe_timeout` is near or past):
    /// then the machine decides, under the lock. Inlined, as `reject_open`.
    #[inline(always)]
    fn reject_half_open(&self) -> Answer {
        let lost_at = self.probe_deadline.load(Ordering::Relaxed);
        if self.clock.recent().saturating_add(COARSE_LAG) < lost_at {
            return self.reject(State::HalfOpen, None);
        }
        self.acquire_slow()
    }

    #[cold]
    fn reject_open_precisely(&self, until: Nanos) -> Answer {
        let now = self.clock.now();
        if now < until {
            return self.reject(State::Open, Some(until - now));
        }
        self.acquire_slow()
    }

    #[cold]
    fn acquire_slow(&self) -> Answer {
        let admission = self.with_machine(|machine, now| machine.acquire(now));
        self.answer(admission)
    }

    fn answer(&self, admission: Admission) -> Answer {
        match admission {
            Admission::Admit(ticket) => Answer::admit(ticket),
            Admission::Reject { state, retry_after } => self.reject(state, retry_after),
        }
    }

    /// Counts a rejection.
    #[inline]
    fn reject(&self, state: State, retry_after: Option<Nanos>) -> Answer {
        self.counters.add(Count::Rejection);
        Answer::refuse(state, retry_after)
    }

    /// The error for a refused call.
    #[inline(always)]
    pub(crate) fn rejected(&self, state: State, retry_after: Option<Nanos>) -> Rejected {
        Rejected {
            name: self.name,
            state,
            retry_after: retry_after.map(Duration::from_nanos),
        }
    }

    /// When a call admitted now starts, if calls are timed (slow-call
    /// policy on); 0 otherwise, so no clock is read.
    #[inline]
    fn start_time(&self) -> Nanos {
        if self.slow_call.is_some() {
            self.clock.now()
        } else {
            0
        }
    }

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
                self.clock.now().saturating_sub(started) > limit
            }
            _ => false,
        };
        if slow {
            self.counters.add(Count::Slow);
        }
        self.counters.add(match report {
            Report::Success => Count::Success,
            Report::Failure => Count::Failure,
            Report::Ignored => Count::Ignored,
            Report::Cancelled => Count::Cancelled,
        });
        let mut call = Call {
            report,
            slow,
            windowed: false,
        };
        if let Some(external) = &self.external {
            let ran = external.run(self.name, true, |machine, now| {
                ((), machine.record(ticket, call, now))
            });
            if let Some(((), change)) = ran {
                self.announce_external(external, change);
            }
            return;
        }
        if ticket.probe == 0 {
            let word = self.word.load(Ordering::Acquire);
            if generation_of(word) != ticket.generation {
                return; // stale: the machine would ignore it
            }
            match (state_of(word), report) {
                (State::Closed, Report::Success) => {
                    if let Some(window) = &self.window {
                        if self.record_success(window, slow) {
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
        if self.record_success(window, false) {
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
    fn record_success(&self, window: &CallWindow, slow: bool) -> bool {
        if !slow && window.absorbs_success() {
            return false;
        }
        let now = if window.needs_time() {
            self.clock.now()
        } else {
            0
        };
        window.record(now, false, slow);
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

    /// The state at this moment, with an elapsed open duration read as
    /// half-open.
    pub(crate) fn state(&self) -> State {
        if let Some(external) = &self.external {
            let ran = external.run(self.name, true, |machine, now| {
                (machine.state_at(now), None)
            });
            return ran.map_or(State::Open, |(state, _)| state);
        }
        let word = self.word.load(Ordering::Acquire);
        match state_of(word) {
            State::Open if self.clock.now() >= self.open_until.load(Ordering::Relaxed) => {
                State::HalfOpen
            }
            state => state,
        }
    }

    pub(crate) fn manual(&self, to: State) {
        if let Some(external) = &self.external {
            if to == State::Closed {
                lock(&self.locked).baseline = self.counters.totals();
            }
            let ran = external.run(self.name, true, |machine, now| {
                ((), Some(machine.manual(to, now)))
            });
            if let Some(((), change)) = ran {
                self.announce_external(external, change);
            }
            return;
        }
        let change = self.with_locked(|locked, now| {
            if to == State::Closed {
                locked.baseline = self.counters.totals();
            }
            Some(locked.machine.manual(to, now))
        });
        self.announce(change);
    }

    pub(crate) fn metrics(&self) -> Metrics {
        if let Some(external) = &self.external {
            let baseline = lock(&self.locked).baseline;
            let totals = self.counters.totals().since(&baseline);
            let ran = external.run(self.name, true, |machine, now| {
                let change = machine.tick(now);
                let at = |t: Nanos| external_instant(external, t);
                (Metrics::new(self, machine, &totals, now, at), change)
            });
            let (mut metrics, change) = ran.expect("metrics may run locally");
            metrics.degraded = external.is_degraded();
            self.announce_external(external, change);
            return metrics;
        }
        let mut snapshot = None;
        let change = self.with_locked(|locked, now| {
            let change = locked.machine.tick(now);
            let totals = self.counters.totals().since(&locked.baseline);
            let at = |t: Nanos| self.clock.instant(t);
            snapshot = Some(Metrics::new(self, &locked.machine, &totals, now, at));
            change
        });
        self.announce(change);
        snapshot.expect("metrics closure always runs")
    }

    /// Runs one machine method under the lock and announces its change.
    fn with_machine<R>(&self, f: impl FnOnce(&mut Machine, Nanos) -> (R, Option<Change>)) -> R {
        let mut out = None;
        let change = self.with_locked(|locked, now| {
            let (result, change) = f(&mut locked.machine, now);
            out = Some(result);
            change
        });
        self.announce(change);
        out.expect("machine closure always runs")
    }

    /// Runs `f` under the lock with the time read under it (so the machine's
    /// time never runs backwards), then republishes the fast-path mirror.
    fn with_locked(
        &self,
        f: impl FnOnce(&mut Locked, Nanos) -> Option<Change>,
    ) -> Option<Transition> {
        let mut locked = lock(&self.locked);
        let now = self.clock.now();
        let change = f(&mut locked, now);
        self.open_until
            .store(locked.machine.open_until(), Ordering::Relaxed);
        self.probe_deadline
            .store(locked.machine.earliest_probe_deadline(), Ordering::Relaxed);
        let word = mirror(&locked.machine, self.external.is_some());
        self.word.store(word, Ordering::Release);
        drop(locked);
        change.map(|change| Transition {
            name: self.name,
            from: change.from,
            to: change.to,
            reason: change.reason,
            generation: change.generation,
            at: self.clock.instant(change.at),
        })
    }

    fn acquire_external(&self, external: &External) -> Answer {
        let ran = external.run(self.name, !external.fail_closed, |machine, now| {
            machine.acquire(now)
        });
        let Some((admission, change)) = ran else {
            // Degraded and failing closed: no call until the store is back.
            return self.reject(State::Open, None);
        };
        self.announce_external(external, change);
        self.answer(admission)
    }

    fn announce_external(&self, external: &External, change: Option<Change>) {
        self.announce(change.map(|change| Transition {
            name: self.name,
            from: change.from,
            to: change.to,
            reason: change.reason,
            generation: change.generation,
            at: external_instant(external, change.at),
        }));
    }

    fn announce(&self, transition: Option<Transition>) {
        if let Some(transition) = transition {
            announce(&transition, &self.listeners);
        }
    }
}

/// A store time (nanoseconds since the Unix epoch) as an [`Instant`].
fn external_instant(external: &External, at: Nanos) -> std::time::Instant {
    let now = std::time::Instant::now();
    let ago = Duration::from_nanos(external.local_now().saturating_sub(at));
    now.checked_sub(ago).unwrap_or(now)
}
