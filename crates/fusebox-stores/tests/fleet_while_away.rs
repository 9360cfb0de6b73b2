//! Fleet mode when the store is away (an SQLite file locked by another
//! process) or the process forks: manual operations made meanwhile, the
//! calls around them, and calls not yet sent. Regressions from an outside
//! review: each fleet-mode case failed before, while its exact-mode twin
//! passed.

mod common;

use std::time::Duration;

use common::write_lock::WriteLock;
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::SqliteStore;

common::write_lock_worker!();

fn sqlite_breaker(path: &std::path::Path, clock: &ManualClock, fleet: bool) -> CircuitBreaker {
    breaker_tripping_at(1, path, clock, fleet)
}

/// Lets the store back (`lock` released), `wait` later, and has `b`
/// synchronise with it.
fn back_after(lock: WriteLock, wait: Duration, b: &CircuitBreaker, clock: &ManualClock) {
    lock.release();
    clock.advance(wait);
    let _ = b.sync_now();
    let _ = b.state();
    let _ = b.sync_now();
    assert!(!b.metrics().degraded, "the store is back");
}

/// Breaker `api` on the SQLite file at `path`, opening after `threshold`
/// failures in a row; in fleet mode when `fleet`.
fn breaker_tripping_at(
    threshold: u32,
    path: &std::path::Path,
    clock: &ManualClock,
    fleet: bool,
) -> CircuitBreaker {
    let mut store = SqliteStore::open(path).unwrap().with_clock(clock.clone());
    if fleet {
        store = store.sync_every(Duration::from_millis(10));
    }
    CircuitBreaker::builder("api")
        .failure_threshold(threshold)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .store(store)
        .build()
        .unwrap()
}

/// An operator resets an open breaker while the store is locked by another
/// process; nobody else touches the breaker. When the store comes back
/// (after the open duration has elapsed), the reset must be written back,
/// as exact mode does. Fleet mode ticks the stored Open -> HalfOpen first,
/// which moves the generation, and then drops the reset as "overtaken".
fn reset_while_store_locked_survives(fleet: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let b = sqlite_breaker(&path, &clock, fleet);
    let _ = b.call(|| Err::<(), _>("down"));
    let _ = b.sync_now();
    assert_eq!(b.state(), State::Open);
    let lock = WriteLock::take(&path);
    b.reset();
    assert_eq!(
        b.state(),
        State::Closed,
        "reset locally while the store is away"
    );
    back_after(lock, Duration::from_secs(31), &b, &clock);
    let observer = sqlite_breaker(&path, &clock, false);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Closed, State::Closed),
        "the operator's reset was lost (fleet mode: {fleet})"
    );
}

#[test]
fn exact_mode_writes_back_a_reset_made_while_the_store_was_locked() {
    reset_while_store_locked_survives(false);
}

#[test]
fn fleet_mode_writes_back_a_reset_made_while_the_store_was_locked() {
    reset_while_store_locked_survives(true);
}

/// Rewrites the stored record of `name` with `edit`.
fn edit_record(store: &SqliteStore, name: &str, edit: impl Fn(&str) -> String) {
    use fusebox::store::Store;
    store
        .transact(name, &mut |stored, _| stored.map(&edit))
        .unwrap();
}

/// A stored record whose next trial id has the top bit set (a foreign or
/// damaged value, accepted by decode): a fleet-mode process takes the
/// store-admitted trial call for one its local machine admitted alone
/// (`LOCAL_PROBE`), so its outcome never reaches the store. The fleet
/// stays half-open with the slot taken: every later caller is refused.
#[test]
fn a_trial_call_admitted_by_the_store_reports_to_the_store_whatever_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let operator = sqlite_breaker(&path, &clock, false);
    operator.trip();
    let raw = SqliteStore::open(&path).unwrap().with_clock(clock.clone());
    edit_record(&raw, "api", |text| {
        text.split(' ')
            .map(|f| {
                if f.starts_with("next=") {
                    "next=9223372036854775809".to_owned()
                } else {
                    f.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    clock.advance(Duration::from_secs(31));
    let fleet = sqlite_breaker(&path, &clock, true);
    assert_eq!(fleet.state(), State::HalfOpen);
    fleet
        .call(|| Ok::<(), &str>(()))
        .expect("the trial call is admitted");
    let _ = fleet.sync_now();
    let observer = sqlite_breaker(&path, &clock, false);
    assert_eq!(
        observer.state(),
        State::Closed,
        "the successful trial call closed the fleet's breaker"
    );
}

/// While the store is locked, a process fails enough calls to open its
/// breaker, and an operator then resets it there. When the store is back,
/// the failures from before the reset must not open the breaker over the
/// reset: exact mode writes the reset back. Fleet mode merges the batch of
/// pre-reset failures first (which opens the shared breaker, a new
/// generation), then drops the reset because the generation moved.
fn failures_before_a_reset_made_while_locked_do_not_reopen(fleet: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let b = breaker_tripping_at(3, &path, &clock, fleet);
    b.call(|| Ok::<(), &str>(())).unwrap();
    let _ = b.sync_now();
    let lock = WriteLock::take(&path);
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    let _ = b.sync_now();
    assert_eq!(b.state(), State::Open, "opened locally on its own failures");
    b.reset();
    assert_eq!(b.state(), State::Closed);
    back_after(lock, Duration::from_secs(1), &b, &clock); // the retry interval
    let observer = sqlite_breaker(&path, &clock, false);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Closed, State::Closed),
        "failures from before the reset opened the breaker (fleet mode: {fleet})"
    );
}

#[test]
fn exact_mode_failures_before_a_reset_made_while_locked_do_not_reopen() {
    failures_before_a_reset_made_while_locked_do_not_reopen(false);
}

#[test]
fn fleet_mode_failures_before_a_reset_made_while_locked_do_not_reopen() {
    failures_before_a_reset_made_while_locked_do_not_reopen(true);
}

/// While the store is locked, an operator resets the breaker and then two
/// calls fail. When the store is back, those two failures must count
/// (no outcome is lost): one more failure makes three, the threshold.
/// Fleet mode sends the post-reset failures in the batch of the old
/// generation, merges it, and only then writes the reset back, which
/// clears them.
fn failures_after_a_reset_made_while_locked_count(fleet: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let b = breaker_tripping_at(3, &path, &clock, fleet);
    b.call(|| Ok::<(), &str>(())).unwrap();
    let _ = b.sync_now();
    let lock = WriteLock::take(&path);
    b.reset();
    for _ in 0..2 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    let _ = b.sync_now();
    back_after(lock, Duration::from_secs(1), &b, &clock); // the retry interval
    let _ = b.call(|| Err::<(), _>("down"));
    let _ = b.sync_now();
    let observer = sqlite_breaker(&path, &clock, false);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Open, State::Open),
        "2 failures after the reset + 1 = 3 should open it (fleet mode: {fleet}); \
         store sees {} in a row",
        observer.metrics().consecutive_failures
    );
}

#[test]
fn exact_mode_failures_after_a_reset_made_while_locked_count() {
    failures_after_a_reset_made_while_locked_count(false);
}

#[test]
fn fleet_mode_failures_after_a_reset_made_while_locked_count() {
    failures_after_a_reset_made_while_locked_count(true);
}

/// A process in fleet mode counts two failures, then forks (a pre-fork
/// server starting a worker, Python's multiprocessing). The child inherits
/// the unsent batch and sends it too: the fleet counts the parent's two
/// failures twice (four in a row), though only two calls failed.
#[test]
fn a_forked_child_does_not_send_its_parents_unsent_outcomes_again() {
    if !common::is_worker() {
        common::run_alone("worker_fork_with_unsent_calls");
    }
}

/// Worker: see `a_forked_child_does_not_send_its_parents_unsent_outcomes_again`.
#[cfg(unix)]
#[test]
fn worker_fork_with_unsent_calls() {
    if !common::is_worker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let b = CircuitBreaker::builder("api")
        .failure_threshold(10)
        .store(
            SqliteStore::open(&path)
                .unwrap()
                .timeout(Duration::from_secs(5))
                .sync_every(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    b.call(|| Ok::<(), &str>(())).unwrap();
    b.sync_now().unwrap();
    for _ in 0..2 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    let child = common::fork::fork(|| i32::from(b.sync_now().is_err()));
    assert_eq!(child.wait(), 0, "the child synchronised");
    b.sync_now().unwrap();
    let observer = CircuitBreaker::builder("api")
        .failure_threshold(10)
        .store(
            SqliteStore::open(&path)
                .unwrap()
                .timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    assert_eq!(
        observer.metrics().consecutive_failures,
        2,
        "two calls failed, in the parent, before the fork"
    );
    common::report("checked", "yes");
}
