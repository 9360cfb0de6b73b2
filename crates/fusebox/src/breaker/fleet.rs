//! The store side of a fleet-mode breaker (see `crate::fleet`): how the
//! local machine is synchronised, and the operations that stay exact.

use super::{Answer, Locked, Shared};
use crate::clock::Nanos;
use crate::counters::{Count, Totals};
use crate::fleet::{keep_last, Fleet, LostWrite, ManualWrite, REMEMBERED};
use crate::machine::{Batch, Call, Change, Machine, Report, Ticket, LOCAL_PROBE};
use crate::store::StoreError;
use crate::sync::{lock, lock_std, Ordering};
use crate::State;

/// This process's closed calls not yet cut into a batch.
pub(crate) struct Unsent {
    /// Counter totals at the last cut: successes since then that went the
    /// lock-free way are in the difference.
    cut: Totals,
    /// Outcomes the local machine recorded since the last cut, tagged with
    /// the shared generation they count for.
    batch: Batch,
    /// A lock-free success came before the batch's first failure.
    led_by_success: bool,
    /// The shared generation the local machine took last, and the number
    /// of the first store operation started after it did.
    adopted_generation: u64,
    fresh_from: u64,
    /// Quorum mode: the shared generation last seen...
    fleet_generation: u64,
    /// ...and whether the local machine's state is the fleet's (the fleet
    /// is not closed) rather than this process's own.
    pub(crate) mirrors: bool,
    /// The generation and state of a transition the local machine made and
    /// announced while the store was away: not announced again when a
    /// synchronisation makes it in the store.
    pub(crate) heard_alone: Vec<(u64, State)>,
    /// A transition the local machine made while the store seemed
    /// reachable, not announced: the synchronisation it asked for decides.
    pub(crate) unheard: Option<Change>,
}

impl Unsent {
    pub(crate) fn new() -> Unsent {
        Unsent {
            cut: Totals::default(),
            batch: Batch::new(0),
            led_by_success: false,
            adopted_generation: 0,
            fresh_from: 0,
            fleet_generation: 0,
            mirrors: false,
            heard_alone: Vec::new(),
            unheard: None,
        }
    }
}

/// Whether the local machine runs the fleet's state (always, but in quorum
/// mode while the fleet is closed: then it runs this process's own).
pub(super) fn follows_fleet(fleet: &Fleet, unsent: &Unsent) -> bool {
    fleet.quorum.is_none() || unsent.mirrors
}

/// The shared state as one store operation left it, and the moment it was
/// read, on the store's clock and on the local one.
struct Seen {
    machine: Machine,
    store_now: Nanos,
    local_now: Nanos,
}

impl Shared {
    fn seen(&self, machine: &Machine, store_now: Nanos) -> Seen {
        Seen {
            machine: machine.snapshot(),
            store_now,
            local_now: self.clock.now(),
        }
    }

    /// One synchronisation: merges the closed calls counted since the last
    /// into the shared state and takes the result. On `Err` the calls are
    /// kept for the next one (or, when the write may have been stored,
    /// settled by it).
    pub(crate) fn synchronise(&self) -> Result<(), StoreError> {
        let Some(fleet) = &self.fleet else {
            return Ok(());
        };
        fleet.resume_after_fork();
        // One round trip at a time: the last handle's synchronisation must
        // not overtake one in flight (the process may exit after it). What
        // to send is taken out under `flushing`, which is not held for the
        // round trip; neither lock is held while listeners run.
        let round_trip = fleet.round_trip();
        let manual_ops;
        let (batch, open_alone, mut manual, in_doubt, lost_transitions) = {
            let mut flushing = lock_std(&fleet.flushing);
            let (batch, open_alone) = self.cut(fleet);
            let batch = match flushing.unsent.take() {
                // In quorum mode a process's calls are its own business.
                _ if fleet.quorum.is_some() => Batch::new(batch.generation),
                Some(mut older) if older.generation == batch.generation => {
                    older.then(&batch);
                    older
                }
                _ => batch,
            };
            let in_doubt = flushing.written_in_doubt.take();
            let lost = std::mem::take(&mut flushing.lost_transitions);
            manual_ops = flushing.manual_ops;
            (batch, open_alone, flushing.manual.take(), in_doubt, lost)
        };
        // A manual operation made while the store was away supersedes the
        // calls before it (`manual_fleet` began a new batch): the batch holds
        // those after it, merged once the operation is written (or, after a
        // write of it whose answer was lost, onto what the store holds), not
        // sent as a batch of its own.
        let sent = match (&manual, in_doubt) {
            (None, None) => batch,
            _ => Batch::new(batch.generation),
        };
        // What a write of the operation carries: the calls a lost write of
        // it carried, then these.
        let carried = in_doubt.map_or(batch, |mut earlier| {
            earlier.then(&batch);
            earlier
        });
        let number = fleet.operations.fetch_add(1, Ordering::Relaxed) + 1;
        let mut outcome = Ok(());
        let mut changed = false;
        let mut written_back = false;
        let (mut read, mut made) = (0, 0);
        let mut found_lost = Vec::new();
        let mut doubted = None;
        self.on_store(&fleet.exact, || {
            let flushed =
                fleet
                    .exact
                    .flush(&self.name, sent, &mut doubted, |machine, now, found, at| {
                        read = at;
                        // Each run anew: a store may run this more than once.
                        written_back = false;
                        found_lost.clear();
                        found_lost.extend(
                            lost_transitions
                                .iter()
                                .filter(|(write, _)| found.contains(*write))
                                .map(|(_, change)| *change),
                        );
                        let mut change = match &manual {
                            // Only onto the generation it was made on (as exact
                            // mode writes back a local transition), checked before
                            // anything moves the generation on. Its listeners heard
                            // of it when it was made: only what the calls after it
                            // do is news.
                            // Or onto what an earlier operation's write made,
                            // stored although its answer was lost.
                            Some(op) if op.applies_to(machine.generation(), found) => {
                                machine.manual(op.to, now);
                                written_back = true;
                                let calls = Batch {
                                    generation: machine.generation(),
                                    ..carried
                                };
                                machine.merge(&calls, now)
                            }
                            // The write whose answer was lost was stored (or the
                            // fleet moved on): the calls made since count onto the
                            // shared state as it is.
                            _ if in_doubt.is_some() => machine.tick(now).or_else(|| {
                                let since = Batch {
                                    generation: machine.generation(),
                                    ..batch
                                };
                                machine.merge(&since, now)
                            }),
                            // An elapsed open duration is the fleet's to end, once.
                            _ => machine.tick(now),
                        };
                        if let Some((rule, liveness)) = fleet.quorum {
                            let gathered =
                                machine.gather(fleet.member, open_alone, now, rule, liveness);
                            change = change.or(gathered);
                        }
                        made = machine.generation();
                        (self.seen(machine, now), change)
                    });
            match flushed {
                Ok((seen, change)) => {
                    lock_std(&fleet.flushing).lost_writes.clear();
                    drop(round_trip);
                    if let (Some(op), false, None) = (&manual, written_back, in_doubt) {
                        self.warn_overtaken(op, &seen.machine);
                    }
                    // Before the listeners hear of the change.
                    self.adopt(number, &seen);
                    changed = change.is_some() || written_back;
                    Some(((), self.not_yet_heard(fleet, &found_lost, change)))
                }
                Err(error) => {
                    // What it made, if it was stored, is heard once a later
                    // synchronisation finds it so.
                    let mut flushing = lock_std(&fleet.flushing);
                    let kept = &mut flushing.lost_transitions;
                    kept.splice(0..0, lost_transitions);
                    if let (Some((write, Some(change))), true) = (doubted, error.maybe_written) {
                        kept.push((write, change));
                    }
                    keep_last(kept, REMEMBERED);
                    // A manual operation made after this (or while it was in
                    // flight) is written onto what its write made, if the
                    // store shows it stored: it was this process's change.
                    if let (Some((write, _)), true) = (doubted, error.maybe_written) {
                        let lost = LostWrite { write, read, made };
                        flushing.lost_writes.push(lost);
                        keep_last(&mut flushing.lost_writes, REMEMBERED);
                        if let Some(newer) = &mut flushing.manual {
                            newer.or_after.push(lost);
                            keep_last(&mut newer.or_after, REMEMBERED);
                        }
                    }
                    // A manual operation made while this was in flight
                    // supersedes the calls and the operation it carried.
                    if flushing.manual_ops != manual_ops {
                        drop(flushing);
                        if error.maybe_written {
                            fleet.exact.forget_outcomes();
                        }
                    } else if error.maybe_written && manual.is_some() {
                        // A manual operation, and the calls it carries, are
                        // written only onto the generation it was made on:
                        // sent again after a write that may have been
                        // stored, they find that generation gone and count
                        // nothing twice. The calls after it are kept apart.
                        flushing.written_in_doubt = Some(carried);
                        flushing.manual = manual.take();
                    } else if !error.maybe_written {
                        if flushing.written_in_doubt.is_none() {
                            flushing.written_in_doubt = in_doubt;
                        }
                        flushing.unsent = Some(match flushing.unsent.take() {
                            Some(newer) if newer.generation == batch.generation => {
                                let mut joined = batch;
                                joined.then(&newer);
                                joined
                            }
                            Some(newer) if newer.generation > batch.generation => newer,
                            _ => batch,
                        });
                        flushing.manual = manual.take();
                    }
                    drop(round_trip);
                    if fleet.exact.is_degraded() {
                        // The store is away: the local machine's own
                        // transitions are the breaker's.
                        self.hear_unheard(&mut lock(&self.locked));
                    }
                    outcome = Err(error);
                    Some(((), None))
                }
            }
        });
        if changed {
            self.tell_fleet(fleet);
        }
        outcome
    }

    /// Says that `op`, made while the store was away, was not written: the
    /// shared state left the generation it was made on (another process
    /// changed it, or too many writes came since a lost one to tell).
    fn warn_overtaken(&self, op: &ManualWrite, shared: &Machine) {
        let what = match op.to {
            State::Closed => "reset()",
            State::Open => "trip()",
            State::ForcedOpen => "force_open()",
            State::Disabled => "disable()",
            State::HalfOpen => "a manual operation",
        };
        tracing::warn!(
            target: "fusebox",
            circuit = &*self.name,
            "circuit '{}': {what}, made while the store was away, was not written: the \
             shared state changed meanwhile (it is {} now, generation {})",
            &*self.name,
            shared.stored_state().as_str(),
            shared.generation()
        );
    }

    /// What a synchronisation made that listeners have not heard: `change`,
    /// and the transitions of `found_lost` (made by writes whose answer was
    /// lost, found stored), unless one is what the local machine announced
    /// while the store was away. The latter are queued here; `change` is
    /// returned for the caller to queue.
    fn not_yet_heard(
        &self,
        fleet: &Fleet,
        found_lost: &[Change],
        change: Option<Change>,
    ) -> Option<Change> {
        let mut locked = lock(&self.locked);
        locked.unsent.unheard = None; // the store decided
        let heard = std::mem::take(&mut locked.unsent.heard_alone);
        let new = |made: &Change| !heard.contains(&(made.generation, made.to));
        for made in found_lost.iter().filter(|made| new(made)) {
            self.enqueue(&mut locked, 0, Some(*made), |t| {
                super::external_instant(&fleet.exact, t)
            });
        }
        change.filter(new)
    }

    /// Queues the transition the local machine made that nobody announced
    /// (see `Unsent::unheard`), as heard alone; the caller claims the queue.
    pub(super) fn hear_unheard(&self, locked: &mut Locked) {
        if let Some(made) = locked.unsent.unheard.take() {
            Self::heard_alone(locked, &made);
            self.enqueue(locked, 0, Some(made), |t| self.clock.instant(t));
        }
    }

    /// Notes that listeners heard `made`, a transition of the local machine
    /// while the store was away: the synchronisation that makes it in the
    /// store makes the same one, not news.
    pub(super) fn heard_alone(locked: &mut Locked, made: &Change) {
        let heard = &mut locked.unsent.heard_alone;
        heard.push((made.generation, made.to));
        keep_last(heard, REMEMBERED);
    }

    /// In a child forked from the process that counted them, forgets the
    /// calls not yet sent: they are the parent's to send. Not the successes
    /// counted on the lock-free path since the last cut, which the child
    /// cannot tell from its own (it comes here at its first call off that
    /// path, perhaps much later): a parent's successes of less than one
    /// interval may count twice, and no call of the child's is lost.
    pub(crate) fn forget_unsent(&self) {
        let mut locked = lock(&self.locked);
        let generation = locked.unsent.batch.generation;
        locked.unsent.batch = Batch::new(generation);
        locked.unsent.led_by_success = false;
    }

    /// Takes the closed calls counted since the last cut out as a batch;
    /// with, in quorum mode, whether this process is open on its own calls.
    fn cut(&self, fleet: &Fleet) -> (Batch, bool) {
        let mut locked = lock(&self.locked);
        let open_alone = !follows_fleet(fleet, &locked.unsent)
            && matches!(locked.machine.stored_state(), State::Open | State::HalfOpen);
        let totals = self.counters.totals();
        let unsent = &mut locked.unsent;
        let since = totals.since(&unsent.cut);
        let lock_free = since
            .get(Count::Success)
            .saturating_sub(since.get(Count::Unmerged));
        // A success takes the lock-free way only while the local machine has
        // no failure streak: after a success it recorded, or before the
        // batch's first failure (noted when that failure was recorded). So
        // the failures after the last success are what it counted, and
        // those before the first too, unless a lock-free success led.
        let mut batch = unsent.batch;
        batch.successes = batch.successes.saturating_add(lock_free);
        if std::mem::take(&mut unsent.led_by_success) {
            batch.head = 0;
        }
        unsent.cut = totals;
        unsent.batch = Batch::new(unsent.batch.generation);
        (batch, open_alone)
    }

    /// Makes the local machine the shared state `seen` shows, if it is
    /// newer than what the local machine took last: a later generation, or
    /// the result of an operation that started after that was taken. (A
    /// synchronisation that read before a `trip` wrote, finishing after
    /// it, must not undo it locally; a record made anew, back at generation
    /// 0, is taken from the next operation.)
    fn adopt(&self, number: u64, seen: &Seen) {
        let Some(own) = &self.fleet else {
            return;
        };
        let announce = self.with_locked(|locked, now| {
            let fleet = &seen.machine;
            let unsent = &mut locked.unsent;
            if fleet.generation() <= unsent.adopted_generation && number < unsent.fresh_from {
                return None;
            }
            unsent.adopted_generation = fleet.generation();
            unsent.fresh_from = own.operations.load(Ordering::Relaxed) + 1;
            {
                if own.quorum.is_some() {
                    // A closed fleet leaves each process to its own calls,
                    // until the fleet changes (it opens, or closes again).
                    let unchanged = fleet.generation() == locked.unsent.fleet_generation;
                    locked.unsent.fleet_generation = fleet.generation();
                    if unchanged && fleet.stored_state() == State::Closed {
                        return None;
                    }
                    locked.unsent.mirrors = fleet.stored_state() != State::Closed;
                }
            }
            if fleet.generation() != locked.unsent.batch.generation {
                // Calls counted since the last cut were admitted in a
                // generation the fleet has left: they count for nothing.
                locked.unsent.cut = self.counters.totals();
                locked.unsent.batch = Batch::new(fleet.generation());
                locked.unsent.led_by_success = false;
            }
            let (store_now, local_now) = (seen.store_now, seen.local_now);
            let local = |t: Nanos| {
                if t >= store_now {
                    local_now.saturating_add(t - store_now)
                } else {
                    local_now.saturating_sub(store_now - t)
                }
            };
            locked.machine.adopt(fleet, now, local);
            // The calls made since the last cut are not in the shared state
            // yet: the local view keeps them on top of it.
            let unsent = &locked.unsent;
            if unsent.batch.generation == fleet.generation()
                && fleet.stored_state() == State::Closed
            {
                let batch = &unsent.batch;
                let streak = if batch.successes > 0 || unsent.led_by_success {
                    batch.tail
                } else {
                    u64::from(fleet.failure_streak()).saturating_add(batch.failures)
                };
                locked
                    .machine
                    .set_failure_streak(u32::try_from(streak).unwrap_or(u32::MAX));
            }
            None
        });
        self.announce(announce);
    }

    /// Tells the other processes that this one changed the shared state.
    fn tell_fleet(&self, fleet: &Fleet) {
        if let Err(error) = fleet.exact.store().notify(&self.name) {
            tracing::debug!(
                target: "fusebox",
                circuit = &*self.name,
                "circuit '{}': could not tell other processes of a change ({error:#}); \
                 they see it at their next synchronisation",
                &*self.name
            );
        }
    }

    /// Admission in a state the local machine cannot settle alone (an
    /// elapsed open duration, half-open): one store transaction, as in
    /// exact mode; the local machine decides while the store is away.
    pub(super) fn acquire_fleet(&self, fleet: &Fleet) -> Answer {
        fleet.resume_after_fork();
        if !follows_fleet(fleet, &lock(&self.locked).unsent) {
            let admission = self.with_machine(|machine, now| machine.acquire(now));
            return self.answer(admission);
        }
        let number = fleet.operations.fetch_add(1, Ordering::Relaxed) + 1;
        let ran = self.on_store(&fleet.exact, || {
            let ran = fleet.exact.run(&self.name, false, |machine, now| {
                let (admission, change) = machine.acquire(now);
                (
                    (admission, self.seen(machine, now), change.is_some()),
                    change,
                )
            });
            // Taken before the listeners hear of the change.
            if let Some(((_, seen, _), _)) = &ran {
                self.adopt(number, seen);
            }
            ran
        });
        match ran {
            Some((admission, _, changed)) => {
                if changed {
                    self.tell_fleet(fleet);
                }
                self.answer(admission)
            }
            None if fleet.exact.fail_closed => self.reject(State::Open, None),
            None => {
                let admission = self.with_machine(|machine, now| machine.acquire(now));
                self.answer(admission)
            }
        }
    }

    /// Records an outcome that did not take the lock-free path: a trial call
    /// admitted by the store goes to the store; anything else to the local
    /// machine, counted for the next batch if it is a closed call of the
    /// current generation.
    pub(super) fn report_fleet(&self, fleet: &Fleet, ticket: Ticket, call: Call) {
        fleet.resume_after_fork();
        // A success that reaches this path is counted twice, as a success
        // (metrics) and as one the batch takes from elsewhere: both under
        // the lock, so that a cut sees both or neither.
        let count_success = || {
            if call.report == Report::Success {
                self.counters.add(Count::Success);
                self.counters.add(Count::Unmerged);
            }
        };
        if ticket.probe != 0 && ticket.probe & LOCAL_PROBE == 0 {
            {
                let _locked = lock(&self.locked);
                count_success();
            }
            let number = fleet.operations.fetch_add(1, Ordering::Relaxed) + 1;
            let ran = self.on_store(&fleet.exact, || {
                let ran = fleet
                    .exact
                    .record_then(&self.name, ticket, call, |machine, now| {
                        self.seen(machine, now)
                    });
                // While the store is away the outcome waits in a queue for
                // it, and what came back is no shared state.
                if let (Some(((seen, _), _)), false) = (&ran, fleet.exact.is_degraded()) {
                    self.adopt(number, seen);
                }
                ran
            });
            if let (Some((_, true)), false) = (ran, fleet.exact.is_degraded()) {
                self.tell_fleet(fleet);
            }
            return;
        }
        let announce = self.with_locked(|locked, now| {
            count_success();
            let machine = &locked.machine;
            // A closed call of the shared generation the batch is for (even
            // if this process's own view tripped since: the fleet decides),
            // or of the local machine's closed generation (while the store
            // is away it may have closed again on its own).
            let for_batch = ticket.generation == locked.unsent.batch.generation
                || (ticket.generation == machine.generation()
                    && machine.stored_state() == State::Closed);
            if ticket.probe == 0 && for_batch {
                let report = match call.report {
                    Report::Cancelled if self.cancel_is_failure => Report::Failure,
                    report => report,
                };
                let unsent = &mut locked.unsent;
                if report == Report::Failure && unsent.batch.is_empty() {
                    let since = self.counters.totals().since(&unsent.cut);
                    let lock_free = since
                        .get(Count::Success)
                        .saturating_sub(since.get(Count::Unmerged));
                    unsent.led_by_success = lock_free > 0;
                }
                unsent.batch.count(report, call.slow);
            }
            locked.machine.record(ticket, call, now)
        });
        self.announce(announce);
    }

    /// A manual operation: written to the store at once, or, while it
    /// cannot be reached, made locally and written at the next
    /// synchronisation that reaches it.
    pub(super) fn manual_fleet(&self, fleet: &Fleet, to: State) {
        // Before anything is written: a synchronisation in flight that fails
        // from now on leaves what it carried to this operation.
        lock_std(&fleet.flushing).manual_ops += 1;
        let number = fleet.operations.fetch_add(1, Ordering::Relaxed) + 1;
        let ran = self.on_store(&fleet.exact, || {
            let ran = fleet.exact.run(&self.name, false, |machine, now| {
                let change = machine.manual(to, now);
                (self.seen(machine, now), Some(change))
            });
            if let Some((seen, _)) = &ran {
                self.adopt(number, seen);
            }
            ran
        });
        match ran {
            Some(_) => {
                let mut flushing = lock_std(&fleet.flushing);
                flushing.manual = None;
                flushing.lost_writes.clear();
                drop(flushing);
                self.tell_fleet(fleet);
            }
            None => {
                // Under `flushing` (taken before `locked`, as a
                // synchronisation takes them), so none cuts a batch between
                // the operation and the new batch.
                let mut flushing = lock_std(&fleet.flushing);
                let announce = self.with_locked(|locked, now| {
                    // A transition the store never decided on was the
                    // breaker's: heard before the operation that follows it.
                    self.hear_unheard(locked);
                    let base = locked.unsent.adopted_generation;
                    let change = locked.machine.manual(to, now);
                    // The calls before the operation are superseded by it;
                    // those after it count from it, in a batch of the local
                    // machine's new generation, sent with the operation.
                    let unsent = &mut locked.unsent;
                    unsent.cut = self.counters.totals();
                    unsent.batch = Batch::new(locked.machine.generation());
                    unsent.led_by_success = false;
                    flushing.manual = Some(ManualWrite {
                        to,
                        generation: base,
                        or_after: flushing.lost_writes.clone(),
                    });
                    flushing.unsent = None;
                    // Calls a lost write of an earlier operation carried
                    // came before this one too.
                    flushing.written_in_doubt = None;
                    // Outcomes waiting in writes whose answer was lost, or
                    // in the queue, are superseded too.
                    fleet.exact.forget_outcomes();
                    Some(change)
                });
                drop(flushing);
                self.announce(announce);
            }
        }
    }
}
