//! listener delivery after a panicking listener and across fork().
#![allow(unsafe_code)] // fork, waitpid and _exit have no safe wrapper in std

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fusebox::CircuitBreaker;

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
