//! The future of [`CircuitBreaker::call_async`].
//!
//! Written out rather than an `async fn` so that a call whose future is
//! ready on the first poll keeps its permit in registers: an `async fn`
//! stores every local that lives across an `.await` into its state before
//! polling, and loads it back after.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::{CircuitBreaker, Error, Outcome, Permit};

pin_project! {
    /// Admits, runs and records one asynchronous call. Dropped before it
    /// finishes, it drops its permit: neutral (see [`Permit`]).
    pub(crate) struct CallAsync<'a, F, Fut, C> {
        breaker: &'a CircuitBreaker,
        // Until the first poll: what makes the call's future.
        make: Option<F>,
        // Until the call finishes: how its result counts.
        classify: Option<C>,
        // While the call is pending past its first poll.
        permit: Option<Permit<'a>>,
        #[pin]
        running: Option<Fut>,
    }
}

impl<'a, F, Fut, C> CallAsync<'a, F, Fut, C> {
    #[inline(always)]
    pub(crate) fn new(breaker: &'a CircuitBreaker, classify: C, make: F) -> Self {
        CallAsync {
            breaker,
            make: Some(make),
            classify: Some(classify),
            permit: None,
            running: None,
        }
    }
}

impl<T, E, F, Fut, C> Future for CallAsync<'_, F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    type Output = Result<T, Error<E>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(make) = this.make.take() {
            // The first poll: the permit stays a local unless the call is
            // still pending after it (no `Option` to move it through).
            let permit = match this.breaker.try_acquire() {
                Ok(permit) => permit,
                Err(rejected) => return Poll::Ready(Err(Error::Open(rejected))),
            };
            this.running.set(Some(make()));
            let Some(running) = this.running.as_mut().as_pin_mut() else {
                unreachable!("set just above");
            };
            return match running.poll(cx) {
                Poll::Ready(result) => {
                    this.running.set(None);
                    Poll::Ready(finish(permit, this.classify.take(), result))
                }
                Poll::Pending => {
                    *this.permit = Some(permit);
                    Poll::Pending
                }
            };
        }
        let Some(running) = this.running.as_mut().as_pin_mut() else {
            panic!("CircuitBreaker::call_async future polled after it finished");
        };
        let result = std::task::ready!(running.poll(cx));
        this.running.set(None);
        match this.permit.take() {
            Some(permit) => Poll::Ready(finish(permit, this.classify.take(), result)),
            None => Poll::Ready(result.map_err(Error::Inner)),
        }
    }
}

/// Records how the call went and hands its result on.
#[inline(always)]
fn finish<T, E, C>(
    permit: Permit<'_>,
    classify: Option<C>,
    result: Result<T, E>,
) -> Result<T, Error<E>>
where
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    match classify {
        Some(classify) => permit.record(classify(&result)),
        None => drop(permit),
    }
    result.map_err(Error::Inner)
}
