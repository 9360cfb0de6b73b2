//! fusebox against the other circuit-breaker crates, same scenarios, same run.
//!
//! Run with `scripts/bench.sh` (prints a table of ratios) or
//! `cargo bench -p fusebox-benches`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

mod half_open;
mod peers;

/// Polls a future until it is ready. Every future here is ready at once
/// unless another thread holds a lock it waits for, so spinning is right.
/// Inlined, so the future is polled where it was made, as when one async
/// function awaits another; moving it into a poll function first would
/// time the move (a store-forwarding stall on any future bigger than a
/// word) as much as the future.
#[inline(always)]
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::hint::spin_loop();
    }
}

/// A breaker under test: one call that succeeds, or is rejected.
pub(crate) trait Contender: Sync {
    fn name(&self) -> &'static str;
    /// One successful call through the breaker; false if it was rejected.
    fn call_ok(&self) -> bool;
    /// Opens the breaker for a long time.
    fn open(&self);
    /// `iterations` calls, in a loop compiled for each contender (every
    /// `call_ok` is `#[inline(always)]`): the harness holds contenders as
    /// trait objects, but no call pays for a dynamic dispatch or a function
    /// call (which would add the same ~1.5 ns to every crate and flatten the
    /// ratios). Returns how many calls succeeded.
    fn run(&self, iterations: u64) -> u64 {
        let mut succeeded = 0;
        for _ in 0..iterations {
            succeeded += u64::from(black_box(self.call_ok()));
        }
        succeeded
    }
}

/// Times `c.run` for criterion's iteration count.
fn single(group: &mut BenchmarkGroup<'_, WallTime>, c: &dyn Contender) {
    single_named(group, c, c.name());
}

fn single_named(group: &mut BenchmarkGroup<'_, WallTime>, c: &dyn Contender, name: &str) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(c.run(iters));
            start.elapsed()
        })
    });
}

fn fusebox_consecutive() -> fusebox::CircuitBreaker {
    fusebox::CircuitBreaker::builder("bench")
        .recovery_timeout(Duration::from_secs(3600))
        .build()
        .unwrap()
}

struct Fusebox(fusebox::CircuitBreaker, &'static str);

impl Contender for Fusebox {
    fn name(&self) -> &'static str {
        self.1
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        self.0.call(|| Ok::<_, ()>(black_box(1u64))).is_ok()
    }
    fn open(&self) {
        self.0.trip();
    }
}

fn contenders() -> Vec<Box<dyn Contender>> {
    let mut all: Vec<Box<dyn Contender>> =
        vec![Box::new(Fusebox(fusebox_consecutive(), "fusebox"))];
    all.extend(peers::all());
    all
}

fn rate_contenders() -> Vec<Box<dyn Contender>> {
    let rate = fusebox::CircuitBreaker::builder("bench")
        .failure_rate(0.5, fusebox::Window::count(100), 100)
        .recovery_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut all: Vec<Box<dyn Contender>> = vec![Box::new(Fusebox(rate, "fusebox"))];
    all.extend(peers::rate_window());
    all
}

/// Aggregate time per call with `threads` threads calling at once.
fn threaded(group: &mut BenchmarkGroup<'_, WallTime>, c: &dyn Contender, threads: u64) {
    let each: Vec<&dyn Contender> = (0..threads).map(|_| c).collect();
    threaded_named(group, &each, c.name());
}

/// Aggregate time per call with one thread per contender in `each`, all
/// calling at once (the same contender in every slot: one shared breaker).
fn threaded_named(group: &mut BenchmarkGroup<'_, WallTime>, each: &[&dyn Contender], name: &str) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(each.len() as u64);
            let barrier = Barrier::new(each.len());
            std::thread::scope(|s| {
                let handles: Vec<_> = each
                    .iter()
                    .map(|c| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            barrier.wait();
                            let start = Instant::now();
                            black_box(c.run(per_thread));
                            start.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .max()
                    .unwrap()
            })
        })
    });
}

fn closed_success(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_success_1t");
    for contender in contenders() {
        single(&mut group, contender.as_ref());
    }
    group.finish();

    let mut group = c.benchmark_group("closed_success_2t");
    for contender in contenders() {
        threaded(&mut group, contender.as_ref(), 2);
    }
    group.finish();
}

fn open_reject(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_reject");
    for contender in contenders() {
        contender.open();
        assert!(!contender.call_ok(), "{} did not open", contender.name());
        single(&mut group, contender.as_ref());
    }
    group.finish();
}

fn rate_window(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_window_closed_success");
    for contender in rate_contenders() {
        single(&mut group, contender.as_ref());
    }
    group.finish();
}

fn half_open(c: &mut Criterion) {
    // Every trial slot taken by a call that does not finish: two threads
    // calling are all refused.
    let mut group = c.benchmark_group("half_open_refused_2t");
    for (contender, held) in half_open::all() {
        assert!(!contender.call_ok(), "{} admitted a call", contender.name());
        threaded(&mut group, contender.as_ref(), 2);
        drop(held);
    }
    group.finish();

    // Two threads contend for one trial slot that is taken and given back
    // (fusebox only: the peers close, or fill a ring and decide, after a
    // trial call, so they cannot stay half-open).
    let clock = fusebox::ManualClock::new();
    let breaker = fusebox::CircuitBreaker::builder("bench")
        .recovery_timeout(Duration::from_secs(1))
        .success_threshold(u32::MAX)
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.trip();
    clock.advance(Duration::from_secs(1));
    let contender = Fusebox(breaker, "fusebox");
    let mut group = c.benchmark_group("half_open_contention_2t");
    threaded(&mut group, &contender, 2);
    group.finish();
}

fn call_async(c: &mut Criterion) {
    let breaker = fusebox_consecutive();
    let mut group = c.benchmark_group("async_ready_future");
    // Both report `is_ok()`, as the other scenarios do: returning the whole
    // `Result` would also time copying fusebox's five-word error type
    // (name, state, retry time) through memory, which the bare future's
    // `Result<u64, ()>` does not have.
    group.bench_function("bare_future", |b| {
        b.iter(|| ready(async { Ok::<_, ()>(black_box(1u64)) }).is_ok())
    });
    group.bench_function("fusebox", |b| {
        b.iter(|| ready(breaker.call_async(|| async { Ok::<_, ()>(black_box(1u64)) })).is_ok())
    });
    group.finish();
}

fn baselines(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    #[inline(never)]
    fn plain(x: u64) -> Result<u64, ()> {
        Ok(x)
    }
    group.bench_function("plain_call", |b| b.iter(|| plain(black_box(1))));
    let atomic = AtomicU64::new(0);
    group.bench_function("atomic_load", |b| b.iter(|| atomic.load(Ordering::Acquire)));
    group.bench_function("fetch_add", |b| {
        b.iter(|| atomic.fetch_add(1, Ordering::AcqRel))
    });
    group.bench_function("instant_now", |b| b.iter(Instant::now));
    group.finish();

    // How well this machine scales at all: a loop touching only its own
    // thread's memory, on 1 and on 2 threads. Two vCPUs that share a core,
    // or a busy host, keep 2 threads from halving the time per call; this is
    // the floor to hold the breakers' 2-thread figures against.
    let mut group = c.benchmark_group("baseline_scaling");
    single_named(&mut group, &LocalWork, "local_work_1t");
    threaded_named(&mut group, &[&LocalWork, &LocalWork], "local_work_2t");
    // fusebox with nothing shared at all: each thread its own breaker. If
    // two threads on one breaker do as well, sharing it costs nothing.
    let own = [
        Fusebox(fusebox_consecutive(), "own"),
        Fusebox(fusebox_consecutive(), "own"),
    ];
    threaded_named(&mut group, &[&own[0], &own[1]], "fusebox_own_breakers_2t");
    group.finish();
}

/// A call that only touches the calling thread's own memory.
struct LocalWork;

impl Contender for LocalWork {
    fn name(&self) -> &'static str {
        "local_work"
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        thread_local! {
            static CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        }
        CALLS.with(|calls| calls.set(black_box(calls.get() + 1)));
        true
    }
    fn open(&self) {}
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = baselines, closed_success, open_reject, rate_window, half_open, call_async
}
criterion_main!(benches);
