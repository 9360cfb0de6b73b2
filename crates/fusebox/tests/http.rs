//! Feature `http`: the layer counts 5xx and transport errors as failures,
//! 4xx as successes; refused requests never reach the inner service and
//! get a 503 with `Retry-After`; a cancelled trial request is neutral.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use fusebox::http::{rejection_response, StatusClassifier};
use fusebox::{CircuitBreaker, CircuitBreakerLayer, ManualClock, Name, Rejected, State};
use http::header::RETRY_AFTER;
use http::{Response, StatusCode};
use tower::{Service, ServiceBuilder, ServiceExt};

/// What the fake dependency does with a request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// The connection failed: no response at all.
    Transport,
    /// Never answers.
    Hang,
}

type Reached = Arc<AtomicUsize>;

/// A breaker of `threshold` failures in a row in front of a fake dependency
/// that counts the requests reaching it.
fn client(
    threshold: u32,
    clock: &ManualClock,
) -> (
    CircuitBreaker,
    Reached,
    impl Service<Reply, Response = Response<()>, Error = fusebox::Error<String>>,
) {
    let breaker = CircuitBreaker::builder("inventory")
        .failure_threshold(threshold)
        .recovery_timeout(Duration::from_secs(30))
        .half_open_max_calls(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let reached = Reached::default();
    let counter = reached.clone();
    let service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(StatusClassifier::new()))
        .service_fn(move |reply: Reply| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match reply {
                    Reply::Status(code) => Ok(Response::builder().status(code).body(()).unwrap()),
                    Reply::Transport => Err("connection refused".to_owned()),
                    Reply::Hang => std::future::pending().await,
                }
            }
        });
    (breaker, reached, service)
}

/// Polls a future that must be ready at once (every reply but `Hang` is).
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("expected a ready future"),
    }
}

fn send<S>(service: &mut S, reply: Reply) -> Result<Response<()>, fusebox::Error<String>>
where
    S: Service<Reply, Response = Response<()>, Error = fusebox::Error<String>>,
{
    now(now(service.ready()).unwrap().call(reply))
}

#[test]
fn server_errors_and_transport_errors_trip() {
    for failing in [Reply::Status(500), Reply::Status(503), Reply::Transport] {
        let clock = ManualClock::new();
        let (breaker, _, mut service) = client(3, &clock);
        for _ in 0..2 {
            let _ = send(&mut service, failing);
        }
        assert_eq!(breaker.state(), State::Closed, "{failing:?}");
        let last = send(&mut service, failing);
        assert_eq!(breaker.state(), State::Open, "{failing:?}");
        // The response itself comes back: the layer classifies, it does not
        // turn a 5xx into an error.
        match failing {
            Reply::Status(code) => assert_eq!(last.unwrap().status(), code),
            _ => assert_eq!(
                last.unwrap_err().into_inner().unwrap(),
                "connection refused"
            ),
        }
        assert_eq!(breaker.metrics().failures, 3);
    }
}

#[test]
fn client_errors_and_successes_do_not_trip() {
    let clock = ManualClock::new();
    let (breaker, _, mut service) = client(2, &clock);
    for code in [404, 400, 429, 404, 200, 302, 404] {
        assert_eq!(
            send(&mut service, Reply::Status(code)).unwrap().status(),
            code
        );
    }
    assert_eq!(breaker.state(), State::Closed);
    let metrics = breaker.metrics();
    assert_eq!((metrics.successes, metrics.failures), (7, 0));
    // A success between server errors breaks their run.
    let _ = send(&mut service, Reply::Status(502));
    let _ = send(&mut service, Reply::Status(404));
    let _ = send(&mut service, Reply::Status(502));
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_refused_request_never_reaches_the_dependency() {
    let clock = ManualClock::new();
    let (breaker, reached, mut service) = client(1, &clock);
    let _ = send(&mut service, Reply::Status(500));
    assert_eq!(reached.load(Ordering::SeqCst), 1);
    for _ in 0..5 {
        let error = send(&mut service, Reply::Status(200)).unwrap_err();
        let rejected = error.rejected().expect("refused by the breaker");
        assert_eq!(rejected.state, State::Open);
    }
    assert_eq!(reached.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.metrics().rejections, 5);
}

#[test]
fn a_cancelled_trial_request_is_neutral() {
    let clock = ManualClock::new();
    let (breaker, reached, mut service) = client(1, &clock);
    let _ = send(&mut service, Reply::Status(500));
    clock.advance(Duration::from_secs(30));

    // The trial request is sent, then its caller gives up on it.
    {
        let mut trial = pin!(now(service.ready()).unwrap().call(Reply::Hang));
        let polled = trial.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending());
        assert!(
            send(&mut service, Reply::Status(200))
                .unwrap_err()
                .is_open(),
            "its trial slot is taken while it runs"
        );
    }
    assert_eq!(reached.load(Ordering::SeqCst), 2);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "neither closed nor reopened"
    );
    let metrics = breaker.metrics();
    assert_eq!((metrics.cancelled, metrics.failures), (1, 1));

    // Its slot is free again: the next trial request decides.
    assert_eq!(
        send(&mut service, Reply::Status(204)).unwrap().status(),
        204
    );
    assert_eq!(breaker.state(), State::Closed);
}

fn rejected(state: State, retry_after: Option<Duration>) -> Rejected {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("inventory")
        .failure_threshold(1)
        .recovery_timeout(retry_after.unwrap_or(Duration::from_secs(1)))
        .clock(clock)
        .build()
        .unwrap();
    match state {
        State::ForcedOpen => breaker.force_open(),
        _ => breaker.trip(),
    }
    let refused = breaker.try_acquire().map(|_| ()).unwrap_err();
    assert_eq!(
        (refused.name.clone(), refused.retry_after),
        (Name::new("inventory"), retry_after)
    );
    refused
}

#[test]
fn a_rejection_becomes_a_503_with_retry_after_in_whole_seconds() {
    for (wait, header) in [
        (Duration::from_secs(30), "30"),
        (Duration::from_millis(29_001), "30"),
        (Duration::from_millis(200), "1"),
    ] {
        let refused = rejected(State::Open, Some(wait));
        let response: Response<String> = rejection_response(&refused);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], header, "{wait:?}");
        assert_eq!(response.body(), &refused.to_string());
    }
    // Forced open: nobody knows when it will pass again.
    let refused = rejected(State::ForcedOpen, None);
    let response: Response<String> = rejection_response(&refused);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(RETRY_AFTER).is_none());
}

/// A breaker of one failure and 10 s recovery in front of a dependency that
/// answers `status` with `Retry-After: retry_after`.
fn paused_by(
    classifier: StatusClassifier,
    status: u16,
    retry_after: &'static str,
    clock: &ManualClock,
) -> CircuitBreaker {
    let breaker = CircuitBreaker::builder("rate_limited")
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(classifier))
        .service_fn(move |()| async move {
            Ok::<_, String>(
                Response::builder()
                    .status(status)
                    .header(RETRY_AFTER, retry_after)
                    .body(())
                    .unwrap(),
            )
        });
    now(now(service.ready()).unwrap().call(())).unwrap();
    breaker
}

/// How long the breaker stays open, in whole seconds of the manual clock.
fn open_for(breaker: &CircuitBreaker, clock: &ManualClock) -> u64 {
    let mut seconds = 0;
    while breaker.state() == State::Open {
        clock.advance(Duration::from_secs(1));
        seconds += 1;
        assert!(seconds < 100_000, "never leaves open");
    }
    seconds
}

#[test]
fn an_opted_in_retry_after_is_a_minimum_open_duration_up_to_the_cap() {
    let honoring = StatusClassifier::new().honor_retry_after(Duration::from_secs(300));
    for (status, header, open) in [
        (503, "120", 120),
        (503, " 45 ", 45),
        (503, "3", 10), // shorter than the open duration: no effect
        (503, "86400", 300),
        (429, "60", 60),
        // Not a number of seconds: ignored.
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", 10),
        (503, "-5", 10),
    ] {
        let clock = ManualClock::new();
        let breaker = paused_by(honoring, status, header, &clock);
        assert_eq!(
            open_for(&breaker, &clock),
            open,
            "{status} Retry-After: {header}"
        );
    }
}

#[test]
fn without_opting_in_retry_after_changes_nothing() {
    let clock = ManualClock::new();
    let breaker = paused_by(StatusClassifier::new(), 503, "120", &clock);
    assert_eq!(open_for(&breaker, &clock), 10);
    // A 429 is the caller's problem unless the classifier honours pauses.
    let clock = ManualClock::new();
    let breaker = paused_by(StatusClassifier::new(), 429, "120", &clock);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_429_without_retry_after_is_a_success_even_when_opted_in() {
    let honoring = StatusClassifier::new().honor_retry_after(Duration::from_secs(300));
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("rate_limited")
        .failure_threshold(1)
        .clock(clock)
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(honoring))
        .service_fn(|()| async {
            Ok::<_, String>(Response::builder().status(429).body(()).unwrap())
        });
    now(now(service.ready()).unwrap().call(())).unwrap();
    assert_eq!(breaker.state(), State::Closed);
}
