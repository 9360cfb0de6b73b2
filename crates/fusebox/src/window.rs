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
    /// Records a call admitted in generation `generation`. A call from
    /// another generation than the window's (the breaker was reset or
    /// closed again since it was admitted) leaves the window as it is.
    #[inline(always)]
    pub(crate) fn record(&self, generation: u64, now: Nanos, failed: bool, slow: bool) {
        match self {
            CallWindow::Count(w) => w.record(generation, failed, slow),
            CallWindow::Time(w) => w.record(generation, now, failed, slow),
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
                let quiet = count(w.failures.load(Ordering::Acquire)) == 0
                    && count(w.slow.load(Ordering::Acquire)) == 0;
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
                count(w.held.load(Ordering::Relaxed)) == w.size
                    && count(w.failures.load(Ordering::Relaxed)) == 0
                    && count(w.slow.load(Ordering::Relaxed)) == 0
            }
            CallWindow::Time(_) => false,
        }
    }

    /// Empties the window for the calls of `generation`.
    pub(crate) fn clear(&self, now: Nanos, generation: u64) {
        match self {
            CallWindow::Count(w) => w.clear(generation),
            CallWindow::Time(w) => w.clear(now, generation),
        }
    }

    /// Makes what the window holds belong to `generation` (a window just
    /// restored from a store, whose calls are that generation's).
    pub(crate) fn adopt(&self, generation: u64) {
        match self {
            CallWindow::Count(w) => w.adopt(generation),
            CallWindow::Time(w) => w.gate.store(epoch_bits(generation), Ordering::Release),
        }
    }

    /// Whether the window needs the time to record a call.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, CallWindow::Time(_))
    }
}

/// The low half of a tagged word: a count or a slot index.
const LOW: u64 = u32::MAX as u64;

#[inline(always)]
fn count(word: u64) -> u64 {
    word & LOW
}

/// The tag of a count window's words for `generation`: its low 32 bits,
/// in the upper half of the word.
#[inline(always)]
fn tag(generation: u64) -> u64 {
    generation << 32
}

/// The last `size` calls.
///
/// Each word carries the generation it counts for (its low 32 bits in the
/// word's upper half; the full generation in a slot), so clearing the window
/// is starting a new generation: a call admitted before a reset, recording
/// after it, finds its generation gone from every word it would touch and
/// changes nothing. Totals move by compare-and-swap only within their own
/// generation, in 32-bit two's complement: an decrement that overtakes its
/// increment (two calls on one slot, a ring apart) reads as zero for the
/// moment rather than as 2^64 - 1.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// Tag and the slot the next call goes in, `0..size`. Advanced with a
    /// compare-and-swap that wraps it, so no call pays for a division.
    cursor: AtomicU64,
    /// Tag and calls held since the last clear, up to `size`.
    held: AtomicU64,
    /// `generation << 3 | outcome bits`; a slot of another generation is
    /// empty.
    slots: Box<[std::sync::atomic::AtomicU64]>,
    /// Tag and failed calls held.
    failures: AtomicU64,
    /// Tag and slow calls held.
    slow: AtomicU64,
}

const SLOT_SHIFT: u32 = 3;

impl CountWindow {
    pub(crate) fn new(size: u32) -> CountWindow {
        CountWindow {
            size: u64::from(size),
            cursor: AtomicU64::new(0),
            held: AtomicU64::new(0),
            slots: (0..size)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        }
    }

    /// How many calls the window holds when full.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    #[inline(always)]
    pub(crate) fn record(&self, generation: u64, failed: bool, slow: bool) {
        let tag = tag(generation);
        let mut cursor = self.cursor.load(Ordering::Relaxed);
        let index = loop {
            if cursor & !LOW != tag {
                return; // another generation's window
            }
            let index = count(cursor);
            let next = if index + 1 >= self.size { 0 } else { index + 1 };
            match self.cursor.compare_exchange_weak(
                cursor,
                tag | next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break index,
                Err(seen) => cursor = seen,
            }
        };
        if count(self.held.load(Ordering::Relaxed)) < self.size {
            // Only while the window fills; the cap keeps racing adds honest.
            let _ = self
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |held| {
                    (held & !LOW == tag && count(held) < self.size).then_some(held + 1)
                });
        }
        let slot = &self.slots[index.min(self.size - 1) as usize];
        let bits = FILLED | if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        let new = generation << SLOT_SHIFT | u64::from(bits);
        let mut old = slot.load(std::sync::atomic::Ordering::Acquire);
        loop {
            // Replacing an outcome with an equal one changes nothing: skip
            // the write. A slot a later generation wrote is not ours.
            if old == new || old >> SLOT_SHIFT > generation {
                return;
            }
            match slot.compare_exchange_weak(
                old,
                new,
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(seen) => old = seen,
            }
        }
        let old_bits = if old >> SLOT_SHIFT == generation {
            old as u8 & (FILLED | FAILED | SLOW)
        } else {
            0 // an earlier generation's call: empty for this one
        };
        adjust(&self.failures, tag, old_bits & FAILED, bits & FAILED);
        adjust(&self.slow, tag, old_bits & SLOW, bits & SLOW);
    }

    #[inline(always)]
    fn tally(&self) -> Tally {
        let cursor = self.cursor.load(Ordering::Acquire);
        let tag = cursor & !LOW;
        let read = |word: &AtomicU64| {
            let word = word.load(Ordering::Acquire);
            if word & !LOW == tag {
                // Two's complement: a total briefly below zero reads as 0.
                (count(word) as u32 as i32).max(0) as u64
            } else {
                0
            }
        };
        let calls = read(&self.held);
        Tally {
            calls,
            failures: read(&self.failures).min(calls),
            slow: read(&self.slow).min(calls),
        }
    }

    fn clear(&self, generation: u64) {
        // The cursor last: a call of the new generation starts only once
        // every total is ready for it.
        let tag = tag(generation);
        self.slow.store(tag, Ordering::Release);
        self.failures.store(tag, Ordering::Release);
        self.held.store(tag, Ordering::Release);
        self.cursor.store(tag, Ordering::Release);
    }

    /// Retags what the window holds (restored from text, generation 0) as
    /// `generation`'s.
    fn adopt(&self, generation: u64) {
        let tag = tag(generation);
        for word in [&self.slow, &self.failures, &self.held, &self.cursor] {
            word.store(tag | count(word.load(Ordering::Relaxed)), Ordering::Release);
        }
        for slot in self.slots.iter() {
            let bits = slot.load(std::sync::atomic::Ordering::Relaxed) & 0b111;
            let value = if bits == 0 {
                0
            } else {
                generation << SLOT_SHIFT | bits
            };
            slot.store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The outcome bits of each slot, as this generation sees them.
    fn slot_bits(&self) -> impl Iterator<Item = u8> + '_ {
        let generation = self.cursor.load(Ordering::Acquire) >> 32;
        self.slots.iter().map(move |slot| {
            let value = slot.load(std::sync::atomic::Ordering::Acquire);
            if value >> SLOT_SHIFT & LOW == generation {
                value as u8 & (FILLED | FAILED | SLOW)
            } else {
                0
            }
        })
    }
}

/// Moves a tagged total by one, within generation `tag` only.
fn adjust(total: &AtomicU64, tag: u64, old: u8, new: u8) {
    let delta: u64 = match (old != 0, new != 0) {
        (false, true) => 1,
        (true, false) => LOW, // -1 in 32 bits
        _ => return,
    };
    let _ = total.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
        (word & !LOW == tag).then(|| tag | (count(word).wrapping_add(delta) & LOW))
    });
}

/// Calls of the last `TIME_BUCKETS` slices of time.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    /// Length of one slice (one bucket).
    width: Nanos,
    /// Slices before this one were cleared.
    floor: AtomicU64,
    /// The latest slice a call was recorded in: after an idle gap as long
    /// as the window, nothing in the buckets is live, whatever their tags
    /// say (tags are slice numbers modulo 2^32).
    newest: AtomicU64,
    /// The generation whose calls the window counts (its low 44 bits, in
    /// the upper part) and the calls recording right now (the low 20 bits).
    /// One word, so that a call's check of the generation and its claim to
    /// be recording are one atomic step, ordered with a clear's change of
    /// generation: a clear then waits for the calls that got in first, so a
    /// call of the old generation lands before the clear empties its bucket,
    /// never in the new generation's window.
    gate: AtomicU64,
    buckets: Box<[Bucket]>,
}

/// Each counter: `slice << 32 | count`, the slice kept modulo 2^32.
#[derive(Debug, Default)]
struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Bucket {
    fn counters(&self) -> [&AtomicU64; 3] {
        [&self.calls, &self.failures, &self.slow]
    }
}

impl TimeWindow {
    pub(crate) fn new(span: Nanos) -> TimeWindow {
        TimeWindow {
            width: (span / TIME_BUCKETS).max(1),
            floor: AtomicU64::new(0),
            newest: AtomicU64::new(0),
            gate: AtomicU64::new(0),
            buckets: (0..TIME_BUCKETS).map(|_| Bucket::default()).collect(),
        }
    }

    fn record(&self, generation: u64, now: Nanos, failed: bool, slow: bool) {
        let gate = self.gate.fetch_add(1, Ordering::AcqRel);
        if gate & !RECORDING == epoch_bits(generation) {
            self.count(now, failed, slow);
        }
        self.gate.fetch_sub(1, Ordering::AcqRel);
    }

    /// Records `calls` calls of `generation` at once, `failures` and `slow`
    /// of them failed or slow (a fleet process's batch).
    pub(crate) fn record_many(
        &self,
        generation: u64,
        now: Nanos,
        calls: u64,
        failures: u64,
        slow: u64,
    ) {
        let gate = self.gate.fetch_add(1, Ordering::AcqRel);
        if gate & !RECORDING == epoch_bits(generation) && calls > 0 {
            let bucket = self.bucket(now);
            let slice = now / self.width;
            for (counter, n) in bucket.counters().into_iter().zip([calls, failures, slow]) {
                if n > 0 {
                    bump_by(counter, slice, n);
                }
            }
        }
        self.gate.fetch_sub(1, Ordering::AcqRel);
    }

    fn count(&self, now: Nanos, failed: bool, slow: bool) {
        let bucket = self.bucket(now);
        let slice = now / self.width;
        let counted = [true, failed, slow];
        for (counter, yes) in bucket.counters().into_iter().zip(counted) {
            if yes {
                bump_by(counter, slice, 1);
            }
        }
    }

    /// The bucket of `now`'s slice, after emptying every bucket if the
    /// window was idle for all of its length.
    fn bucket(&self, now: Nanos) -> &Bucket {
        let slice = now / self.width;
        let newest = self.newest.load(Ordering::Acquire);
        if slice > newest {
            let before = self.newest.fetch_max(slice, Ordering::AcqRel);
            if slice.saturating_sub(before) >= TIME_BUCKETS {
                // Idle for the whole window: every bucket is stale, even one
                // whose tag matches this slice's modulo 2^32. The first call
                // after the gap empties them.
                for bucket in self.buckets.iter() {
                    for counter in bucket.counters() {
                        counter.store(0, Ordering::Release);
                    }
                }
            }
        }
        &self.buckets[(slice % TIME_BUCKETS) as usize]
    }

    fn tally(&self, now: Nanos) -> Tally {
        let current = now / self.width;
        let newest = self.newest.load(Ordering::Acquire);
        let oldest = (current + 1)
            .saturating_sub(TIME_BUCKETS)
            .max(self.floor.load(Ordering::Acquire));
        let live = |word: u64| {
            let age = u64::from((current as u32).wrapping_sub((word >> 32) as u32));
            let live = age < TIME_BUCKETS
                && current
                    .checked_sub(age)
                    .is_some_and(|s| s >= oldest && s <= newest);
            if live {
                count(word)
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
        // Counters of one call are bumped one after another: a tally taken
        // in between must not show more failures than calls.
        tally.failures = tally.failures.min(tally.calls);
        tally.slow = tally.slow.min(tally.calls);
        tally
    }

    fn clear(&self, now: Nanos, generation: u64) {
        let slice = now / self.width;
        let _ = self
            .gate
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |gate| {
                Some(epoch_bits(generation) | gate & RECORDING)
            });
        // Calls of the old generation still recording finish first (a few
        // instructions each, unless a thread was preempted mid-call).
        let mut spins = 0u32;
        while self.gate.load(Ordering::Acquire) & RECORDING != 0 {
            spins += 1;
            if spins < 64 {
                crate::sync::spin();
            } else {
                crate::sync::yield_now();
            }
        }
        self.floor.store(slice, Ordering::Release);
        let bucket = &self.buckets[(slice % TIME_BUCKETS) as usize];
        let empty = (slice & LOW) << 32;
        for counter in bucket.counters() {
            counter.store(empty, Ordering::Release);
        }
    }
}

/// The count of calls recording, in a time window's `gate`.
const RECORDING: u64 = (1 << 20) - 1;

/// A generation as a time window's `gate` holds it.
fn epoch_bits(generation: u64) -> u64 {
    generation << 20
}

/// Adds `n` to `counter` for `slice` (saturating), restarting it if it
/// holds an older slice. A counter already holding a later slice is left alone: this call
/// is at least a whole window old (its thread was held up between reading
/// the clock and recording).
fn bump_by(counter: &AtomicU64, slice: u64, n: u64) {
    let tag = (slice & LOW) << 32;
    let mut word = counter.load(Ordering::Acquire);
    loop {
        let next = if word & !LOW == tag {
            if count(word) == LOW {
                return; // saturated
            }
            tag | count(word).saturating_add(n).min(LOW)
        } else if count(word) != 0 && is_later((word >> 32) as u32, slice as u32) {
            // An empty counter holds nothing to keep, whatever its tag: a
            // fresh or zeroed one is tag 0, which reads as "later" than
            // every slice in the upper half of the tag space.
            return;
        } else {
            tag | n.min(LOW)
        };
        match counter.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(seen) => word = seen,
        }
    }
}

/// Whether slice tag `a` is after `b`, modulo 2^32 (tags within 2^31 of
/// each other, as the live ones of a window are).
fn is_later(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

mod record;
#[cfg(all(test, not(fusebox_loom)))]
mod tests;
