//! A breaker whose state lives in a [`Store`], with a local mirror that
//! carries on when the store cannot be reached.
//!
//! Every operation is one store transaction running the pure machine. When
//! a transaction fails the breaker is *degraded*: it warns once, runs the
//! operation on its mirror of the last state it read (or, with
//! `fail_closed`, rejects calls), and retries the store at most once per
//! `RETRY_INTERVAL`. The first transaction that succeeds again writes the
//! mirror back if it changed meanwhile and nobody else changed the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock_std;

use crate::clock::Nanos;
use crate::machine::{Change, Machine, Settings};
use crate::store::{Store, StoreError, StoreErrorKind};

/// How long a degraded breaker works alone before trying the store again.
const RETRY_INTERVAL: Nanos = 1_000_000_000;

pub(crate) struct External {
    store: Arc<dyn Store>,
    pub(crate) fail_closed: bool,
    settings: Settings,
    mirror: Mutex<Mirror>,
    degraded: AtomicBool,
    retry_at: AtomicU64,
}

struct Mirror {
    machine: Machine,
    /// The store's generation when last read or written.
    synced: u64,
    /// The mirror changed while degraded: write it back when possible.
    dirty: bool,
}

impl External {
    pub(crate) fn new(store: Arc<dyn Store>, fail_closed: bool, settings: Settings) -> External {
        let now = store.local_now();
        External {
            mirror: Mutex::new(Mirror {
                machine: Machine::new(settings.clone(), now),
                synced: 0,
                dirty: false,
            }),
            store,
            fail_closed,
            settings,
            degraded: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
        }
    }

    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// The store's idea of now, without touching it.
    pub(crate) fn local_now(&self) -> Nanos {
        self.store.local_now()
    }

    /// Runs `op` on the shared state, or on the mirror when degraded;
    /// `None` when degraded and `local` is false (fail closed).
    pub(crate) fn run<R>(
        &self,
        name: &str,
        local: bool,
        mut op: impl FnMut(&mut Machine, Nanos) -> (R, Option<Change>),
    ) -> Option<(R, Option<Change>)> {
        let now_local = self.store.local_now();
        if !self.is_degraded() || now_local >= self.retry_at.load(Ordering::Relaxed) {
            match self.in_store(name, &mut op) {
                Ok(done) => {
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        tracing::warn!(
                            target: "fusebox",
                            circuit = name,
                            "circuit '{name}': {} is reachable again; shared state restored",
                            self.store.describe()
                        );
                    }
                    return Some(done);
                }
                Err(error) => {
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            target: "fusebox",
                            circuit = name,
                            "circuit '{name}': {error}; carrying on with local state{}",
                            if self.fail_closed { " and rejecting calls (fail closed)" } else { "" }
                        );
                    }
                    self.retry_at
                        .store(now_local.saturating_add(RETRY_INTERVAL), Ordering::Relaxed);
                }
            }
        }
        if !local {
            return None;
        }
        let mut mirror = lock_std(&self.mirror);
        let (result, change) = op(&mut mirror.machine, now_local);
        mirror.dirty |= change.is_some();
        Some((result, change))
    }

    /// One store transaction running `op`; on success the mirror becomes
    /// the stored state.
    fn in_store<R>(
        &self,
        name: &str,
        op: &mut impl FnMut(&mut Machine, Nanos) -> (R, Option<Change>),
    ) -> Result<(R, Option<Change>), StoreError> {
        let (dirty, synced, mirror_copy) = {
            let mirror = lock_std(&self.mirror);
            (
                mirror.dirty,
                mirror.synced,
                mirror.dirty.then(|| mirror.machine.encode()),
            )
        };
        let mut out = None;
        let mut corrupt = None;
        self.store.transact(name, &mut |stored, now| {
            // Each run starts afresh: a store may run this more than once.
            corrupt = None;
            let mut machine = Machine::new(self.settings.clone(), now);
            if let Some(text) = stored {
                if let Err(e) = machine.decode(text, now) {
                    corrupt = Some(e);
                    machine = Machine::new(self.settings.clone(), now);
                }
            }
            // Changes made alone while degraded go back to the store, unless
            // someone else changed it meanwhile.
            if dirty && machine.generation() <= synced {
                if let Some(text) = &mirror_copy {
                    let _ = machine.decode(text, now);
                }
            }
            let before = machine.encode();
            let (result, change) = op(&mut machine, now);
            let after = machine.encode();
            let write =
                (stored != Some(after.as_str()) && (after != before || dirty)) || corrupt.is_some();
            out = Some((result, change, machine));
            write.then_some(after)
        })?;
        if let Some(problem) = corrupt {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': the state in {} was not fusebox's ({problem}); it was reset",
                self.store.describe()
            );
        }
        let Some((result, change, machine)) = out else {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!(
                    "{} finished a transaction without running it",
                    self.store.describe()
                ),
            ));
        };
        let mut mirror = lock_std(&self.mirror);
        mirror.synced = machine.generation();
        mirror.machine = machine;
        mirror.dirty = false;
        Ok((result, change))
    }
}
