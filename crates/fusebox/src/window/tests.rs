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
        for (i, &(failed, slow)) in calls.iter().enumerate() {
            if i == clear_at {
                window.clear();
                skipping.clear(0);
                since_clear.clear();
            }
            window.record(failed, slow);
            if failed || slow || !skipping.absorbs_success() {
                skipping.record(0, failed, slow);
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
            window.record(now, failed, slow);
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
        window.record(t * 100, true, false);
    }
    assert_eq!(window.tally(9_999).calls, 100);
    // One bucket (1 000) later the first bucket's calls have left.
    assert_eq!(window.tally(10_000).calls, 90);
    // Long idle: nothing is live, and the stale buckets restart on reuse.
    let later = 10_000 * 1_000_003;
    assert_eq!(window.tally(later), Tally::default());
    window.record(later, false, false);
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
        window.record(5, true, true);
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
    window.record(10, true, false);
    window.record(150, true, false);
    window.clear(160);
    assert_eq!(window.tally(160), Tally::default());
    window.record(170, false, false);
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
                    window.record((i + t) % 3 == 0, i % 5 == 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let filled: Vec<u8> = window
        .slots
        .iter()
        .map(|s| s.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
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
