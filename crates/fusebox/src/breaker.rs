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
//! which no fast case matches, and goes to the store every time; one that
//! times its calls (a slow-call policy) has `TIMED_BIT` set, which keeps it
//! off the closed fast path, so that path reads no settings.
//!
//! Admission is in `admit.rs`, recording outcomes in `report.rs`.
//!
//! Everything else (failures, half-open probes, elapsed deadlines, manual
//! control) takes the lock and runs the machine. Each of the fast cases is a
//! case in which the machine would return the same answer and change nothing,
//! which is what the model tests check.

use std::time::Duration;

use announce::{Announce, Announcements};
pub(crate) use answer::Answer;

use crate::clock::{Clock, Nanos};
use crate::counters::{Counters, Totals};
use crate::external::External;
use crate::fleet::Fleet;
use crate::machine::{Change, Machine, RateSettings};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::transition::Listener;
use crate::window::CallWindow;
use crate::{Metrics, State};
use std::sync::Arc;

mod admit;
mod announce;
mod answer;
mod fleet;
mod report;

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
    /// Transitions waiting for their listeners (see `announce.rs`).
    announcements: Announcements,
    /// Fleet mode: closed calls not yet sent to the store.
    unsent: fleet::Unsent,
}

pub(crate) struct Shared {
    word: AtomicU64,
    open_until: AtomicU64,
    /// When the breaker last opened: a rejection's `retry_after` is never
    /// longer than the open duration, however far the cached time lags.
    opened_at: AtomicU64,
    /// The earliest deadline of a trial call in flight, when half-open.
    probe_deadline: AtomicU64,
    locked: Mutex<Locked>,
    counters: Counters,
    /// Transitions announced, by from and to, for metrics exporters.
    #[cfg(feature = "metrics")]
    pub(crate) transitions: crate::metrics::export::TransitionCounts,
    /// Where timed calls report their durations, once an exporter ran.
    #[cfg(feature = "metrics")]
    pub(crate) call_durations: crate::metrics::export::CallDurations,
    pub(crate) name: crate::Name,
    /// Copies of `name` for rejections to carry.
    rejection_names: crate::name::RejectionNames,
    pub(crate) clock: Clock,
    listeners: Box<[Listener]>,
    /// Copies of the machine's settings, read on the fast paths.
    cancel_is_failure: bool,
    probe_timeout: Nanos,
    rates: Option<RateSettings>,
    slow_call: Option<Nanos>,
    /// The machine's window, recorded into by lock-free successes.
    window: Option<Arc<CallWindow>>,
    /// The store holding the state, for a shared breaker.
    external: Option<External>,
    /// The store a fleet-mode breaker synchronises with (then `external`
    /// is `None`: the breaker runs in memory).
    pub(crate) fleet: Option<Fleet>,
}

impl Shared {
    pub(crate) fn new(
        name: crate::Name,
        machine: Machine,
        clock: Clock,
        listeners: Vec<Listener>,
        external: Option<External>,
        fleet: Option<Fleet>,
    ) -> Shared {
        let settings = machine.settings().clone();
        let slow_call = slow_call_limit(&machine);
        let window = machine.window().cloned();
        let mut machine = machine;
        if fleet.is_some() {
            machine.mark_local_probes();
        }
        let word = mirror(&machine, external.is_some());
        if external.is_none() {
            // Only in-memory breakers reject on the cached time.
            clock.prepare_recent();
        }
        Shared {
            word: AtomicU64::new(word),
            open_until: AtomicU64::new(machine.open_until()),
            opened_at: AtomicU64::new(machine.since()),
            probe_deadline: AtomicU64::new(0),
            locked: Mutex::new(Locked {
                machine,
                baseline: Totals::default(),
                announcements: Announcements::new(),
                unsent: fleet::Unsent::new(),
            }),
            counters: Counters::new(),
            #[cfg(feature = "metrics")]
            transitions: Default::default(),
            #[cfg(feature = "metrics")]
            call_durations: Default::default(),
            rejection_names: crate::name::RejectionNames::new(&name),
            name,
            clock,
            listeners: listeners.into_boxed_slice(),
            cancel_is_failure: settings.cancel_is_failure,
            probe_timeout: settings.probe_timeout,
            slow_call,
            rates: settings.rates,
            window,
            external,
            fleet,
        }
    }

    /// The state at this moment, with an elapsed open duration read as
    /// half-open.
    pub(crate) fn state(&self) -> State {
        if let Some(external) = &self.external {
            let ran = external.run(&self.name, true, |machine, now| {
                (machine.state_at(now), None)
            });
            return ran.map_or(State::Open, |(state, _)| state);
        }
        if let Some(fleet) = &self.fleet {
            fleet.resume_after_fork();
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
            self.on_store(external, || {
                external.run(&self.name, true, |machine, now| {
                    ((), Some(machine.manual(to, now)))
                })
            });
            return;
        }
        if let Some(fleet) = &self.fleet {
            if to == State::Closed {
                lock(&self.locked).baseline = self.counters.totals();
            }
            return self.manual_fleet(fleet, to);
        }
        let announce = self.with_locked(|locked, now| {
            if to == State::Closed {
                locked.baseline = self.counters.totals();
            }
            Some(locked.machine.manual(to, now))
        });
        self.announce(announce);
    }

    pub(crate) fn record_refusal(&self) {
        if let Some(external) = &self.external {
            let _ = external.run(&self.name, true, |machine, _| {
                machine.note_refusal();
                ((), None)
            });
            return;
        }
        let announce = self.with_locked(|locked, _| {
            locked.machine.note_refusal();
            None
        });
        self.announce(announce);
    }

    pub(crate) fn metrics(&self) -> Metrics {
        if let Some(external) = &self.external {
            let baseline = lock(&self.locked).baseline;
            let totals = self.counters.totals().since(&baseline);
            let ran = self.on_store(external, || {
                external.run(&self.name, true, |machine, now| {
                    let change = machine.tick(now);
                    let at = |t: Nanos| external_instant(external, t);
                    (Metrics::new(self, machine, &totals, now, at), change)
                })
            });
            let mut metrics = ran.expect("metrics may run locally");
            metrics.degraded = external.is_degraded();
            return metrics;
        }
        if let Some(fleet) = &self.fleet {
            fleet.resume_after_fork();
        }
        let mut snapshot = None;
        let announce = self.with_locked(|locked, now| {
            let change = locked.machine.tick(now);
            let totals = self.counters.totals().since(&locked.baseline);
            let at = |t: Nanos| self.clock.instant(t);
            snapshot = Some(Metrics::new(self, &locked.machine, &totals, now, at));
            change
        });
        self.announce(announce);
        let mut metrics = snapshot.expect("metrics closure always runs");
        if let Some(fleet) = &self.fleet {
            metrics.degraded = fleet.exact.is_degraded();
        }
        metrics
    }

    /// Every count since the breaker was built, never reset: what metrics
    /// exporters publish as counters, which must not run backwards.
    #[cfg(feature = "metrics")]
    pub(crate) fn lifetime_totals(&self) -> Totals {
        self.counters.totals()
    }

    /// Whether calls are timed (a slow-call policy).
    #[cfg(feature = "metrics")]
    pub(crate) fn times_calls(&self) -> bool {
        self.slow_call.is_some()
    }

    /// Keeps the breaker open for at least `wait` from now, if it is open.
    /// A breaker in a store keeps the open duration its store records.
    #[cfg(feature = "tower")]
    pub(crate) fn hold_open(&self, wait: Duration) {
        if self.external.is_some() || self.fleet.is_some() {
            return;
        }
        let wait = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        let announce = self.with_locked(|locked, now| {
            locked.machine.hold_open(now.saturating_add(wait));
            None
        });
        self.announce(announce);
    }

    /// Runs one machine method under the lock and announces its change.
    fn with_machine<R>(&self, f: impl FnOnce(&mut Machine, Nanos) -> (R, Option<Change>)) -> R {
        let mut out = None;
        let announce = self.with_locked(|locked, now| {
            let (result, change) = f(&mut locked.machine, now);
            out = Some(result);
            change
        });
        self.announce(announce);
        out.expect("machine closure always runs")
    }

    /// Runs `f` under the lock with the time read under it (so the machine's
    /// time never runs backwards), republishes the fast-path mirror and
    /// queues the transition `f` made, if any.
    fn with_locked(&self, f: impl FnOnce(&mut Locked, Nanos) -> Option<Change>) -> Announce {
        let mut locked = lock(&self.locked);
        let now = self.clock.now();
        let mut change = f(&mut locked, now);
        if let Some(fleet) = &self.fleet {
            // In fleet mode the local machine's own transitions are
            // provisional: the synchronisation they call for makes the
            // shared state decide. They are the breaker's only while the
            // store is away, or in quorum mode while the fleet is closed
            // (each process then opens on its own calls).
            if let Some(made) = change {
                fleet.signal.wake();
                let own = !fleet::follows_fleet(fleet, &locked.unsent);
                if !own && !fleet.exact.is_degraded() {
                    // Left to the synchronisation it asks for; announced
                    // by the breaker if that one finds the store away.
                    locked.unsent.unheard = change.take();
                } else if !own {
                    // Heard once, now, after one left unheard before it.
                    self.hear_unheard(&mut locked);
                    Self::heard_alone(&mut locked, &made);
                }
            }
        }
        // `opened_at` first: a rejection that sees the new deadline sees when
        // it was set, so its wait never exceeds the open duration.
        self.opened_at
            .store(locked.machine.since(), Ordering::Relaxed);
        self.open_until
            .store(locked.machine.open_until(), Ordering::Release);
        self.probe_deadline
            .store(locked.machine.earliest_probe_deadline(), Ordering::Relaxed);
        let word = mirror(&locked.machine, self.external.is_some());
        self.word.store(word, Ordering::Release);
        let at = |t: Nanos| self.clock.instant(t);
        self.queue(&mut locked, change, at)
    }
}

/// A store time (nanoseconds since the Unix epoch) as an [`Instant`].
fn external_instant(external: &External, at: Nanos) -> std::time::Instant {
    let now = std::time::Instant::now();
    let ago = Duration::from_nanos(external.local_now().saturating_sub(at));
    now.checked_sub(ago).unwrap_or(now)
}

impl Drop for Shared {
    /// A fleet-mode breaker sends what it counted since its last
    /// synchronisation before it goes.
    fn drop(&mut self) {
        if self.fleet.is_some() {
            let _ = self.synchronise();
        }
    }
}
