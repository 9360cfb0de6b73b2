//! Cost of a closed, successful call through a breaker kept in a store, and
//! calls per second with several processes sharing one breaker.
//!
//! `cargo run --release -p fusebox-stores --example store_bench -- URL CALLS PROCESSES`
//! (run by `scripts/store_bench.sh`, which starts its own redis-server).

use std::process::Command;
use std::time::Instant;

use fusebox::CircuitBreaker;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, calls, processes] = &args[..] else {
        eprintln!("usage: store_bench URL CALLS PROCESSES");
        std::process::exit(64);
    };
    let calls: u64 = calls.parse().expect("CALLS is a number");
    let processes: usize = processes.parse().expect("PROCESSES is a number");

    if processes > 1 {
        let start = Instant::now();
        let children: Vec<_> = (0..processes)
            .map(|_| {
                Command::new(&args[0])
                    .args([url, &calls.to_string(), "1"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for mut child in children {
            assert!(child.wait().expect("wait").success());
        }
        let total = calls * processes as u64;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{url}: {processes} processes, {total} calls in {secs:.2}s = {:.0} calls/s",
            total as f64 / secs
        );
        return;
    }

    let breaker = CircuitBreaker::builder("bench")
        .failure_threshold(1_000_000)
        .shared_store(fusebox_stores::open(url).expect("open store"))
        .build()
        .expect("build");
    let _ = breaker.call(|| Ok::<_, ()>(()));
    let start = Instant::now();
    for _ in 0..calls {
        breaker.call(|| Ok::<_, ()>(())).expect("closed");
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    assert!(!breaker.metrics().degraded, "the store was not reachable");
    println!("{url}: {:.1} µs per closed successful call", per_call * 1e6);
}
