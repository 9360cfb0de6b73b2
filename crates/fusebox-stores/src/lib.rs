//! Shared state for [`fusebox`] circuit breakers.
//!
//! * [`SqliteStore`]: an embedded database file; every process on the host
//!   that opens it shares its breakers. Transactions are `BEGIN IMMEDIATE`,
//!   the journal is WAL, and a locked file is waited on for at most the
//!   store's timeout.
//! * [`RedisStore`]: one Redis server shared by many hosts. Each breaker is
//!   one hash under a key prefix (`circuit_breaker:` by default); changes are
//!   compare-and-set Lua scripts run by SHA; the server's `TIME` is the
//!   fleet's clock; keys expire when idle.
//!
//! Both run fusebox's one state machine inside each transaction, so all
//! processes sharing a name are one breaker. In both, the timeout (default
//! 50 ms) bounds a whole call, whatever other callers do: each caller takes
//! an idle connection or makes its own, and every wait (for a lock, a
//! connection, a host name, a reply) draws on the same budget. Breakers in
//! use do not expire (reads refresh them), a state set by hand never
//! expires, and a value fusebox did not write is reset, not trusted
//! ([`RedisStore::peek`] reads without renewing anything, for tools that
//! only watch). A URL's
//! password never shows ([`redact_url`]). [`open`] builds a store from a
//! URL (`memory:`, `sqlite:///abs/path.db`, `sqlite://relative.db`,
//! `redis://host:port/db?prefix=…`).
//!
//! ```
//! use fusebox::{CircuitBreaker, State};
//! use fusebox_stores::SqliteStore;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("state.db");
//! let a = CircuitBreaker::builder("pypi").failure_threshold(2)
//!     .store(SqliteStore::open(&path)?).build().unwrap();
//! let b = CircuitBreaker::builder("pypi").failure_threshold(2)
//!     .store(SqliteStore::open(&path)?).build().unwrap();
//! let _ = a.call(|| Err::<(), _>("down"));
//! let _ = b.call(|| Err::<(), _>("down"));
//! assert_eq!(a.state(), State::Open); // two failures in total
//! # Ok::<(), fusebox::store::StoreError>(())
//! ```

#[cfg(any(feature = "sqlite", feature = "redis"))]
mod deadline;
#[cfg(any(feature = "sqlite", feature = "redis"))]
mod pool;
mod redact;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(feature = "sqlite")]
mod sqlite;
mod url;

pub use redact::redact_url;

#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use url::{open, StoreUrl};

/// The key prefix of both stores unless told otherwise.
pub const DEFAULT_PREFIX: &str = "circuit_breaker:";

/// How long a store operation may take, unless told otherwise.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(50);

/// How long an untouched breaker's state is kept, unless told otherwise.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The state's name from a machine's text (`fusebox/1 state=open …`).
#[cfg(any(feature = "sqlite", feature = "redis"))]
fn state_name(machine: &str) -> &str {
    machine
        .split(' ')
        .find_map(|field| field.strip_prefix("state="))
        .unwrap_or("unknown")
}
