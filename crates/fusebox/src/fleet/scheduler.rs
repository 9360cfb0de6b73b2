//! One synchronisation thread per process, `fusebox-sync`, for every
//! fleet-mode breaker: a service with a breaker per upstream host must not
//! get a thread per host. Each breaker is due once per interval, or at once
//! when it asks (its own view tripped). The thread ends when no breaker is
//! left, and a forked child, which has none of its parent's threads,
//! starts its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::breaker::Shared;
use crate::sync::lock_std;

/// A breaker's call for a synchronisation before its interval is up.
#[derive(Default)]
pub(crate) struct Signal {
    urgent: AtomicBool,
}

impl Signal {
    /// Asks for a synchronisation now.
    pub(crate) fn wake(&self) {
        if !self.urgent.swap(true, Ordering::AcqRel) {
            // Under the lock, so the thread cannot be between looking at
            // the flags and going to sleep: no request waits an interval.
            let _schedule = lock_std(&scheduler().schedule);
            scheduler().wake.notify_one();
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
    due: Vec<Due>,
}

struct Due {
    at: Instant,
    interval: Duration,
    signal: Arc<Signal>,
    breaker: Weak<Shared>,
}

/// `interval` after `now`, or as late as the clock goes.
fn later(now: Instant, interval: Duration) -> Instant {
    now.checked_add(interval)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

fn scheduler() -> &'static Scheduler {
    static SCHEDULER: OnceLock<Scheduler> = OnceLock::new();
    SCHEDULER.get_or_init(|| Scheduler {
        schedule: Mutex::new(Schedule::default()),
        wake: Condvar::new(),
    })
}

/// Synchronises `breaker` every `interval`, and when `signal` asks.
pub(crate) fn add(breaker: Weak<Shared>, interval: Duration, signal: Arc<Signal>) {
    let mut schedule = lock_std(&scheduler().schedule);
    schedule.due.push(Due {
        at: later(Instant::now(), interval),
        interval,
        signal,
        breaker,
    });
    run_here(&mut schedule);
    scheduler().wake.notify_one();
}

/// Starts the thread in this process if it does not run here (a forked
/// child). Cheap when it does: one lock, one comparison.
pub(crate) fn ensure_running() {
    run_here(&mut lock_std(&scheduler().schedule));
}

fn run_here(schedule: &mut Schedule) {
    let pid = std::process::id();
    if schedule.running_in == pid || schedule.due.is_empty() {
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

fn serve() {
    let scheduler = scheduler();
    let mut schedule = lock_std(&scheduler.schedule);
    loop {
        schedule.due.retain(|d| d.breaker.strong_count() > 0);
        if schedule.due.is_empty() {
            // Under the lock: a breaker added from now on starts a thread.
            schedule.running_in = 0;
            return;
        }
        let now = Instant::now();
        let next = schedule
            .due
            .iter()
            .position(|d| d.signal.urgent.load(Ordering::Acquire))
            .or_else(|| {
                (0..schedule.due.len())
                    .min_by_key(|&i| schedule.due[i].at)
                    .filter(|&i| schedule.due[i].at <= now)
            });
        let Some(index) = next else {
            let soonest = schedule.due.iter().map(|d| d.at).min().unwrap_or(now);
            schedule = scheduler
                .wake
                .wait_timeout(schedule, soonest.saturating_duration_since(now))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
            continue;
        };
        let due = &mut schedule.due[index];
        due.signal.urgent.store(false, Ordering::Release);
        due.at = later(now, due.interval);
        let breaker = due.breaker.clone();
        drop(schedule);
        if let Some(shared) = breaker.upgrade() {
            let _ = shared.synchronise();
        }
        schedule = lock_std(&scheduler.schedule);
    }
}
