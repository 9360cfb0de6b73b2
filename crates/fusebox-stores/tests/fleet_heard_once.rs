//! Fleet mode on Redis: listeners hear each transition of their process
//! once, in order, around a store that goes away or loses an answer (a
//! trip made alone while it is away, one left to a synchronisation that
//! fails, one made by a write whose answer was lost). Regressions, several
//! from outside reviews.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::lossy_proxy::{
    breaker, scene, sync_in_flight, sync_until_back, Scene, AWAY, LOSE_ANSWER, PASS, SWALLOW,
};
use fusebox::{CircuitBreaker, ManualClock, State};
use fusebox_stores::RedisStore;

type Heard = Arc<std::sync::Mutex<Vec<(State, State, u64)>>>;

/// `breaker` (fleet mode), with a listener recording what it hears.
fn listened(url: &str, clock: &ManualClock) -> (CircuitBreaker, Heard) {
    let heard: Heard = Arc::default();
    let h = heard.clone();
    let b = CircuitBreaker::builder("api")
        .failure_threshold(4)
        .recovery_timeout(Duration::from_secs(30))
        .clock(clock.clone())
        .store(
            RedisStore::open(url)
                .unwrap()
                .timeout(Duration::from_millis(300))
                .with_clock(clock.clone())
                .sync_every(Duration::from_secs(3600)),
        )
        .on_transition(move |t: &fusebox::Transition| {
            h.lock().unwrap().push((t.from, t.to, t.generation));
        })
        .build()
        .unwrap();
    (b, heard)
}

/// What the listener heard, in order.
fn states(heard: &Heard) -> Vec<(State, State, u64)> {
    heard.lock().unwrap().clone()
}

fn trips(heard: &Heard) -> usize {
    let heard = heard.lock().unwrap();
    heard.iter().filter(|(_, to, _)| *to == State::Open).count()
}

/// Four calls fail; the synchronisation that sends them trips the shared
/// breaker, but its answer is lost. The trip is this process's: its
/// listeners must hear it once the store shows it, not never.
#[test]
fn fleet_mode_a_trip_whose_answer_was_lost_is_heard_once() {
    let Scene {
        server: _server,
        mode,
        url,
        clock,
    } = scene();
    let (b, heard) = listened(&url, &clock);
    b.sync_now().unwrap();
    for _ in 0..4 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    mode.store(LOSE_ANSWER, Ordering::SeqCst);
    let lost = b.sync_now();
    assert!(matches!(&lost, Err(e) if e.maybe_written), "{lost:?}");
    assert_eq!(mode.load(Ordering::SeqCst), PASS, "the trip was written");
    sync_until_back(&b, &mode, &clock);
    assert_eq!(b.state(), State::Open);
    assert_eq!(trips(&heard), 1, "{:?}", heard.lock().unwrap());
}

/// The store is away: four calls fail and the breaker trips on its own,
/// which its listeners hear (it is the breaker's transition while the store
/// is away). When the store is back, the synchronisation that sends those
/// failures makes the same trip in the store: not a second one to hear.
#[test]
fn fleet_mode_a_trip_made_while_away_is_heard_once() {
    let Scene {
        server,
        mode,
        url,
        clock,
    } = scene();
    let (b, heard) = listened(&url, &clock);
    b.sync_now().unwrap();
    mode.store(AWAY, Ordering::SeqCst);
    assert!(b.sync_now().is_err());
    assert!(b.metrics().degraded, "the store is away");
    for _ in 0..4 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert_eq!(trips(&heard), 1, "heard while away");
    sync_until_back(&b, &mode, &clock);
    let observer = breaker(&server.url(), &clock, false);
    assert_eq!(observer.state(), State::Open, "the trip reached the store");
    assert_eq!(trips(&heard), 1, "{:?}", heard.lock().unwrap());
}

/// Regression from an outside review. The store goes away unnoticed; four
/// calls fail and the breaker trips on its own. That trip was left for the
/// synchronisation it asks for to announce; when that finds the store away
/// (or a manual operation comes first), the trip is the breaker's and is
/// heard then, once, before what follows. It was never heard.
#[test]
fn fleet_mode_a_trip_made_as_the_store_went_away_is_heard() {
    for reset_first in [false, true] {
        let Scene {
            server: _server,
            mode,
            url,
            clock,
        } = scene();
        let (b, heard) = listened(&url, &clock);
        b.sync_now().unwrap();
        mode.store(AWAY, Ordering::SeqCst);
        for _ in 0..4 {
            let _ = b.call(|| Err::<(), _>("down"));
        }
        assert_eq!(b.state(), State::Open);
        if reset_first {
            b.reset();
        } else {
            assert!(b.sync_now().is_err());
        }
        assert_eq!(trips(&heard), 1, "{:?}", heard.lock().unwrap());
        sync_until_back(&b, &mode, &clock);
        let heard = heard.lock().unwrap();
        let expected: &[(State, State)] = if reset_first {
            &[(State::Closed, State::Open), (State::Open, State::Closed)]
        } else {
            &[(State::Closed, State::Open)]
        };
        let states: Vec<_> = heard.iter().map(|(from, to, _)| (*from, *to)).collect();
        assert_eq!(states, expected, "reset first: {reset_first}; {heard:?}");
    }
}

/// Regression from an outside review. A synchronisation is in flight (its
/// write swallowed: it fails at the timeout). Meanwhile calls fail and the
/// local machine trips: the store seemed reachable, so the trip is left to
/// that synchronisation. The store is then found away by an admission (open
/// duration elapsed): the local machine goes half-open and closes on a
/// trial. Listeners must hear the trip first, not when the synchronisation
/// fails, after the transitions that followed it.
#[test]
fn fleet_mode_a_trip_left_to_a_failing_synchronisation_is_heard_in_order() {
    let Scene {
        server: _server,
        mode,
        url,
        clock,
    } = scene();
    let (b, heard) = listened(&url, &clock);
    b.sync_now().unwrap();
    let _ = b.call(|| Err::<(), _>("down"));
    mode.store(SWALLOW, Ordering::SeqCst);
    let syncing = sync_in_flight(&b, &mode);
    mode.store(AWAY, Ordering::SeqCst);
    for _ in 0..8 {
        if b.state() == State::Open {
            break;
        }
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert_eq!(b.state(), State::Open, "tripped locally");
    clock.advance(Duration::from_secs(31));
    let trial = b.call(|| Ok::<(), &str>(()));
    let lost = syncing.join().unwrap();
    assert!(lost.is_err(), "{lost:?}");
    std::thread::sleep(Duration::from_millis(50));
    let heard = states(&heard);
    let mut sorted = heard.clone();
    sorted.sort_by_key(|(_, _, g)| *g);
    assert_eq!(heard, sorted, "out of generation order (trial: {trial:?})");
    assert_eq!(
        heard.first().map(|(f, t, _)| (*f, *t)),
        Some((State::Closed, State::Open)),
        "{heard:?}"
    );
}

/// Regression from an outside review. The store is away (known): four calls fail, the local machine
/// trips (heard), goes half-open after the open duration and its trial
/// closes it (heard). When the store is back the synchronisation that sends
/// the four failures trips the shared breaker: the same trip, not to be
/// heard again (it was, when only the last local transition was kept).
#[test]
fn fleet_mode_a_trip_made_while_away_then_half_open_and_closed_is_heard_once() {
    let Scene {
        server: _server,
        mode,
        url,
        clock,
    } = scene();
    let (b, heard) = listened(&url, &clock);
    b.sync_now().unwrap();
    mode.store(AWAY, Ordering::SeqCst);
    assert!(b.sync_now().is_err());
    assert!(b.metrics().degraded, "the store is away");
    for _ in 0..4 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(31));
    let trial = b.call(|| Ok::<(), &str>(()));
    assert!(trial.is_ok(), "{trial:?}");
    assert_eq!(b.state(), State::Closed, "{:?}", states(&heard));
    sync_until_back(&b, &mode, &clock);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(trips(&heard), 1, "{:?} now {:?}", states(&heard), b.state());
}
