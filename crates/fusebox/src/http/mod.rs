//! HTTP for the tower layer (feature `http`): which responses count as
//! failures, and the answer to give when the breaker refuses a request.
//!
//! A dependency that answers `500 Internal Server Error` is as broken as one
//! that does not answer, but to tower both are `Ok(response)`. With
//! [`StatusClassifier`] the layer counts server errors (5xx) and transport
//! errors (the inner service's `Err`) as failures, and everything else,
//! client errors (4xx) included, as successes: a `404` says the dependency
//! is up and the caller asked for something it does not have.
//! [`StatusClassifier::honor_retry_after`] also lets a dependency that
//! answers `503` or `429` with `Retry-After` keep the breaker open that long.
//!
//! ```
//! use fusebox::http::StatusClassifier;
//! use fusebox::{CircuitBreaker, CircuitBreakerLayer, State};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let breaker = CircuitBreaker::builder("inventory").failure_threshold(2).build()?;
//! let mut client = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()).classify(StatusClassifier::new()))
//!     .service_fn(|status: u16| async move {
//!         http::Response::builder().status(status).body(()).map_err(|e| e.to_string())
//!     });
//!
//! client.ready().await?.call(404).await?; // the caller's mistake: not counted
//! for _ in 0..2 {
//!     let _ = client.ready().await?.call(503).await;
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // Refused without a request; answer your own caller with a 503.
//! let error = client.ready().await?.call(200).await.unwrap_err();
//! let rejected = error.rejected().expect("refused by the breaker");
//! let response: http::Response<String> = fusebox::http::rejection_response(rejected);
//! assert_eq!(response.status(), 503);
//! assert!(response.headers().contains_key(http::header::RETRY_AFTER));
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # }).unwrap();
//! ```
//!
//! In an axum application, map the layer's error with `HandleErrorLayer`
//! (the inner error of an axum route is `Infallible`):
//!
//! ```
//! use std::convert::Infallible;
//!
//! use axum::{error_handling::HandleErrorLayer, routing::get, Router};
//! use fusebox::http::{rejection_response, StatusClassifier};
//! use fusebox::{CircuitBreaker, CircuitBreakerLayer};
//! use tower::ServiceBuilder;
//!
//! let breaker = CircuitBreaker::builder("reports").build()?;
//! let guard = ServiceBuilder::new()
//!     .layer(HandleErrorLayer::new(|error: fusebox::Error<Infallible>| async move {
//!         match error {
//!             fusebox::Error::Open(rejected) => rejection_response::<String>(&rejected),
//!             fusebox::Error::Inner(never) => match never {},
//!         }
//!     }))
//!     .layer(CircuitBreakerLayer::new(breaker).classify(StatusClassifier::new()));
//! let app: Router = Router::new().route("/report", get(|| async { "ok" })).layer(guard);
//! # let _ = app;
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! The `http_service` example runs a whole client and server.

use std::time::Duration;

use ::http::header::{HeaderValue, RETRY_AFTER};
use ::http::{Response, StatusCode};

use crate::tower::Classify;
use crate::{Outcome, Rejected};

/// Counts server errors (5xx) and transport errors as failures, every other
/// response (1xx to 4xx) as a success.
///
/// With [`honor_retry_after`](Self::honor_retry_after), a `503` or `429`
/// carrying `Retry-After` in seconds also keeps the breaker open at least
/// that long, and a `429` with it counts as a failure (the dependency asks
/// its callers to back off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusClassifier {
    /// The longest `Retry-After` honoured; `None`: not honoured.
    retry_after_max: Option<Duration>,
}

impl StatusClassifier {
    /// The classifier: 5xx and `Err` fail, the rest succeed, `Retry-After`
    /// is not honoured.
    pub const fn new() -> StatusClassifier {
        StatusClassifier {
            retry_after_max: None,
        }
    }

    /// Honours `Retry-After: SECONDS` on `503` and `429` responses, up to
    /// `max` (a dependency cannot hold the breaker open longer): when the
    /// breaker is open after such a response (it tripped, or was open
    /// already), it stays open at least that long. Only for breakers kept
    /// in memory: one in a store keeps the open duration its store records.
    /// A `Retry-After` given as an HTTP date is not read.
    #[must_use]
    pub const fn honor_retry_after(mut self, max: Duration) -> StatusClassifier {
        self.retry_after_max = Some(max);
        self
    }

    /// How a response with `status` counts, without its headers.
    pub fn status(&self, status: StatusCode) -> Outcome {
        if status.is_server_error() {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// The pause a response asks for, if honoured: `Retry-After` in whole
    /// seconds on a `503` or `429`, capped at the maximum.
    fn pause<B>(&self, response: &Response<B>) -> Option<Duration> {
        let max = self.retry_after_max?;
        let status = response.status();
        if status != StatusCode::SERVICE_UNAVAILABLE && status != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let seconds: u64 = response
            .headers()
            .get(RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(Duration::from_secs(seconds).min(max))
    }
}

impl<B, E> Classify<Response<B>, E> for StatusClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                match self.pause(response) {
                    Some(_) => Outcome::Failure,
                    None => Outcome::Success,
                }
            }
            Ok(response) => self.status(response.status()),
            Err(_) => Outcome::Failure,
        }
    }

    fn retry_after(&self, result: &Result<Response<B>, E>) -> Option<Duration> {
        self.pause(result.as_ref().ok()?)
    }
}

/// The response to give a caller whose request the breaker refused:
/// `503 Service Unavailable`, with `Retry-After` in whole seconds (rounded
/// up, at least 1) when the rejection says when to retry, and the
/// rejection's message as the body.
///
/// Any body built from a `String` will do: `String`, axum's `Body`,
/// `http_body_util::Full<Bytes>`. An `http::Response<String>` is an axum
/// `IntoResponse`.
pub fn rejection_response<B: From<String>>(rejected: &Rejected) -> Response<B> {
    let mut response = Response::new(B::from(rejected.to_string()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Some(after) = rejected.retry_after {
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}
