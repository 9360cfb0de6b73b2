//! The breaker on the system clock, whose rejections read a cached time
//! published by a background thread. Real time is the point here, so these
//! tests wait for it, briefly; every other test moves a `ManualClock`.

use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, State};

#[test]
fn an_open_breaker_admits_a_trial_call_once_and_only_once_its_time_is_up() {
    // Long enough that a stalled test thread still finds it open.
    let open_for = Duration::from_millis(300);
    let b = CircuitBreaker::builder("system_clock")
        .failure_threshold(1)
        .recovery_timeout(open_for)
        .build()
        .unwrap();
    // Read before the breaker opens, so that what is measured from it is
    // never shorter than what the breaker waited.
    let opened = Instant::now();
    let _ = b.call(|| Err::<(), _>("down"));
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

/// Defect: a rejection read the cached time, which lags, and named a wait
/// longer than the open duration (100.16 ms for 100 ms).
#[test]
fn a_rejection_never_names_a_wait_longer_than_the_open_duration() {
    for run in 0..20 {
        let open_for = Duration::from_millis(100);
        let b = CircuitBreaker::builder("retry_after")
            .failure_threshold(1)
            .recovery_timeout(open_for)
            .build()
            .unwrap();
        let _ = b.call(|| Err::<(), _>("down"));
        for _ in 0..1_000 {
            let Err(rejected) = b.try_acquire() else {
                break; // this run outlived its open duration
            };
            let wait = rejected.retry_after.expect("an open breaker says when");
            assert!(wait <= open_for, "run {run}: retry in {wait:?}");
        }
    }
}

#[test]
fn a_half_open_refusal_names_a_wait_within_the_trial_lease() {
    let lease = Duration::from_secs(5);
    let b = CircuitBreaker::builder("trial_lease")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_millis(1))
        .probe_timeout(lease)
        .build()
        .unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    let trial = loop {
        if let Ok(permit) = b.try_acquire() {
            break permit;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    for _ in 0..1_000 {
        let rejected = b.try_acquire().expect_err("the only trial slot is taken");
        assert_eq!(rejected.state, State::HalfOpen);
        let wait = rejected
            .retry_after
            .expect("a slot frees when the lease ends");
        assert!(wait <= lease, "retry in {wait:?}");
    }
    drop(trial);
}
