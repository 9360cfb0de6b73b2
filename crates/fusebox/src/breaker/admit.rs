//! Admission: whether a call may run, decided without the lock in the
//! common cases (see the module documentation of `breaker`).

use std::time::Duration;

use super::{
    generation_of, state_of, Answer, Shared, EXTERNAL_BIT, PROBES_FULL_BIT, STATE_BITS, TIMED_BIT,
};
use crate::clock::{Nanos, COARSE_LAG};
use crate::counters::Count;
use crate::external::External;
use crate::machine::{Admission, Ticket};
use crate::sync::Ordering;
use crate::{Rejected, State};

impl Shared {
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
        let until = self.open_until.load(Ordering::Acquire);
        // Far from the deadline the coarse clock settles it; near it, the
        // precise one does, so no call is admitted early or late.
        let coarse = self.clock.recent();
        if coarse.saturating_add(COARSE_LAG) < until {
            // The cached time may lag the breaker's opening; the wait it
            // names never exceeds the open duration.
            let from = coarse.max(self.opened_at.load(Ordering::Relaxed));
            return self.reject(State::Open, Some(until.saturating_sub(from)));
        }
        self.reject_open_precisely(until)
    }

    /// Rejects a call while every trial slot is taken, unless the earliest
    /// trial call may have been lost (its `probe_timeout` is near or past):
    /// then the machine decides, under the lock. Inlined, as `reject_open`.
    #[inline(always)]
    fn reject_half_open(&self) -> Answer {
        let lost_at = self.probe_deadline.load(Ordering::Relaxed);
        let coarse = self.clock.recent();
        if coarse.saturating_add(COARSE_LAG) < lost_at {
            // A slot frees when the first trial call's lease runs out.
            let wait = (lost_at - coarse).min(self.probe_timeout);
            return self.reject(State::HalfOpen, Some(wait));
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
        if let Some(fleet) = &self.fleet {
            return self.acquire_fleet(fleet);
        }
        let admission = self.with_machine(|machine, now| machine.acquire(now));
        self.answer(admission)
    }

    pub(super) fn answer(&self, admission: Admission) -> Answer {
        match admission {
            Admission::Admit(ticket) => Answer::admit(ticket),
            Admission::Reject { state, retry_after } => self.reject(state, retry_after),
        }
    }

    /// Counts a rejection.
    #[inline]
    pub(super) fn reject(&self, state: State, retry_after: Option<Nanos>) -> Answer {
        self.counters.add(Count::rejected_in(state));
        Answer::refuse(state, retry_after)
    }

    /// The error for a refused call.
    #[inline(always)]
    pub(crate) fn rejected(&self, state: State, retry_after: Option<Nanos>) -> Rejected {
        Rejected {
            name: self.rejection_names.get(&self.name),
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

    fn acquire_external(&self, external: &External) -> Answer {
        let ran = self.on_store(external, || {
            external.run(&self.name, !external.fail_closed, |machine, now| {
                machine.acquire(now)
            })
        });
        let Some(admission) = ran else {
            // Degraded and failing closed: no call until the store is back.
            return self.reject(State::Open, None);
        };
        self.answer(admission)
    }
}
