//! `Clock::forbid_background_thread`: the `fusebox-clock` thread stops and
//! never comes back, and open breakers on the system clock still refuse and
//! admit on time. One test: the switch is process-wide, and this file is a
//! process of its own.

use std::time::{Duration, Instant};

use fusebox::{CircuitBreaker, Clock, State};

/// The names of this process's threads (Linux).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn clock_threads() -> usize {
    thread_names()
        .iter()
        .filter(|name| *name == "fusebox-clock")
        .count()
}

/// Waits, for the operating system and not for the breaker's time, until
/// `count` clock threads run; fails after 10 s.
fn wait_for_clock_threads(count: usize) {
    let asked = Instant::now();
    while clock_threads() != count {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "not {count} clock threads: {:?}",
            thread_names()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn refuse(breaker: &CircuitBreaker, times: usize) {
    for _ in 0..times {
        let refused = breaker.try_acquire().map(drop).unwrap_err();
        assert_eq!(refused.state, State::Open);
        let wait = refused.retry_after.unwrap();
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_forbidden_clock_thread_stops_and_rejections_still_read_the_time() {
    let open = CircuitBreaker::builder("open")
        .recovery_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    open.trip();
    refuse(&open, 1_000);
    // A new thread takes its name once it runs.
    wait_for_clock_threads(1);

    Clock::forbid_background_thread();
    // The thread sees it must stop at its next tick (a millisecond).
    wait_for_clock_threads(0);

    // Neither rejections nor new breakers start it again.
    refuse(&open, 10_000);
    let short = CircuitBreaker::builder("short")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    // Read before the trip: never shorter than what the breaker waited.
    let opened = Instant::now();
    short.trip();
    let trial = loop {
        match short.try_acquire() {
            Ok(permit) => break permit,
            Err(refused) => assert_eq!(refused.state, State::Open),
        }
        assert!(opened.elapsed() < Duration::from_secs(10), "never admitted");
        std::thread::sleep(Duration::from_micros(200));
    };
    // Never early: admission is decided on the precise clock.
    assert!(opened.elapsed() >= Duration::from_millis(50));
    trial.success();
    assert_eq!(short.state(), State::Closed);
    assert_eq!(clock_threads(), 0, "{:?}", thread_names());
}
