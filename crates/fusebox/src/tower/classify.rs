use std::time::Duration;

use crate::Outcome;

/// Decides how a finished call of a [`CircuitBreakerService`] counts.
///
/// Implemented by [`ErrorsFail`] (the default: every `Err` is a failure),
/// by [`http::StatusClassifier`](crate::http::StatusClassifier) (feature
/// `http`: 5xx responses and transport errors fail, 4xx succeed) and by
/// any `Fn(&Result<T, E>) -> Outcome`:
///
/// ```
/// use fusebox::{CircuitBreaker, CircuitBreakerLayer, Outcome};
///
/// let breaker = CircuitBreaker::builder("search").build()?;
/// // Timeouts fail; other errors are the caller's and say nothing.
/// let layer = CircuitBreakerLayer::new(breaker).classify(|result: &Result<u32, &str>| {
///     match result {
///         Ok(_) => Outcome::Success,
///         Err(e) if *e == "timeout" => Outcome::Failure,
///         Err(_) => Outcome::Ignored,
///     }
/// });
/// # let _ = layer;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
///
/// [`CircuitBreakerService`]: crate::CircuitBreakerService
pub trait Classify<T, E> {
    /// How `result` counts toward the breaker's failure policy.
    fn classify(&self, result: &Result<T, E>) -> Outcome;

    /// How long the dependency asked callers to stay away (an HTTP
    /// `Retry-After`), if this classifier honours such requests: an
    /// in-memory breaker that is open after this call stays open at least
    /// that long. `None` by default.
    fn retry_after(&self, result: &Result<T, E>) -> Option<Duration> {
        let _ = result;
        None
    }
}

/// The default classifier: `Ok` is a success, `Err` a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorsFail;

impl<T, E> Classify<T, E> for ErrorsFail {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        Outcome::of(result)
    }
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}
