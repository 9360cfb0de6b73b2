//! `fusebox._fusebox.CircuitBreaker`: a handle to one core breaker, with the
//! Python objects it needs (its name as a `str`, the excluded exception
//! classes, the fallback, the transition callbacks).
//!
//! The class is the base of `fusebox.CircuitBreaker`, which adds the
//! decorator and the context managers in Python. Its methods delegate to
//! [`call`](crate::call), [`execution`](crate::execution) and
//! [`permit`](crate::permit); PyO3 allows one `#[pymethods]` block per class.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fusebox::{Metrics, Outcome, OwnedPermit, Rejected, Transition};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::clock::ManualClock;
use crate::config::LoadedConfig;
use crate::execution::Execution;
use crate::permit::Permit;
use crate::{args, awaitable, call, errors, permit, python};

/// The settings a breaker was built with, as Python reads them back (the
/// registry compares them with what a decorator asks for).
#[derive(Clone, Copy)]
struct Settings {
    failure_threshold: u32,
    recovery_timeout: Duration,
    success_threshold: u32,
    half_open_max_calls: u32,
}

/// A circuit breaker: the core breaker and what Python needs around it.
#[pyclass(module = "fusebox._fusebox", name = "CircuitBreaker", subclass, frozen)]
pub(crate) struct CircuitBreaker {
    /// Dropped without the GIL (see `Drop`).
    pub(crate) core: ManuallyDrop<fusebox::CircuitBreaker>,
    pub(crate) name: Py<PyString>,
    /// Exception classes that count as neither success nor failure.
    pub(crate) exclude: Option<Py<PyTuple>>,
    pub(crate) fallback: Option<Py<PyAny>>,
    /// The state lives in a store: the core may wait on it, so calls into
    /// the core release the GIL.
    pub(crate) on_store: bool,
    /// Identifies the breaker among the permits a thread holds.
    pub(crate) id: u64,
    callbacks: Py<PyList>,
    settings: Settings,
    store: Option<String>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[allow(unsafe_code)] // taking the field out of its `ManuallyDrop`
impl Drop for CircuitBreaker {
    /// A fleet-mode breaker's last handle synchronises with its store as it
    /// goes, after one in flight on the synchronisation thread, which may
    /// be waiting for the GIL to log (the store is away): so without it.
    fn drop(&mut self) {
        // SAFETY: dropped once, here; the field is not used after.
        let core = unsafe { ManuallyDrop::take(&mut self.core) };
        if self.on_store {
            crate::shutdown::drop_detached(core);
        } else {
            drop(core);
        }
    }
}

impl CircuitBreaker {
    /// Asks the core for a permit, without the GIL if a store may be waited on.
    #[inline]
    pub(crate) fn take_permit(&self, py: Python<'_>) -> Result<OwnedPermit, Rejected> {
        if self.on_store {
            py.detach(|| self.core.try_acquire_owned())
        } else {
            self.core.try_acquire_owned()
        }
    }

    /// Reports a call's outcome; `None` drops the permit (a cancelled call).
    #[inline]
    pub(crate) fn settle(&self, py: Python<'_>, permit: OwnedPermit, outcome: Option<Outcome>) {
        let finish = move || match outcome {
            Some(outcome) => permit.record(outcome),
            None => drop(permit),
        };
        if self.on_store {
            py.detach(finish)
        } else {
            finish()
        }
    }

    /// How a call that raised `error` counts: ignored if its class is
    /// excluded, a failure if it is an `Exception`, cancelled (`None`) for
    /// the other `BaseException`s (`KeyboardInterrupt`, `CancelledError`,
    /// `GeneratorExit`), which say nothing about the dependency.
    pub(crate) fn outcome_of(&self, py: Python<'_>, error: &PyErr) -> Option<Outcome> {
        if let Some(exclude) = &self.exclude {
            if error.is_instance(py, exclude.bind(py).as_any()) {
                return Some(Outcome::Ignored);
            }
        }
        if error.is_instance_of::<pyo3::exceptions::PyException>(py) {
            Some(Outcome::Failure)
        } else {
            None
        }
    }

    /// `CircuitOpenError` for a refused call.
    pub(crate) fn refused(&self, py: Python<'_>, refusal: &Rejected) -> PyErr {
        errors::rejected(py, &self.name, refusal)
    }

    fn manual(&self, py: Python<'_>, change: impl FnOnce(&fusebox::CircuitBreaker) + Send) {
        if self.on_store {
            py.detach(|| change(&self.core))
        } else {
            change(&self.core)
        }
    }

    fn snapshot(&self, py: Python<'_>) -> Metrics {
        if self.on_store {
            py.detach(|| self.core.metrics())
        } else {
            self.core.metrics()
        }
    }
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (
        name=None, failure_threshold=None, recovery_timeout=None, success_threshold=None,
        half_open_max_calls=None, exclude=None, store=None, fallback=None, *,
        probe_timeout=None, fail_closed=None, reset_timeout=None, config=None, clock=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Option<&Bound<'_, PyAny>>,
        failure_threshold: Option<&Bound<'_, PyAny>>,
        recovery_timeout: Option<&Bound<'_, PyAny>>,
        success_threshold: Option<&Bound<'_, PyAny>>,
        half_open_max_calls: Option<&Bound<'_, PyAny>>,
        exclude: Option<&Bound<'_, PyAny>>,
        store: Option<&Bound<'_, PyAny>>,
        fallback: Option<&Bound<'_, PyAny>>,
        probe_timeout: Option<&Bound<'_, PyAny>>,
        fail_closed: Option<&Bound<'_, PyAny>>,
        reset_timeout: Option<&Bound<'_, PyAny>>,
        config: Option<PyRef<'_, LoadedConfig>>,
        clock: Option<PyRef<'_, ManualClock>>,
    ) -> PyResult<CircuitBreaker> {
        const NAME_FOR_STORE: &str =
            "name: a breaker kept in a store needs a name (the store keys breakers by it)";
        python::load(py)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let name = match name.filter(|n| !n.is_none()) {
            Some(name) => args::text("name", name)?,
            // A shared store keys breakers by name: a generated one would
            // make unrelated programs share one state.
            None if store.is_some_and(|s| !s.is_none()) => {
                return Err(PyValueError::new_err(NAME_FOR_STORE));
            }
            None => format!("circuit-{id}"),
        };
        let recovery_timeout = match (recovery_timeout, reset_timeout) {
            (Some(_), Some(_)) => {
                return Err(PyTypeError::new_err(
                    "give recovery_timeout or its alias reset_timeout, not both",
                ))
            }
            (Some(given), None) => Some(args::seconds("recovery_timeout", given)?),
            (None, Some(given)) => Some(args::seconds("reset_timeout", given)?),
            (None, None) => None,
        };
        let failure_threshold = failure_threshold
            .map(|v| args::count("failure_threshold", v))
            .transpose()?;
        let success_threshold = success_threshold
            .map(|v| args::count("success_threshold", v))
            .transpose()?;
        let half_open_max_calls = half_open_max_calls
            .map(|v| args::count("half_open_max_calls", v))
            .transpose()?;
        let probe_timeout = probe_timeout
            .map(|v| args::seconds("probe_timeout", v))
            .transpose()?;
        let fail_closed = fail_closed
            .map(|v| args::flag("fail_closed", v))
            .transpose()?;
        let exclude = match exclude {
            Some(classes) => args::exceptions("exclude", classes)?.map(Bound::unbind),
            None => None,
        };
        let fallback = match fallback.filter(|f| !f.is_none()) {
            Some(fallback) => {
                args::callable("fallback", fallback)?;
                Some(fallback.clone().unbind())
            }
            None => None,
        };
        let store = match store.filter(|s| !s.is_none()) {
            Some(url) => Some(args::text("store", url)?),
            None => None,
        };

        let loaded = config.map(|c| c.settings_of(&name)).unwrap_or_default();
        let settings = Settings {
            failure_threshold: failure_threshold.or(loaded.failure_threshold).unwrap_or(5),
            recovery_timeout: recovery_timeout
                .or(loaded.recovery_timeout)
                .unwrap_or(Duration::from_secs(30)),
            success_threshold: success_threshold.or(loaded.success_threshold).unwrap_or(1),
            half_open_max_calls: half_open_max_calls
                .or(loaded.half_open_max_calls)
                .unwrap_or(1),
        };
        let mut builder = loaded.apply(fusebox::CircuitBreaker::builder(&name));
        if let Some(n) = failure_threshold {
            builder = builder.failure_threshold(n);
        }
        if let Some(d) = recovery_timeout {
            builder = builder.recovery_timeout(d);
        }
        if let Some(n) = success_threshold {
            builder = builder.success_threshold(n);
        }
        if let Some(n) = half_open_max_calls {
            builder = builder.half_open_max_calls(n);
        }
        if let Some(d) = probe_timeout {
            builder = builder.probe_timeout(d);
        }
        if let Some(yes) = fail_closed {
            builder = builder.fail_closed(yes);
        }
        if let Some(clock) = clock {
            builder = builder.clock(clock.inner.clone());
        }
        // Check the settings before a store is opened (and maybe dialled).
        builder.check().map_err(errors::config)?;
        if let Some(url) = &store {
            let opened = py
                .detach(|| fusebox_stores::open(url))
                .map_err(errors::store)?;
            builder = builder.shared_store(opened);
        }
        let callbacks = PyList::empty(py).unbind();
        let py_name = PyString::new(py, &name).unbind();
        builder = builder.on_transition(listener(py_name.clone_ref(py), callbacks.clone_ref(py)));
        let core = builder.build().map_err(errors::config)?;
        Ok(CircuitBreaker {
            core: ManuallyDrop::new(core),
            name: py_name,
            exclude,
            fallback,
            on_store: store.is_some(),
            id,
            callbacks,
            settings,
            store,
        })
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The breaker's name, under the attribute other breaker libraries use.
    #[getter]
    fn operation_name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The state now, a `CircuitState`; reads `HALF_OPEN` once the recovery
    /// timeout has passed, with no call made.
    #[getter]
    fn state(&self, py: Python<'_>) -> Py<PyAny> {
        let state = if self.on_store {
            py.detach(|| self.core.state())
        } else {
            self.core.state()
        };
        python::state(py, state)
    }

    /// Failures since the breaker last closed.
    #[getter]
    fn failure_count(&self, py: Python<'_>) -> u64 {
        failures_since_closed(&self.snapshot(py))
    }

    /// When the last failure happened, as a `time.time()` timestamp, or None.
    #[getter]
    fn last_failure_time(&self, py: Python<'_>) -> Option<f64> {
        self.snapshot(py).last_failure_time.map(wall_clock)
    }

    /// Failures in a row that open the breaker.
    #[getter]
    fn failure_threshold(&self) -> u32 {
        self.settings.failure_threshold
    }

    /// Seconds the breaker stays open before it lets trial calls through.
    #[getter]
    fn recovery_timeout(&self) -> f64 {
        self.settings.recovery_timeout.as_secs_f64()
    }

    /// Trial successes in a row that close a half-open breaker.
    #[getter]
    fn success_threshold(&self) -> u32 {
        self.settings.success_threshold
    }

    /// Trial calls a half-open breaker lets run at once.
    #[getter]
    fn half_open_max_calls(&self) -> u32 {
        self.settings.half_open_max_calls
    }

    /// The store URL given, or None for an in-process breaker.
    #[getter]
    fn store(&self) -> Option<String> {
        self.store.clone()
    }

    /// Exception classes that count as neither success nor failure.
    #[getter]
    fn exclude<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        match &self.exclude {
            Some(classes) => classes.bind(py).clone(),
            None => PyTuple::empty(py),
        }
    }

    /// What answers refused calls instead of `CircuitOpenError`, or None.
    #[getter]
    fn fallback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fallback.as_ref().map(|f| f.clone_ref(py))
    }

    /// A snapshot of state and counts, as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metrics_dict(py, &self.snapshot(py))
    }

    /// Runs `func(*args, **kwargs)` through the breaker and returns its
    /// result; an exception it raises is counted and re-raised unchanged.
    /// Refused, raises `CircuitOpenError` (or returns the fallback's answer).
    /// On an `async def`, returns an awaitable, counted when it finishes.
    // Takes the caller's whole argument tuple (`func` first) so that a call
    // with no arguments for `func` builds no second tuple.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, func, /, *args, **kwargs)")]
    fn call<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (func, args) = call::split(args)?;
        let fallback = slf.get().fallback.as_ref().map(|f| f.bind(slf.py()));
        call::call(slf, fallback, &func, &args, kwargs)
    }

    /// Like `call`, with `fallback` answering refused calls.
    #[pyo3(signature = (fallback, func, /, *args, **kwargs))]
    fn call_or<'py>(
        slf: &Bound<'py, Self>,
        fallback: Option<&Bound<'py, PyAny>>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fallback = fallback
            .filter(|f| !f.is_none())
            .or_else(|| slf.get().fallback.as_ref().map(|f| f.bind(slf.py())));
        call::call(slf, fallback, func, args, kwargs)
    }

    /// An awaitable (a coroutine) that, when awaited, runs
    /// `func(*args, **kwargs)` through the breaker and awaits its result:
    /// counted as `call` counts, and neutral if cancelled. `func` may also be
    /// an awaitable already made, given alone.
    #[pyo3(signature = (*args, **kwargs), text_signature = "($self, func, /, *args, **kwargs)")]
    fn execute<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (func, args) = call::split(args)?;
        args::callable_or_awaitable("func", &func, &args, kwargs)?;
        let fallback = slf.get().fallback.as_ref().map(|f| f.clone_ref(slf.py()));
        let execution = Execution::pending(slf, fallback, &func, &args, kwargs);
        awaitable::new(slf.py(), execution)
    }

    /// Like `execute`, with `fallback` answering refused calls.
    #[pyo3(signature = (fallback, func, /, *args, **kwargs))]
    fn execute_or<'py>(
        slf: &Bound<'py, Self>,
        fallback: Option<&Bound<'py, PyAny>>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        args::callable_or_awaitable("func", func, args, kwargs)?;
        let fallback = match fallback.filter(|f| !f.is_none()) {
            Some(f) => Some(f.clone().unbind()),
            None => slf.get().fallback.as_ref().map(|f| f.clone_ref(slf.py())),
        };
        let execution = Execution::pending(slf, fallback, func, args, kwargs);
        awaitable::new(slf.py(), execution)
    }

    /// A permit to run one call, or `CircuitOpenError`.
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        permit::acquire(slf)
    }

    /// Takes a permit held for the calling thread; False if refused.
    fn allow_request(slf: &Bound<'_, Self>) -> bool {
        permit::allow_request(slf)
    }

    /// Settles the calling thread's permit as a success.
    fn record_success(slf: &Bound<'_, Self>) {
        permit::record(slf, Outcome::Success)
    }

    /// Settles the calling thread's permit as a failure.
    fn record_failure(slf: &Bound<'_, Self>) {
        permit::record(slf, Outcome::Failure)
    }

    /// Closes the breaker and clears its counts.
    fn reset(&self, py: Python<'_>) {
        self.manual(py, |core| core.reset())
    }

    /// Refuses every call until `reset()`.
    fn force_open(&self, py: Python<'_>) {
        self.manual(py, |core| core.force_open())
    }

    /// Admits every call and never changes state until `reset()`.
    fn disable(&self, py: Python<'_>) {
        self.manual(py, |core| core.disable())
    }

    /// Opens the breaker now, for the normal recovery timeout.
    fn trip(&self, py: Python<'_>) {
        self.manual(py, |core| core.trip())
    }

    /// Calls `callback(transition)` after every change of state; returns
    /// `callback`, so it can be used as a decorator.
    fn on_transition<'py>(&self, callback: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        args::callable("callback", callback)?;
        self.callbacks.bind(callback.py()).append(callback)?;
        Ok(callback.clone())
    }

    /// What the breaker holds, for the cycle collector: a breaker made with
    /// `fallback=self.method` (or `on_transition(self.method)`) is in a
    /// cycle with `self`, which the collector frees once it sees these.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.fallback)?;
        visit.call(&self.exclude)?;
        visit.call(&self.callbacks)?;
        // The core's listener holds the list of callbacks too.
        visit.call(&self.callbacks)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.on_store {
            py.detach(|| self.core.state())
        } else {
            self.core.state()
        };
        format!(
            "<CircuitBreaker {:?} state={}>",
            self.core.name(),
            state.as_str()
        )
    }
}

/// The core listener of a breaker: hands every transition to
/// `fusebox._types.announce`, which logs it and runs the callbacks.
fn listener(name: Py<PyString>, callbacks: Py<PyList>) -> impl Fn(&Transition) + Send + Sync {
    move |transition: &Transition| {
        // No interpreter (shutting down): nobody is left to tell.
        crate::shutdown::attach(|py| {
            let announced = python::announce(py).and_then(|announce| {
                announce.call1((
                    name.clone_ref(py),
                    python::state(py, transition.from),
                    python::state(py, transition.to),
                    transition.reason.to_string(),
                    transition.generation,
                    wall_clock(transition.at),
                    callbacks.clone_ref(py),
                ))
            });
            if let Err(err) = announced {
                err.write_unraisable(py, None);
            }
        });
    }
}

/// Failures since the breaker last closed.
fn failures_since_closed(metrics: &Metrics) -> u64 {
    metrics.failures_since_closed
}

/// An instant of the breaker's monotonic clock as a `time.time()` timestamp.
pub(crate) fn wall_clock(at: Instant) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ago = Instant::now().saturating_duration_since(at);
    now.saturating_sub(ago).as_secs_f64()
}

fn metrics_dict<'py>(py: Python<'py>, m: &Metrics) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("name", m.name.as_str())?;
    dict.set_item("state", python::state(py, m.state))?;
    dict.set_item("generation", m.generation)?;
    dict.set_item("successes", m.successes)?;
    dict.set_item("failures", m.failures)?;
    dict.set_item("rejections", m.rejections)?;
    dict.set_item("ignored", m.ignored)?;
    dict.set_item("slow", m.slow)?;
    dict.set_item("cancelled", m.cancelled)?;
    dict.set_item("consecutive_failures", m.consecutive_failures)?;
    dict.set_item("failures_since_closed", failures_since_closed(m))?;
    dict.set_item("reason", m.reason.as_ref().map(ToString::to_string))?;
    dict.set_item("refusals_recorded", m.refusals_recorded)?;
    dict.set_item("half_open_in_flight", m.half_open_in_flight)?;
    dict.set_item("failure_rate", m.failure_rate)?;
    dict.set_item("time_in_state", m.time_in_state.as_secs_f64())?;
    dict.set_item("last_failure_time", m.last_failure_time.map(wall_clock))?;
    dict.set_item("retry_after", m.retry_after.map(|d| d.as_secs_f64()))?;
    dict.set_item("degraded", m.degraded)?;
    Ok(dict)
}
