//! A breaker whose state lives in a [`Store`], with a local mirror that
//! carries on when the store cannot be reached.
//!
//! Every operation is one store transaction running the pure machine. When
//! a transaction fails (the store is down, locked past its timeout, or too
//! contended) the breaker is *degraded*: it warns once, runs the operation
//! on its mirror of the last state it read (or, with `fail_closed`, rejects
//! calls), and retries the store at most once per `RETRY_INTERVAL`.
//!
//! No outcome is lost on the way, and none counts twice:
//! - Outcomes recorded while degraded are queued in order and replayed
//!   through the machine, onto the state then stored, by the first
//!   transaction that succeeds again. An outcome counts when the stored
//!   record is still the one (same epoch, same generation) it was admitted
//!   in, and is ignored like any stale outcome otherwise. A local
//!   transition (say, the mirror tripped) is written back instead, if
//!   nobody changed the stored record meanwhile.
//! - A write whose answer was lost (a timeout after it was sent) may or may
//!   not be stored. Every write names itself with a random id, and a record
//!   keeps the ids of its last `HISTORY` writes; the next transaction looks
//!   for the lost write's id there and replays what it carried only if it
//!   is not. (Should more than `HISTORY` writes have come since, it cannot
//!   tell, and replays them: a lost write is far more often one that lost
//!   a race than one that won it.)
//!
//! Each stored record carries an *epoch*, a random number chosen when the
//! record is created, after the machine's text (`… epoch=3f2a… w=…`). A
//! generation alone cannot tell "nobody changed it" from "it expired (or
//! the server lost it) and was made again and changed as often": the epoch
//! can.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock_std;

use crate::clock::Nanos;
use crate::machine::{Batch, Call, Change, Machine, Settings, Ticket};
use crate::store::{Store, StoreError, StoreErrorKind};

/// How long a degraded breaker works alone before trying the store again.
const RETRY_INTERVAL: Nanos = 1_000_000_000;

/// At most this many outcomes wait for the store; beyond it the oldest are
/// dropped (with a warning), so a store that stays away cannot exhaust
/// memory.
const MAX_PENDING: usize = 1 << 16;

/// While writes are in doubt, this many failed transactions in a row are
/// retried on the next call instead of after `RETRY_INTERVAL`: each costs
/// a call at most the store's timeout, and settling a doubt early keeps it
/// from becoming unknowable.
const MAX_DOUBT_RETRIES: u32 = 16;

/// How many of its last writes' ids a record keeps.
const HISTORY: usize = 64;

/// How many writes in doubt found stored are remembered for fleet mode
/// (see [`FoundStored`]).
const FOUND_KEPT: usize = 16;

/// The fields after the machine's text: the record's epoch and the ids of
/// its last writes, newest first.
const EPOCH_FIELD: &str = " epoch=";
const WRITES_FIELD: &str = " w=";

pub(crate) struct External {
    store: Arc<dyn Store>,
    pub(crate) fail_closed: bool,
    settings: Settings,
    mirror: Mutex<Mirror>,
    degraded: AtomicBool,
    retry_at: AtomicU64,
    /// Failed transactions in a row while writes were in doubt.
    doubt_retries: AtomicU32,
    /// Makes write ids differ between writes in the same nanosecond.
    writes: AtomicU64,
    /// When fleet-mode synchronisations began to fail in a row (0: they
    /// do not).
    flush_failing_since: AtomicU64,
}

/// Which stored record, in which generation, the mirror last matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Synced {
    /// `None`: there was no record (nothing stored yet, or it expired).
    epoch: Option<u64>,
    generation: u64,
}

/// What a write carries into the store beside its operation: one call's
/// outcome, or a fleet-mode process's batch of closed calls.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Carried {
    Call(Ticket, Call),
    Batch(Batch),
}

impl Carried {
    /// Records what is carried in `machine`; outcomes of another
    /// generation change nothing.
    fn apply(&self, machine: &mut Machine, now: Nanos) -> Option<Change> {
        match self {
            Carried::Call(ticket, call) => machine.record(*ticket, *call, now),
            Carried::Batch(batch) => machine.merge(batch, now),
        }
    }
}

/// An outcome that did not reach the store yet.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// The epoch of the record the call was admitted from (`None`: there
    /// was none yet, so the call belongs to whichever record comes first).
    epoch: Option<u64>,
    carried: Carried,
}

/// A write whose answer was lost, and the outcomes it carried.
#[derive(Clone, Debug)]
struct Doubt {
    write: u32,
    /// The epoch of the record it was based on (`None`: it made one).
    epoch: Option<u64>,
    /// The newest write id in the record it was based on.
    base: Option<u32>,
    outcomes: Vec<Pending>,
}

/// What became of a write in doubt, as a later read of the record shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Stored,
    NotStored,
    /// Too many writes came after it to tell (its outcomes are merged
    /// again), or the record it went to is gone (they are stale).
    Unknown,
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
    /// Writes whose answer was lost.
    doubts: Vec<Doubt>,
    /// The last writes in doubt that a transaction found stored, oldest
    /// first (at most `FOUND_KEPT`).
    found_stored: Vec<u32>,
    /// The process the queue and the doubts are of.
    pid: u32,
}

/// A record as stored: the machine's text and what follows it.
struct Record<'a> {
    machine: &'a str,
    epoch: u64,
    /// The last writes' ids, newest first, comma-separated.
    writes: &'a str,
}

/// Writes whose answer was lost that the store shows stored, by id: a
/// fleet-mode manual operation made after such a write of another one is
/// written onto the state that write made.
pub(crate) struct FoundStored<'a>(&'a [u32]);

impl FoundStored<'_> {
    pub(crate) fn contains(&self, write: u32) -> bool {
        self.0.contains(&write)
    }
}

/// What the last run of a transaction read and wrote.
struct Attempt {
    write: u32,
    epoch: Option<u64>,
    base: Option<u32>,
    /// The queued outcomes it replayed.
    carried: Vec<Pending>,
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
                doubts: Vec::new(),
                found_stored: Vec::new(),
                pid: std::process::id(),
            }),
            store,
            fail_closed,
            settings,
            degraded: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            doubt_retries: AtomicU32::new(0),
            writes: AtomicU64::new(0),
            flush_failing_since: AtomicU64::new(0),
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
    /// merge back. Always `Some` (an outcome is recorded somewhere), with
    /// the transition it caused, if any.
    pub(crate) fn record(
        &self,
        name: &str,
        ticket: Ticket,
        call: Call,
    ) -> Option<((), Option<Change>)> {
        self.run_inner(
            name,
            true,
            Some(Carried::Call(ticket, call)),
            |machine, now| ((), machine.record(ticket, call, now)),
        )
    }

    /// Records a trial call's outcome, as [`record`](Self::record), and
    /// runs `then` on the state it left; with whether it changed state.
    pub(crate) fn record_then<R>(
        &self,
        name: &str,
        ticket: Ticket,
        call: Call,
        mut then: impl FnMut(&Machine, Nanos) -> R,
    ) -> Option<((R, bool), Option<Change>)> {
        self.run_inner(
            name,
            true,
            Some(Carried::Call(ticket, call)),
            |machine, now| {
                let change = machine.record(ticket, call, now);
                ((then(machine, now), change.is_some()), change)
            },
        )
    }

    /// The store.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Merges a fleet-mode batch and runs `op` in one store transaction.
    /// Never runs locally: on `Err` the caller keeps the batch to send
    /// again, unless the error says it may have been written, in which
    /// case it waits here as a doubt that a later transaction settles (and
    /// `doubted` is its write's id and the transition it made, if any).
    /// `op` is also given the shared generation as read, before the batch.
    pub(crate) fn flush<R>(
        &self,
        name: &str,
        batch: Batch,
        doubted: &mut Option<(u32, Option<Change>)>,
        mut op: impl FnMut(&mut Machine, Nanos, &FoundStored<'_>, u64) -> (R, Option<Change>),
    ) -> Result<(R, Option<Change>), StoreError> {
        let now_local = self.store.local_now();
        if self.is_degraded() && now_local < self.retry_at.load(Ordering::Relaxed) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                format!("{} is unreachable (retrying soon)", self.store.describe()),
            ));
        }
        let carried = (!batch.is_empty()).then_some(Carried::Batch(batch));
        let done = self.in_store(
            name,
            &mut |machine: &mut Machine, now, found: &FoundStored<'_>| {
                let read = machine.generation();
                let merged = machine.merge(&batch, now);
                let (result, change) = op(machine, now, found, read);
                (result, change.or(merged))
            },
            carried,
            doubted,
        );
        // A synchronisation that times out (most often: it lost the race for
        // the record to other processes' until its budget ran out) is tried
        // again at the next interval with its batch; the breaker is not
        // degraded for that unless it goes on for a whole retry interval.
        let since = match &done {
            Ok(_) => 0,
            Err(_) => match self.flush_failing_since.load(Ordering::Relaxed) {
                0 => now_local.max(1),
                since => since,
            },
        };
        self.flush_failing_since.store(since, Ordering::Relaxed);
        let passing = matches!(&done, Err(e) if e.kind == StoreErrorKind::Timeout)
            && !self.is_degraded()
            && now_local.saturating_sub(since) < RETRY_INTERVAL;
        if !passing {
            self.settle(name, &done, now_local);
        }
        done
    }

    /// Notes how a store transaction went: back from degraded, or degraded.
    fn settle<T>(&self, name: &str, done: &Result<T, StoreError>, now_local: Nanos) {
        match done {
            Ok(_) => {
                self.doubt_retries.store(0, Ordering::Relaxed);
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "fusebox",
                        circuit = name,
                        "circuit '{name}': {} is reachable again; shared state restored",
                        self.store.describe()
                    );
                }
            }
            Err(error) => {
                self.degrade(name, error, now_local);
                if self.has_doubts()
                    && self.doubt_retries.fetch_add(1, Ordering::Relaxed) < MAX_DOUBT_RETRIES
                {
                    // Settle the doubt soon, while the record still lists
                    // the write: the next call tries the store.
                    self.retry_at.store(now_local, Ordering::Relaxed);
                }
            }
        }
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
        outcome: Option<Carried>,
        mut op: impl FnMut(&mut Machine, Nanos) -> (R, Option<Change>),
    ) -> Option<(R, Option<Change>)> {
        let now_local = self.store.local_now();
        // An outcome carried by a write in doubt waits with that write, not
        // in the queue: queued too, it could count twice.
        let mut queue_outcome = outcome.is_some();
        if !self.is_degraded() || now_local >= self.retry_at.load(Ordering::Relaxed) {
            let mut on_store = |machine: &mut Machine, now, _: &FoundStored<'_>| op(machine, now);
            let done = self.in_store(name, &mut on_store, outcome, &mut None);
            self.settle(name, &done, now_local);
            match done {
                Ok(done) => return Some(done),
                Err(error) => queue_outcome &= !error.maybe_written,
            }
        }
        if !local {
            return None;
        }
        let mut mirror = lock_std(&self.mirror);
        mirror.forget_what_a_parent_left();
        let (result, change) = op(&mut mirror.machine, now_local);
        if change.is_some() {
            // The mirror left the stored generation: it holds every outcome
            // so far and is written back whole, or not at all.
            mirror.dirty = true;
            mirror.pending.clear();
        } else if let (Some(carried), true, false) = (outcome, queue_outcome, mirror.dirty) {
            let epoch = mirror.synced.and_then(|synced| synced.epoch);
            mirror.queue(Pending { epoch, carried });
        }
        Some((result, change))
    }

    /// Forgets the outcomes waiting for the store, in the queue or in
    /// writes whose answer was lost: a manual operation made while the
    /// store is away supersedes them (fleet mode writes it back only onto
    /// the generation they were counted in).
    pub(crate) fn forget_outcomes(&self) {
        let mut mirror = lock_std(&self.mirror);
        mirror.pending.clear();
        for doubt in &mut mirror.doubts {
            doubt.outcomes.clear();
        }
    }

    fn has_doubts(&self) -> bool {
        !lock_std(&self.mirror).doubts.is_empty()
    }

    /// Marks the breaker degraded (warning once) until the next retry.
    fn degrade(&self, name: &str, error: &StoreError, now_local: Nanos) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': {error:#}; carrying on with local state{}",
                if self.fail_closed { " and rejecting calls (fail closed)" } else { "" }
            );
        }
        self.retry_at
            .store(now_local.saturating_add(RETRY_INTERVAL), Ordering::Relaxed);
    }

    /// A new write's id.
    fn write_id(&self, now: Nanos) -> u32 {
        use std::hash::{BuildHasher, RandomState};
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        RandomState::new().hash_one((now, n)) as u32
    }

    /// One store transaction running `op` (after merging what the mirror
    /// holds that the store does not); on success the mirror becomes the
    /// stored state. `outcome` is what `op` records, if it records one; a
    /// write whose answer is lost leaves its id and the transition it made
    /// in `doubted`.
    fn in_store<R>(
        &self,
        name: &str,
        op: &mut impl FnMut(&mut Machine, Nanos, &FoundStored<'_>) -> (R, Option<Change>),
        outcome: Option<Carried>,
        doubted: &mut Option<(u32, Option<Change>)>,
    ) -> Result<(R, Option<Change>), StoreError> {
        // The queue and the doubts are taken out, so that two threads never
        // both replay them; a failed transaction puts them back.
        let (dirty, synced, mirror_copy, pending, doubts, found_before) = {
            let mut mirror = lock_std(&self.mirror);
            mirror.forget_what_a_parent_left();
            (
                mirror.dirty,
                mirror.synced,
                mirror.dirty.then(|| mirror.machine.encode()),
                std::mem::take(&mut mirror.pending),
                std::mem::take(&mut mirror.doubts),
                mirror.found_stored.clone(),
            )
        };
        let mut found = Vec::new();
        let mut out = None;
        let mut attempt = None;
        let mut corrupt = None;
        let mut unknown = 0;
        let ran = self.store.transact(name, &mut |stored, now| {
            // Each run starts afresh: a store may run this more than once.
            let mut machine = Machine::new(self.settings.clone(), now);
            corrupt = None;
            unknown = 0;
            let mut record = None;
            if let Some(text) = stored {
                match split_record(text).and_then(|found| {
                    machine.decode(found.machine, now)?;
                    Ok(found)
                }) {
                    Ok(found) => record = Some(found),
                    Err(e) => {
                        corrupt = Some(e);
                        machine = Machine::new(self.settings.clone(), now);
                    }
                }
            }
            let stored_epoch = record.as_ref().map(|r| r.epoch);
            let writes = record.as_ref().map_or("", |r| r.writes);
            let fates: Vec<Fate> = doubts
                .iter()
                .map(|doubt| fate(doubt, stored_epoch, writes))
                .collect();
            found.clone_from(&found_before);
            found.extend(
                doubts
                    .iter()
                    .zip(&fates)
                    .filter(|(_, fate)| **fate == Fate::Stored)
                    .map(|(doubt, _)| doubt.write),
            );
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
            let mut carried = Vec::new();
            if dirty && (stored_epoch.is_none() || unchanged_since_sync) {
                // A transition made alone while degraded goes back to the
                // store: nobody changed it meanwhile (or it was lost). The
                // mirror holds every outcome since, doubtful ones included.
                if let Some(text) = &mirror_copy {
                    let _ = machine.decode(text, now);
                }
            } else {
                for (doubt, fate) in doubts.iter().zip(&fates) {
                    match fate {
                        Fate::Stored => {}
                        Fate::NotStored => carried.extend_from_slice(&doubt.outcomes),
                        // A lost write is far more often one that lost a
                        // race than one that won it; and an outcome counted
                        // twice errs on the safe side of one never counted.
                        Fate::Unknown => {
                            unknown += doubt.outcomes.len();
                            carried.extend_from_slice(&doubt.outcomes);
                        }
                    }
                }
                carried.extend_from_slice(&pending);
                let admitted_here =
                    |outcome: &&Pending| outcome.epoch.is_none() || outcome.epoch == stored_epoch;
                for outcome in carried.iter().filter(admitted_here) {
                    // Outcomes of another generation change nothing.
                    if let Some(change) = outcome.carried.apply(&mut machine, now) {
                        replayed_change = Some(change);
                    }
                }
            }
            let (result, change) = op(&mut machine, now, &FoundStored(&found));
            let after = machine.encode();
            let write = corrupt.is_some() || after != before || dirty;
            // A record written for the first time gets its epoch.
            let epoch = match (stored_epoch, write) {
                (None, true) => Some(new_epoch(now)),
                (epoch, _) => epoch,
            };
            let text = epoch.filter(|_| write).map(|epoch| {
                let id = self.write_id(now);
                attempt = Some(Attempt {
                    write: id,
                    epoch: stored_epoch,
                    base: newest(writes),
                    carried: std::mem::take(&mut carried),
                });
                join_record(&after, epoch, id, writes)
            });
            if text.is_none() {
                attempt = None;
            }
            out = Some((
                result,
                change.or(replayed_change),
                machine,
                Synced {
                    epoch,
                    generation: 0,
                },
            ));
            text
        });
        if found.len() > found_before.len() {
            // What the record showed holds whether or not this transaction's
            // own write went through.
            let mut mirror = lock_std(&self.mirror);
            mirror
                .found_stored
                .extend_from_slice(&found[found_before.len()..]);
            crate::fleet::keep_last(&mut mirror.found_stored, FOUND_KEPT);
        }
        let (result, change, machine, synced_now) = match (ran, out, attempt) {
            (Ok(()), Some(done), _) => done,
            (ran, out, attempt) => {
                let error = ran.err().unwrap_or_else(|| {
                    StoreError::new(
                        StoreErrorKind::Unavailable,
                        format!(
                            "{} finished a transaction without running it",
                            self.store.describe()
                        ),
                    )
                });
                let mut mirror = lock_std(&self.mirror);
                match attempt {
                    Some(attempt) if error.maybe_written => {
                        *doubted = Some((attempt.write, out.and_then(|(_, change, ..)| change)));
                        // Whether the outcomes it carried count is for the
                        // record to tell, on the next read.
                        let mut outcomes = attempt.carried;
                        let epoch = synced.and_then(|synced| synced.epoch);
                        outcomes.extend(outcome.map(|carried| Pending { epoch, carried }));
                        mirror.doubts.push(Doubt {
                            write: attempt.write,
                            epoch: attempt.epoch,
                            base: attempt.base,
                            outcomes,
                        });
                    }
                    _ => {
                        // Nothing was stored: all is as it was, in front of
                        // anything queued meanwhile.
                        let newer_doubts = std::mem::replace(&mut mirror.doubts, doubts);
                        mirror.doubts.extend(newer_doubts);
                        if !mirror.dirty {
                            let newer = std::mem::replace(&mut mirror.pending, pending);
                            for outcome in newer {
                                mirror.queue(outcome);
                            }
                        }
                    }
                }
                return Err(error);
            }
        };
        if let Some(problem) = &corrupt {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': the state in {} was not fusebox's ({problem}); it was reset",
                self.store.describe()
            );
        }
        if unknown > 0 {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': {} cannot tell whether a write whose answer was lost was \
                 stored; its {unknown} outcomes were merged again",
                self.store.describe()
            );
        }
        let mut mirror = lock_std(&self.mirror);
        let dropped = std::mem::take(&mut mirror.dropped);
        // The mirror only moves forward: a thread held up after its
        // transaction must not put back a state the store has left (the
        // breaker runs on the mirror when the store cannot be reached).
        let older = mirror.synced.is_some_and(|seen| {
            seen.epoch.is_some()
                && seen.epoch == synced_now.epoch
                && machine.generation() < seen.generation
        });
        if !older {
            mirror.synced = Some(Synced {
                generation: machine.generation(),
                ..synced_now
            });
            mirror.machine = machine;
        }
        mirror.dirty = false;
        drop(mirror);
        // Not under the lock: a logging handler may call the breaker.
        if dropped > 0 {
            tracing::warn!(
                target: "fusebox",
                circuit = name,
                "circuit '{name}': {dropped} outcomes recorded while {} was away did not fit \
                 in the queue and were not merged",
                self.store.describe()
            );
        }
        Ok((result, change))
    }
}

impl Mirror {
    /// In a child forked from the process that queued them, forgets the
    /// outcomes waiting for the store, the writes in doubt and a local
    /// transition to write back: they are the parent's to write (the child
    /// would count them a second time).
    fn forget_what_a_parent_left(&mut self) {
        let me = std::process::id();
        if self.pid != me {
            self.pid = me;
            self.pending.clear();
            self.doubts.clear();
            self.found_stored.clear();
            self.dropped = 0;
            self.dirty = false;
        }
    }

    /// Queues an outcome for the store, dropping the oldest when full.
    fn queue(&mut self, outcome: Pending) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
            self.dropped += 1;
        }
        self.pending.push(outcome);
    }
}

/// What became of `doubt`, from the record as stored now.
fn fate(doubt: &Doubt, stored_epoch: Option<u64>, writes: &str) -> Fate {
    if doubt.epoch.is_some() && stored_epoch != doubt.epoch {
        return Fate::Unknown; // the record it went to is gone
    }
    if write_ids(writes).any(|id| id == doubt.write) {
        return Fate::Stored;
    }
    // Had it been stored, it would follow its base in the record's list,
    // which then still lists every write since.
    let complete = match doubt.base {
        Some(base) => write_ids(writes).any(|id| id == base),
        None => write_ids(writes).count() < HISTORY,
    };
    if complete {
        Fate::NotStored
    } else {
        Fate::Unknown
    }
}

/// The ids in a record's list of writes (checked by `split_record`).
fn write_ids(writes: &str) -> impl Iterator<Item = u32> + '_ {
    writes
        .split(',')
        .filter_map(|id| u32::from_str_radix(id, 16).ok())
}

/// The newest write in a record's list.
fn newest(writes: &str) -> Option<u32> {
    write_ids(writes).next()
}

/// Splits stored text into the machine's text, the record's epoch (0 for a
/// record written before epochs were stored) and its list of last writes.
fn split_record(text: &str) -> Result<Record<'_>, String> {
    let (rest, writes) = match text.rsplit_once(WRITES_FIELD) {
        Some((rest, list)) => {
            let well_formed = list.is_empty()
                || list.split(',').all(|id| {
                    (1..=8).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
                });
            if !well_formed {
                return Err(format!("field w has a bad write id in {list:?}"));
            }
            (rest, list)
        }
        None => (text, ""),
    };
    let (machine, epoch) = match rest.rsplit_once(EPOCH_FIELD) {
        Some((machine, epoch)) => (
            machine,
            u64::from_str_radix(epoch, 16)
                .map_err(|_| format!("field epoch has a bad number {epoch:?}"))?,
        ),
        None => (rest, 0),
    };
    Ok(Record {
        machine,
        epoch,
        writes,
    })
}

/// The stored text of a record written by write `id`: `writes` are the
/// ids before it, of which the newest `HISTORY - 1` are kept.
fn join_record(machine: &str, epoch: u64, id: u32, writes: &str) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(machine.len() + 48 + writes.len());
    let _ = write!(
        text,
        "{machine}{EPOCH_FIELD}{epoch:x}{WRITES_FIELD}{id:08x}"
    );
    for older in writes
        .split(',')
        .filter(|id| !id.is_empty())
        .take(HISTORY - 1)
    {
        text.push(',');
        text.push_str(older);
    }
    text
}

/// A new record's epoch: random, and never 0 (which marks records from
/// before epochs).
fn new_epoch(now: Nanos) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(now) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_epoch_and_the_last_writes() {
        let mut text = join_record("fusebox/1 x", 0xab, 1, "");
        assert_eq!(text, "fusebox/1 x epoch=ab w=00000001");
        for id in 2..=100 {
            let record = split_record(&text).unwrap();
            text = join_record(record.machine, record.epoch, id, record.writes);
        }
        let record = split_record(&text).unwrap();
        assert_eq!(record.machine, "fusebox/1 x");
        assert_eq!(record.epoch, 0xab);
        assert_eq!(write_ids(record.writes).count(), HISTORY);
        assert_eq!(newest(record.writes), Some(100));
        assert!(write_ids(record.writes).all(|id| id > 100 - HISTORY as u32));
    }

    #[test]
    fn records_from_before_epochs_and_damaged_ones() {
        let old = split_record("fusebox/1 state=closed").unwrap();
        assert_eq!(
            (old.machine, old.epoch, old.writes),
            ("fusebox/1 state=closed", 0, "")
        );
        for bad in [
            "m epoch=zz w=",
            "m epoch=1 w=xyz",
            "m epoch=1 w=1,,2",
            "m epoch=1 w=123456789",
        ] {
            assert!(split_record(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_write_in_doubt_is_found_or_known_missing() {
        let doubt = |write, base| Doubt {
            write,
            epoch: Some(7),
            base,
            outcomes: Vec::new(),
        };
        let fate_of = |d: &Doubt, epoch, writes| match fate(d, Some(epoch), writes) {
            Fate::Stored => "stored",
            Fate::NotStored => "not stored",
            Fate::Unknown => "unknown",
        };
        assert_eq!(
            fate_of(&doubt(5, Some(4)), 7, "00000005,00000004"),
            "stored"
        );
        assert_eq!(
            fate_of(&doubt(5, Some(4)), 7, "00000009,00000004"),
            "not stored"
        );
        assert_eq!(
            fate_of(&doubt(5, Some(4)), 7, "00000009,00000008"),
            "unknown"
        );
        assert_eq!(
            fate_of(&doubt(5, Some(4)), 8, "00000005,00000004"),
            "unknown"
        );
        assert_eq!(fate_of(&doubt(5, None), 7, "00000009"), "not stored");
    }
}
