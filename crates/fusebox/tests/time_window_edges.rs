//! Time windows at the edges: slices past 2^31 and 2^32 widths, idle gaps,
//! and window text from a store with slice numbers out of range.

use std::time::Duration;

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, ManualClock, Policy, State, Window};

/// 2^31 + 5 bucket widths of a 10 s window (width 1 s): about 68 years,
/// well within the manual clock's 584.
const PAST_HALF_TAG_SPACE: Duration = Duration::from_secs((1 << 31) + 5);

fn rate_breaker(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("edges")
        .policy(Policy::failure_rate(
            0.5,
            Window::time(Duration::from_secs(10)),
            2,
        ))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn fail(b: &CircuitBreaker) {
    let _ = b.call(|| Err::<(), _>("down"));
}

/// A counter word of 0 (a fresh bucket, or every bucket after an idle gap
/// is zeroed) carries slice tag 0, and `is_later(0, s)` is true for every
/// slice whose low 32 bits are above 2^31: `bump` then refuses to count.
/// A breaker whose clock is past 2^31 widths (a 10 ms window after 24.8
/// days of uptime) counts no call at all.
#[test]
fn a_time_window_counts_calls_after_2_pow_31_widths() {
    let clock = ManualClock::new();
    clock.advance(PAST_HALF_TAG_SPACE);
    let b = rate_breaker(&clock);
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Open, "{:?}", b.metrics());
}

/// The same through the idle-gap path: the first call after a gap of a
/// whole window zeroes every bucket (tag 0), and if the slice is in the
/// upper half of the tag space nothing is counted afterwards.
#[test]
fn a_time_window_counts_calls_after_an_idle_gap() {
    let clock = ManualClock::new();
    let b = rate_breaker(&clock);
    b.call(|| Ok::<_, ()>(())).unwrap();
    clock.advance(PAST_HALF_TAG_SPACE);
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Open, "{:?}", b.metrics());
}

fn buckets(triple: &str) -> String {
    [triple; 10].join(",")
}

fn shared(store: &MemoryStore, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("api")
        .policy(Policy::failure_rate(
            0.5,
            Window::time(Duration::from_secs(10)),
            2,
        ))
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap()
}

/// A time window's `floor` is a slice number read from the store and never
/// bounded by the time: a damaged (or foreign) floor far in the future makes
/// every bucket "older than the floor", so the rate policy never trips, and
/// the floor is written back with every update, so the breaker stays wedged.
#[test]
fn a_stored_time_window_floor_from_the_future_does_not_wedge_the_breaker() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(100));
    let store = MemoryStore::new().with_clock(clock.clone());
    store.put_raw(
        "api",
        &format!(
            "fusebox/1 state=closed gen=1 since=0 until=0 streak=0 ps=0 next=1 lf=- re=0 rng=1 probes= win=t1000000000:18446744073709551615:{}:0",
            buckets("0.0.0")
        ),
    );
    let b = shared(&store, &clock);
    for _ in 0..20 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Open, "raw: {:?}", store.raw("api"));
}

/// A record without `newest` (written before the field existed, or
/// damaged) decodes as `newest = u64::MAX`, which `fetch_max` keeps
/// forever and every update writes back: that breaker never gets the
/// idle-gap fix, and after exactly 2^32 widths old failures count again
/// (issue 10, defect 7).
#[test]
fn a_stored_time_window_without_newest_forgets_old_failures_after_2_pow_32_widths() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(5));
    let store = MemoryStore::new().with_clock(clock.clone());
    // Slice 5 holds 5 failed calls (tag 5 in the upper half of each word).
    let bucket5 = format!("{:x}.{:x}.0", (5u64 << 32) | 5, (5u64 << 32) | 5);
    let mut words = vec!["0.0.0".to_owned(); 10];
    words[5] = bucket5;
    store.put_raw(
        "api",
        &format!(
            "fusebox/1 state=closed gen=1 since=0 until=0 streak=0 ps=0 next=1 lf=- re=0 rng=1 probes= win=t1000000000:0:{}",
            words.join(",")
        ),
    );
    let b = shared(&store, &clock);
    // Exactly 2^32 widths later: those failures are 136 years old.
    clock.advance(Duration::from_secs(1 << 32));
    b.call(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(
        b.state(),
        State::Closed,
        "136-year-old failures tripped it; raw: {:?}",
        store.raw("api")
    );
}
