//! The breaker on the system clock, whose rejections read a cached time
//! published by a background thread. Real time is the point here, so these
//! tests wait for it, briefly; every other test moves a `ManualClock`.

use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, State};

#[test]
fn an_open_breaker_admits_a_trial_call_once_and_only_once_its_time_is_up() {
    let open_for = Duration::from_millis(60);
    let b = CircuitBreaker::builder("system_clock")
        .failure_threshold(1)
        .recovery_timeout(open_for)
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    let opened = Instant::now();
    assert_eq!(b.state(), State::Open);
    let mut rejections = 0u64;
    let probe = loop {
        match b.try_acquire() {
            Ok(permit) => break permit,
            Err(rejected) => {
                assert_eq!(rejected.state, State::Open);
                rejections += 1;
                assert!(
                    opened.elapsed() < Duration::from_secs(10),
                    "still open after 10 s ({rejections} rejections)"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    };
    // Never early: the cached time only ever refuses.
    assert!(
        opened.elapsed() >= open_for,
        "admitted after {:?}, before the {open_for:?} were up",
        opened.elapsed()
    );
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(b.state(), State::Closed);
    assert!(rejections > 0);
}
