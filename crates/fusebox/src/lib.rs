//! fusebox: a circuit breaker that is fast where it is called and correct
//! where others are not.
//!
//! A breaker guards calls to something that can fail. When calls keep
//! failing it *opens* and refuses the following calls at once; after a
//! recovery timeout it lets a few trial calls through (*half-open*) and
//! closes again if they succeed.
//!
//! ```
//! use fusebox::{CircuitBreaker, Error, ManualClock, State};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::builder("s3_upload")
//!     .failure_threshold(3)
//!     .recovery_timeout(Duration::from_secs(30))
//!     .clock(clock.clone())
//!     .build()?;
//!
//! for _ in 0..3 {
//!     let result = breaker.call(|| Err::<(), _>("connection refused"));
//!     assert_eq!(result, Err(Error::Inner("connection refused")));
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // Open: refused without running the call.
//! let Err(Error::Open(rejected)) = breaker.call(|| Ok::<_, &str>(())) else { panic!() };
//! assert_eq!(rejected.to_string(), "circuit 's3_upload' is open; retry in 30.0s");
//!
//! // After the recovery timeout one trial call passes; its success closes.
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.state(), State::HalfOpen);
//! assert_eq!(breaker.call(|| Ok::<_, &str>(42)), Ok(42));
//! assert_eq!(breaker.state(), State::Closed);
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! # Semantics
//!
//! * **Closed → Open** when `failure_threshold` failures come in a row. The
//!   call that trips it returns its own error; only later calls are refused.
//! * **Open → HalfOpen** once `recovery_timeout` has elapsed, visible in
//!   [`CircuitBreaker::state`] with no call made.
//! * **HalfOpen**: at most `half_open_max_calls` trial calls run at once;
//!   `success_threshold` successes in a row close the breaker, any failure
//!   opens it again.
//! * **Generations**: every transition starts a new generation and the
//!   outcome of a call admitted in an earlier one is ignored, so a slow
//!   success from before a trip never closes the breaker.
//! * **Cancellation is neutral**: a [`Permit`] dropped without an outcome (a
//!   dropped future, a panic) frees its trial slot and counts nothing.
//! * **Lost probes**: a trial call silent for `probe_timeout` frees its slot,
//!   so a hung call never wedges the breaker half-open.
//! * **Manual control**: [`force_open`](CircuitBreaker::force_open),
//!   [`disable`](CircuitBreaker::disable), [`reset`](CircuitBreaker::reset),
//!   [`trip`](CircuitBreaker::trip).
//!
//! Each transition emits one `tracing` event at INFO on target `fusebox`
//! (`circuit 's3_upload' closed -> open: 3 consecutive failures`) and is
//! passed to listeners registered with [`Builder::on_transition`]. Nothing
//! is logged per call.
//!
//! # Policies, configuration, sharing
//!
//! * Failure policies: consecutive failures (the default), a failure rate or
//!   a slow-call rate over a sliding [`Window`] of the last `n` calls or the
//!   last `d` of time, combined with [`Policy::or`]; the open duration can
//!   grow with [`Backoff::exponential`].
//! * A [`Registry`] hands out breakers by name, with defaults and per-name
//!   settings from a YAML or TOML file ([`Config`], feature `config`, on by
//!   default).
//! * [`retry::Retry`] retries with exponential backoff through a breaker and
//!   stops as soon as it rejects.
//! * [`Builder::store`] keeps the state in a [`store::Store`] shared by
//!   processes and hosts (SQLite and Redis in the `fusebox-stores` crate).
//! * Feature `tower`: `CircuitBreakerLayer` for any `tower::Service`;
//!   feature `http` adds HTTP status classification and the `503` +
//!   `Retry-After` answer (module `http`).
//! * Feature `metrics`: `CircuitBreaker::export_metrics` publishes counts
//!   and state through the `metrics` facade; feature `serde`: [`Metrics`],
//!   [`State`] and [`Transition`] serialize.
//!
//! The [guide](_guide) explains the states, how to choose a policy, sharing
//! state between processes, services and the command-line tool.
//!
//! # Cost
//!
//! A closed breaker admits a call with one atomic load and records its
//! success without writing memory shared with other threads: no lock, no
//! allocation, no clock read, no reference count. An open breaker refuses a
//! call by comparing a stored deadline with a cached coarse time, which one
//! background thread (`fusebox-clock`, started parked with the first
//! in-memory breaker, running only while breakers reject) publishes every
//! millisecond; the precise clock decides when a trial call may go, so the
//! cached time can never let one through early.

// One exception, in `clock/recent/fork.rs`: registering a fork handler.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod _guide {
    #![doc = include_str!("../docs/guide.md")]
}
mod breaker;
mod builder;
mod call_async;
mod circuit_breaker;
mod clock;
#[cfg(feature = "config")]
mod config;
mod counters;
mod duration;
mod error;
mod external;
mod fleet;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod machine;
mod metrics;
mod name;
mod outcome;
mod permit;
mod policy;
mod quorum;
mod registry;
pub mod retry;
#[cfg(feature = "serde")]
mod serialize;
mod settings;
mod state;
pub mod store;
mod sync;
#[cfg(feature = "tower")]
mod tower;
mod transition;
mod window;

#[cfg(all(test, not(fusebox_loom)))]
mod model_tests;

pub use builder::{Builder, MAX_HALF_OPEN_CALLS};
pub use circuit_breaker::CircuitBreaker;
pub use clock::{Clock, ManualClock};
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub use config::{Config, ConfigFileError};
pub use duration::{parse_duration, DurationError};
pub use error::{ConfigError, Error, Rejected};
pub use metrics::Metrics;
pub use name::Name;
pub use outcome::Outcome;
pub use permit::{OwnedPermit, Permit};
pub use policy::{Backoff, Policy, Window};
pub use quorum::Quorum;
pub use registry::Registry;
pub use settings::{BackoffConfig, BreakerConfig, RatePolicy, SlowCalls};
pub use state::{ParseStateError, State};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use tower::{CircuitBreakerLayer, CircuitBreakerService, Classify, ErrorsFail, ResponseFuture};
pub use transition::{Reason, Transition};

/// Not public API: helpers shared with fusebox's own crates (the stores,
/// the CLI, the Python package). They may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::builder::duration_from_secs;
    pub use crate::clock::{store_now, wall_clock_nanos};
}
