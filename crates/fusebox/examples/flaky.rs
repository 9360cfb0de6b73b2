//! A breaker in front of a simulated dependency that fails for a while and
//! then recovers. Run with `cargo run --example flaky`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, Error};

/// A dependency that is down between call 5 and `recovers_at`.
struct Flaky {
    calls: Cell<u32>,
    recovers_at: Instant,
}

impl Flaky {
    fn request(&self) -> Result<u32, String> {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        if n > 5 && Instant::now() < self.recovers_at {
            Err(format!("request {n}: connection refused"))
        } else {
            Ok(n)
        }
    }
}

fn main() -> Result<(), fusebox::ConfigError> {
    let breaker = CircuitBreaker::builder("flaky_api")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_millis(300))
        .on_transition(|t| println!("  >> {t}"))
        .build()?;
    let dependency = Flaky {
        calls: Cell::new(0),
        recovers_at: Instant::now() + Duration::from_millis(700),
    };

    for tick in 1..=24 {
        match breaker.call(|| dependency.request()) {
            Ok(n) => println!("tick {tick:2}: ok (request {n})"),
            Err(Error::Inner(e)) => println!("tick {tick:2}: failed: {e}"),
            Err(Error::Open(rejected)) => println!("tick {tick:2}: skipped: {rejected}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = breaker.metrics();
    println!(
        "\n{}: state {}, {} successes, {} failures, {} rejected without calling",
        m.name, m.state, m.successes, m.failures, m.rejections
    );
    Ok(())
}
