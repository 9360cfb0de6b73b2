use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::{Error, OwnedPermit, Rejected};

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService).
    ///
    /// Dropped before it finishes, it frees its trial slot and counts
    /// nothing, like any cancelled call.
    #[project = Projection]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedPermit>,
        rejected: Option<Rejected>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("running", &self.inner.is_some())
            .field("permit", &self.permit)
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn running(inner: F, permit: OwnedPermit) -> ResponseFuture<F> {
        ResponseFuture {
            inner: Some(inner),
            permit: Some(permit),
            rejected: None,
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> ResponseFuture<F> {
        ResponseFuture {
            inner: None,
            permit: None,
            rejected: Some(rejected),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let rejected = this.rejected.take().expect("polled after completion");
            return Poll::Ready(Err(Error::Open(rejected)));
        };
        let result = std::task::ready!(inner.poll(cx));
        if let Some(permit) = this.permit.take() {
            match &result {
                Ok(_) => permit.success(),
                Err(_) => permit.failure(),
            }
        }
        Poll::Ready(result.map_err(Error::Inner))
    }
}
