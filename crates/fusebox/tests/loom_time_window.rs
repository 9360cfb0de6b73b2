//! a success admitted before `reset()` still reaches the new
//! generation's time window for a moment (bump, then unbump after the
//! epoch re-check), and a failure of the new generation tallied in that
//! moment trips the breaker on the stale call.
//!
//! Run with `RUSTFLAGS="--cfg fusebox_loom" cargo test -p fusebox --test loom_time_window --release`.
#![cfg(fusebox_loom)]

use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Policy, State, Window};
use loom::thread;

#[test]
fn a_stale_success_never_counts_in_the_new_generations_time_window() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let clock = ManualClock::new();
        // Two calls at least, half of them failed: one failure alone (the
        // new generation's only call) can never trip it.
        let b = CircuitBreaker::builder("loom")
            .policy(Policy::failure_rate(
                0.5,
                Window::time(Duration::from_secs(10)),
                2,
            ))
            .clock(clock.clone())
            .build()
            .unwrap();
        let early = b.try_acquire_owned().unwrap(); // generation 0
        let other = b.clone();
        let t = thread::spawn(move || {
            other.reset(); // generation 1
            let _ = other.call(|| Err::<(), _>("down"));
            other.state()
        });
        early.success(); // stale: admitted before the reset
        let state = t.join().unwrap();
        assert_eq!(
            state,
            State::Closed,
            "one failure of two calls, one of them stale"
        );
    });
}
