//! Fleet mode: a breaker kept in a store, at the cost of an in-memory one.
//!
//! The breaker runs as an in-memory breaker on a *local machine* that
//! mirrors the shared state: closed calls are admitted and counted without
//! touching the store, and an open breaker rejects until the shared
//! deadline, mapped to the local clock. A thread of the breaker's own (the
//! *flusher*) synchronises once per interval: one store transaction merges
//! the closed calls counted since the last one (a [`Batch`]) into the shared
//! state, which evaluates the policy on the fleet's totals and makes any
//! transition there, and the local machine takes the result. Everything
//! that must be exact across the fleet is one transaction each, as in
//! exact mode: trial calls (admission and outcome) and manual operations.
//!
//! A transition one process makes is published through the store
//! ([`Store::notify`]); every other process's flusher, woken by the store's
//! watcher, synchronises at once. A lost message costs at most one
//! interval: the periodic synchronisation reads the shared state anyway.
//!
//! When the local machine's own view (the shared state at the last
//! synchronisation plus this process's calls since) would trip, it trips
//! locally at once and wakes the flusher, which merges the batch at once:
//! the shared state then decides, and the local machine follows it.
//!
//! Outcomes are never counted twice nor lost to contention: a batch that
//! could not be written is kept and sent with the next; one whose answer was
//! lost is settled by the record's list of write ids (see `external.rs`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, OnceLock, Weak};
use std::time::Duration;

use crate::breaker::Shared;
use crate::clock::{to_nanos, Nanos};
use crate::external::External;
use crate::machine::Batch;
use crate::quorum::{Quorum, Rule};
use crate::store::Watcher;
use crate::sync::lock_std;

/// The fleet-mode part of a breaker.
pub(crate) struct Fleet {
    /// Store transactions: synchronisation, trial calls, manual operations.
    pub(crate) exact: External,
    pub(crate) interval: Duration,
    pub(crate) signal: std::sync::Arc<Signal>,
    /// Held for a whole synchronisation, so that two never overlap.
    pub(crate) flushing: std::sync::Mutex<Flushing>,
    /// Store operations started, numbered: a result older than one the
    /// local machine already took is not taken.
    pub(crate) operations: std::sync::atomic::AtomicU64,
    /// Quorum mode: the rule and the liveness window.
    pub(crate) quorum: Option<(Rule, Nanos)>,
    /// This breaker's id among the fleet's processes (quorum mode).
    pub(crate) member: u64,
    /// The process whose synchronisation thread runs (0: none was
    /// started): a forked child has none of its parent's threads.
    running_in: AtomicU32,
    /// The breaker, for a thread started again after a fork.
    breaker: OnceLock<(String, Weak<Shared>)>,
}

/// What the flusher keeps between synchronisations.
#[derive(Default)]
pub(crate) struct Flushing {
    /// A batch the store could not take: sent again with the next.
    pub(crate) unsent: Option<Batch>,
    /// A manual operation made while the store could not be reached, to be
    /// written when it can.
    pub(crate) manual: Option<crate::State>,
}

/// Wakes the flusher before its interval is up.
#[derive(Default)]
pub(crate) struct Signal {
    due: std::sync::Mutex<bool>,
    wake: Condvar,
}

impl Signal {
    /// Asks for a synchronisation now.
    pub(crate) fn wake(&self) {
        *lock_std(&self.due) = true;
        self.wake.notify_one();
    }

    /// Waits until woken or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let due = lock_std(&self.due);
        let (mut due, _) = self
            .wake
            .wait_timeout_while(due, timeout, |due| !*due)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *due = false;
    }
}

impl Fleet {
    /// The shortest interval: a zero one would keep a thread spinning.
    const MIN_INTERVAL: Duration = Duration::from_millis(1);

    pub(crate) fn new(exact: External, interval: Duration, quorum: Option<Quorum>) -> Fleet {
        let interval = interval.max(Self::MIN_INTERVAL);
        let quorum = quorum.map(|q| {
            let liveness = q
                .liveness
                .unwrap_or_else(|| Duration::from_secs(1).max(interval * 3));
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
            running_in: AtomicU32::new(0),
            breaker: OnceLock::new(),
            interval,
            signal: Default::default(),
            flushing: Default::default(),
            operations: Default::default(),
        }
    }

    /// Starts the breaker's synchronisation thread and subscribes to the
    /// store's change messages for `name`.
    pub(crate) fn start(&self, name: &str, shared: Weak<Shared>) {
        let _ = self.breaker.set((name.to_owned(), shared.clone()));
        self.running_in.store(std::process::id(), Ordering::Relaxed);
        self.spawn(name, shared);
    }

    /// In a child forked after the thread started, starts it again (the
    /// child has no thread of its parent's). Called on the paths that are
    /// not the closed fast path: failures, refusals near the deadline,
    /// `state`, `metrics`, `sync_now`.
    pub(crate) fn resume_after_fork(&self) {
        let ran_in = self.running_in.load(Ordering::Relaxed);
        let pid = std::process::id();
        if ran_in == 0 || ran_in == pid {
            return;
        }
        if self.running_in.swap(pid, Ordering::Relaxed) != pid {
            if let Some((name, shared)) = self.breaker.get() {
                self.spawn(name, shared.clone());
            }
        }
    }

    fn spawn(&self, name: &str, shared: Weak<Shared>) {
        let signal = std::sync::Arc::downgrade(&self.signal);
        let watched = name.to_owned();
        let watcher: Watcher = std::sync::Arc::new(move |changed: &str| {
            let Some(signal) = signal.upgrade() else {
                return false;
            };
            if changed == watched {
                signal.wake();
            }
            true
        });
        self.exact.store().watch(watcher);
        let signal = self.signal.clone();
        let interval = self.interval;
        let spawned = std::thread::Builder::new()
            .name("fusebox-sync".to_owned())
            .spawn(move || loop {
                signal.wait(interval);
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let _ = shared.synchronise();
            });
        if let Err(error) = spawned {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': cannot start its synchronisation thread ({error}); \
                 it synchronises only when its state changes"
            );
        }
    }
}
