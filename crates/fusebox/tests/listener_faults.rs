//! listener delivery after a panicking listener and across fork().
#![allow(unsafe_code)] // fork, waitpid and _exit have no safe wrapper in std

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::{CircuitBreaker, State};

/// A transition queued while another thread announces is left to that
/// thread. If a listener panics there, `OnPanic` only clears `announcing`:
/// the queued transition stays in `pending` and nobody announces it until
/// some later, unrelated transition happens (maybe never). Here `reset()`
/// returns, the breaker is closed, and no listener ever hears of it.
#[test]
fn a_transition_queued_behind_a_panicking_listener_is_still_announced() {
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let entered_tx = Mutex::new(entered_tx);
    let sink = seen.clone();
    let b = CircuitBreaker::builder("panicky")
        .on_transition(move |t| sink.lock().unwrap().push(t.generation))
        .on_transition(move |t| {
            if t.generation == 1 {
                entered_tx.lock().unwrap().send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
                panic!("a listener bug");
            }
        })
        .build()
        .unwrap();
    let tripper = {
        let b = b.clone();
        std::thread::spawn(move || b.trip())
    };
    entered_rx.recv().unwrap(); // generation 1 is being announced
    b.reset(); // generation 2: queued for the announcing thread
    go_tx.send(()).unwrap();
    assert!(
        tripper.join().is_err(),
        "the listener's panic reached trip()"
    );
    // Give any announcer every chance; nothing else happens to the breaker.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        *seen.lock().unwrap(),
        [1, 2],
        "the reset was never announced (state: {})",
        b.state()
    );
}

/// `announcing` is a flag in the parent's memory: if `fork()` happens while
/// a thread of the parent announces (a slow listener: logging, metrics),
/// the child inherits `announcing = true` with no thread to clear it, and
/// that breaker's listeners never run again in the child (and `pending`
/// grows with every transition).
#[cfg(unix)]
#[test]
fn a_child_forked_during_an_announcement_still_announces_its_transitions() {
    static HEARD: AtomicU64 = AtomicU64::new(0);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(entered_tx), Mutex::new(go_rx));
    let b = CircuitBreaker::builder("forked-listener")
        .on_transition(move |t| {
            if t.generation == 1 {
                entered_tx.lock().unwrap().send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            } else {
                HEARD.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    let tripper = {
        let b = b.clone();
        std::thread::spawn(move || b.trip())
    };
    entered_rx.recv().unwrap(); // a parent thread is announcing
                                // SAFETY: the child only uses the breaker and exits with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        b.reset();
        b.trip();
        let heard = HEARD.load(Ordering::SeqCst);
        // SAFETY: ends the child without unwinding into the test harness.
        unsafe { libc::_exit(if heard == 2 { 0 } else { 10 + heard as i32 }) };
    }
    go_tx.send(()).unwrap();
    tripper.join().unwrap();
    let mut status = 0;
    // SAFETY: waits for the child made above.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "10 + n: the child's listener heard n of its 2 transitions"
    );
}
/// A store whose `transact` can hold the calling thread after its
/// transaction committed, as a slow network reply or a preemption would.
struct Holding {
    inner: fusebox::store::MemoryStore,
    hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    down: std::sync::atomic::AtomicBool,
}

impl fusebox::store::Store for Holding {
    fn transact(
        &self,
        name: &str,
        update: &mut fusebox::store::Update<'_>,
    ) -> Result<(), fusebox::store::StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(fusebox::store::StoreError::new(
                fusebox::store::StoreErrorKind::Unavailable,
                "down",
            ));
        }
        let done = self.inner.transact(name, update);
        let hold = self.hold.lock().unwrap().take();
        if let Some((committed, release)) = hold {
            committed.send(()).unwrap();
            release.recv().unwrap();
        }
        done
    }
    fn local_now(&self) -> u64 {
        self.inner.local_now()
    }
    fn describe(&self) -> String {
        "holding".to_owned()
    }
    fn names(&self) -> Result<Vec<String>, fusebox::store::StoreError> {
        self.inner.names()
    }
}

/// For a breaker in a store, the transition is made in the store's
/// transaction but queued afterwards, under the breaker's own lock
/// (`announce_external`): a thread held up between the two has its earlier
/// transition announced after a later one (issue 10, defect 12, for
/// store-backed breakers).
#[test]
fn a_store_backed_breaker_announces_transitions_in_generation_order() {
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = seen.clone();
    let (committed_tx, committed_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let store = Arc::new(Holding {
        inner: fusebox::store::MemoryStore::new().with_clock(fusebox::ManualClock::new()),
        hold: Mutex::new(None),
        down: Default::default(),
    });
    let b = CircuitBreaker::builder("stored")
        .shared_store(store.clone())
        .on_transition(move |t| sink.lock().unwrap().push(t.generation))
        .build()
        .unwrap();
    *store.hold.lock().unwrap() = Some((committed_tx, release_rx));
    let tripper = {
        let b = b.clone();
        std::thread::spawn(move || b.trip()) // generation 1, then held
    };
    committed_rx.recv().unwrap();
    b.reset(); // generation 2
    release_tx.send(()).unwrap();
    tripper.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2], "announced out of order");
}

/// The same interleaving leaves the local mirror (what a degraded breaker
/// runs on) at the older state: the held thread writes its machine over
/// the newer one. With the store down next, the breaker that was reset
/// rejects every call as open, from a trip the store already superseded.
#[test]
fn a_held_store_transaction_does_not_roll_the_local_mirror_back() {
    let (committed_tx, committed_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let store = Arc::new(Holding {
        inner: fusebox::store::MemoryStore::new().with_clock(fusebox::ManualClock::new()),
        hold: Mutex::new(None),
        down: Default::default(),
    });
    let b = CircuitBreaker::builder("mirrored")
        .shared_store(store.clone())
        .build()
        .unwrap();
    *store.hold.lock().unwrap() = Some((committed_tx, release_rx));
    let tripper = {
        let b = b.clone();
        std::thread::spawn(move || b.trip())
    };
    committed_rx.recv().unwrap();
    b.reset();
    release_tx.send(()).unwrap();
    tripper.join().unwrap();
    assert!(store
        .inner
        .raw("mirrored")
        .unwrap()
        .contains("state=closed"));
    store.down.store(true, Ordering::SeqCst);
    assert_eq!(b.state(), State::Closed, "the mirror went back to the trip");
}
