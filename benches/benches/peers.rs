//! The other breaker crates, each configured as its documentation suggests,
//! behind the same [`Contender`](crate::Contender) interface.

use std::fmt;
use std::hint::black_box;
use std::time::Duration;

use crate::{ready, Contender};

const LONG: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(crate) struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// Fails calls until the breaker rejects one.
fn fail_until_open(mut fail: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if !fail() {
            return;
        }
    }
    panic!("breaker never opened");
}

// ---- failsafe -------------------------------------------------------------

type FailsafeConsecutive = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

struct Failsafe<P: failsafe::FailurePolicy>(failsafe::StateMachine<P, ()>);

fn failsafe_consecutive(
) -> Failsafe<failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>> {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(LONG));
    let machine: FailsafeConsecutive = failsafe::Config::new().failure_policy(policy).build();
    Failsafe(machine)
}

impl<P: failsafe::FailurePolicy + Send + Sync> Contender for Failsafe<P> {
    fn name(&self) -> &'static str {
        "failsafe"
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        use failsafe::CircuitBreaker;
        self.0.call(|| Ok::<_, ()>(black_box(1u64))).is_ok()
    }
    fn open(&self) {
        use failsafe::CircuitBreaker;
        fail_until_open(|| {
            !matches!(
                self.0.call(|| Err::<(), _>(())),
                Err(failsafe::Error::Rejected)
            )
        });
    }
}

// ---- recloser -------------------------------------------------------------

struct Recloser(recloser::Recloser);

impl Contender for Recloser {
    fn name(&self) -> &'static str {
        "recloser"
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        self.0.call(|| Ok::<_, ()>(black_box(1u64))).is_ok()
    }
    fn open(&self) {
        fail_until_open(|| {
            !matches!(
                self.0.call(|| Err::<(), _>(())),
                Err(recloser::Error::Rejected)
            )
        });
    }
}

fn recloser() -> Recloser {
    Recloser(recloser::Recloser::custom().open_wait(LONG).build())
}

// ---- circuitbreaker-rs ----------------------------------------------------

pub(crate) struct CircuitbreakerRs(
    pub(crate) circuitbreaker_rs::CircuitBreaker<circuitbreaker_rs::DefaultPolicy, Boom>,
);

impl Contender for CircuitbreakerRs {
    fn name(&self) -> &'static str {
        "circuitbreaker-rs"
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        self.0.call(|| Ok::<_, Boom>(black_box(1u64))).is_ok()
    }
    fn open(&self) {
        fail_until_open(|| {
            !matches!(
                self.0.call(|| Err::<(), _>(Boom)),
                Err(circuitbreaker_rs::BreakerError::Open)
            )
        });
    }
}

fn circuitbreaker_rs() -> CircuitbreakerRs {
    CircuitbreakerRs(
        circuitbreaker_rs::CircuitBreaker::<circuitbreaker_rs::DefaultPolicy, Boom>::builder()
            .failure_threshold(0.5)
            .cooldown(LONG)
            .build(),
    )
}

// ---- seatbelt (async middleware) -------------------------------------------

type SeatbeltService = Box<dyn Fn(u64) -> Result<u64, u64> + Send + Sync>;

struct Seatbelt(SeatbeltService, &'static str);

impl Contender for Seatbelt {
    fn name(&self) -> &'static str {
        self.1
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        (self.0)(black_box(1)).is_ok()
    }
    fn open(&self) {
        fail_until_open(|| (self.0)(u64::MAX) != Err(0));
    }
}

fn seatbelt(runtime: &'static tokio::runtime::Runtime) -> Seatbelt {
    use layered::{Execute, Service, Stack};
    use seatbelt::breaker::Breaker;
    use seatbelt::{RecoveryInfo, ResilienceContext};

    let _guard = runtime.enter();
    let clock = tick::Clock::new_tokio();
    let context: ResilienceContext<u64, Result<u64, u64>> = ResilienceContext::new(&clock);
    let service = (
        Breaker::layer("bench", &context)
            .recovery_with(|out: &Result<u64, u64>, _| match out {
                Ok(_) => RecoveryInfo::never(),
                Err(_) => RecoveryInfo::retry(),
            })
            .rejected_input_error(|_, _| 0u64)
            .min_throughput(100)
            .break_duration(LONG),
        // u64::MAX is the input that fails.
        Execute::new(|x: u64| async move {
            if x == u64::MAX {
                Err(1)
            } else {
                Ok(x)
            }
        }),
    )
        .into_service();
    Seatbelt(
        Box::new(move |x| {
            let _guard = runtime.enter();
            ready(service.execute(x))
        }),
        "seatbelt",
    )
}

// ---- tower-resilience-circuitbreaker (tower layer) --------------------------

/// One call with input `x`: `Err(true)` when the breaker refused it.
pub(crate) struct TowerResilience(pub(crate) Box<dyn Fn(u64) -> Result<u64, bool> + Send + Sync>);

impl Contender for TowerResilience {
    fn name(&self) -> &'static str {
        "tower-resilience"
    }
    #[inline(always)]
    fn call_ok(&self) -> bool {
        (self.0)(black_box(1)).is_ok()
    }
    fn open(&self) {
        fail_until_open(|| (self.0)(u64::MAX) != Err(true));
    }
}

fn tower_resilience(runtime: &'static tokio::runtime::Runtime, window: bool) -> TowerResilience {
    use tower::{Layer, Service};
    use tower_resilience_circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer};

    let mut builder = CircuitBreakerLayer::builder().wait_duration_in_open(LONG);
    builder = if window {
        builder
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .minimum_number_of_calls(100)
    } else {
        builder.consecutive_failures(5)
    };
    let layer = builder.build().unwrap();
    let inner = tower::service_fn(|x: u64| async move {
        if x == u64::MAX {
            Err(Boom)
        } else {
            Ok(x)
        }
    });
    let service = layer.layer(inner);
    TowerResilience(Box::new(move |x| {
        let _guard = runtime.enter();
        // A tower service is called through `&mut`: each call clones the
        // (cheap, shared-state) service, as a server does per request.
        let mut svc = service.clone();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match svc.poll_ready(&mut cx) {
            std::task::Poll::Ready(Ok(())) => {}
            other => panic!("not ready: {:?}", other.map(|r| r.is_ok())),
        }
        match ready(svc.call(x)) {
            Ok(v) => Ok(v),
            Err(CircuitBreakerError::OpenCircuit) => Err(true),
            Err(_) => Err(false),
        }
    }))
}

pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

/// Every peer with its consecutive-failures (or default) policy.
pub(crate) fn all() -> Vec<Box<dyn Contender>> {
    vec![
        Box::new(failsafe_consecutive()),
        Box::new(recloser()),
        Box::new(circuitbreaker_rs()),
        Box::new(seatbelt(runtime())),
        Box::new(tower_resilience(runtime(), false)),
    ]
}

/// Peers with a failure-rate window over the last 100 calls, where they have one.
pub(crate) fn rate_window() -> Vec<Box<dyn Contender>> {
    vec![
        Box::new(recloser()),
        Box::new(tower_resilience(runtime(), true)),
        Box::new(circuitbreaker_rs()),
    ]
}
