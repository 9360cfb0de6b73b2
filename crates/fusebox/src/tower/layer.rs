use tower_layer::Layer;

use super::{CircuitBreakerService, ErrorsFail};
use crate::CircuitBreaker;

/// Wraps services in a [`CircuitBreakerService`] sharing one breaker.
///
/// `C` classifies each finished call (see [`Classify`](super::Classify));
/// by default every `Err` is a failure.
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<C = ErrorsFail> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer guarding services with `breaker` (clones share it), counting
    /// every `Err` as a failure and every `Ok` as a success.
    pub fn new(breaker: CircuitBreaker) -> CircuitBreakerLayer {
        CircuitBreakerLayer {
            breaker,
            classifier: ErrorsFail,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// The same layer, with `classifier` deciding how each finished call
    /// counts (e.g. [`http::StatusClassifier`](crate::http::StatusClassifier)).
    #[must_use]
    pub fn classify<D>(self, classifier: D) -> CircuitBreakerLayer<D> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker the layer's services share.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> CircuitBreakerService<S, C> {
        CircuitBreakerService::new(inner, self.breaker.clone()).classify(self.classifier.clone())
    }
}
