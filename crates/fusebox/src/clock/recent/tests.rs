use super::*;

// One test, because the ticker and its cached time are global to the process.
#[test]
fn the_cached_time_trails_the_clock_and_a_lost_ticker_is_replaced() {
    start();
    // Never ahead of the coarse clock read after it.
    for _ in 0..10 * CHECK_EVERY {
        let cached = recent();
        assert!(cached <= coarse_since_origin());
    }

    // What a forked child sees: a cached time frozen long ago, no ticker.
    // "Long ago" needs a process older than STALE; this is the system's own
    // clock, so real time is the point here (a few tens of milliseconds).
    while coarse_since_origin() <= 2 * STALE {
        thread::sleep(Duration::from_millis(5));
    }
    let orphaned = freeze(1);
    let before = coarse_since_origin();
    let reads: Vec<Nanos> = (0..CHECK_EVERY).map(|_| recent()).collect();
    // A thread reads the clock itself within CHECK_EVERY reads.
    assert!(
        reads.iter().any(|&read| read >= before),
        "no read within {CHECK_EVERY} saw the clock: {reads:?}"
    );

    // Once the lost ticker has been silent for STALE, a read replaces it and
    // the new one publishes. Generous bound: CI machines stall.
    for _ in 0..2_000 {
        recent();
        let replaced = CURRENT.load(Ordering::Acquire) > orphaned;
        if replaced && PUBLISHED.now.load(Ordering::Relaxed) >= before {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("no new ticker published the time within 10 s");
}
