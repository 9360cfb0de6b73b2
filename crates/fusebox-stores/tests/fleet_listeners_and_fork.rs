//! Fleet mode: listeners hear a manual operation made while the store was
//! away once, and a forked child's own calls all count. Regressions from
//! an outside review of the fix for operations made while away.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::write_lock::WriteLock;
use fusebox::{CircuitBreaker, ManualClock, State, Transition, Window};
use fusebox_stores::SqliteStore;

common::write_lock_worker!();

fn store(path: &std::path::Path, clock: &ManualClock, fleet: bool) -> SqliteStore {
    let s = SqliteStore::open(path).unwrap().with_clock(clock.clone());
    if fleet {
        s.sync_every(Duration::from_millis(10))
    } else {
        s
    }
}

type Heard = Arc<Mutex<Vec<(State, State, u64)>>>;

fn listening(path: &std::path::Path, clock: &ManualClock, fleet: bool) -> (CircuitBreaker, Heard) {
    let heard: Heard = Arc::default();
    let h = heard.clone();
    let b = CircuitBreaker::builder("api")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .store(store(path, clock, fleet))
        .on_transition(move |t: &Transition| h.lock().unwrap().push((t.from, t.to, t.generation)))
        .build()
        .unwrap();
    (b, heard)
}

/// A reset made while the store is away is announced when it is made (the
/// breaker is degraded: the local machine's transition is the breaker's).
/// Writing it back when the store returns is the same transition, of the
/// same generation: listeners must not hear it a second time.
fn reset_while_away_is_heard_once(fleet: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = ManualClock::new();
    let (b, heard) = listening(&path, &clock, fleet);
    let _ = b.call(|| Err::<(), _>("down"));
    let _ = b.sync_now();
    assert_eq!(b.state(), State::Open);
    let lock = WriteLock::take(&path);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    lock.release();
    clock.advance(Duration::from_secs(2));
    let _ = b.sync_now();
    let _ = b.state();
    let _ = b.sync_now();
    assert!(!b.metrics().degraded, "the store is back");
    let resets: Vec<_> = heard
        .lock()
        .unwrap()
        .iter()
        .filter(|(from, to, _)| (*from, *to) == (State::Open, State::Closed))
        .copied()
        .collect();
    assert_eq!(
        resets.len(),
        1,
        "one reset, heard {resets:?} (fleet mode: {fleet}); all: {:?}",
        heard.lock().unwrap()
    );
}

#[test]
fn exact_mode_reset_while_away_is_heard_once() {
    reset_while_away_is_heard_once(false);
}

#[test]
fn fleet_mode_reset_while_away_is_heard_once() {
    reset_while_away_is_heard_once(true);
}

/// A forked child's successes that took the lock-free path before its
/// first call on another path are its own calls, made after the fork: they
/// must reach the store (no outcome is lost). The fix forgets them with
/// the parent's unsent batch, so the fleet's failure rate is computed
/// without them ([F,S,F]: 67%) and the breaker opens, though 2 calls of 6
/// failed (33%, under the 50% threshold).
#[test]
fn a_forked_childs_lock_free_successes_are_not_forgotten() {
    if !common::is_worker() {
        common::run_alone("worker_fork_child_successes");
    }
}

/// Worker: see `a_forked_childs_lock_free_successes_are_not_forgotten`.
#[cfg(unix)]
#[test]
fn worker_fork_child_successes() {
    if !common::is_worker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let breaker = || {
        CircuitBreaker::builder("api")
            .failure_rate(0.5, Window::Count(100), 3)
            .store(
                SqliteStore::open(&path)
                    .unwrap()
                    .timeout(Duration::from_secs(5))
                    .sync_every(Duration::from_secs(3600)),
            )
            .build()
            .unwrap()
    };
    let b = breaker();
    let _ = b.call(|| Err::<(), _>("down"));
    b.call(|| Ok::<(), &str>(())).unwrap();
    b.sync_now().unwrap();
    let child = common::fork::fork(|| {
        for _ in 0..3 {
            let _ = b.call(|| Ok::<(), &str>(()));
        }
        let _ = b.call(|| Err::<(), _>("down"));
        i32::from(b.sync_now().is_err())
    });
    assert_eq!(child.wait(), 0, "the child synchronised");
    b.sync_now().unwrap();
    let m = breaker().metrics();
    assert_eq!(
        (m.state, m.failures_since_closed),
        (State::Closed, 2),
        "6 calls, 2 failed (33%): {m:?}"
    );
    common::report("checked", "yes");
}
