//! Call counts for metrics, kept without writing memory other threads use.
//!
//! Each live thread claims one of [`STRIPES`] slots the first time it
//! counts anything, and releases it when it exits. A slot has one writer at a
//! time, so an increment is a plain load and store to a cache line no other
//! thread writes: no locked instruction, no cache-line ping-pong between
//! cores. Threads beyond the first [`STRIPES`] share an overflow line updated
//! with `fetch_add`. Readers sum all lines.

use crate::sync::{AtomicU64, Ordering::Relaxed};
use crate::State;

pub(crate) const STRIPES: usize = 16;
const _: () = assert!(
    STRIPES.is_power_of_two(),
    "slots are masked with STRIPES - 1"
);
const KINDS: usize = 9;

/// What a counter counts. Rejections are kept by the refusing state, for
/// metrics labelled by it; nine kinds fit a thread's 128-byte line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    Success = 0,
    Failure = 1,
    RejectedOpen = 2,
    Ignored = 3,
    Slow = 4,
    Cancelled = 5,
    RejectedHalfOpen = 6,
    RejectedForcedOpen = 7,
    /// Successes of a fleet-mode breaker that its closed-call batch does
    /// not take from `Success` (trial calls and outcomes of an earlier
    /// generation, which the local machine decides on).
    Unmerged = 8,
}

impl Count {
    /// Every rejection kind with the state it counts.
    pub(crate) const REJECTIONS: [(Count, State); 3] = [
        (Count::RejectedOpen, State::Open),
        (Count::RejectedHalfOpen, State::HalfOpen),
        (Count::RejectedForcedOpen, State::ForcedOpen),
    ];

    /// The kind counting a rejection by `state`. Only open, half-open and
    /// forced-open breakers refuse calls; a store that cannot be reached
    /// refuses as open.
    #[inline(always)]
    pub(crate) const fn rejected_in(state: State) -> Count {
        match state {
            State::HalfOpen => Count::RejectedHalfOpen,
            State::ForcedOpen => Count::RejectedForcedOpen,
            State::Closed | State::Open | State::Disabled => Count::RejectedOpen,
        }
    }
}

#[repr(align(128))]
#[derive(Default)]
struct Line([AtomicU64; KINDS]);

/// Totals of one breaker, one cache line per thread slot.
pub(crate) struct Counters {
    /// Inline rather than boxed: the breaker is behind an `Arc` already,
    /// and a call then finds its line without loading a pointer first.
    lines: [Line; STRIPES],
    overflow: Line,
}

/// A snapshot of all totals, indexed by [`Count`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals([u64; KINDS]);

impl Totals {
    pub(crate) fn get(&self, kind: Count) -> u64 {
        self.0[kind as usize]
    }

    /// Rejections in every state.
    pub(crate) fn rejections(&self) -> u64 {
        Count::REJECTIONS
            .iter()
            .fold(0, |sum, (kind, _)| sum.wrapping_add(self.get(*kind)))
    }

    pub(crate) fn since(&self, baseline: &Totals) -> Totals {
        let mut out = *self;
        for (value, base) in out.0.iter_mut().zip(baseline.0) {
            *value = value.wrapping_sub(base);
        }
        out
    }
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            lines: std::array::from_fn(|_| Line::default()),
            overflow: Line::default(),
        }
    }

    #[inline]
    pub(crate) fn add(&self, kind: Count) {
        match thread_slot() {
            Some(index) => {
                // The mask is a no-op (slots are below STRIPES) that spares
                // the bounds check.
                let cell = &self.lines[index & (STRIPES - 1)].0[kind as usize];
                cell.store(cell.load(Relaxed).wrapping_add(1), Relaxed);
            }
            None => {
                self.overflow.0[kind as usize].fetch_add(1, Relaxed);
            }
        }
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for line in self.lines.iter().chain(std::iter::once(&self.overflow)) {
            for (total, cell) in totals.0.iter_mut().zip(&line.0) {
                *total = total.wrapping_add(cell.load(Relaxed));
            }
        }
        totals
    }
}

/// The calling thread's slot, below [`STRIPES`], or `None` when every slot
/// is taken: what it writes, no other live thread writes.
#[inline]
pub(crate) fn thread_slot() -> Option<usize> {
    slot::current()
}

#[cfg(not(fusebox_loom))]
mod slot {
    use super::STRIPES;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Bit i set: slot i is owned by a live thread.
    static TAKEN: AtomicU32 = AtomicU32::new(0);

    const UNCLAIMED: usize = usize::MAX;
    const NO_SLOT: usize = usize::MAX - 1;

    thread_local! {
        /// This thread's slot. A plain constant-initialised cell, so reading
        /// it is one thread-local load with no lazy-init or destructor check.
        static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
        /// Gives the slot back when the thread exits.
        static RELEASE: Release = const { Release };
    }

    struct Release;

    impl Drop for Release {
        fn drop(&mut self) {
            let slot = SLOT.with(|slot| slot.replace(NO_SLOT));
            if slot < STRIPES {
                // Release: the next owner sees every count this thread wrote.
                TAKEN.fetch_and(!(1 << slot), Ordering::Release);
            }
        }
    }

    /// This thread's slot, or `None` when all are taken (or the thread is
    /// being torn down).
    #[inline]
    pub(super) fn current() -> Option<usize> {
        let slot = SLOT.with(Cell::get);
        if slot < STRIPES {
            return Some(slot);
        }
        if slot == UNCLAIMED {
            claim()
        } else {
            None
        }
    }

    #[cold]
    fn claim() -> Option<usize> {
        // Registering the destructor can fail only during thread teardown.
        if RELEASE.try_with(|_| ()).is_err() {
            return None;
        }
        let mut taken = TAKEN.load(Ordering::Relaxed);
        let slot = loop {
            let free = (!taken).trailing_zeros() as usize;
            if free >= STRIPES {
                break NO_SLOT;
            }
            match TAKEN.compare_exchange_weak(
                taken,
                taken | (1 << free),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break free,
                Err(now) => taken = now,
            }
        };
        SLOT.with(|cell| cell.set(slot));
        (slot < STRIPES).then_some(slot)
    }
}

#[cfg(fusebox_loom)]
mod slot {
    /// Under loom every thread uses the shared overflow line, which keeps
    /// the model small; the slot protocol is exercised by the normal tests.
    pub(super) fn current() -> Option<usize> {
        None
    }
}

#[cfg(all(test, not(fusebox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counters = std::sync::Arc::new(Counters::new());
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counters.add(Count::Success);
                    }
                    counters.add(Count::Failure);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let totals = counters.totals();
        assert_eq!(totals.get(Count::Success), 40_000);
        assert_eq!(totals.get(Count::Failure), 40);
        assert_eq!(totals.rejections(), 0);
    }
}
