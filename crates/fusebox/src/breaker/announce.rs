//! Announcing transitions to listeners, in generation order, outside the
//! breaker's lock.
//!
//! A transition is queued under the lock that made it; then one thread at a
//! time (the announcer) takes the queue and runs the listeners, without the
//! lock, so a listener may call its breaker, even make a transition (which
//! the same loop then announces after the current one). Queuing under the
//! lock is what keeps the order: announcing after dropping it let two
//! threads deliver their transitions the wrong way round.
//!
//! A breaker kept in a store makes its transitions in the store, not under
//! this lock, so a thread held up between its store transaction and the
//! queue could arrive after a later transition. Each store operation takes
//! a number when it starts; the queue is kept in generation order, and a
//! transition is announced only once every operation that started before
//! the one that queued it has finished (each is bounded by the store's
//! timeout), since only those could still bring an earlier generation.

use std::collections::VecDeque;

use super::{external_instant, Locked, Shared};
use crate::external::External;
use crate::machine::Change;
use crate::sync::{lock, Mutex};
use crate::transition::announce;
use crate::Transition;

/// Transitions queued in advance without allocating: more than this many
/// waiting at once (listeners slower than transitions) grow the queue.
const PENDING_CAPACITY: usize = 8;

/// The announcement state of one breaker, kept under its lock.
pub(super) struct Announcements {
    /// Waiting transitions in generation order, each with the number of
    /// the store operation that made it (0 for an in-memory breaker).
    pending: VecDeque<(u64, Transition)>,
    /// The process whose thread is announcing: others of that process
    /// leave theirs to it. A child forked during an announcement has no
    /// such thread, so a pid other than its own is nobody.
    announcer: Option<u32>,
    /// The number the next store operation takes (from 1).
    next_operation: u64,
    /// Store operations in progress, by number (oldest first).
    running: VecDeque<u64>,
}

impl Announcements {
    pub(super) fn new() -> Announcements {
        Announcements {
            pending: VecDeque::with_capacity(PENDING_CAPACITY),
            announcer: None,
            next_operation: 1,
            running: VecDeque::new(),
        }
    }

    /// The first waiting transition, if it may be announced now.
    fn next_ready(&mut self) -> Option<Transition> {
        let (operation, _) = self.pending.front()?;
        if self
            .running
            .front()
            .is_some_and(|oldest| oldest < operation)
        {
            return None; // an older store operation may bring an earlier one
        }
        self.pending.pop_front().map(|(_, transition)| transition)
    }

    /// Claims the announcer's role if something waits and nobody has it.
    fn claim(&mut self) -> Announce {
        let me = std::process::id();
        Announce(!self.pending.is_empty() && self.announcer.replace(me) != Some(me))
    }
}

/// Whether the thread that queued a transition must announce the queue.
#[must_use]
pub(super) struct Announce(bool);

impl Shared {
    /// Queues `change` for the listeners; the caller announces the queue
    /// unless another thread is doing so already.
    pub(super) fn queue(
        &self,
        locked: &mut Locked,
        change: Option<Change>,
        at: impl Fn(u64) -> std::time::Instant,
    ) -> Announce {
        self.enqueue(locked, 0, change, at);
        locked.announcements.claim()
    }

    /// Queues `change` as made by store operation `operation` (0: one
    /// that may be announced at once); the caller claims the queue.
    pub(super) fn enqueue(
        &self,
        locked: &mut Locked,
        operation: u64,
        change: Option<Change>,
        at: impl Fn(u64) -> std::time::Instant,
    ) {
        let Some(change) = change else {
            return;
        };
        let transition = Transition {
            name: self.name.clone(),
            from: change.from,
            to: change.to,
            reason: change.reason,
            generation: change.generation,
            at: at(change.at),
        };
        let pending = &mut locked.announcements.pending;
        let after = pending
            .iter()
            .rposition(|(_, queued)| queued.generation <= transition.generation)
            .map_or(0, |i| i + 1);
        pending.insert(after, (operation, transition));
    }

    /// Runs one operation on the store, numbered, and queues the transition
    /// it made.
    pub(super) fn on_store<R>(
        &self,
        external: &External,
        operation: impl FnOnce() -> Option<(R, Option<Change>)>,
    ) -> Option<R> {
        let number = {
            let mut locked = lock(&self.locked);
            let queue = &mut locked.announcements;
            let number = queue.next_operation;
            queue.next_operation += 1;
            queue.running.push_back(number);
            number
        };
        let ran = operation();
        let (result, change) = match ran {
            Some((result, change)) => (Some(result), change),
            None => (None, None),
        };
        let announce = {
            let mut locked = lock(&self.locked);
            let running = &mut locked.announcements.running;
            if let Some(i) = running.iter().position(|n| *n == number) {
                running.remove(i);
            }
            self.enqueue(&mut locked, number, change, |t| {
                external_instant(external, t)
            });
            // Also when this operation made none: the one it held back may
            // be ready now.
            locked.announcements.claim()
        };
        self.announce(announce);
        result
    }

    /// Announces queued transitions, in order, outside the lock, until none
    /// is ready.
    pub(super) fn announce(&self, Announce(mine): Announce) {
        if !mine {
            return;
        }
        /// Hands the queue on if a listener panics, so announcing never stops.
        struct OnPanic<'a>(&'a Mutex<Locked>);
        impl Drop for OnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    lock(self.0).announcements.announcer = None;
                }
            }
        }
        let _on_panic = OnPanic(&self.locked);
        // A listener's panic reaches this caller only once the queue is
        // done: transitions queued behind it are still announced.
        let mut panicked = None;
        loop {
            let next = {
                let mut locked = lock(&self.locked);
                let queue = &mut locked.announcements;
                let next = queue.next_ready();
                // Under the same lock as the check, so a transition queued
                // meanwhile finds either this loop or no announcer at all.
                queue.announcer = next.as_ref().map(|_| std::process::id());
                next
            };
            let Some(transition) = next else {
                break;
            };
            #[cfg(feature = "metrics")]
            self.transitions.add(&transition);
            if let Some(panic) = announce(&transition, &self.listeners) {
                panicked.get_or_insert(panic);
            }
        }
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
    }
}
