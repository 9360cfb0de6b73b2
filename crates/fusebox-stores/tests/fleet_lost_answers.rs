//! Fleet mode on Redis: a manual operation made while the store was away,
//! whose write-back may have been stored (its answer was lost), and the
//! calls around it. Regressions from an outside review.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::lossy_proxy::{
    breaker, lose_the_answer, scene, sync_in_flight, sync_until_back, synced_breaker, Scene, AWAY,
    LOSE_ANSWER, PASS, SWALLOW,
};
use fusebox::{CircuitBreaker, State};
use fusebox_stores::RedisStore;

/// While the store is away an operator resets the breaker and two calls
/// fail. The synchronisation that writes the reset back (with those two
/// failures) is stored, but its answer is lost; a third call fails; the
/// next synchronisation drops the reset as overtaken (right: it is
/// stored) and with it the third failure, which is in no write at all.
/// Three failures in a row, then a fourth: the breaker must open.
#[test]
fn fleet_mode_a_failure_after_a_lost_answer_to_a_reset_write_back_counts() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = synced_breaker(&url, &clock);
    mode.store(AWAY, Ordering::SeqCst);
    b.reset();
    assert!(b.metrics().degraded, "the store is away");
    for _ in 0..2 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    lose_the_answer(&b, &mode, &clock);
    let _ = b.call(|| Err::<(), _>("down"));
    sync_until_back(&b, &mode, &clock);
    let observer = breaker(&server.url(), &clock, false);
    assert_eq!(
        observer.metrics().consecutive_failures,
        3,
        "3 calls failed after the reset: {:?}",
        observer.metrics()
    );
    let _ = b.call(|| Err::<(), _>("down"));
    let _ = b.sync_now();
    assert_eq!(observer.state(), State::Open, "a fourth failure in a row");
}

/// Three calls fail and the synchronisation that sends them is lost on the
/// way (never stored: a write in doubt, settled later). The store goes
/// away; an operator resets the breaker. When the store is back, the
/// reset must hold, as the fix does for a batch kept unsent: the failures
/// from before the reset are superseded by it. Fleet mode replays the
/// doubtful batch first (which trips the shared breaker, a new
/// generation) and then drops the reset as overtaken.
#[test]
fn fleet_mode_failures_in_doubt_before_a_reset_made_while_away_do_not_reopen() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = CircuitBreaker::builder("api")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .store(
            RedisStore::open(&url)
                .unwrap()
                .timeout(Duration::from_millis(300))
                .with_clock(clock.clone())
                .sync_every(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    b.call(|| Ok::<(), &str>(())).unwrap();
    b.sync_now().unwrap();
    mode.store(SWALLOW, Ordering::SeqCst);
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    // The local trip asks for a synchronisation at once; if it has not
    // come, this is it.
    std::thread::sleep(Duration::from_millis(100));
    if mode.load(Ordering::SeqCst) == SWALLOW {
        let lost = b.sync_now();
        assert!(matches!(&lost, Err(e) if e.maybe_written), "{lost:?}");
    }
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(mode.load(Ordering::SeqCst), PASS, "the write was swallowed");
    mode.store(AWAY, Ordering::SeqCst);
    let _ = b.sync_now();
    b.reset();
    assert_eq!(
        b.state(),
        State::Closed,
        "reset locally while the store is away"
    );
    sync_until_back(&b, &mode, &clock);
    let observer = breaker(&server.url(), &clock, false);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Closed, State::Closed),
        "failures from before the reset opened the breaker: {:?}",
        observer.metrics()
    );
}

/// While the store is away an operator forces the breaker open. The
/// write-back of that is stored, but its answer is lost; the store goes
/// away again and the operator resets the breaker. When the store is back
/// the reset must be written, onto the state the first write made: it was
/// dropped as overtaken (the generation it was made on was gone), and the
/// fleet stayed forced open.
#[test]
fn fleet_mode_a_second_manual_operation_after_a_lost_answer_is_written() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = synced_breaker(&url, &clock);
    mode.store(AWAY, Ordering::SeqCst);
    b.force_open();
    assert!(b.metrics().degraded, "the store is away");
    lose_the_answer(&b, &mode, &clock);
    let observer = breaker(&server.url(), &clock, false);
    assert_eq!(
        observer.state(),
        State::ForcedOpen,
        "the first one is stored"
    );

    mode.store(AWAY, Ordering::SeqCst);
    b.reset();
    assert_eq!(b.state(), State::Closed, "reset while the store is away");
    sync_until_back(&b, &mode, &clock);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Closed, State::Closed),
        "the reset was lost: {:?}",
        observer.metrics()
    );
    b.call(|| Ok::<(), &str>(())).unwrap();
}

/// As above, but another process changes the shared state after the first
/// operation's write: the second operation was made on a state the fleet
/// has left, and is not written over that process's change.
#[test]
fn fleet_mode_a_second_manual_operation_does_not_overwrite_another_process() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = breaker(&url, &clock, true);
    b.sync_now().unwrap();
    mode.store(AWAY, Ordering::SeqCst);
    b.force_open();
    lose_the_answer(&b, &mode, &clock);
    mode.store(AWAY, Ordering::SeqCst);
    let other = breaker(&server.url(), &clock, false);
    other.trip();
    b.reset();
    sync_until_back(&b, &mode, &clock);
    assert_eq!(
        (b.state(), other.state()),
        (State::Open, State::Open),
        "{:?}",
        other.metrics()
    );
}

/// Regression from an outside review. While the store is away an operator
/// forces the breaker open. The write-back of that is stored, but its
/// answer is lost; while that answer is on its way (the store has just gone
/// away again) the operator resets the breaker. When the store is back the
/// reset must be written, as it is when made after the write-back has
/// failed.
#[test]
fn fleet_mode_a_reset_made_while_a_lost_write_back_is_in_flight_is_written() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = synced_breaker(&url, &clock);
    mode.store(AWAY, Ordering::SeqCst);
    b.force_open();
    assert!(b.metrics().degraded, "the store is away");
    mode.store(LOSE_ANSWER, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    let syncing = sync_in_flight(&b, &mode);
    mode.store(AWAY, Ordering::SeqCst);
    b.reset();
    assert_eq!(b.state(), State::Closed, "reset while the store is away");
    let lost = syncing.join().unwrap();
    assert!(matches!(&lost, Err(e) if e.maybe_written), "{lost:?}");
    let observer = breaker(&server.url(), &clock, false);
    assert_eq!(
        observer.state(),
        State::ForcedOpen,
        "the first one is stored"
    );
    sync_until_back(&b, &mode, &clock);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Closed, State::Closed),
        "the reset was lost: {:?}",
        observer.metrics()
    );
}

/// Regression from an outside review. While the store is away an operator
/// resets the breaker and three calls fail. The write-back of the reset and
/// those failures never reaches the store (no answer comes); while it
/// waits, the operator resets again and one call fails. The second reset
/// supersedes the three failures before it: the shared breaker must have
/// one failure, and stay closed.
#[test]
fn fleet_mode_failures_before_a_reset_made_while_a_write_back_is_in_flight_do_not_count() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = synced_breaker(&url, &clock);
    mode.store(AWAY, Ordering::SeqCst);
    b.reset();
    assert!(b.metrics().degraded, "the store is away");
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    mode.store(SWALLOW, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    let syncing = sync_in_flight(&b, &mode);
    mode.store(AWAY, Ordering::SeqCst);
    b.reset();
    let _ = b.call(|| Err::<(), _>("down"));
    assert_eq!(b.metrics().consecutive_failures, 1, "locally");
    let lost = syncing.join().unwrap();
    assert!(matches!(&lost, Err(e) if e.maybe_written), "{lost:?}");
    // The connection that swallowed the write waits for an answer that
    // never comes: cut it (as the other swallowing test does).
    clock.advance(Duration::from_secs(2));
    let _ = b.sync_now();
    sync_until_back(&b, &mode, &clock);
    let observer = breaker(&server.url(), &clock, false);
    assert_eq!(
        (observer.state(), observer.metrics().consecutive_failures),
        (State::Closed, 1),
        "{:?}",
        observer.metrics()
    );
}

/// Regression from an outside review. The shared breaker has one failure
/// (another process's). This process counts three more; the synchronisation that sends them trips the
/// shared breaker, but its answer is lost. The store goes away and an
/// operator resets the breaker (closed locally, with three failures): no
/// other process changed the shared state, only this process's own calls
/// from before the reset. When the store is back the reset must be written
/// (calls before a manual operation never count after it).
#[test]
fn fleet_mode_a_reset_after_a_lost_synchronisation_that_tripped_is_written() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let b = breaker(&url, &clock, true);
    b.sync_now().unwrap();
    let observer = breaker(&server.url(), &clock, false);
    let _ = observer.call(|| Err::<(), _>("down"));
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert_eq!(b.state(), State::Closed, "3 failures locally");
    mode.store(LOSE_ANSWER, Ordering::SeqCst);
    let lost = b.sync_now();
    assert!(matches!(&lost, Err(e) if e.maybe_written), "{lost:?}");
    assert_eq!(observer.state(), State::Open, "the lost write tripped it");
    mode.store(AWAY, Ordering::SeqCst);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    sync_until_back(&b, &mode, &clock);
    assert_eq!(
        (b.state(), observer.state()),
        (State::Closed, State::Closed),
        "the reset was dropped: {:?}",
        observer.metrics()
    );
}
