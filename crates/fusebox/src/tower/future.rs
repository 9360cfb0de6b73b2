use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{Classify, ErrorsFail};
use crate::{Error, OwnedPermit, Rejected};

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService).
    ///
    /// Dropped before it finishes, it frees its trial slot and counts
    /// nothing, like any cancelled call.
    #[project = Projection]
    pub struct ResponseFuture<F, C = ErrorsFail> {
        #[pin]
        inner: Option<F>,
        permit: Option<(OwnedPermit, C)>,
        rejected: Option<Rejected>,
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("running", &self.inner.is_some())
            .field("permit", &self.permit.as_ref().map(|(permit, _)| permit))
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn running(inner: F, permit: OwnedPermit, classifier: C) -> ResponseFuture<F, C> {
        ResponseFuture {
            inner: Some(inner),
            permit: Some((permit, classifier)),
            rejected: None,
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> ResponseFuture<F, C> {
        ResponseFuture {
            inner: None,
            permit: None,
            rejected: Some(rejected),
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let rejected = this.rejected.take().expect("polled after completion");
            return Poll::Ready(Err(Error::Open(rejected)));
        };
        let result = std::task::ready!(inner.poll(cx));
        if let Some((permit, classifier)) = this.permit.take() {
            // Only a dependency asking for a pause costs a handle clone.
            let pause = classifier
                .retry_after(&result)
                .map(|wait| (wait, permit.breaker().clone()));
            permit.record(classifier.classify(&result));
            if let Some((wait, breaker)) = pause {
                breaker.shared().hold_open(wait);
            }
        }
        Poll::Ready(result.map_err(Error::Inner))
    }
}
