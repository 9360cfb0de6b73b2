use tower_layer::Layer;

use super::CircuitBreakerService;
use crate::CircuitBreaker;

/// Wraps services in a [`CircuitBreakerService`] sharing one breaker.
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer {
    breaker: CircuitBreaker,
}

impl CircuitBreakerLayer {
    /// A layer guarding services with `breaker` (clones share it).
    pub fn new(breaker: CircuitBreaker) -> CircuitBreakerLayer {
        CircuitBreakerLayer { breaker }
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreakerService<S>;

    fn layer(&self, inner: S) -> CircuitBreakerService<S> {
        CircuitBreakerService::new(inner, self.breaker.clone())
    }
}
