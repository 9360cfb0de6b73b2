//! The answer to a request to run a call, in two words.

use crate::clock::Nanos;
use crate::machine::{Ticket, MAX_GENERATION};
use crate::State;

/// Set in `head` for a refusal; no generation reaches it.
const REFUSED: u64 = 1 << 63;
const _: () = assert!(MAX_GENERATION < REFUSED);
/// `tail` of a refusal that cannot say when to retry.
const NO_RETRY: u64 = u64::MAX;

/// A [`Ticket`], or the state that refused the call and when to retry,
/// packed in two words so that it comes back from an out-of-line function
/// in registers. A `Result<Ticket, Rejected>` is five words and comes back
/// through memory, and a caller copying the ticket from there (into an
/// `async` call's future, say) stalls on store forwarding: that copy cost
/// more than the rest of the call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    /// The ticket's generation, or `REFUSED` with the state's bits.
    head: u64,
    /// The ticket's probe id, or the retry time in nanoseconds.
    tail: u64,
}

impl Answer {
    #[inline(always)]
    pub(crate) fn admit(ticket: Ticket) -> Answer {
        debug_assert!(ticket.generation <= MAX_GENERATION);
        Answer {
            head: ticket.generation,
            tail: ticket.probe,
        }
    }

    #[inline(always)]
    pub(crate) fn refuse(state: State, retry_after: Option<Nanos>) -> Answer {
        Answer {
            head: REFUSED | state.to_bits(),
            // A wait of u64::MAX ns (584 years) reads as unknown: no loss.
            tail: retry_after.unwrap_or(NO_RETRY),
        }
    }

    /// The ticket, or the refusing state and the time to retry after.
    #[inline(always)]
    pub(crate) fn ticket(self) -> Result<Ticket, (State, Option<Nanos>)> {
        if self.head & REFUSED == 0 {
            return Ok(Ticket {
                generation: self.head,
                probe: self.tail,
            });
        }
        let state = State::from_bits(self.head & !REFUSED);
        let retry_after = (self.tail != NO_RETRY).then_some(self.tail);
        Err((state, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_unpack_to_what_was_packed() {
        let ticket = Ticket {
            generation: MAX_GENERATION,
            probe: u64::MAX,
        };
        assert_eq!(Answer::admit(ticket).ticket(), Ok(ticket));
        for state in [State::Open, State::HalfOpen, State::ForcedOpen] {
            for retry in [None, Some(0), Some(12_300_000_000)] {
                assert_eq!(Answer::refuse(state, retry).ticket(), Err((state, retry)));
            }
        }
    }
}
