//! The awaitable of `execute` (and of `call` on an `async` function),
//! implemented in Rust: awaiting it runs the call through the breaker with
//! no Python coroutine frame of its own.
//!
//! Like an `async def`, `execute(func)` does nothing until awaited: the
//! first step asks the breaker, calls `func`, and then drives the awaitable
//! `func` returned (`__await__`), passing `send`, `throw` and `close`
//! through. `execute(coroutine)` (an awaitable already made, no arguments)
//! drives that awaitable as the call; refused, it is closed unrun. The outcome is reported when it finishes:
//!
//! * it returned: a success;
//! * it raised an excluded class: ignored;
//! * it raised another `Exception`: a failure;
//! * it raised another `BaseException` (`asyncio.CancelledError`), was
//!   closed, or the awaitable was dropped unfinished: cancelled, which is
//!   neutral (a half-open trial slot is freed, nothing is counted).
//!
//! The class has `send`, `throw`, `close` and `__await__`, so
//! `asyncio.iscoroutine` accepts it and `asyncio.run(cb.execute(f))` works.

use fusebox::{Outcome, OwnedPermit};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyTuple};

use crate::breaker::CircuitBreaker;
use crate::python;
use crate::send::{self as step, Sent};

/// An awaited call through a breaker.
#[pyclass(module = "fusebox._fusebox")]
pub(crate) struct Execution {
    breaker: Py<CircuitBreaker>,
    stage: Stage,
}

enum Stage {
    /// Not awaited yet: nothing asked, nothing called.
    Pending {
        func: Py<PyAny>,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
        fallback: Option<Py<PyAny>>,
    },
    /// Driving the awaitable `func` (or the fallback) returned; the permit
    /// is `None` for a fallback, which is not a call through the breaker.
    Awaiting {
        inner: Py<PyAny>,
        permit: Option<OwnedPermit>,
    },
    Finished,
}

/// Where a step left the execution, when it did not raise.
enum Stepped<'py> {
    /// Suspended: this goes to the event loop.
    Yielded(Bound<'py, PyAny>),
    /// Finished with this value.
    Returned(Bound<'py, PyAny>),
}

impl Execution {
    pub(crate) fn pending(
        breaker: &Bound<'_, CircuitBreaker>,
        fallback: Option<Py<PyAny>>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> Execution {
        Execution {
            breaker: breaker.clone().unbind(),
            stage: Stage::Pending {
                func: func.clone().unbind(),
                args: args.clone().unbind(),
                kwargs: kwargs.map(|k| k.clone().unbind()),
                fallback,
            },
        }
    }

    /// An execution of a call already admitted and made, whose awaitable
    /// result is still to be driven.
    pub(crate) fn awaiting(
        breaker: &Bound<'_, CircuitBreaker>,
        awaitable: Bound<'_, PyAny>,
        permit: OwnedPermit,
    ) -> PyResult<Execution> {
        Ok(Execution {
            breaker: breaker.clone().unbind(),
            stage: Stage::Awaiting {
                inner: driven(awaitable)?.unbind(),
                permit: Some(permit),
            },
        })
    }

    /// Runs the first step: admission and the call. `Ok(None)` means the
    /// call's awaitable is now in place to be driven; `Err` ends the
    /// execution (with `StopIteration(value)` for a value already known).
    fn start(&mut self, py: Python<'_>) -> PyResult<()> {
        let Stage::Pending {
            func,
            args,
            kwargs,
            fallback,
        } = std::mem::replace(&mut self.stage, Stage::Finished)
        else {
            return Ok(());
        };
        let breaker = self.breaker.bind(py).get();
        let (args, kwargs) = (args.bind(py), kwargs.as_ref().map(|k| k.bind(py)));
        // `execute(coroutine)`: an awaitable already made, to run as the call.
        let made = !func.bind(py).is_callable();
        let permit = match breaker.take_permit(py) {
            Ok(permit) => permit,
            Err(refusal) => {
                if made {
                    // Refused: it will never run; close it so Python does not
                    // warn that it was never awaited.
                    if let Ok(close) = func.bind(py).getattr(pyo3::intern!(py, "close")) {
                        close.call0()?;
                    }
                }
                let Some(fallback) = fallback else {
                    return Err(breaker.refused(py, &refusal));
                };
                let answer = fallback.bind(py).call(args, kwargs)?;
                return self.drive_result(py, answer, None);
            }
        };
        if made {
            return self.drive_result(py, func.into_bound(py), Some(permit));
        }
        match func.bind(py).call(args, kwargs) {
            Ok(value) => self.drive_result(py, value, Some(permit)),
            Err(err) => {
                breaker.settle(py, permit, breaker.outcome_of(py, &err));
                Err(err)
            }
        }
    }

    /// Makes `value` the awaitable to drive, or, if it is a plain value (a
    /// sync function given to `execute`), finishes with it.
    fn drive_result(
        &mut self,
        py: Python<'_>,
        value: Bound<'_, PyAny>,
        permit: Option<OwnedPermit>,
    ) -> PyResult<()> {
        let awaitable =
            python::is_coroutine(&value) || value.hasattr(pyo3::intern!(py, "__await__"))?;
        if !awaitable {
            if let Some(permit) = permit {
                self.breaker
                    .bind(py)
                    .get()
                    .settle(py, permit, Some(Outcome::Success));
            }
            return Err(stop_iteration(value));
        }
        self.stage = Stage::Awaiting {
            inner: driven(value)?.unbind(),
            permit,
        };
        Ok(())
    }

    /// One step: start if needed, then pass `how` to the inner awaitable.
    /// A return comes back as a value, not a `StopIteration`, unless the
    /// awaitable raised one itself (then it is passed on as it is).
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        how: impl FnOnce(&Bound<'py, PyAny>) -> Sent<'py>,
    ) -> PyResult<Stepped<'py>> {
        if matches!(self.stage, Stage::Pending { .. }) {
            self.start(py)?;
        }
        let Stage::Awaiting { inner, .. } = &self.stage else {
            return Err(PyRuntimeError::new_err(
                "cannot reuse already awaited circuit breaker call",
            ));
        };
        let inner = inner.bind(py).clone();
        match how(&inner) {
            Sent::Yielded(value) => Ok(Stepped::Yielded(value)),
            Sent::Returned(value) => {
                self.finish(py, Some(Outcome::Success));
                Ok(Stepped::Returned(value))
            }
            Sent::Stopped(stop) => {
                self.finish(py, Some(Outcome::Success));
                Err(stop)
            }
            Sent::Raised(err) => {
                let outcome = self.breaker.bind(py).get().outcome_of(py, &err);
                self.finish(py, outcome);
                Err(err)
            }
        }
    }

    fn finish(&mut self, py: Python<'_>, outcome: Option<Outcome>) {
        if let Stage::Awaiting {
            permit: Some(permit),
            ..
        } = std::mem::replace(&mut self.stage, Stage::Finished)
        {
            self.breaker.bind(py).get().settle(py, permit, outcome);
        }
    }
}

/// What to call `send`, `throw` and `close` on to drive `awaitable`: a native
/// coroutine itself (saving the wrapper `__await__` would make), else the
/// iterator its `__await__()` returns.
fn driven(awaitable: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    if python::is_coroutine(&awaitable) {
        return Ok(awaitable);
    }
    let iterator = awaitable.call_method0(pyo3::intern!(awaitable.py(), "__await__"))?;
    Ok(iterator.cast_into::<PyIterator>()?.into_any())
}

/// `inner.send(value)`: through `PyIter_Send` where the interpreter has it
/// (3.10+), else the `send` method (unbound for a native coroutine).
fn send<'py>(inner: &Bound<'py, PyAny>, value: &Bound<'py, PyAny>) -> Sent<'py> {
    if let Some(sent) = step::iter_send(inner, value) {
        return sent;
    }
    let result = if python::is_coroutine(inner) {
        python::coroutine_send(inner, value)
    } else {
        inner.call_method1(pyo3::intern!(inner.py(), "send"), (value,))
    };
    sort(inner.py(), result)
}

/// Sorts a result of the inner awaitable's `send` or `throw` method.
fn sort<'py>(py: Python<'py>, result: PyResult<Bound<'py, PyAny>>) -> Sent<'py> {
    match result {
        Ok(value) => Sent::Yielded(value),
        Err(err) if err.is_instance_of::<PyStopIteration>(py) => Sent::Stopped(err),
        Err(err) => Sent::Raised(err),
    }
}

/// `StopIteration(value)`, made at once (no boxed lazy arguments).
fn stop_iteration(value: Bound<'_, PyAny>) -> PyErr {
    let py = value.py();
    match py.get_type::<PyStopIteration>().call1((value,)) {
        Ok(stop) => PyErr::from_value(stop),
        Err(err) => err,
    }
}

/// A step's end as `send` and `throw` give it: a return is a `StopIteration`.
fn sent_back(stepped: Stepped<'_>) -> PyResult<Bound<'_, PyAny>> {
    match stepped {
        Stepped::Yielded(value) => Ok(value),
        Stepped::Returned(value) => Err(stop_iteration(value)),
    }
}

#[pymethods]
impl Execution {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        // Not `PyIter_Next`: it swallows the `StopIteration` that carries
        // the awaited call's return value.
        let none = py.None().into_bound(py);
        match self.step(py, |inner| send(inner, &none))? {
            Stepped::Yielded(value) => Ok(Some(value)),
            // Nothing raised: the interpreter reads that as returning None.
            Stepped::Returned(value) if value.is_none() => Ok(None),
            Stepped::Returned(value) => Err(stop_iteration(value)),
        }
    }

    /// Sends `value` into the awaited call, as `coroutine.send` does.
    fn send<'py>(
        &mut self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !value.is_none() && matches!(self.stage, Stage::Pending { .. }) {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "can't send non-None value to a just-started circuit breaker call",
            ));
        }
        sent_back(self.step(py, |inner| send(inner, value))?)
    }

    /// Raises an exception inside the awaited call, as `coroutine.throw` does.
    #[pyo3(signature = (kind, value=None, traceback=None))]
    fn throw<'py>(
        &mut self,
        py: Python<'py>,
        kind: &Bound<'py, PyAny>,
        value: Option<&Bound<'py, PyAny>>,
        traceback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !matches!(self.stage, Stage::Awaiting { .. }) {
            // Never started (or over): nothing runs, the exception comes out.
            self.stage = Stage::Finished;
            let raised = match value.filter(|v| !v.is_none()) {
                Some(value) => value.clone(),
                None => kind.clone(),
            };
            return Err(PyErr::from_value(raised));
        }
        let stepped = self.step(py, |inner| {
            let throw = pyo3::intern!(py, "throw");
            let result = match (value, traceback) {
                (None, _) => inner.call_method1(throw, (kind,)),
                (Some(value), None) => inner.call_method1(throw, (kind, value)),
                (Some(value), Some(tb)) => inner.call_method1(throw, (kind, value, tb)),
            };
            sort(py, result)
        })?;
        sent_back(stepped)
    }

    /// Stops the awaited call; neutral for the breaker.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        if let Stage::Awaiting { inner, permit } = stage {
            let closed = match inner.bind(py).getattr(pyo3::intern!(py, "close")) {
                Ok(close) => close.call0().map(drop),
                Err(_) => Ok(()),
            };
            if let Some(permit) = permit {
                self.breaker.bind(py).get().settle(py, permit, None);
            }
            closed?;
        }
        Ok(())
    }
}
