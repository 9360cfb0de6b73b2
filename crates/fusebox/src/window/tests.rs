use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

/// The obvious, slow window the atomic ones must agree with.
fn naive_count(calls: &[(bool, bool)], size: usize) -> Tally {
    let held: VecDeque<_> = calls.iter().rev().take(size).collect();
    Tally {
        calls: held.len() as u64,
        failures: held.iter().filter(|c| c.0).count() as u64,
        slow: held.iter().filter(|c| c.1).count() as u64,
    }
}

proptest! {
    #[test]
    fn count_window_holds_exactly_the_last_n_calls(
        size in 1u32..20,
        calls in prop::collection::vec((any::<bool>(), any::<bool>()), 0..80),
        clear_at in 0usize..80,
    ) {
        let window = CountWindow::new(size);
        // Skips the successes it absorbs, as the breaker does.
        let skipping = CallWindow::Count(CountWindow::new(size));
        let mut since_clear = Vec::new();
        let mut generation = 0;
        for (i, &(failed, slow)) in calls.iter().enumerate() {
            if i == clear_at {
                generation = 1;
                window.clear(generation);
                skipping.clear(0, generation);
                since_clear.clear();
            }
            window.record(generation, failed, slow);
            if failed || slow || !skipping.absorbs_success() {
                skipping.record(generation, 0, failed, slow);
            }
            since_clear.push((failed, slow));
            let expected = naive_count(&since_clear, size as usize);
            prop_assert_eq!(window.tally(), expected);
            prop_assert_eq!(skipping.tally(0), expected);
        }
    }

    #[test]
    fn time_window_counts_the_calls_of_its_live_slices(
        steps in prop::collection::vec((0u64..400, any::<bool>(), any::<bool>()), 0..60),
    ) {
        // 1 s window: ten 100 ms buckets.
        let window = TimeWindow::new(1_000);
        let mut now = 0;
        let mut log: Vec<(u64, bool, bool)> = Vec::new();
        for (gap, failed, slow) in steps {
            now += gap;
            window.record(0, now, failed, slow);
            log.push((now / 100, failed, slow));
            let current = now / 100;
            let live: Vec<_> = log.iter().filter(|c| c.0 + 10 > current).collect();
            let expected = Tally {
                calls: live.len() as u64,
                failures: live.iter().filter(|c| c.1).count() as u64,
                slow: live.iter().filter(|c| c.2).count() as u64,
            };
            prop_assert_eq!(window.tally(now), expected);
        }
    }
}

#[test]
fn a_long_idle_gap_empties_the_time_window() {
    let window = TimeWindow::new(10_000);
    for t in 0..100 {
        window.record(0, t * 100, true, false);
    }
    assert_eq!(window.tally(9_999).calls, 100);
    // One bucket (1 000) later the first bucket's calls have left.
    assert_eq!(window.tally(10_000).calls, 90);
    // Long idle: nothing is live, and the stale buckets restart on reuse.
    let later = 10_000 * 1_000_003;
    assert_eq!(window.tally(later), Tally::default());
    window.record(0, later, false, false);
    assert_eq!(
        window.tally(later),
        Tally {
            calls: 1,
            failures: 0,
            slow: 0
        }
    );
}

#[test]
fn a_clock_that_does_not_move_keeps_counting_in_one_bucket() {
    let window = TimeWindow::new(1_000);
    for _ in 0..1000 {
        window.record(0, 5, true, true);
    }
    let tally = window.tally(5);
    assert_eq!(
        (tally.calls, tally.failures, tally.slow),
        (1000, 1000, 1000)
    );
}

#[test]
fn clearing_forgets_earlier_calls_of_the_same_slice() {
    let window = TimeWindow::new(1_000);
    window.record(0, 10, true, false);
    window.record(0, 150, true, false);
    window.clear(160, 1);
    assert_eq!(window.tally(160), Tally::default());
    window.record(1, 170, false, false);
    assert_eq!(window.tally(170).calls, 1);
}

#[test]
fn concurrent_recording_keeps_count_window_totals_exact() {
    let window = std::sync::Arc::new(CountWindow::new(64));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let window = window.clone();
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    window.record(0, (i + t) % 3 == 0, i % 5 == 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let filled: Vec<u8> = window.slot_bits().collect();
    let tally = window.tally();
    assert_eq!(tally.calls, 64);
    assert_eq!(
        tally.failures,
        filled.iter().filter(|s| *s & FAILED != 0).count() as u64
    );
    assert_eq!(
        tally.slow,
        filled.iter().filter(|s| *s & SLOW != 0).count() as u64
    );
}

#[test]
fn a_call_of_an_earlier_generation_leaves_either_window_alone() {
    let count = CallWindow::Count(CountWindow::new(4));
    let time = CallWindow::Time(TimeWindow::new(1_000));
    for window in [&count, &time] {
        window.record(0, 10, true, false);
        window.clear(20, 1);
        // Admitted before the reset, finished after it.
        window.record(0, 30, true, true);
        window.record(0, 30, false, false);
        assert_eq!(window.tally(30), Tally::default());
        window.record(1, 40, true, false);
        let tally = window.tally(40);
        assert_eq!((tally.calls, tally.failures, tally.slow), (1, 1, 0));
    }
}

/// Defect: a success swapping a failed slot out decremented the failure
/// total after a racing `clear()` had zeroed it, wrapping it to 2^64 - 1.
#[test]
fn totals_stay_exact_while_cleared_under_racing_calls() {
    use std::sync::atomic::{AtomicBool, AtomicU64 as StdU64, Ordering as O};
    let window = std::sync::Arc::new(CountWindow::new(4));
    let generation = std::sync::Arc::new(StdU64::new(0));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|t| {
            let (window, generation, stop) = (window.clone(), generation.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = t;
                while !stop.load(O::Relaxed) {
                    window.record(generation.load(O::Acquire), i % 8 == 0, i % 3 == 0);
                    let tally = window.tally();
                    assert!(tally.calls <= 4, "{tally:?}");
                    assert!(tally.failures <= tally.calls && tally.slow <= tally.calls);
                    i += 1;
                }
            })
        })
        .collect();
    for g in 1..=20_000 {
        window.clear(g);
        generation.store(g, O::Release);
    }
    stop.store(true, O::Relaxed);
    for caller in callers {
        caller.join().unwrap();
    }
    // At rest, each total is exactly what the slots of the generation hold.
    let bits: Vec<u8> = window.slot_bits().collect();
    let tally = window.tally();
    assert_eq!(
        tally.calls,
        bits.iter().filter(|b| **b & FILLED != 0).count() as u64
    );
    assert_eq!(
        tally.failures,
        bits.iter().filter(|b| **b & FAILED != 0).count() as u64
    );
    assert_eq!(
        tally.slow,
        bits.iter().filter(|b| **b & SLOW != 0).count() as u64
    );
    assert_eq!(
        count(window.failures.load(Ordering::Relaxed)),
        tally.failures
    );
}

/// Defect: buckets were tagged with the slice number modulo 2^32, so after
/// an idle gap of exactly 2^32 bucket widths old failures counted again.
#[test]
fn an_idle_gap_of_two_to_the_32_buckets_forgets_old_calls() {
    let window = TimeWindow::new(1_000); // 100 per bucket
    for _ in 0..5 {
        window.record(0, 250, true, false);
    }
    let later = 250 + (1u64 << 32) * 100;
    assert_eq!(window.tally(later), Tally::default());
    window.record(0, later, false, false);
    let tally = window.tally(later);
    assert_eq!((tally.calls, tally.failures), (1, 0));
}

/// A thread held up between reading the clock and recording must not
/// restart a bucket that already counts a later slice.
#[test]
fn a_call_recorded_a_window_late_leaves_newer_buckets_alone() {
    let window = TimeWindow::new(1_000);
    window.record(0, 1_050, true, false); // slice 10, bucket 0
    window.record(0, 1_060, false, false);
    window.record(0, 50, false, false); // slice 0, bucket 0: a window old
    let tally = window.tally(1_060);
    assert_eq!((tally.calls, tally.failures), (2, 1));
}

#[test]
fn a_tally_never_shows_more_failures_than_calls() {
    let window = TimeWindow::new(1_000);
    // A bucket whose failure counter is ahead of its call counter, as a
    // store record or a tally between two bumps can show.
    window.buckets[0].calls.store(1, Ordering::Relaxed);
    window.buckets[0].failures.store(5, Ordering::Relaxed);
    window.newest.store(0, Ordering::Relaxed);
    let tally = window.tally(10);
    assert!(tally.failures <= tally.calls, "{tally:?}");
}
