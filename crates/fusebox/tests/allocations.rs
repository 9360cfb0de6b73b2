//! No call path allocates: admitted, succeeded, failed, rejected (open,
//! half-open, forced open), async, with and without rate windows, with a
//! short name and a long one.
//!
//! A counting global allocator is the only way to observe this, hence the
//! one `unsafe` block of the workspace, in this test alone.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Window};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn poll_once<F: Future>(future: F) {
    let _ = pin!(future).poll(&mut Context::from_waker(Waker::noop()));
}

fn breakers(clock: &ManualClock) -> Vec<CircuitBreaker> {
    let base = || named(clock, "alloc");
    vec![
        base().build().unwrap(),
        base()
            .failure_rate(0.99, Window::count(100), 100)
            .build()
            .unwrap(),
        base()
            .failure_rate(0.99, Window::time(Duration::from_secs(10)), 1_000_000)
            .slow_calls(Duration::from_secs(1), 1.0)
            .build()
            .unwrap(),
        // Longer than the names copied inline: its rejections share a copy.
        named(clock, "alloc.payments.eu-west-1.example.internal")
            .build()
            .unwrap(),
    ]
}

fn named(clock: &ManualClock, name: &str) -> fusebox::Builder {
    CircuitBreaker::builder(name)
        .failure_threshold(1_000_000)
        .recovery_timeout(Duration::from_secs(10))
        .clock(clock.clone())
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 4]))), 1);
}

#[test]
fn no_call_path_allocates() {
    let clock = ManualClock::new();
    for b in breakers(&clock) {
        // Warm up: the thread's counter slot, lazily made structures.
        b.call(|| Ok::<_, ()>(())).unwrap();
        let _ = b.call(|| Err::<(), _>(()));
        let _ = b.metrics();

        let closed = allocations(|| {
            for i in 0..1000 {
                let _ = b.call(|| if i % 3 == 0 { Err(i) } else { Ok(i) });
                let permit = b.try_acquire().unwrap();
                if i % 2 == 0 {
                    permit.success()
                } else {
                    drop(permit)
                }
                poll_once(b.call_async(|| async { Ok::<_, ()>(1) }));
            }
        });
        assert_eq!(closed, 0, "closed paths allocated");

        b.trip();
        let open = allocations(|| {
            for _ in 0..1000 {
                assert!(b.call(|| Ok::<_, ()>(())).is_err());
            }
        });
        assert_eq!(open, 0, "open rejections allocated");

        clock.advance(Duration::from_secs(10));
        let half_open = allocations(|| {
            let probe = b.try_acquire().unwrap();
            for _ in 0..1000 {
                assert!(b.try_acquire().is_err());
            }
            probe.failure();
        });
        assert_eq!(half_open, 0, "half-open paths allocated");

        b.force_open();
        let forced = allocations(|| {
            for _ in 0..1000 {
                assert!(b.try_acquire().is_err());
            }
        });
        assert_eq!(forced, 0, "forced-open rejections allocated");
        b.reset();
    }
}

#[test]
fn the_system_clock_allocates_nothing_on_the_way_to_open_and_rejecting() {
    // The default clock: its first open rejection wakes the background
    // clock thread, which must have been started (and allocated for) when
    // the breaker was built, not here.
    let b = CircuitBreaker::builder("alloc_system")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    b.call(|| Ok::<_, ()>(())).unwrap(); // the thread's counter slot
    let tripping = allocations(|| {
        for _ in 0..3 {
            let _ = b.call(|| Err::<(), _>(()));
        }
    });
    assert_eq!(tripping, 0, "the calls that opened the breaker allocated");
    let waking = allocations(|| assert!(b.call(|| Ok::<_, ()>(())).is_err()));
    assert_eq!(
        waking, 0,
        "the rejection that woke the clock thread allocated"
    );
    // A clock thread that has not published 50 ms after it was woken is
    // taken for lost and replaced (which allocates): on a loaded machine a
    // newly woken thread may take that long to run. Not what is measured.
    for _ in 0..20 {
        assert!(b.call(|| Ok::<_, ()>(())).is_err());
        std::thread::sleep(Duration::from_millis(5));
    }
    let open = allocations(|| {
        for _ in 0..10_000 {
            assert!(b.call(|| Ok::<_, ()>(())).is_err());
        }
    });
    assert_eq!(open, 0, "open rejections on the system clock allocated");
}

/// Fleet mode's calls run in memory too: closed calls, failures and
/// rejections on the local copy allocate nothing (the synchronisation
/// thread, which does, runs beside them).
#[test]
fn fleet_mode_calls_allocate_nothing() {
    use fusebox::store::MemoryStore;
    let store = MemoryStore::new().sync_every(Duration::from_millis(1));
    let breaker = CircuitBreaker::builder("alloc-fleet")
        .failure_threshold(1_000)
        .recovery_timeout(Duration::from_secs(600))
        .store(store)
        .build()
        .unwrap();
    let made = allocations(|| {
        for i in 0..10_000u32 {
            let _ = breaker.call(|| if i % 100 == 0 { Err(i) } else { Ok(i) });
        }
    });
    assert_eq!(made, 0, "closed calls in fleet mode allocated");
    // Trip through the store (this allocates: a transaction), then refuse.
    breaker.trip();
    let made = allocations(|| {
        for _ in 0..10_000 {
            assert!(breaker.try_acquire().is_err());
        }
    });
    assert_eq!(made, 0, "refusals in fleet mode allocated");
}
