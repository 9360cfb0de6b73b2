#![allow(unreachable_pub)]
//! The multi-process scenarios, run against any store URL.

use std::time::Duration;

use fusebox::{CircuitBreaker, State};

use super::{report, tagged, var};

pub const THRESHOLD: u32 = 5;
pub const PROBES: u32 = 2;

pub fn breaker(url: &str, name: &str, recovery: Duration) -> CircuitBreaker {
    // These scenarios test sharing, not timeouts: a loaded CI machine must
    // not push a worker into degraded mode.
    let joiner = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{joiner}timeout=5s");
    CircuitBreaker::builder(name)
        .failure_threshold(THRESHOLD)
        .half_open_max_calls(PROBES)
        .recovery_timeout(recovery)
        .probe_timeout(Duration::from_secs(600))
        .shared_store(fusebox_stores::open(&url).unwrap())
        .build()
        .unwrap()
}

/// Worker: fails calls until the breaker rejects one; prints what it saw.
pub fn fail_until_rejected() {
    let b = breaker(&var("STORE_URL"), &var("BREAKER"), Duration::from_secs(600));
    let mut ran = 0;
    for _ in 0..1000 {
        match b.call(|| Err::<(), _>("down")) {
            Err(fusebox::Error::Inner(_)) => ran += 1,
            Err(fusebox::Error::Open(rejected)) => {
                report("ran", ran);
                report("rejected-state", rejected.state);
                report("state", b.state());
                return;
            }
            Ok(()) => unreachable!(),
        }
    }
    panic!("never rejected");
}

/// Worker: waits for half-open, takes one trial slot if it can and keeps it.
pub fn take_a_probe() {
    let b = breaker(&var("STORE_URL"), &var("BREAKER"), Duration::from_millis(1));
    while b.state() != State::HalfOpen {
        std::thread::yield_now();
    }
    let permit = b.try_acquire();
    report("probe", permit.is_ok());
    std::mem::forget(permit); // a hung trial call: the slot stays taken
}

fn run_fleet(entry: &str, url: &str, name: &str, workers: usize) -> Vec<String> {
    let vars = [("STORE_URL", url.to_owned()), ("BREAKER", name.to_owned())];
    super::run_workers(entry, &vars, workers)
}

/// Eight processes fail calls on one breaker: it opens once, for all.
pub fn eight_processes_trip_one_breaker(entry: &str, url: &str) {
    let outputs = run_fleet(entry, url, "fleet", 8);
    let ran: u32 = outputs
        .iter()
        .map(|o| tagged(o, "ran")[0].parse::<u32>().unwrap())
        .sum();
    assert!(ran >= THRESHOLD, "only {ran} calls ran");
    for output in &outputs {
        assert_eq!(tagged(output, "state"), ["open"], "{output}");
    }
    let observer = breaker(url, "fleet", Duration::from_secs(600));
    let metrics = observer.metrics();
    assert_eq!(metrics.state, State::Open);
    assert_eq!(metrics.generation, 1, "exactly one transition in the store");
}

/// Eight processes race for trial slots: no more than the limit fleet-wide.
pub fn half_open_probes_are_limited_fleet_wide(entry: &str, url: &str) {
    let setup = breaker(url, "probes", Duration::from_millis(1));
    setup.trip();
    let outputs = run_fleet(entry, url, "probes", 8);
    let admitted = outputs
        .iter()
        .filter(|o| tagged(o, "probe") == ["true"])
        .count();
    assert_eq!(admitted, PROBES as usize, "{outputs:?}");
    // In fleet mode a breaker's metrics are its last synchronisation's view:
    // take the store's now, with every worker's trial call in it.
    setup.sync_now().unwrap();
    assert_eq!(setup.metrics().half_open_in_flight, PROBES);
}
