//! Sliding windows of recent calls for the rate policies.
//!
//! Both windows are updated with atomics only, so recording a success never
//! takes a lock; the breaker's lock is taken only when a rate may have
//! reached its threshold. Each keeps exact counts of what it holds:
//!
//! * [`CountWindow`]: a true ring of the last `n` calls. A call takes the next
//!   slot from a wrapping cursor and swaps its outcome in; the failure and
//!   slow totals move by the difference with the outcome it replaced. A
//!   success arriving at a full window of successes changes nothing, so it
//!   writes nothing (`absorbs_success`): a healthy service's calls only read.
//! * [`TimeWindow`]: a fixed number of buckets each covering `d / buckets`.
//!   Every counter carries the number of the time slice it counts in its
//!   upper half, so a bucket left over from an old slice is recognised and
//!   restarted by the same compare-and-swap that counts the call: no separate
//!   rotation step that a concurrent call could slip between. Memory is
//!   bounded by the bucket count, whatever the call rate.

use crate::clock::Nanos;
use crate::sync::{AtomicU64, Ordering};
use std::sync::atomic::AtomicU8;

/// Buckets of a time window.
pub(crate) const TIME_BUCKETS: u64 = 10;

const FILLED: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

/// What a window holds: calls, and how many of them failed or were slow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The window of one breaker.
#[derive(Debug)]
pub(crate) enum CallWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl CallWindow {
    #[inline(always)]
    pub(crate) fn record(&self, now: Nanos, failed: bool, slow: bool) {
        match self {
            CallWindow::Count(w) => w.record(failed, slow),
            CallWindow::Time(w) => w.record(now, failed, slow),
        }
    }

    #[inline(always)]
    pub(crate) fn tally(&self, now: Nanos) -> Tally {
        match self {
            CallWindow::Count(w) => w.tally(),
            CallWindow::Time(w) => w.tally(now),
        }
    }

    /// The tally, or `None` when the window holds no failed or slow call
    /// (so no rate can trip) and finding that out was cheaper than a tally.
    #[inline(always)]
    pub(crate) fn troubled(&self, now: Nanos) -> Option<Tally> {
        match self {
            CallWindow::Count(w) => {
                let quiet =
                    w.failures.load(Ordering::Acquire) == 0 && w.slow.load(Ordering::Acquire) == 0;
                (!quiet).then(|| w.tally())
            }
            CallWindow::Time(w) => Some(w.tally(now)),
        }
    }

    /// Whether a plain success (not slow) would leave the window as it is:
    /// a full count window of plain successes looks the same whatever slot
    /// the call replaces, so not even the cursor has to move. A time window
    /// always counts the call.
    #[inline(always)]
    pub(crate) fn absorbs_success(&self) -> bool {
        match self {
            CallWindow::Count(w) => {
                w.held.load(Ordering::Relaxed) == w.size
                    && w.failures.load(Ordering::Relaxed) == 0
                    && w.slow.load(Ordering::Relaxed) == 0
            }
            CallWindow::Time(_) => false,
        }
    }

    pub(crate) fn clear(&self, now: Nanos) {
        match self {
            CallWindow::Count(w) => w.clear(),
            CallWindow::Time(w) => w.clear(now),
        }
    }

    /// Whether the window needs the time to record a call.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, CallWindow::Time(_))
    }
}

/// The last `size` calls.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// The slot the next call goes in, `0..size`. Advanced with a
    /// compare-and-swap that wraps it, so no call pays for a division.
    cursor: AtomicU64,
    /// Calls held since the last clear, up to `size`.
    held: AtomicU64,
    slots: Box<[AtomicU8]>,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> CountWindow {
        CountWindow {
            size: u64::from(size),
            cursor: AtomicU64::new(0),
            held: AtomicU64::new(0),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    fn record(&self, failed: bool, slow: bool) {
        let mut index = self.cursor.load(Ordering::Relaxed);
        loop {
            let next = if index + 1 >= self.size { 0 } else { index + 1 };
            match self.cursor.compare_exchange_weak(
                index,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => index = seen,
            }
        }
        if self.held.load(Ordering::Relaxed) < self.size {
            // Only while the window fills; the cap keeps racing adds honest.
            let _ = self
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |held| {
                    (held < self.size).then_some(held + 1)
                });
        }
        let slot = &self.slots[index.min(self.size - 1) as usize];
        let new = FILLED | if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        // Replacing an outcome with an equal one changes nothing: skip the write.
        if slot.load(std::sync::atomic::Ordering::Relaxed) == new {
            return;
        }
        let old = slot.swap(new, std::sync::atomic::Ordering::AcqRel);
        adjust(&self.failures, old & FAILED, new & FAILED);
        adjust(&self.slow, old & SLOW, new & SLOW);
    }

    #[inline(always)]
    fn tally(&self) -> Tally {
        Tally {
            calls: self.held.load(Ordering::Acquire),
            failures: self.failures.load(Ordering::Acquire),
            slow: self.slow.load(Ordering::Acquire),
        }
    }

    fn clear(&self) {
        for slot in self.slots.iter() {
            slot.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        self.failures.store(0, Ordering::Release);
        self.slow.store(0, Ordering::Release);
        self.held.store(0, Ordering::Release);
    }
}

fn adjust(total: &AtomicU64, old: u8, new: u8) {
    match (old != 0, new != 0) {
        (false, true) => {
            total.fetch_add(1, Ordering::AcqRel);
        }
        (true, false) => {
            total.fetch_sub(1, Ordering::AcqRel);
        }
        _ => {}
    }
}

/// Calls of the last `TIME_BUCKETS` slices of time.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    /// Length of one slice (one bucket).
    width: Nanos,
    /// Slices before this one were cleared.
    floor: AtomicU64,
    buckets: Box<[Bucket]>,
}

/// Each counter: `slice << 32 | count`, the slice kept modulo 2^32.
#[derive(Debug, Default)]
struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl TimeWindow {
    pub(crate) fn new(span: Nanos) -> TimeWindow {
        TimeWindow {
            width: (span / TIME_BUCKETS).max(1),
            floor: AtomicU64::new(0),
            buckets: (0..TIME_BUCKETS).map(|_| Bucket::default()).collect(),
        }
    }

    fn record(&self, now: Nanos, failed: bool, slow: bool) {
        let slice = now / self.width;
        let bucket = &self.buckets[(slice % TIME_BUCKETS) as usize];
        bump(&bucket.calls, slice);
        if failed {
            bump(&bucket.failures, slice);
        }
        if slow {
            bump(&bucket.slow, slice);
        }
    }

    fn tally(&self, now: Nanos) -> Tally {
        let current = now / self.width;
        let oldest = (current + 1)
            .saturating_sub(TIME_BUCKETS)
            .max(self.floor.load(Ordering::Acquire));
        let live = |word: u64| {
            let age = u64::from((current as u32).wrapping_sub((word >> 32) as u32));
            let live = age < TIME_BUCKETS && current.checked_sub(age).is_some_and(|s| s >= oldest);
            if live {
                word & u64::from(u32::MAX)
            } else {
                0
            }
        };
        let mut tally = Tally::default();
        for bucket in self.buckets.iter() {
            tally.calls += live(bucket.calls.load(Ordering::Acquire));
            tally.failures += live(bucket.failures.load(Ordering::Acquire));
            tally.slow += live(bucket.slow.load(Ordering::Acquire));
        }
        tally
    }

    fn clear(&self, now: Nanos) {
        let slice = now / self.width;
        self.floor.store(slice, Ordering::Release);
        let bucket = &self.buckets[(slice % TIME_BUCKETS) as usize];
        let empty = (slice & u64::from(u32::MAX)) << 32;
        for counter in [&bucket.calls, &bucket.failures, &bucket.slow] {
            counter.store(empty, Ordering::Release);
        }
    }
}

/// Adds one to `counter` for `slice`, restarting it if it holds an older slice.
fn bump(counter: &AtomicU64, slice: u64) {
    let tag = (slice & u64::from(u32::MAX)) << 32;
    let mut word = counter.load(Ordering::Acquire);
    loop {
        let next = if word & !u64::from(u32::MAX) == tag {
            if word & u64::from(u32::MAX) == u64::from(u32::MAX) {
                return; // saturated
            }
            word + 1
        } else {
            tag | 1
        };
        match counter.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(seen) => word = seen,
        }
    }
}

mod record;
#[cfg(all(test, not(loom)))]
mod tests;
