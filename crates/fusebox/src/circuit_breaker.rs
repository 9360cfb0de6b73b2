use std::future::Future;

use crate::breaker::Shared;
use crate::call_async::CallAsync;
use crate::sync::Arc;
use crate::{Builder, Error, Metrics, Outcome, OwnedPermit, Permit, Rejected, State};

/// A circuit breaker: a guard in front of calls to something that can fail.
///
/// Cloning is cheap and every clone shares one breaker. See the
/// [crate documentation](crate) for the states and an example.
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

impl Clone for CircuitBreaker {
    fn clone(&self) -> Self {
        if let Some(fleet) = &self.shared.fleet {
            fleet
                .handles
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        CircuitBreaker {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker called `name`.
    pub fn builder(name: impl AsRef<str>) -> Builder {
        Builder::new(name.as_ref())
    }

    pub(crate) fn from_shared(shared: Shared) -> CircuitBreaker {
        let shared = Arc::new(shared);
        #[cfg(not(fusebox_loom))]
        if let Some(fleet) = &shared.fleet {
            // On a manual clock (tests) time moves by hand, and so do
            // synchronisations: `sync_now`.
            if shared.clock.is_system() {
                fleet.start(&shared.name, Arc::downgrade(&shared));
            }
        }
        if shared.fleet.is_some() {
            // Start from the fleet's state, not from closed: a process
            // joining an open fleet must not let calls through until its
            // first interval is up.
            let _ = shared.synchronise();
        }
        CircuitBreaker { shared }
    }

    /// Synchronises a fleet-mode breaker with its store now: sends the
    /// outcomes counted since the last synchronisation and takes the
    /// fleet's state. A fleet-mode breaker does this by itself once per
    /// interval (on a [`ManualClock`](crate::ManualClock), only when asked),
    /// and when it is dropped; other breakers have nothing to do.
    ///
    /// # Errors
    ///
    /// A [`StoreError`](crate::store::StoreError) when the store could not
    /// be reached; the outcomes are then kept for the next synchronisation.
    pub fn sync_now(&self) -> Result<(), crate::store::StoreError> {
        self.shared.synchronise()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The state now. An open breaker whose open duration has elapsed reads
    /// as [`State::HalfOpen`] even if no call has been made since.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// Asks to run one call: a [`Permit`] to report its outcome on, or the
    /// [`Rejected`] reason it may not run.
    ///
    /// For calls that do not fit a closure: report the outcome on the permit
    /// (dropping it instead counts nothing).
    ///
    /// ```
    /// use fusebox::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("queue").build()?;
    /// match breaker.try_acquire() {
    ///     Ok(permit) => match "42".parse::<u32>() {
    ///         Ok(_) => permit.success(),
    ///         Err(_) => permit.failure(),
    ///     },
    ///     Err(rejected) => eprintln!("{rejected}"),
    /// }
    /// assert_eq!(breaker.metrics().successes, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the breaker refuses the call: open, forced open, or
    /// half-open with every trial slot taken.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        match self.shared.acquire() {
            Ok((ticket, started)) => Ok(Permit::new(&self.shared, ticket, started)),
            Err((state, retry_after)) => Err(self.shared.rejected(state, retry_after)),
        }
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that holds its
    /// own handle to the breaker, for futures and services that must own
    /// what they use.
    ///
    /// # Errors
    ///
    /// [`Rejected`], as [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, Rejected> {
        let (ticket, started) = match self.shared.acquire() {
            Ok(admitted) => admitted,
            Err((state, retry_after)) => return Err(self.shared.rejected(state, retry_after)),
        };
        Ok(OwnedPermit::new(self.clone(), ticket, started))
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Runs `f` if the breaker admits it; every `Err` counts as a failure.
    ///
    /// The call's own error comes back unchanged as [`Error::Inner`]. If `f`
    /// panics, the call counts as cancelled.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] when the breaker refuses the call (`f` does not run);
    /// [`Error::Inner`] with `f`'s own error.
    #[inline(always)]
    pub fn call<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, Error<E>> {
        self.call_with(Outcome::of, f)
    }

    /// Like [`call`](Self::call), with `classify` deciding whether the result
    /// is a success, a failure or ignored.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn call_with<T, E>(
        &self,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, Error<E>> {
        let permit = self.try_acquire()?;
        let result = f();
        permit.record(classify(&result));
        result.map_err(Error::Inner)
    }

    /// Runs the future made by `f` if the breaker admits it; every `Err`
    /// counts as a failure. Works on any executor. Like an `async fn`, it
    /// does nothing until first polled: admission is decided then.
    ///
    /// Dropping the returned future before it finishes is neutral: a
    /// half-open trial slot is freed and nothing is counted.
    ///
    /// ```
    /// use fusebox::CircuitBreaker;
    ///
    /// async fn fetch(id: u32) -> Result<String, std::io::Error> {
    ///     Ok(format!("user {id}"))
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let breaker = CircuitBreaker::builder("users").build()?;
    /// let user = breaker.call_async(|| fetch(7)).await?;
    /// assert_eq!(user, "user 7");
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # }).unwrap();
    /// ```
    #[inline(always)]
    pub fn call_async<T, E, F, Fut>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'_, T, E, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallAsync::new(self, Outcome::of::<T, E>, f)
    }

    /// Like [`call_async`](Self::call_async), with `classify` deciding
    /// whether the result is a success, a failure or ignored.
    #[inline(always)]
    pub fn call_async_with<T, E, C, F, Fut>(
        &self,
        classify: C,
        f: F,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'_, T, E, C, F, Fut>
    where
        C: FnOnce(&Result<T, E>) -> Outcome,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        CallAsync::new(self, classify, f)
    }

    /// A snapshot of state and counts.
    ///
    /// ```
    /// use fusebox::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("cache").failure_threshold(2).build()?;
    /// breaker.call(|| Ok::<_, ()>(())).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>(()));
    /// let metrics = breaker.metrics();
    /// assert_eq!((metrics.state, metrics.successes, metrics.failures), (State::Closed, 1, 1));
    /// assert_eq!(metrics.consecutive_failures, 1);
    /// assert_eq!(metrics.failure_rate, 0.5);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Rejects every call until [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.shared.manual(State::ForcedOpen);
    }

    /// Admits every call and never changes state until [`reset`](Self::reset);
    /// outcomes are still counted.
    pub fn disable(&self) {
        self.shared.manual(State::Disabled);
    }

    /// Closes the breaker and clears its counts.
    pub fn reset(&self) {
        self.shared.manual(State::Closed);
    }

    /// Opens the breaker now, for the normal open duration.
    pub fn trip(&self) {
        self.shared.manual(State::Open);
    }

    /// Counts a call its caller refused (after [`try_acquire`] said no) in
    /// the breaker's state, so every process sharing a store sees how many
    /// calls were refused since the breaker last closed
    /// ([`Metrics::refusals_recorded`]). It costs one store transaction:
    /// rejections themselves never write, and are counted per process in
    /// [`Metrics::rejections`] without this.
    ///
    /// [`try_acquire`]: CircuitBreaker::try_acquire
    pub fn record_refusal(&self) {
        self.shared.record_refusal();
    }
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

impl Drop for CircuitBreaker {
    /// Dropping the last handle of a fleet-mode breaker (owned permits
    /// count as handles) sends what it counted since its last
    /// synchronisation, on this thread: a process that drops its breakers
    /// before it exits loses nothing.
    fn drop(&mut self) {
        if let Some(fleet) = &self.shared.fleet {
            if fleet
                .handles
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
                == 1
            {
                let _ = self.shared.synchronise();
            }
        }
    }
}
