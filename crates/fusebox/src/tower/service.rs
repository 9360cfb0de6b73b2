use std::task::{Context, Poll};

use tower_service::Service;

use super::{Classify, ErrorsFail, ResponseFuture};
use crate::{CircuitBreaker, Error};

/// A service whose calls go through a circuit breaker.
///
/// `C` classifies each finished call (see [`Classify`]); by default every
/// `Err` is a failure.
#[derive(Clone, Debug)]
pub struct CircuitBreakerService<S, C = ErrorsFail> {
    inner: S,
    breaker: CircuitBreaker,
    classifier: C,
}

impl<S> CircuitBreakerService<S> {
    /// Guards `inner` with `breaker`.
    pub fn new(inner: S, breaker: CircuitBreaker) -> CircuitBreakerService<S> {
        CircuitBreakerService {
            inner,
            breaker,
            classifier: ErrorsFail,
        }
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// The same service, with `classifier` deciding how each finished call
    /// counts.
    #[must_use]
    pub fn classify<D>(self, classifier: D) -> CircuitBreakerService<S, D> {
        CircuitBreakerService {
            inner: self.inner,
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker guarding this service.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The guarded service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The guarded service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The guarded service, unguarded.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, Request> Service<Request> for CircuitBreakerService<S, C>
where
    S: Service<Request>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.breaker.try_acquire_owned() {
            Ok(permit) => {
                ResponseFuture::running(self.inner.call(request), permit, self.classifier.clone())
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
