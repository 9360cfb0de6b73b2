//! Fleet mode: a breaker kept in a store, at the cost of an in-memory one.
//!
//! The breaker runs as an in-memory breaker on a *local machine* that
//! mirrors the shared state: closed calls are admitted and counted without
//! touching the store, and an open breaker rejects until the shared
//! deadline, mapped to the local clock. One thread per process
//! (`scheduler.rs`) synchronises each breaker once per interval: one store
//! transaction merges
//! the closed calls counted since the last one (a [`Batch`]) into the shared
//! state, which evaluates the policy on the fleet's totals and makes any
//! transition there, and the local machine takes the result. Everything
//! that must be exact across the fleet is one transaction each, as in
//! exact mode: trial calls (admission and outcome) and manual operations.
//!
//! A transition one process makes is published through the store
//! ([`Store::notify`]); every other process, told by the store's watcher,
//! synchronises at once. A lost message costs at most one
//! interval: the periodic synchronisation reads the shared state anyway.
//!
//! When the local machine's own view (the shared state at the last
//! synchronisation plus this process's calls since) would trip, it trips
//! locally at once and asks for a synchronisation, which merges the batch:
//! the shared state then decides, and the local machine follows it.
//!
//! Outcomes are never counted twice nor lost to contention: a batch that
//! could not be written is kept and sent with the next; one whose answer was
//! lost is settled by the record's list of write ids (see `external.rs`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, Weak};
use std::time::Duration;

use crate::breaker::Shared;
use crate::clock::{to_nanos, Nanos};
use crate::external::{External, FoundStored};
use crate::machine::{Batch, Change};
use crate::quorum::{Quorum, Rule};
use crate::store::Watcher;

mod scheduler;

pub(crate) use scheduler::Signal;

/// The fleet-mode part of a breaker.
pub(crate) struct Fleet {
    /// Store transactions: synchronisation, trial calls, manual operations.
    pub(crate) exact: External,
    pub(crate) interval: Duration,
    pub(crate) signal: std::sync::Arc<Signal>,
    /// What waits to be sent (held briefly).
    pub(crate) flushing: std::sync::Mutex<Flushing>,
    /// Held for a synchronisation's round trip, so that a later one (the
    /// last handle's, before the process exits) waits for one in flight.
    round_trip: std::sync::Mutex<()>,
    /// The process whose thread holds `round_trip` (0: none, or not yet).
    round_trip_holder: AtomicU32,
    /// Store operations started, numbered: a result older than one the
    /// local machine already took is not taken.
    pub(crate) operations: std::sync::atomic::AtomicU64,
    /// Quorum mode: the rule and the liveness window.
    pub(crate) quorum: Option<(Rule, Nanos)>,
    /// This breaker's id among the fleet's processes (quorum mode).
    pub(crate) member: u64,
    /// Handles (`CircuitBreaker`s, owned permits' included) in use: the
    /// last one dropped synchronises.
    pub(crate) handles: std::sync::atomic::AtomicUsize,
    /// The process whose store subscription is this breaker's (0: none
    /// was made): a forked child has none of its parent's threads.
    watched_in: AtomicU32,
    /// The breaker, to watch it again after a fork.
    breaker: OnceLock<(String, Weak<Shared>)>,
}

/// A synchronisation's round trip in progress (see [`Fleet::round_trip`]).
pub(crate) struct RoundTrip<'a> {
    holder: &'a AtomicU32,
    _guard: std::sync::MutexGuard<'a, ()>,
}

impl Drop for RoundTrip<'_> {
    fn drop(&mut self) {
        // Before the lock is released (the guard is dropped after this).
        self.holder.store(0, Ordering::Release);
    }
}

/// What a breaker keeps between synchronisations.
#[derive(Default)]
pub(crate) struct Flushing {
    /// A batch the store could not take: sent again with the next.
    pub(crate) unsent: Option<Batch>,
    /// A manual operation made while the store could not be reached:
    /// written when the store can be reached (see [`ManualWrite`]).
    pub(crate) manual: Option<ManualWrite>,
    /// The calls sent with that operation by a write whose answer was lost:
    /// if it was stored they count no more, but the calls after it do.
    pub(crate) written_in_doubt: Option<Batch>,
    /// Synchronisations whose answer was lost, since the last one that
    /// reached the store (the last few).
    pub(crate) lost_writes: Vec<LostWrite>,
    /// Transitions made by synchronisations whose answer was lost, by write
    /// id: announced when a later one finds the write stored (the last few).
    pub(crate) lost_transitions: Vec<(u32, Change)>,
    /// Manual operations made so far: one made while a synchronisation was
    /// in flight supersedes what that one carried, if it fails.
    pub(crate) manual_ops: u64,
}

/// A manual operation waiting to be written to the store.
pub(crate) struct ManualWrite {
    pub(crate) to: crate::State,
    /// The shared generation it was made on: it is written only onto that
    /// one, if nobody changed the shared state meanwhile (as exact mode
    /// writes back a local transition)...
    pub(crate) generation: u64,
    /// ...or onto the state these earlier writes of this process made from
    /// it, if the store shows them stored: an operator's operation made
    /// after a synchronisation (perhaps of a first operation) whose answer
    /// was lost.
    pub(crate) or_after: Vec<LostWrite>,
}

/// A synchronisation's write whose answer was lost: its id, the shared
/// generation it read and the one it made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LostWrite {
    pub(crate) write: u32,
    pub(crate) read: u64,
    pub(crate) made: u64,
}

/// How many lost writes, lost transitions and transitions heard while the
/// store was away a breaker remembers (the newest).
pub(crate) const REMEMBERED: usize = 8;

/// Forgets all but the newest `limit` of `list` (oldest first).
pub(crate) fn keep_last<T>(list: &mut Vec<T>, limit: usize) {
    let forgotten = list.len().saturating_sub(limit);
    list.drain(..forgotten);
}

impl ManualWrite {
    /// Whether the operation goes onto a shared state of `generation`: the
    /// one it was made on, or what this process's own writes made from it.
    pub(crate) fn applies_to(&self, generation: u64, found: &FoundStored<'_>) -> bool {
        let mut base = self.generation;
        for _ in 0..=self.or_after.len() {
            if base == generation {
                return true;
            }
            match self
                .or_after
                .iter()
                .find(|lost| lost.read == base && lost.made != base && found.contains(lost.write))
            {
                Some(lost) => base = lost.made,
                None => return false,
            }
        }
        false
    }
}

impl Fleet {
    /// The shortest interval: a zero one would keep a thread spinning (the
    /// longest is a year, like every duration of a breaker's).
    const MIN_INTERVAL: Duration = Duration::from_millis(1);

    pub(crate) fn new(exact: External, interval: Duration, quorum: Option<Quorum>) -> Fleet {
        let interval = interval.clamp(Self::MIN_INTERVAL, crate::Builder::MAX_DURATION);
        let quorum = quorum.map(|q| {
            let liveness = q
                .liveness
                .unwrap_or_else(|| Duration::from_secs(1).max(interval.saturating_mul(3)));
            (q.rule, to_nanos(liveness))
        });
        let member = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()))
        };
        Fleet {
            exact,
            quorum,
            member,
            handles: std::sync::atomic::AtomicUsize::new(1),
            watched_in: AtomicU32::new(0),
            breaker: OnceLock::new(),
            interval,
            signal: Default::default(),
            flushing: Default::default(),
            round_trip: Default::default(),
            round_trip_holder: AtomicU32::new(0),
            operations: Default::default(),
        }
    }

    /// Waits for a synchronisation in flight, and holds off others until
    /// the guard is dropped. In a child forked while its parent's thread
    /// was in a round trip, that thread is not there to end it: the child
    /// goes ahead (`None`).
    pub(crate) fn round_trip(&self) -> Option<RoundTrip<'_>> {
        let me = std::process::id();
        let guard = match self.round_trip.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                let holder = self.round_trip_holder.load(Ordering::Acquire);
                if holder != 0 && holder != me {
                    return None;
                }
                crate::sync::lock_std(&self.round_trip)
            }
        };
        self.round_trip_holder.store(me, Ordering::Release);
        Some(RoundTrip {
            holder: &self.round_trip_holder,
            _guard: guard,
        })
    }

    /// Has the process's synchronisation thread serve the breaker, and
    /// subscribes to the store's change messages for `name`.
    #[cfg_attr(fusebox_loom, allow(dead_code))]
    pub(crate) fn start(&self, name: &str, shared: Weak<Shared>) {
        let _ = self.breaker.set((name.to_owned(), shared.clone()));
        self.watched_in.store(std::process::id(), Ordering::Relaxed);
        self.watch(name, shared.clone());
        scheduler::add(shared, self.interval, self.signal.clone());
    }

    /// In a child forked after the breaker started, starts the
    /// synchronisation thread and the subscription again (the child has no
    /// thread of its parent's). Called on the paths that are not the closed
    /// fast path: failures, admissions the local machine cannot settle,
    /// `state`, `metrics`, `sync_now`.
    pub(crate) fn resume_after_fork(&self) {
        let watched_in = self.watched_in.load(Ordering::Relaxed);
        let pid = std::process::id();
        if watched_in == 0 || watched_in == pid {
            return;
        }
        if self.watched_in.swap(pid, Ordering::Relaxed) != pid {
            if let Some((name, shared)) = self.breaker.get() {
                // What waits to be sent is the parent's to send (the child
                // would count it a second time); calls the child made on
                // the lock-free path before this are forgotten with it.
                *crate::sync::lock_std(&self.flushing) = Flushing::default();
                if let Some(shared) = shared.upgrade() {
                    shared.forget_unsent();
                }
                scheduler::add(shared.clone(), self.interval, self.signal.clone());
                self.watch(name, shared.clone());
            }
        }
    }

    fn watch(&self, name: &str, shared: Weak<Shared>) {
        let watched = name.to_owned();
        // The store's thread synchronises itself, rather than wake the
        // synchronisation thread: one hand-over less between a trip and
        // the refusals it should bring.
        let watcher: Watcher = std::sync::Arc::new(move |changed: &str| {
            let Some(shared) = shared.upgrade() else {
                return false;
            };
            if changed == watched {
                let _ = shared.synchronise();
            }
            true
        });
        self.exact.store().watch(watcher);
    }
}
