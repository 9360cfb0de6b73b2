//! One synchronisation thread per process, `fusebox-sync`, for every
//! fleet-mode breaker: a service with a breaker per upstream host must not
//! get a thread per host. Each breaker is due once per interval, or at once
//! when it asks (its own view tripped). The thread ends when no breaker is
//! left, and a forked child, which has none of its parent's threads,
//! starts its own.
//!
//! Picking the next breaker is a heap's pop, so the schedule's lock is held
//! for a few hundred nanoseconds whatever the number of breakers: a
//! `fork()` that lands while the thread holds it (the child would wait for
//! it for ever) is that unlikely, and thousands of breakers each keep
//! their interval.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::breaker::Shared;
use crate::sync::lock_std;

/// A breaker's place in the schedule, and its call for a synchronisation
/// before its interval is up.
#[derive(Default)]
pub(crate) struct Signal {
    urgent: AtomicBool,
    slot: AtomicUsize,
}

impl Signal {
    /// Asks for a synchronisation now.
    pub(crate) fn wake(&self) {
        if !self.urgent.swap(true, Ordering::AcqRel) {
            let scheduler = scheduler();
            let mut schedule = lock_std(&scheduler.schedule);
            schedule.urgent.push_back(self.slot.load(Ordering::Relaxed));
            scheduler.wake.notify_one();
        }
    }
}

struct Scheduler {
    schedule: Mutex<Schedule>,
    wake: Condvar,
}

#[derive(Default)]
struct Schedule {
    /// The process whose thread serves the schedule (0: none runs).
    running_in: u32,
    /// Breakers by slot; a freed slot is reused.
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    live: usize,
    /// When each slot is next due. A slot synchronised early leaves its
    /// older entry behind, told apart by `Entry::due`.
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Slots that asked to synchronise now, oldest first.
    urgent: VecDeque<usize>,
}

struct Entry {
    due: Instant,
    interval: Duration,
    signal: Arc<Signal>,
    breaker: Weak<Shared>,
}

/// A schedule for one process: a forked child must not wait for a lock
/// its parent's thread held at the fork (no thread of the child's would
/// ever release it), so it takes a schedule of its own.
struct ForProcess {
    pid: AtomicU32,
    scheduler: OnceLock<Scheduler>,
}

/// Processes in one line of descent (a child of a child...) before the
/// last schedule is shared.
const GENERATIONS: usize = 16;

/// This process's scheduler.
fn scheduler() -> &'static Scheduler {
    static SCHEDULERS: [ForProcess; GENERATIONS] = [const {
        ForProcess {
            pid: AtomicU32::new(0),
            scheduler: OnceLock::new(),
        }
    }; GENERATIONS];
    let me = std::process::id();
    let mine = SCHEDULERS
        .iter()
        .find(|s| s.pid.load(Ordering::Acquire) == me)
        .or_else(|| {
            SCHEDULERS.iter().find(|s| {
                s.pid
                    .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            })
        })
        .unwrap_or(&SCHEDULERS[GENERATIONS - 1]);
    mine.scheduler.get_or_init(|| Scheduler {
        schedule: Mutex::new(Schedule::default()),
        wake: Condvar::new(),
    })
}

/// `interval` after `now`, or as late as the clock goes.
fn later(now: Instant, interval: Duration) -> Instant {
    now.checked_add(interval)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// Synchronises `breaker` every `interval`, and when `signal` asks.
pub(crate) fn add(breaker: Weak<Shared>, interval: Duration, signal: Arc<Signal>) {
    let scheduler = scheduler();
    let mut schedule = lock_std(&scheduler.schedule);
    let due = later(Instant::now(), interval);
    let slot = schedule.free.pop().unwrap_or(schedule.slots.len());
    signal.slot.store(slot, Ordering::Relaxed);
    let entry = Entry {
        due,
        interval,
        signal,
        breaker,
    };
    match schedule.slots.get_mut(slot) {
        Some(free) => *free = Some(entry),
        None => schedule.slots.push(Some(entry)),
    }
    schedule.live += 1;
    schedule.heap.push(Reverse((due, slot)));
    run_here(&mut schedule);
    scheduler.wake.notify_one();
}

fn run_here(schedule: &mut Schedule) {
    let pid = std::process::id();
    if schedule.running_in == pid || schedule.live == 0 {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("fusebox-sync".to_owned())
        .spawn(serve);
    match spawned {
        Ok(_) => schedule.running_in = pid,
        Err(error) => tracing::warn!(
            target: "fusebox",
            "cannot start the fleet-mode synchronisation thread ({error}); \
             breakers synchronise only when their state changes"
        ),
    }
}

impl Schedule {
    /// The next slot to synchronise, or how long to wait for one.
    fn next(&mut self, now: Instant) -> Result<usize, Option<Duration>> {
        if let Some(slot) = self.urgent.pop_front() {
            return Ok(slot);
        }
        while let Some(&Reverse((due, slot))) = self.heap.peek() {
            let current = self.slots.get(slot).and_then(Option::as_ref);
            if current.is_none_or(|entry| entry.due != due) {
                self.heap.pop(); // synchronised early, or gone
                continue;
            }
            if due > now {
                return Err(Some(due - now));
            }
            self.heap.pop();
            return Ok(slot);
        }
        Err(None)
    }

    /// Marks `slot` synchronised now; its breaker, unless it is gone (then
    /// the slot is freed).
    fn take(&mut self, slot: usize, now: Instant) -> Option<Weak<Shared>> {
        let entry = self.slots.get_mut(slot)?.as_mut()?;
        if entry.breaker.strong_count() == 0 {
            self.slots[slot] = None;
            self.free.push(slot);
            self.live -= 1;
            return None;
        }
        entry.signal.urgent.store(false, Ordering::Release);
        entry.due = later(now, entry.interval);
        let due = entry.due;
        let breaker = entry.breaker.clone();
        self.heap.push(Reverse((due, slot)));
        Some(breaker)
    }
}

fn serve() {
    let scheduler = scheduler();
    let mut schedule = lock_std(&scheduler.schedule);
    loop {
        if schedule.live == 0 {
            // Under the lock: a breaker added from now on starts a thread.
            schedule.running_in = 0;
            return;
        }
        let now = Instant::now();
        match schedule.next(now) {
            Ok(slot) => {
                let Some(breaker) = schedule.take(slot, now) else {
                    continue;
                };
                drop(schedule);
                if let Some(shared) = breaker.upgrade() {
                    let _ = shared.synchronise();
                }
                schedule = lock_std(&scheduler.schedule);
            }
            Err(wait) => {
                // Nothing due: sleep until the next one is (every live slot
                // has one entry in the heap; a gone breaker's slot is freed
                // when its entry comes up).
                let wait = wait
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                schedule = scheduler
                    .wake
                    .wait_timeout(schedule, wait)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
        }
    }
}
