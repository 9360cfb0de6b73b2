//! A breaker whose state lives in a [`Store`], with a local mirror that
//! carries on when the store cannot be reached.
//!
//! Every operation is one store transaction running the pure machine. When
//! a transaction fails (the store is down, locked past its timeout, or too
//! contended) the breaker is *degraded*: it warns once, runs the operation
//! on its mirror of the last state it read (or, with `fail_closed`, rejects
//! calls), and retries the store at most once per `RETRY_INTERVAL`.
//!
//! No outcome is lost on the way. Outcomes recorded while degraded are kept
//! in order and replayed through the machine, onto the state then stored,
//! by the first transaction that succeeds again: an outcome counts when the
//! stored record is still the one (same epoch, same generation) it was
//! admitted in, and is ignored like any stale outcome otherwise. A local
//! transition (say, the mirror tripped) is written back instead, if nobody
//! changed the stored record meanwhile.
//!
//! Each stored record carries an *epoch*, a random number chosen when the
//! record is created, after the machine's text (`… epoch=3f2a…`). A
//! generation alone cannot tell "nobody changed it" from "it expired (or
//! the server lost it) and was made again and changed as often": the epoch
//! can.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock_std;

use crate::clock::Nanos;
use crate::machine::{Call, Change, Machine, Settings, Ticket};
use crate::store::{Store, StoreError, StoreErrorKind};

/// How long a degraded breaker works alone before trying the store again.
const RETRY_INTERVAL: Nanos = 1_000_000_000;

/// At most this many outcomes wait for the store; beyond it the oldest are
/// dropped (with a warning), so a store that stays away cannot exhaust
/// memory.
const MAX_PENDING: usize = 1 << 16;

/// The field after the machine's text that names the record's epoch.
const EPOCH_FIELD: &str = " epoch=";

pub(crate) struct External {
    store: Arc<dyn Store>,
    pub(crate) fail_closed: bool,
    settings: Settings,
    mirror: Mutex<Mirror>,
    degraded: AtomicBool,
    retry_at: AtomicU64,
}

/// Which stored record, in which generation, the mirror last matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Synced {
    /// `None`: there was no record (nothing stored yet, or it expired).
    epoch: Option<u64>,
    generation: u64,
}

/// An outcome that did not reach the store yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// The epoch of the record the call was admitted from (`None`: there
    /// was none yet, so the call belongs to whichever record comes first).
    epoch: Option<u64>,
    ticket: Ticket,
    call: Call,
}

struct Mirror {
    machine: Machine,
    /// The stored record when last read or written; `None` before the
    /// first successful transaction.
    synced: Option<Synced>,
    /// The mirror made a transition while degraded: write it back when
    /// possible.
    dirty: bool,
    /// Outcomes recorded while degraded, oldest first.
    pending: Vec<Pending>,
    /// Outcomes dropped because `pending` was full, not yet warned about.
    dropped: u64,
}

/// What one store transaction did besides the operation itself.
struct Merged {
    corrupt: Option<String>,
    /// The last transition a replayed outcome made, if any.
    replayed_change: Option<Change>,
    synced: Synced,
}

impl External {
    pub(crate) fn new(store: Arc<dyn Store>, fail_closed: bool, settings: Settings) -> External {
        let now = store.local_now();
        External {
            mirror: Mutex::new(Mirror {
                machine: Machine::new(settings.clone(), now),
                synced: None,
                dirty: false,
                pending: Vec::new(),
                dropped: 0,
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

    /// Records a finished call's outcome in the shared state; while the
    /// store cannot take it, on the mirror and in the queue of outcomes to
    /// merge back. `None` never happens (an outcome is always recorded
    /// somewhere); the change is the transition it caused, if any.
    pub(crate) fn record(
        &self,
        name: &str,
        ticket: Ticket,
        call: Call,
    ) -> Option<((), Option<Change>)> {
        self.run_inner(name, true, Some((ticket, call)), |machine, now| {
            ((), machine.record(ticket, call, now))
        })
    }

    /// Runs `op` on the shared state, or on the mirror when degraded;
    /// `None` when degraded and `local` is false (fail closed).
    pub(crate) fn run<R>(
        &self,
        name: &str,
        local: bool,
        op: impl FnMut(&mut Machine, Nanos) -> (R, Option<Change>),
    ) -> Option<(R, Option<Change>)> {
        self.run_inner(name, local, None, op)
    }

    fn run_inner<R>(
        &self,
        name: &str,
        local: bool,
        outcome: Option<(Ticket, Call)>,
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
        if change.is_some() {
            // The mirror left the stored generation: it holds every outcome
            // so far and is written back whole, or not at all.
            mirror.dirty = true;
            mirror.pending.clear();
        } else if let (Some((ticket, call)), false) = (outcome, mirror.dirty) {
            let epoch = mirror.synced.and_then(|synced| synced.epoch);
            if mirror.pending.len() >= MAX_PENDING {
                mirror.pending.remove(0);
                mirror.dropped += 1;
            }
            mirror.pending.push(Pending {
                epoch,
                ticket,
                call,
            });
        }
        Some((result, change))
    }

    /// One store transaction running `op` (after merging what the mirror
    /// holds that the store does not); on success the mirror becomes the
    /// stored state.
    fn in_store<R>(
        &self,
        name: &str,
        op: &mut impl FnMut(&mut Machine, Nanos) -> (R, Option<Change>),
    ) -> Result<(R, Option<Change>), StoreError> {
        // The queued outcomes are taken out, so that two threads never both
        // replay them; a failed transaction puts them back.
        let (dirty, synced, mirror_copy, pending, dropped) = {
            let mut mirror = lock_std(&self.mirror);
            (
                mirror.dirty,
                mirror.synced,
                mirror.dirty.then(|| mirror.machine.encode()),
                std::mem::take(&mut mirror.pending),
                std::mem::take(&mut mirror.dropped),
            )
        };
        let mut out = None;
        let ran = self.store.transact(name, &mut |stored, now| {
            // Each run starts afresh: a store may run this more than once.
            let mut machine = Machine::new(self.settings.clone(), now);
            let mut corrupt = None;
            let mut stored_epoch = None;
            if let Some(text) = stored {
                match split_epoch(text).and_then(|(body, found)| {
                    machine.decode(body)?;
                    Ok(found)
                }) {
                    Ok(found) => stored_epoch = Some(found),
                    Err(e) => {
                        corrupt = Some(e);
                        machine = Machine::new(self.settings.clone(), now);
                    }
                }
            }
            let epoch = stored_epoch.unwrap_or_else(|| new_epoch(now));
            let unchanged_since_sync = match synced {
                Some(Synced {
                    epoch: Some(synced_epoch),
                    generation,
                }) => stored_epoch == Some(synced_epoch) && machine.generation() == generation,
                // Synced when there was no record: whoever made one since
                // has made no transition in it.
                Some(Synced { epoch: None, .. }) => machine.generation() == 0,
                None => false,
            };
            let before = machine.encode();
            let mut replayed_change = None;
            if dirty && (stored_epoch.is_none() || unchanged_since_sync) {
                // A transition made alone while degraded goes back to the
                // store: nobody changed it meanwhile (or it was lost).
                if let Some(text) = &mirror_copy {
                    let _ = machine.decode(text);
                }
            } else {
                let admitted_here =
                    |outcome: &&Pending| outcome.epoch.is_none() || outcome.epoch == Some(epoch);
                for outcome in pending.iter().filter(admitted_here) {
                    // Outcomes of another generation change nothing.
                    if let Some(change) = machine.record(outcome.ticket, outcome.call, now) {
                        replayed_change = Some(change);
                    }
                }
            }
            let (result, change) = op(&mut machine, now);
            let after = machine.encode();
            let text = format!("{after}{EPOCH_FIELD}{epoch:x}");
            let write = corrupt.is_some()
                || (stored != Some(text.as_str()) && (after != before || dirty));
            let kept = write || stored_epoch.is_some();
            out = Some((
                result,
                change,
                machine,
                Merged {
                    corrupt,
                    replayed_change,
                    synced: Synced {
                        epoch: kept.then_some(epoch),
                        generation: 0,
                    },
                },
            ));
            write.then_some(text)
        });
        let (result, change, machine, merged) = match (ran, out) {
            (Ok(()), Some(done)) => done,
            (ran, _) => {
                let mut mirror = lock_std(&self.mirror);
                if !mirror.dirty {
                    // Back in front of any outcome queued meanwhile.
                    let newer = std::mem::replace(&mut mirror.pending, pending);
                    mirror.pending.extend(newer);
                    let excess = mirror.pending.len().saturating_sub(MAX_PENDING);
                    mirror.pending.drain(..excess);
                    mirror.dropped += dropped + excess as u64;
                }
                return Err(ran.err().unwrap_or_else(|| {
                    StoreError::new(
                        StoreErrorKind::Unavailable,
                        format!(
                            "{} finished a transaction without running it",
                            self.store.describe()
                        ),
                    )
                }));
            }
        };
        if let Some(problem) = &merged.corrupt {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': the state in {} was not fusebox's ({problem}); it was reset",
                self.store.describe()
            );
        }
        if dropped > 0 {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': {dropped} outcomes recorded while {} was away did not fit \
                 in the queue and were not merged",
                self.store.describe()
            );
        }
        let mut mirror = lock_std(&self.mirror);
        mirror.synced = Some(Synced {
            generation: machine.generation(),
            ..merged.synced
        });
        mirror.machine = machine;
        mirror.dirty = false;
        Ok((result, change.or(merged.replayed_change)))
    }
}

/// Splits stored text into the machine's text and the record's epoch
/// (0 for a record written before epochs were stored).
fn split_epoch(text: &str) -> Result<(&str, u64), String> {
    match text.rsplit_once(EPOCH_FIELD) {
        Some((body, epoch)) => u64::from_str_radix(epoch, 16)
            .map(|epoch| (body, epoch))
            .map_err(|_| format!("field epoch has a bad number {epoch:?}")),
        None => Ok((text, 0)),
    }
}

/// A new record's epoch: random, and never 0 (which marks records from
/// before epochs).
fn new_epoch(now: Nanos) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(now) | 1
}
