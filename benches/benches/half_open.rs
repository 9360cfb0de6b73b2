//! Breakers put in their half-open state with every trial slot taken by a
//! call that does not finish: each further call must be refused. Only the
//! crates that bound their half-open calls take part: failsafe admits every
//! call while half-open, recloser admits calls until its half-open ring is
//! full, and seatbelt lets a share of calls through.

use std::any::Any;
use std::future::Future;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::peers::{Boom, CircuitbreakerRs, TowerResilience};
use crate::{Contender, Fusebox};

/// How long the peers stay open before their half-open state; the set-up
/// waits it out once.
const SHORT: Duration = Duration::from_millis(20);

/// Whatever keeps the trial calls running; dropping it lets them finish.
pub(crate) type Held = Box<dyn Any>;

/// A contender whose trial slots are all taken, with what holds them.
pub(crate) type HalfOpen = (Box<dyn Contender>, Held);

/// Every contender with a bounded half-open state, trial slots taken.
pub(crate) fn all() -> Vec<HalfOpen> {
    vec![fusebox(), circuitbreaker_rs(), tower_resilience()]
}

// ---- fusebox ---------------------------------------------------------------

fn fusebox() -> HalfOpen {
    let clock = fusebox::ManualClock::new();
    let breaker = fusebox::CircuitBreaker::builder("half_open")
        .recovery_timeout(SHORT)
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.trip();
    clock.advance(SHORT);
    let mut trials = Vec::new();
    while let Ok(permit) = breaker.try_acquire_owned() {
        trials.push(permit);
    }
    assert_eq!(trials.len(), 1, "fusebox: one trial slot by default");
    (Box::new(Fusebox(breaker, "fusebox")), Box::new(trials))
}

// ---- circuitbreaker-rs -----------------------------------------------------

fn circuitbreaker_rs() -> HalfOpen {
    let breaker =
        circuitbreaker_rs::CircuitBreaker::<circuitbreaker_rs::DefaultPolicy, Boom>::builder()
            .failure_threshold(0.5)
            .cooldown(SHORT)
            .probe_interval(1)
            .build();
    let contender = CircuitbreakerRs(breaker.clone());
    contender.open();
    assert_eq!(
        breaker.current_state(),
        circuitbreaker_rs::State::Open,
        "circuitbreaker-rs did not open"
    );
    thread::sleep(SHORT * 2);
    let held = hold_blocking_calls(move |inside| {
        breaker
            .call(|| {
                inside();
                Ok::<_, Boom>(0u64)
            })
            .is_ok()
    });
    (Box::new(contender), Box::new(held))
}

/// Starts calls that block inside the breaker until one is refused; the
/// admitted ones hold their trial slots until the guard is dropped.
fn hold_blocking_calls(call: impl Fn(&dyn Fn()) -> bool + Send + Sync + 'static) -> BlockedCalls {
    let call = std::sync::Arc::new(call);
    let mut blocked = BlockedCalls(Vec::new());
    for _ in 0..16 {
        let (admitted_tx, admitted_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let call = call.clone();
        let thread = thread::spawn(move || {
            let inside = || {
                let _ = admitted_tx.send(true);
                let _ = release_rx.recv();
            };
            if !call(&inside) {
                let _ = admitted_tx.send(false);
            }
        });
        if admitted_rx.recv() == Ok(true) {
            blocked.0.push((release_tx, thread));
        } else {
            thread.join().unwrap();
            assert!(!blocked.0.is_empty(), "no trial call was admitted");
            return blocked;
        }
    }
    panic!("more than 16 trial calls admitted: no bounded half-open state");
}

/// Calls blocked inside a breaker; dropping this releases and joins them.
struct BlockedCalls(Vec<(mpsc::Sender<()>, thread::JoinHandle<()>)>);

impl Drop for BlockedCalls {
    fn drop(&mut self) {
        for (release, thread) in self.0.drain(..) {
            drop(release);
            let _ = thread.join();
        }
    }
}

// ---- tower-resilience-circuitbreaker ----------------------------------------

/// The input the inner service never answers.
const HANG: u64 = u64::MAX - 1;

fn tower_resilience() -> HalfOpen {
    use tower::{Layer, Service};
    use tower_resilience_circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer};

    let runtime = crate::peers::runtime();
    let layer = CircuitBreakerLayer::builder()
        .wait_duration_in_open(SHORT)
        .consecutive_failures(5)
        .permitted_calls_in_half_open(1)
        .build()
        .unwrap();
    let inner = tower::service_fn(|x: u64| async move {
        if x == HANG {
            std::future::pending::<()>().await;
        }
        if x == u64::MAX {
            Err(Boom)
        } else {
            Ok(x)
        }
    });
    let service = layer.layer(inner);
    let mut cx = Context::from_waker(Waker::noop());
    // Each call clones the (shared-state) service, as a server does. A
    // service that is not ready refuses too: a caller that will not wait
    // (behind a load-shedding layer, say) gets an error at once.
    let start = {
        let service = service.clone();
        move |x: u64| {
            let _guard = runtime.enter();
            let mut svc = service.clone();
            let mut cx = Context::from_waker(Waker::noop());
            match svc.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => Some(Box::pin(svc.call(x))),
                _ => None,
            }
        }
    };
    let contender = TowerResilience(Box::new({
        let start = start.clone();
        move |x| {
            let Some(mut call) = start(x) else {
                return Err(true);
            };
            let mut cx = Context::from_waker(Waker::noop());
            match call.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(v)) => Ok(v),
                Poll::Ready(Err(CircuitBreakerError::OpenCircuit)) => Err(true),
                _ => Err(false),
            }
        }
    }));
    contender.open();
    thread::sleep(SHORT * 2);
    let mut held = Vec::new();
    loop {
        let Some(mut call) = start(HANG) else {
            break;
        };
        let _guard = runtime.enter();
        match call.as_mut().poll(&mut cx) {
            Poll::Pending => held.push(call),
            Poll::Ready(Err(CircuitBreakerError::OpenCircuit)) => break,
            Poll::Ready(_) => panic!("tower-resilience: a trial call finished"),
        }
        assert!(
            held.len() <= 16,
            "tower-resilience: no bounded half-open state"
        );
    }
    assert!(
        !held.is_empty(),
        "tower-resilience: no trial call was admitted"
    );
    (Box::new(contender), Box::new(held))
}
