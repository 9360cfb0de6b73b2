//! Feature `http` in an axum application: the layer guards a route, and a
//! refused request is answered 503 with `Retry-After` via `HandleErrorLayer`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use fusebox::http::{rejection_response, StatusClassifier};
use fusebox::{CircuitBreaker, CircuitBreakerLayer, ManualClock, State};
use tower::{ServiceBuilder, ServiceExt};

fn app(breaker: &CircuitBreaker, handled: Arc<AtomicUsize>) -> Router {
    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(
            |error: fusebox::Error<Infallible>| async move {
                match error {
                    fusebox::Error::Open(rejected) => rejection_response::<Body>(&rejected),
                    fusebox::Error::Inner(never) => match never {},
                }
            },
        ))
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(StatusClassifier::new()));
    Router::new()
        .route(
            "/report",
            get(move || async move {
                handled.fetch_add(1, Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "disk full")
            }),
        )
        .layer(guard)
}

async fn get_report(app: &Router) -> axum::response::Response {
    let request = Request::get("/report").body(Body::empty()).unwrap();
    app.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn an_axum_route_trips_and_answers_503_with_retry_after() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("reports")
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(20))
        .clock(clock.clone())
        .build()
        .unwrap();
    let handled = Arc::new(AtomicUsize::new(0));
    let app = app(&breaker, handled.clone());

    for _ in 0..2 {
        assert_eq!(
            get_report(&app).await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(breaker.state(), State::Open);

    clock.advance(Duration::from_millis(4500));
    let refused = get_report(&app).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "16");
    assert_eq!(handled.load(Ordering::SeqCst), 2, "the handler never ran");
}
