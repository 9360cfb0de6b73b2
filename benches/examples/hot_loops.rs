//! Plain loops over fusebox's hot paths, without criterion: quick
//! before/after comparisons, and a binary small enough to read under
//! `perf annotate` or `valgrind --tool=callgrind`.
//!
//! `cargo run --release -p fusebox-benches --example hot_loops [iterations] [filter]`
//!
//! A filter runs the loops whose label (`open reject direct`, `half-open
//! reject direct` ...) contains it, or, starting with `^`, begins with the
//! rest: `^open reject direct` is one loop, for callgrind.
//!
//! Each loop runs five times and reports its fastest run: on a noisy machine
//! the minimum is the cost. "direct" loops call the breaker where the
//! compiler can see it; "dyn" loops call it through `&dyn Fn`, as a harness
//! holding many crates does.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, Window};

/// The fastest of five runs of `iterations` calls, in ns per call.
fn fastest(iterations: u64, mut run: impl FnMut()) -> f64 {
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                run();
            }
            start.elapsed()
        })
        .min()
        .expect("five runs");
    best.as_nanos() as f64 / iterations as f64
}

/// Polls, in place, a future that is ready at once.
#[inline(always)]
fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("every future here is ready at once"),
    }
}

fn main() {
    let iterations = std::env::args()
        .nth(1)
        .map_or(50_000_000, |n| n.parse().expect("iterations: a number"));
    let filter = std::env::args().nth(2).unwrap_or_default();
    let wanted = |label: &str| match filter.strip_prefix('^') {
        Some(start) => label.starts_with(start),
        None => label.contains(filter.as_str()),
    };
    let long = Duration::from_secs(3600);
    let closed = CircuitBreaker::builder("closed")
        .recovery_timeout(long)
        .build()
        .expect("valid settings");
    let windowed = CircuitBreaker::builder("windowed")
        .failure_rate(0.5, Window::count(100), 100)
        .recovery_timeout(long)
        .build()
        .expect("valid settings");
    let open = CircuitBreaker::builder("open")
        .recovery_timeout(long)
        .build()
        .expect("valid settings");
    open.trip();
    // Longer than any name kept inline: a host name, as per-upstream
    // breakers are named.
    let open_long = CircuitBreaker::builder("payments.eu-west-1.example.internal")
        .recovery_timeout(long)
        .build()
        .expect("valid settings");
    open_long.trip();

    let call = |breaker: &CircuitBreaker| breaker.call(|| Ok::<_, ()>(black_box(1u64))).is_ok();
    let scenarios: [(&str, &CircuitBreaker); 4] = [
        ("closed success", &closed),
        ("count window success", &windowed),
        ("open reject", &open),
        ("open reject, 35-byte name", &open_long),
    ];
    for (name, breaker) in scenarios
        .into_iter()
        .filter(|s| wanted(&format!("{} direct", s.0)))
    {
        let ns = fastest(iterations, || {
            black_box(call(breaker));
        });
        println!("{name:<28} direct {ns:>6.2} ns/call");
    }
    for (name, breaker) in scenarios
        .into_iter()
        .filter(|s| wanted(&format!("{} dyn", s.0)))
    {
        let dynamic: &dyn Fn() -> bool = &|| call(breaker);
        let ns = fastest(iterations, || {
            black_box(dynamic());
        });
        println!("{name:<28} dyn    {ns:>6.2} ns/call");
    }
    if wanted("open reject, 35-byte name, 2 threads direct") {
        // Both threads refuse calls on one breaker: whatever a rejection
        // writes that the other thread also writes moves between cores.
        let best = (0..5)
            .map(|_| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            for _ in 0..iterations {
                                black_box(call(&open_long));
                            }
                        });
                    }
                });
                start.elapsed()
            })
            .min()
            .expect("five runs");
        let ns = best.as_nanos() as f64 / (2 * iterations) as f64;
        println!(
            "{:<28} 2 thr. {ns:>6.2} ns/call (aggregate)",
            "open reject, 35-byte name"
        );
    }
    if wanted("half-open reject direct") {
        // Half-open with its one trial slot taken: everyone else is refused
        // without the lock until the trial call's probe_timeout nears.
        let clock = fusebox::ManualClock::new();
        let half_open = CircuitBreaker::builder("half_open")
            .recovery_timeout(Duration::from_secs(1))
            .clock(clock.clone())
            .build()
            .expect("valid settings");
        half_open.trip();
        clock.advance(Duration::from_secs(1));
        let trial = half_open.try_acquire().expect("the trial call");
        let ns = fastest(iterations, || {
            black_box(half_open.try_acquire().is_ok());
        });
        println!("{:<28} direct {ns:>6.2} ns/call", "half-open reject");
        trial.success();
    }
    // A closed success before and after a `metrics` recorder is installed
    // (the recorder stays installed for the rest of the run): the breaker
    // publishes its counts only when `export_metrics` is called, so the two
    // must cost the same. Compare them under callgrind with the filters
    // "plain closed" and "recorder closed".
    if wanted("plain closed success direct") {
        let ns = fastest(iterations, || {
            black_box(call(&closed));
        });
        println!("{:<28} direct {ns:>6.2} ns/call", "plain closed success");
    }
    if wanted("recorder closed success direct") {
        metrics_util::debugging::DebuggingRecorder::new()
            .install()
            .expect("the first recorder of this process");
        let recorded = CircuitBreaker::builder("recorded")
            .recovery_timeout(long)
            .build()
            .expect("valid settings");
        recorded.export_metrics();
        let ns = fastest(iterations, || {
            black_box(call(&recorded));
        });
        recorded.export_metrics();
        println!("{:<28} direct {ns:>6.2} ns/call", "recorder closed success");
    }
    if wanted("closed, whole Result kept direct") {
        let ns = fastest(iterations, || {
            let _ = black_box(closed.call(|| Ok::<_, ()>(black_box(1u64))));
        });
        println!(
            "{:<28} direct {ns:>6.2} ns/call",
            "closed, whole Result kept"
        );
    }
    if wanted("bare ready future direct") {
        let bare = fastest(iterations, || {
            black_box(ready(async { Ok::<_, ()>(black_box(1u64)) }).is_ok());
        });
        println!("{:<28} direct {bare:>6.2} ns/call", "bare ready future");
    }
    if wanted("call_async, ready future direct") {
        let ns = fastest(iterations, || {
            black_box(ready(closed.call_async(|| async { Ok::<_, ()>(black_box(1u64)) })).is_ok());
        });
        println!(
            "{:<28} direct {ns:>6.2} ns/call",
            "call_async, ready future"
        );
    }
    if wanted("sizes") {
        println!(
            "sizes: Rejected {} B, Result<u64, Error<()>> {} B, Result<Permit, Rejected> {} B",
            size_of::<fusebox::Rejected>(),
            size_of::<Result<u64, fusebox::Error<()>>>(),
            size_of::<Result<fusebox::Permit<'_>, fusebox::Rejected>>(),
        );
    }
}
