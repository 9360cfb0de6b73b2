//! `CircuitBreakerLayer`: a breaker in front of any `tower::Service`.
//!
//! ```
//! use fusebox::{CircuitBreaker, CircuitBreakerLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let breaker = CircuitBreaker::builder("backend").failure_threshold(2).build()?;
//! let service = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service_fn(|x: u32| async move { if x == 0 { Err("zero") } else { Ok(x) } });
//! # let _ = service;
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! The breaker is asked in `call`, not in `poll_ready`: an open breaker is
//! not an unready service, and a load balancer must not wait on it. A
//! rejected request fails at once with [`Error::Open`](crate::Error::Open)
//! and never reaches the inner service; the inner service's errors come back
//! as [`Error::Inner`](crate::Error::Inner) and count as failures.

mod classify;
mod future;
mod layer;
mod service;

pub use classify::{Classify, ErrorsFail};
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreakerService;
