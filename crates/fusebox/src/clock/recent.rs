//! The time for the price of a load: a background thread, the ticker,
//! publishes the coarse clock every millisecond and readers load it.
//!
//! An open breaker reads the time on every rejection only to learn that its
//! deadline is still far away; even the kernel's coarse clock costs more
//! than the rest of a rejection. So rejections read this cached time.
//!
//! Correctness never rests on the ticker:
//!
//! * The cached time is never ahead of the coarse clock, and callers only use
//!   it to *refuse* (with [`COARSE_LAG`](super::COARSE_LAG) to spare); what is
//!   admitted is decided on the precise clock. A late cached time can keep a
//!   breaker open a little longer, never shorter.
//! * Every [`CHECK_EVERY`]th read of a thread, and every read while nothing
//!   is published, reads the coarse clock itself. A cached time behind it by
//!   more than [`STALE`] wakes the ticker, and a ticker that still does not
//!   publish (lost: a forked child has only the thread that forked) is
//!   replaced. A frozen cached time misleads at most a few reads per thread.
//!
//! The ticker is started, parked, when the first in-memory breaker on the
//! system clock is built (so no call ever pays for starting a thread, or
//! allocates for it), runs while rejections read it and parks again after a
//! second without a reader.
//!
//! A process may [`forbid`] the ticker (the Python package does: CPython
//! warns on `os.fork()` in a process with threads). Then nothing is
//! published and every read goes to the coarse clock, in the cold path only.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use super::{coarse_since_origin, Nanos};

/// How often the ticker publishes the time.
const PERIOD: Duration = Duration::from_millis(1);
/// Ticks without a reader after which the ticker parks.
const IDLE_TICKS: u32 = 1000;
/// Every this many reads a thread checks the cached time against the clock.
pub(crate) const CHECK_EVERY: u32 = 16;
/// A cached time this far behind the clock means the ticker is not running;
/// a ticker woken this long ago that has not published is lost.
pub(crate) const STALE: Nanos = 50_000_000;

/// What readers load, on a cache line of its own: the ticker writes it once
/// a tick, and nothing else should be invalidated with it.
#[repr(align(64))]
struct Published {
    /// Coarse nanoseconds since the clock origin; 0 while the ticker parks.
    now: AtomicU64,
    /// Set by readers, cleared by the ticker every tick: was it read?
    wanted: AtomicBool,
}

static PUBLISHED: Published = Published {
    now: AtomicU64::new(0),
    wanted: AtomicBool::new(false),
};
/// When a reader last woke the ticker (coarse nanoseconds); 0 once the
/// ticker has published since.
static WOKEN_AT: AtomicU64 = AtomicU64::new(0);
/// The number of the ticker that should run; any other one stops.
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// The current ticker's thread, to unpark it.
static TICKER: Mutex<Option<Thread>> = Mutex::new(None);
/// Set for good once the process has forbidden the ticker.
static FORBIDDEN: AtomicBool = AtomicBool::new(false);

thread_local! {
    static READS: Cell<u32> = const { Cell::new(0) };
}

/// Starts the ticker, parked, unless it was started already.
pub(crate) fn start() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        fork::after_fork_in_child(forked);
        replace_ticker(false)
    });
}

/// Runs in a forked child, before `fork()` returns there: the child has
/// only the thread that forked, so the ticker is gone and the cached time
/// frozen. Unpublishing it makes the first read in the child read the clock
/// (and start a new ticker), so no call is misled. Only atomic stores: all
/// that is safe between `fork()` and the child's first instruction.
extern "C" fn forked() {
    PUBLISHED.now.store(0, Ordering::Relaxed);
    CURRENT.fetch_add(1, Ordering::AcqRel);
    // Woken long ago and silent: the next read replaces the ticker at once.
    WOKEN_AT.store(1, Ordering::Release);
}

/// No ticker runs in this process from now on: a running one stops and
/// none is started again; reads go to the coarse clock.
pub(crate) fn forbid() {
    FORBIDDEN.store(true, Ordering::Release);
    // The running ticker (if any) stops at its next look at CURRENT.
    CURRENT.fetch_add(1, Ordering::AcqRel);
    if let Some(ticker) = crate::sync::lock_std(&TICKER).take() {
        ticker.unpark();
    }
    // It may publish once more after this; `checked` unpublishes that.
    PUBLISHED.now.store(0, Ordering::Relaxed);
}

/// The coarse time, a tick or so behind it (see the module documentation
/// for when it is more).
#[inline]
pub(crate) fn recent() -> Nanos {
    let now = PUBLISHED.now.load(Ordering::Relaxed);
    if !PUBLISHED.wanted.load(Ordering::Relaxed) {
        PUBLISHED.wanted.store(true, Ordering::Relaxed);
    }
    let reads = READS.with(|reads| {
        let next = reads.get().wrapping_add(1);
        reads.set(next);
        next
    });
    if now == 0 || reads % CHECK_EVERY == 0 {
        return checked(now);
    }
    now
}

/// Reads the coarse clock, and wakes or replaces the ticker if the cached
/// time is missing or stale.
#[cold]
#[inline(never)]
fn checked(cached: Nanos) -> Nanos {
    let now = coarse_since_origin();
    if FORBIDDEN.load(Ordering::Acquire) {
        if cached != 0 {
            // Published by a ticker as it stopped: never read it again.
            PUBLISHED.now.store(0, Ordering::Relaxed);
        }
        return now;
    }
    if cached == 0 || now.saturating_sub(cached) > STALE {
        wake(now);
    }
    now
}

fn wake(now: Nanos) {
    let woken = WOKEN_AT.load(Ordering::Acquire);
    if woken == 0 {
        if WOKEN_AT
            .compare_exchange(0, now.max(1), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // `try_lock`: in a forked child the lock may be held by a thread
            // that no longer exists. Not waking is slower, never wrong.
            if let Ok(ticker) = TICKER.try_lock() {
                if let Some(ticker) = &*ticker {
                    ticker.unpark();
                }
            }
        }
    } else if now.saturating_sub(woken) > STALE
        && WOKEN_AT
            .compare_exchange(woken, now.max(1), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        // Woken and silent: lost (or never started). Only here, in a forked
        // child or after a failed start, does a call start a thread.
        replace_ticker(true);
    }
}

/// Starts a new ticker, running or parked; the old one, if alive, stops.
fn replace_ticker(running: bool) {
    if FORBIDDEN.load(Ordering::Acquire) {
        return;
    }
    let mut ticker = match TICKER.try_lock() {
        Ok(ticker) => ticker,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        // Held by a thread lost to a fork, or replacing it right now: either
        // way reads go to the clock until a ticker publishes.
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    let id = CURRENT.fetch_add(1, Ordering::AcqRel) + 1;
    // If no thread can be started, nothing is published and every read goes
    // to the clock: slower, still right.
    *ticker = thread::Builder::new()
        .name("fusebox-clock".into())
        .spawn(move || tick(id, running))
        .ok()
        .map(|handle| handle.thread().clone());
}

fn tick(id: u64, mut running: bool) {
    let mut idle = 0;
    while CURRENT.load(Ordering::Acquire) == id {
        if !running {
            PUBLISHED.now.store(0, Ordering::Relaxed);
            // A reader that finds nothing published unparks this thread;
            // if it did so already, park returns at once.
            thread::park();
            running = true;
            idle = 0;
            continue;
        }
        // Within the origin's own coarse tick this is 0, "nothing
        // published", and readers read the clock: publishing 1 instead
        // would put the cached time ahead of it.
        PUBLISHED
            .now
            .store(coarse_since_origin(), Ordering::Relaxed);
        WOKEN_AT.store(0, Ordering::Release);
        if PUBLISHED.wanted.swap(false, Ordering::Relaxed) {
            idle = 0;
        } else {
            idle += 1;
            running = idle < IDLE_TICKS;
        }
        if running {
            thread::sleep(PERIOD);
        }
    }
}

/// Makes the ticker stop as if lost, leaving `frozen` as the cached time:
/// what a forked child sees.
/// Returns the number no ticker has, which the next one will exceed.
#[cfg(test)]
pub(crate) fn freeze(frozen: Nanos) -> u64 {
    let orphaned = CURRENT.fetch_add(1, Ordering::AcqRel) + 1;
    if let Some(ticker) = &*crate::sync::lock_std(&TICKER) {
        ticker.unpark(); // so a parked one sees it must stop
    }
    PUBLISHED.now.store(frozen, Ordering::Relaxed);
    orphaned
}

mod fork;
#[cfg(all(test, not(fusebox_loom)))]
mod tests;
