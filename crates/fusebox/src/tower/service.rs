use std::task::{Context, Poll};

use tower_service::Service;

use super::ResponseFuture;
use crate::{CircuitBreaker, Error};

/// A service whose calls go through a circuit breaker.
#[derive(Clone, Debug)]
pub struct CircuitBreakerService<S> {
    inner: S,
    breaker: CircuitBreaker,
}

impl<S> CircuitBreakerService<S> {
    /// Guards `inner` with `breaker`.
    pub fn new(inner: S, breaker: CircuitBreaker) -> CircuitBreakerService<S> {
        CircuitBreakerService { inner, breaker }
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

impl<S, Request> Service<Request> for CircuitBreakerService<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.breaker.try_acquire_owned() {
            Ok(permit) => ResponseFuture::running(self.inner.call(request), permit),
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
