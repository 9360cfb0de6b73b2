//! A breaker in an HTTP client stack, end to end, offline:
//!
//! * a flaky HTTP service (axum) on a loopback port,
//! * a client (hyper) called through `CircuitBreakerLayer` with
//!   `http::StatusClassifier`, so 503 answers count as failures,
//! * trip, fast-fail (with the 503 + `Retry-After` a server would pass on),
//!   recovery and a retry,
//! * and the breaker's metrics on a Prometheus `/metrics` page.
//!
//! `cargo run -p fusebox --example http_service --features http,metrics`

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Shared;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use fusebox::http::{rejection_response, StatusClassifier};
use fusebox::retry::Retry;
use fusebox::{CircuitBreaker, CircuitBreakerLayer};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{Service, ServiceBuilder, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The flaky dependency: answers 503 while `down`, and once more when
/// `flake_once` is set.
#[derive(Clone, Default)]
struct Backend {
    down: Arc<AtomicBool>,
    flake_once: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

async fn inventory(Shared(backend): Shared<Backend>) -> (StatusCode, &'static str) {
    backend.requests.fetch_add(1, Ordering::SeqCst);
    if backend.down.load(Ordering::SeqCst) || backend.flake_once.swap(false, Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    } else {
        (StatusCode::OK, "42 widgets")
    }
}

/// The service's own `/metrics` page: publish the breaker's counts, then
/// render everything the recorder holds.
async fn metrics_page(
    Shared((breaker, prometheus)): Shared<(CircuitBreaker, PrometheusHandle)>,
) -> String {
    breaker.export_metrics();
    prometheus.render()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let recovery = Duration::from_millis(300);
    let breaker = CircuitBreaker::builder("inventory")
        .failure_threshold(3)
        .recovery_timeout(recovery)
        .on_transition(|t| println!("    >> {t}"))
        .build()?;

    // The dependency and the /metrics page, on a free loopback port.
    let backend = Backend::default();
    let app = Router::new()
        .route("/inventory", get(inventory).with_state(backend.clone()))
        .route(
            "/metrics",
            get(metrics_page).with_state((breaker.clone(), prometheus)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The client stack: hyper behind the breaker.
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(StatusClassifier::new()))
        .service(http.clone());
    let get_inventory = || {
        http::Request::get(format!("{base}/inventory"))
            .body(Empty::<Bytes>::new())
            .expect("a valid request")
    };

    println!("1. The dependency is healthy");
    for _ in 0..2 {
        let response = client.ready().await?.call(get_inventory()).await?;
        println!("    GET /inventory -> {}", response.status());
    }

    println!("2. It starts answering 503: three in a row trip the breaker");
    backend.down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let response = client.ready().await?.call(get_inventory()).await?;
        println!("    GET /inventory -> {}", response.status());
    }
    println!("    breaker: {}", breaker.state());

    println!("3. Fast fail: refused at once, the dependency sees nothing");
    let before = backend.requests.load(Ordering::SeqCst);
    for _ in 0..3 {
        let error = client
            .ready()
            .await?
            .call(get_inventory())
            .await
            .unwrap_err();
        let rejected = error.rejected().expect("refused by the breaker");
        let answer: http::Response<String> = rejection_response(rejected);
        println!(
            "    refused: {rejected}\n      our own callers get {} with Retry-After: {:?}",
            answer.status(),
            answer.headers()[http::header::RETRY_AFTER],
        );
    }
    let reached = backend.requests.load(Ordering::SeqCst) - before;
    println!("    requests that reached the dependency meanwhile: {reached}");

    println!("4. The dependency recovers; after {recovery:?} one trial request closes the breaker");
    backend.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(recovery).await;
    let response = client.ready().await?.call(get_inventory()).await?;
    println!("    GET /inventory -> {}", response.status());
    println!("    breaker: {}", breaker.state());

    println!("5. A single 503 is retried (each attempt through the breaker)");
    backend.flake_once.store(true, Ordering::SeqCst);
    let attempts = AtomicUsize::new(0);
    let retry = Retry::new(3, Duration::from_millis(20), Duration::from_millis(200))?;
    let status = retry
        .call_async(
            &breaker,
            || async {
                let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                let response = http
                    .request(get_inventory())
                    .await
                    .map_err(|e| e.to_string())?;
                println!("    attempt {n}: GET /inventory -> {}", response.status());
                if response.status().is_server_error() {
                    return Err(format!("server error {}", response.status()));
                }
                Ok(response.status())
            },
            tokio::time::sleep,
        )
        .await?;
    println!("    result: {status}; breaker: {}", breaker.state());

    println!("6. GET /metrics (Prometheus text):");
    let page = http
        .request(http::Request::get(format!("{base}/metrics")).body(Empty::<Bytes>::new())?)
        .await?;
    let text = page.into_body().collect().await?.to_bytes();
    for line in String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| !l.is_empty())
    {
        println!("    {line}");
    }
    Ok(())
}
