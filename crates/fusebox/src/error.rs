use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::{Name, State};

/// A call refused by the breaker without being run.
///
/// Its `Display` says which circuit refused and when to retry, e.g.
/// `circuit 's3_upload' is open; retry in 12.3s`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// The breaker's name.
    pub name: Name,
    /// The state that refused the call: `Open`, `HalfOpen` (all trial slots
    /// taken) or `ForcedOpen`.
    pub state: State,
    /// How long until the breaker will let a trial call through, when known.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match (self.state, self.retry_after) {
            (State::HalfOpen, _) => write!(
                f,
                "circuit '{name}' is half-open and all its trial calls are in flight; retry shortly"
            ),
            (State::ForcedOpen, _) => {
                write!(
                    f,
                    "circuit '{name}' is forced open; reset it to allow calls"
                )
            }
            (state, Some(after)) => write!(
                f,
                "circuit '{name}' is {state}; retry in {:.1}s",
                after.as_secs_f64()
            ),
            (state, None) => write!(f, "circuit '{name}' is {state}"),
        }
    }
}

impl StdError for Rejected {}

/// The error of a call made through a breaker: either the breaker refused to
/// run it, or it ran and returned its own error, unchanged.
///
/// It is a [`std::error::Error`] whenever `E` displays, so `?` turns it into
/// a `Box<dyn Error + Send + Sync>` (tower's `BoxError`) or `anyhow::Error`.
///
/// ```
/// use fusebox::{CircuitBreaker, Error};
///
/// let breaker = CircuitBreaker::builder("db").failure_threshold(1).build()?;
/// let result = breaker.call(|| Err::<u32, _>("connection reset"));
/// assert_eq!(result, Err(Error::Inner("connection reset")));
/// match breaker.call(|| Ok::<u32, &str>(1)) {
///     Err(Error::Open(rejected)) => assert!(rejected.retry_after.is_some()),
///     other => panic!("expected a refusal, got {other:?}"),
/// }
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The breaker did not run the call.
    Open(Rejected),
    /// The call ran and failed with this error.
    Inner(E),
}

impl<E> Error<E> {
    /// Whether the breaker refused the call.
    pub fn is_open(&self) -> bool {
        matches!(self, Error::Open(_))
    }

    /// The call's own error, if it ran.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            Error::Open(_) => None,
        }
    }

    /// The rejection, if the breaker refused the call.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Error::Open(r) => Some(r),
            Error::Inner(_) => None,
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(rejected: Rejected) -> Self {
        Error::Open(rejected)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open(rejected) => rejected.fmt(f),
            Error::Inner(e) => e.fmt(f),
        }
    }
}

/// For any error that displays, boxed ones included, so that `?` converts
/// an `Error<E>` into `Box<dyn std::error::Error + Send + Sync>` (tower's
/// `BoxError`). `Display` already shows the inner error or the rejection,
/// so there is no `source()`: a report would print the message twice.
impl<E: fmt::Debug + fmt::Display> StdError for Error<E> {}

/// An invalid setting, named with the value that was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The setting, e.g. `failure_threshold`.
    pub field: String,
    /// The refused value as given.
    pub value: String,
    /// What the value must be instead.
    pub expected: String,
}

impl ConfigError {
    /// A refusal of `value` for `field`, which must be `expected`.
    pub fn new(
        field: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} = {}: {}",
            self.field, self.value, self.expected
        )
    }
}

impl StdError for ConfigError {}
