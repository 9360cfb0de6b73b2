//! Fleet mode under races and faults. Breakers on one shared in-process
//! store stand for processes; time is a manual clock unless a test says
//! otherwise. Sections marked `Regression` are defects an outside review
//! found (each test failed before its fix); the others held up.

mod common;

use common::{fail, succeed};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fusebox::store::{MemoryStore, Store, StoreError, Update, Watcher};
use fusebox::{CircuitBreaker, ManualClock, Quorum, State};

const NAME: &str = "fleet";

fn store(clock: &ManualClock) -> MemoryStore {
    MemoryStore::new()
        .with_clock(clock.clone())
        .sync_every(Duration::from_millis(10))
}

fn process(store: impl Store, clock: &ManualClock, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::builder(NAME)
        .failure_threshold(threshold)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .store(store)
        .build()
        .unwrap()
}

/// The field `key` of the stored record.
fn field(store: &MemoryStore, key: &str) -> String {
    common::stored_field(store, NAME, key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", store.raw(NAME)))
}

/// Runs `f` on its own thread; `None` if it has not finished within
/// 20 s (a deadlock: the thread is left behind).
fn finishes<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

// ---------------------------------------------------------------------------
// D1. Regression. A listener that acts on its own breaker.
// ---------------------------------------------------------------------------

/// A transition made by a synchronisation is announced while the
/// synchronisation still holds `fleet.flushing`; a listener that resets (or
/// trips, or synchronises) its own breaker then waits for that lock on the
/// thread that holds it. An in-memory breaker allows the same listener.
#[test]
fn a_listener_may_reset_its_own_fleet_breaker_when_it_opens() {
    let done = finishes(|| {
        let clock = ManualClock::new();
        let store = store(&clock);
        let me: Arc<OnceLock<CircuitBreaker>> = Arc::new(OnceLock::new());
        let handle = me.clone();
        let b = CircuitBreaker::builder(NAME)
            .failure_threshold(2)
            .clock(clock.clone())
            .store(store.clone())
            .on_transition(move |t| {
                if t.to == State::Open {
                    if let Some(b) = handle.get() {
                        b.reset(); // e.g. a maintenance switch: never stay open
                    }
                }
            })
            .build()
            .unwrap();
        let _ = me.set(b.clone());
        fail(&b).unwrap_err();
        fail(&b).unwrap_err();
        b.sync_now().unwrap(); // merges the failures: the store trips, announced here
        b.state()
    });
    assert_eq!(
        done,
        Some(State::Closed),
        "sync_now deadlocked in a listener calling reset()"
    );
}

/// The same listener on an in-memory breaker: the behaviour fleet mode
/// should keep.
#[test]
fn a_listener_may_reset_its_own_in_memory_breaker_when_it_opens() {
    let done = finishes(|| {
        let me: Arc<OnceLock<CircuitBreaker>> = Arc::new(OnceLock::new());
        let handle = me.clone();
        let b = CircuitBreaker::builder(NAME)
            .failure_threshold(2)
            .clock(ManualClock::new())
            .on_transition(move |t| {
                if t.to == State::Open {
                    if let Some(b) = handle.get() {
                        b.reset();
                    }
                }
            })
            .build()
            .unwrap();
        let _ = me.set(b.clone());
        fail(&b).unwrap_err();
        fail(&b).unwrap_err();
        b.state()
    });
    assert_eq!(done, Some(State::Closed));
}

// ---------------------------------------------------------------------------
// D2. Regression. A manual operation racing a synchronisation.
// ---------------------------------------------------------------------------

/// A store that parks the next transaction made on a thread with a given
/// name, before it reaches the store, until released.
#[derive(Clone)]
struct Gate {
    inner: MemoryStore,
    park: Arc<Mutex<Option<String>>>,
    parked: Arc<(Mutex<bool>, std::sync::Condvar)>,
    released: Arc<AtomicBool>,
}

impl Gate {
    fn new(inner: MemoryStore) -> Gate {
        Gate {
            inner,
            park: Arc::default(),
            parked: Arc::default(),
            released: Arc::default(),
        }
    }

    fn wait_parked(&self) {
        let (lock, cv) = &*self.parked;
        let mut parked = lock.lock().unwrap();
        while !*parked {
            parked = cv.wait(parked).unwrap();
        }
    }
}

impl Store for Gate {
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        let me = std::thread::current().name().map(str::to_owned);
        let park = { self.park.lock().unwrap().clone() };
        if park.is_some() && me == park {
            *self.park.lock().unwrap() = None;
            let (lock, cv) = &*self.parked;
            *lock.lock().unwrap() = true;
            cv.notify_all();
            while !self.released.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
        }
        self.inner.transact(name, update)
    }
    fn local_now(&self) -> u64 {
        self.inner.local_now()
    }
    fn describe(&self) -> String {
        "gate".to_owned()
    }
    fn names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.names()
    }
    fn sync_interval(&self) -> Option<Duration> {
        self.inner.sync_interval()
    }
    fn notify(&self, name: &str) -> Result<(), StoreError> {
        self.inner.notify(name)
    }
    fn watch(&self, changed: Watcher) -> bool {
        self.inner.watch(changed)
    }
}

/// `op` on thread "manual" takes its operation number, then is held before
/// its transaction; a synchronisation (a later number) reads the store
/// before the operation writes it and is adopted first; the operation's own
/// result, numbered lower, is then refused. Returns the breaker's local
/// state after `op` returned, and the stored one.
fn manual_overtaken_by_a_synchronisation(
    before: impl Fn(&CircuitBreaker),
    op: fn(&CircuitBreaker),
) -> (State, String, bool) {
    let clock = ManualClock::new();
    let memory = store(&clock);
    let gate = Gate::new(memory.clone());
    let a = process(gate.clone(), &clock, 5);
    before(&a);
    *gate.park.lock().unwrap() = Some("manual".to_owned());
    // A scoped thread borrows `a`: no handle is dropped (dropping one of
    // two handles synchronises, which would hide the defect).
    std::thread::scope(|scope| {
        let manual = std::thread::Builder::new()
            .name("manual".to_owned())
            .spawn_scoped(scope, || op(&a))
            .unwrap();
        gate.wait_parked();
        a.sync_now().unwrap(); // the background synchronisation, say
        gate.released.store(true, Ordering::Release);
        manual.join().unwrap();
    });
    let admits = a.try_acquire().is_ok();
    (a.state(), field(&memory, "state"), admits)
}

#[test]
fn after_reset_returns_the_breaker_admits_even_if_a_synchronisation_raced_it() {
    let (local, stored, admits) =
        manual_overtaken_by_a_synchronisation(|a| a.trip(), |a| a.reset());
    assert_eq!(stored, "closed");
    assert_eq!(
        (local, admits),
        (State::Closed, true),
        "reset() returned and the store is closed, but this process still refuses"
    );
}

#[test]
fn after_trip_returns_the_breaker_refuses_even_if_a_synchronisation_raced_it() {
    let (local, stored, admits) = manual_overtaken_by_a_synchronisation(|_| {}, |a| a.trip());
    assert_eq!(stored, "open");
    assert_eq!(
        (local, admits),
        (State::Open, false),
        "trip() returned and the store is open, but this process still admits calls"
    );
}

// ---------------------------------------------------------------------------
// D3. Regression. Outcomes lost to a provisional local trip.
// ---------------------------------------------------------------------------

/// Process a's own view trips (the shared streak it saw plus its failure),
/// but a success from b reached the store first, so the fleet stays closed
/// in the same generation. A call a admitted before its local trip and
/// reports before a synchronises is of that (still current) generation,
/// yet a drops it: the fleet counts one failure fewer than an in-memory
/// breaker fed the same calls.
#[test]
fn a_failure_reported_during_a_local_trip_the_fleet_overrules_still_counts() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let (a, b) = (
        process(store.clone(), &clock, 3),
        process(store.clone(), &clock, 3),
    );
    fail(&a).unwrap_err();
    fail(&a).unwrap_err();
    a.sync_now().unwrap();
    b.sync_now().unwrap();
    succeed(&b).unwrap();
    b.sync_now().unwrap();
    assert_eq!(field(&store, "streak"), "0");
    let held = a.try_acquire().unwrap();
    fail(&a).unwrap_err(); // a's view: 2 + 1 = 3, trips locally
    held.failure(); // admitted in generation 0, which the fleet never left
    a.sync_now().unwrap();
    assert_eq!(field(&store, "state"), "closed");
    assert_eq!(field(&store, "gen"), "0");
    // In synchronisation order: f f | s | f f  -> streak 2, 4 failures.
    assert_eq!(
        (field(&store, "streak"), field(&store, "fsc")),
        ("2".to_owned(), "4".to_owned())
    );
}

// ---------------------------------------------------------------------------
// Held up: counts under concurrency (no trips): every failure counted once.
// ---------------------------------------------------------------------------

fn hammer(system_clock: bool) {
    let clock = ManualClock::new();
    let store = if system_clock {
        MemoryStore::new().sync_every(Duration::from_millis(1))
    } else {
        store(&clock)
    };
    let build = || {
        let b = CircuitBreaker::builder(NAME)
            .failure_threshold(u32::MAX)
            .store(store.clone());
        if system_clock {
            b
        } else {
            b.clock(clock.clone())
        }
        .build()
        .unwrap()
    };
    let processes: Vec<CircuitBreaker> = (0..3).map(|_| build()).collect();
    let failures = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut syncers = Vec::new();
    for (i, p) in processes.iter().enumerate() {
        for t in 0..3u64 {
            let (p, failures) = (p.clone(), failures.clone());
            threads.push(std::thread::spawn(move || {
                let mut x = (i as u64 + 1) * 7919 + t;
                for _ in 0..20_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let permit = p.try_acquire().expect("never trips");
                    match x % 5 {
                        0 => {
                            permit.failure();
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        1 => permit.ignore(),
                        2 => drop(permit), // cancelled
                        _ => permit.success(),
                    }
                }
            }));
        }
        let (p, stop) = (p.clone(), stop.clone());
        syncers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = p.sync_now();
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for t in syncers {
        t.join().unwrap();
    }
    for p in &processes {
        p.sync_now().unwrap();
    }
    assert_eq!(field(&store, "state"), "closed");
    assert_eq!(
        field(&store, "fsc").parse::<u64>().unwrap(),
        failures.load(Ordering::Relaxed)
    );
}

#[test]
fn every_failure_counts_once_while_threads_synchronise_concurrently() {
    hammer(false);
}

#[test]
fn every_failure_counts_once_with_the_background_synchronisation() {
    hammer(true);
}

// ---------------------------------------------------------------------------
// D4. Regression. A liveness window shorter than the interval.
// ---------------------------------------------------------------------------

/// With a liveness window shorter than the interval, every process is
/// forgotten before it synchronises again: `at_least(2)` can never be met,
/// even with every process open. The builder takes it without a word.
#[test]
fn a_liveness_window_shorter_than_the_interval_is_refused_or_still_opens_the_fleet() {
    let clock = ManualClock::new();
    let store = store(&clock); // interval 10 ms
    let build = || {
        CircuitBreaker::builder("quorum")
            .failure_threshold(1)
            .clock(clock.clone())
            .store(store.clone())
            .quorum(Quorum::at_least(2).liveness(Duration::from_millis(2)))
            .build()
    };
    let members: Vec<CircuitBreaker> = match (0..4).map(|_| build()).collect() {
        Ok(members) => members,
        Err(_) => return, // refused with an error: fine
    };
    for m in &members {
        fail(m).unwrap_err(); // every process open on its own calls
    }
    // Each process synchronises once per 10 ms, spread over the interval.
    for _ in 0..10 {
        for m in &members {
            clock.advance(Duration::from_micros(2500));
            m.sync_now().unwrap();
        }
    }
    let raw = store.raw("quorum").unwrap();
    assert!(
        raw.contains("state=open"),
        "four of four processes open, yet the fleet stays closed: {raw}"
    );
}

// ---------------------------------------------------------------------------
// D5. Regression. fork() while the synchronisation thread
// is in a store round trip.
// ---------------------------------------------------------------------------

/// The synchronisation thread holds `fleet.flushing` for a whole store
/// round trip. A pre-fork server forking at that moment (the parent's
/// thread synchronises every interval, so the odds are the share of time it
/// spends in round trips) gives the child a mutex locked by a thread it
/// does not have: the child's first synchronisation (its own thread's, a
/// `sync_now`, dropping the breaker) waits forever.
#[cfg(unix)]
#[allow(unsafe_code)] // fork, waitpid and _exit have no safe wrapper in std
#[test]
fn a_child_forked_during_a_synchronisation_can_synchronise() {
    let gate = Gate::new(MemoryStore::new().sync_every(Duration::from_millis(5)));
    let b = CircuitBreaker::builder(NAME)
        .failure_threshold(100)
        .store(gate.clone())
        .build()
        .unwrap();
    fail(&b).unwrap_err();
    *gate.park.lock().unwrap() = Some("fusebox-sync".to_owned());
    gate.wait_parked(); // the parent's thread is inside a synchronisation
                        // SAFETY: the child only uses the breaker and exits with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let child = b.clone();
        let code = match finishes(move || child.sync_now().is_ok()) {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        // SAFETY: ends the child without unwinding into the test harness.
        unsafe { libc::_exit(code) };
    }
    gate.released.store(true, Ordering::Release);
    let mut status = 0;
    // SAFETY: waits for the child made above.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "2: the child's sync_now waited 20 s on the parent's lock"
    );
}

// ---------------------------------------------------------------------------
// D6. Regression. Calls made during a synchronisation's round trip.
// ---------------------------------------------------------------------------

/// The background synchronisation cuts the batch, goes to the store, and
/// adopts what it read there: the local machine's failure streak becomes
/// the stored one, forgetting the failures this process recorded during the
/// round trip (they are in the next batch, not in the stored state). With
/// the streak bit clear, the next success takes the lock-free way and loses
/// its place after those failures: the next batch says "2 failures after
/// the last success" for f f s, and one more failure trips the fleet, where
/// an in-memory breaker fed f f s f in that order has a streak of 1.
#[test]
fn calls_made_during_a_synchronisation_keep_their_order() {
    let clock = ManualClock::new();
    let memory = store(&clock);
    let gate = Gate::new(memory.clone());
    let a = process(gate.clone(), &clock, 3);
    *gate.park.lock().unwrap() = Some("syncer".to_owned());
    // A scoped thread borrows `a`: no handle is dropped (dropping one of
    // two handles synchronises, which would hide the defect).
    std::thread::scope(|scope| {
        let syncer = std::thread::Builder::new()
            .name("syncer".to_owned())
            .spawn_scoped(scope, || a.sync_now().unwrap())
            .unwrap();
        gate.wait_parked(); // the synchronisation's round trip is under way
        fail(&a).unwrap_err();
        fail(&a).unwrap_err();
        gate.released.store(true, Ordering::Release);
        syncer.join().unwrap();
    });
    // This process made two failures in a row and nothing since.
    let seen_after_round_trip = a.metrics().consecutive_failures;
    succeed(&a).unwrap();
    a.sync_now().unwrap();
    assert_eq!(field(&memory, "fsc"), "2");
    fail(&a).unwrap_err();
    a.sync_now().unwrap();
    assert_eq!(
        (field(&memory, "state"), field(&memory, "streak")),
        ("closed".to_owned(), "1".to_owned()),
        "f f s f is a streak of 1, not a trip at threshold 3 \
         (the local view saw a streak of {seen_after_round_trip} after f f)"
    );
}

// ---------------------------------------------------------------------------
// D8. Regression. An owned permit synchronises when it is dropped.
// ---------------------------------------------------------------------------

/// `OwnedPermit` holds a clone of the breaker; `CircuitBreaker::drop`
/// synchronises whenever at most two handles are left ("the synchronisation
/// thread may hold the breaker"). With one handle of the user's, every
/// owned permit (the tower layer takes one per request; the service holds
/// the other handle once the layer is gone) makes a blocking store round
/// trip and a write on the caller's thread when it is dropped: one
/// transaction per call again, on an executor thread.
#[test]
fn an_owned_permit_does_not_touch_the_store() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let a = process(store.clone(), &clock, 5);
    assert_eq!(store.raw(NAME), None);
    a.try_acquire_owned().unwrap().failure();
    assert_eq!(
        store.raw(NAME),
        None,
        "a closed call wrote the store (as exact mode would)"
    );
}

// ---------------------------------------------------------------------------
// D9. Regression. A success counted twice, then minus once.
// ---------------------------------------------------------------------------

/// The calls in the stored time window (the sum of its buckets' calls).
fn calls_in_time_window(store: &MemoryStore) -> u128 {
    let win = field(store, "win");
    let buckets = win.split(':').nth(2).expect("a time window");
    buckets
        .split(',')
        .map(|b| u128::from_str_radix(b.split('.').next().unwrap(), 16).unwrap())
        .sum()
}

/// A success that does not take the lock-free way (here every one: a
/// slow-call policy times each call) is added to `Count::Success` in
/// `report_other`, then to `Count::Unmerged` in `report_fleet`. A cut
/// between the two counts it as lock-free in one batch, and in the next
/// `Success − Unmerged` is −1: `wrapping_sub` makes it 2^64 − 1 successes,
/// saturated into the batch. The shared window then holds ~1.8e19 calls
/// (no failure rate can trip it for the window's span); a count window
/// would loop 2^64 times in `record_batch`, inside the store transaction.
#[test]
fn successes_reported_while_threads_synchronise_are_counted_once() {
    let clock = ManualClock::new();
    let store = store(&clock);
    let b = CircuitBreaker::builder(NAME)
        .failure_rate(0.5, fusebox::Window::Time(Duration::from_secs(600)), 10)
        .slow_calls(Duration::from_secs(1), 0.5)
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap();
    const THREADS: u64 = 3;
    const CALLS: u64 = 100_000;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let syncer = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                b.sync_now().unwrap();
            }
        });
        let callers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..CALLS {
                        succeed(&b).unwrap();
                    }
                })
            })
            .collect();
        for c in callers {
            c.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        syncer.join().unwrap();
    });
    b.sync_now().unwrap();
    assert_eq!(calls_in_time_window(&store), u128::from(THREADS * CALLS));
}

/// The same race with a count window: the batch of 2^64 − 1 successes is
/// walked call by call (`Batch::outcomes().skip(..)`) inside the store
/// transaction, so the synchronisation never ends (and holds the store's
/// lock: every process's synchronisation then waits on it).
#[test]
fn a_synchronisation_with_a_count_window_finishes_while_threads_report() {
    let done = finishes(|| {
        let clock = ManualClock::new();
        let store = store(&clock);
        let b = CircuitBreaker::builder(NAME)
            .failure_rate(0.5, fusebox::Window::Count(100), 10)
            .slow_calls(Duration::from_secs(1), 0.5)
            .clock(clock.clone())
            .store(store.clone())
            .build()
            .unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let syncer = scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    b.sync_now().unwrap();
                }
            });
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        for _ in 0..100_000 {
                            succeed(&b).unwrap();
                        }
                    })
                })
                .collect();
            for c in callers {
                c.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            syncer.join().unwrap();
        });
        b.sync_now().is_ok()
    });
    assert_eq!(done, Some(true), "a synchronisation did not finish in 20 s");
}

// ---------------------------------------------------------------------------
// Measurement (ignored: prints numbers, asserts nothing): how many
// synchronisations one process's thread achieves for many breakers.
// ---------------------------------------------------------------------------

/// Counts the transactions that reach the store.
struct Counting {
    inner: MemoryStore,
    transactions: Arc<AtomicU64>,
}

impl Store for Counting {
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.inner.transact(name, update)
    }
    fn local_now(&self) -> u64 {
        self.inner.local_now()
    }
    fn describe(&self) -> String {
        "counting".to_owned()
    }
    fn names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.names()
    }
    fn sync_interval(&self) -> Option<Duration> {
        self.inner.sync_interval()
    }
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_synchronisations_per_second_for_many_breakers() {
    for n in [100usize, 1000, 5000] {
        let transactions = Arc::new(AtomicU64::new(0));
        let shared: Arc<dyn Store> = Arc::new(Counting {
            inner: MemoryStore::new().sync_every(Duration::from_millis(10)),
            transactions: transactions.clone(),
        });
        let breakers: Vec<CircuitBreaker> = (0..n)
            .map(|i| {
                CircuitBreaker::builder(format!("host-{i}"))
                    .shared_store(shared.clone())
                    .build()
                    .unwrap()
            })
            .collect();
        let before = transactions.load(Ordering::Relaxed);
        let started = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        let done = transactions.load(Ordering::Relaxed) - before;
        let per_second = done as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "{n} breakers, 10 ms interval: {per_second:.0} synchronisations/s \
             (due: {}/s), effective interval {:.1} ms",
            n * 100,
            n as f64 / per_second * 1000.0
        );
        drop(breakers);
    }
}

// ---------------------------------------------------------------------------
// Held up: breakers dropped while the synchronisation thread serves them.
// ---------------------------------------------------------------------------

#[test]
fn breakers_dropped_while_the_thread_synchronises_them_lose_nothing() {
    let store = MemoryStore::new().sync_every(Duration::from_millis(1));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..300 {
                    let b = CircuitBreaker::builder(format!("drop-{t}-{i}"))
                        .failure_threshold(1000)
                        .store(store.clone())
                        .build()
                        .unwrap();
                    let copy = b.clone();
                    fail(&b).unwrap_err();
                    fail(&copy).unwrap_err();
                    if i % 2 == 0 {
                        drop(b);
                        drop(copy);
                    } else {
                        drop(copy);
                        drop(b);
                    }
                }
            });
        }
    });
    for t in 0..4 {
        for i in 0..300 {
            let raw = store.raw(&format!("drop-{t}-{i}")).expect("a record");
            assert!(raw.contains(" fsc=2 "), "{raw}");
        }
    }
}

// ---------------------------------------------------------------------------
// D11. Regression. fork() while the
// synchronisation thread holds the scheduler's lock.
// ---------------------------------------------------------------------------

/// The synchronisation thread scans every breaker under the scheduler's
/// mutex each time it picks one (`serve`: retain, position, min_by_key).
/// With thousands of breakers it holds that mutex most of the time. A child
/// forked then inherits it locked; its first failure runs
/// `resume_after_fork` → `scheduler::ensure_running` (and `Signal::wake`,
/// under the breaker's own lock) and waits forever.
#[cfg(unix)]
#[allow(unsafe_code)] // fork, waitpid and _exit have no safe wrapper in std
#[test]
fn a_child_forked_from_a_process_with_many_fleet_breakers_can_fail_a_call() {
    let store = MemoryStore::new().sync_every(Duration::from_millis(1));
    let breakers: Vec<CircuitBreaker> = (0..3000)
        .map(|i| {
            CircuitBreaker::builder(format!("many-{i}"))
                .failure_threshold(1)
                .store(store.clone())
                .build()
                .unwrap()
        })
        .collect();
    let mut hung = 0;
    for breaker in &breakers[..4] {
        // SAFETY: the child only uses a breaker and exits with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let b = breaker.clone();
            let code = match finishes(move || fail(&b).is_err()) {
                Some(true) => 0,
                Some(false) => 1,
                None => 2,
            };
            // SAFETY: ends the child without unwinding into the harness.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child made above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child died: status {status}");
        if libc::WEXITSTATUS(status) == 2 {
            hung += 1;
        }
    }
    drop(breakers);
    assert_eq!(
        hung, 0,
        "children of 4 whose first failing call never returned"
    );
}
