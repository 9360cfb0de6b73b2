//! What awaiting `execute` (or `call` on an `async` function) does: the
//! steps of a call through the breaker, driven by the awaitable type of
//! `awaitable`, with no Python coroutine frame of its own.
//!
//! Like an `async def`, `execute(func)` does nothing until awaited: the
//! first step asks the breaker, calls `func`, and then drives the awaitable
//! `func` returned (`__await__`), passing `send`, `throw` and `close`
//! through. `execute(coroutine)` (an awaitable already made, no arguments)
//! drives that awaitable as the call; refused, it is closed unrun. The
//! outcome is reported when it finishes:
//!
//! * it returned: a success;
//! * it raised an excluded class: ignored;
//! * it raised another `Exception`: a failure;
//! * it raised another `BaseException` (`asyncio.CancelledError`), was
//!   closed, or the awaitable was dropped unfinished: cancelled, which is
//!   neutral (a half-open trial slot is freed, nothing is counted).
//!
//! The awaitable type calls these methods from slots the interpreter calls
//! directly, not through PyO3's entry points. There PyO3 does not count the
//! thread as attached, and defers the release of a dropped `Py` or `PyErr`
//! until the thread next attaches through it, which may be much later (an
//! awaited call's result would stay alive). So every `Py` this module lets
//! go of is bound first ([`Stage::release`]), which makes its release a plain
//! decrement; no `PyErr` is made only to be dropped (`send::has_attr`,
//! `send::sort`, `python::is_awaitable`); errors are raised, not dropped.
//! Attaching through PyO3 in every step would cost about 170 instructions
//! of the 2,400 an awaited call adds to a bare `await`.

use std::os::raw::c_int;

use fusebox::{Outcome, OwnedPermit};
use pyo3::exceptions::{PyBaseException, PyGeneratorExit, PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyTraceback, PyTuple, PyType};

use crate::breaker::CircuitBreaker;
use crate::python;
use crate::send::{self as step, Sent};

/// An awaited call through a breaker.
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

impl Stage {
    /// Lets go of the stage's objects at once (see the module docs).
    fn release(self, py: Python<'_>) {
        match self {
            Stage::Pending {
                func,
                args,
                kwargs,
                fallback,
            } => {
                drop(func.into_bound(py));
                drop(args.into_bound(py));
                drop(kwargs.map(|k| k.into_bound(py)));
                drop(fallback.map(|f| f.into_bound(py)));
            }
            Stage::Awaiting { inner, permit } => {
                drop(inner.into_bound(py));
                drop(permit);
            }
            Stage::Finished => {}
        }
    }
}

/// Where a step left the execution, when it did not raise.
pub(crate) enum Stepped<'py> {
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

    /// Whether the execution has finished: then letting go of it drops
    /// nothing but references.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.stage, Stage::Finished)
    }

    /// Lets go of everything the execution holds; a call still running is
    /// cancelled (neutral).
    pub(crate) fn release(mut self, py: Python<'_>) {
        self.cancel(py);
        drop(self.breaker.into_bound(py));
    }

    /// Ends the execution where it is: a call still running is cancelled
    /// (neutral), and what the stage held is let go.
    pub(crate) fn cancel(&mut self, py: Python<'_>) {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Awaiting {
                inner,
                permit: Some(permit),
            } => {
                self.breaker.get().settle(py, permit, None);
                drop(inner.into_bound(py));
            }
            stage => stage.release(py),
        }
    }

    /// Calls `visit` with each Python object the execution holds, until one
    /// answer is not 0, and returns that answer: the cycle collector's
    /// `tp_traverse`.
    pub(crate) fn visit_objects(
        &self,
        mut visit: impl FnMut(*mut ffi::PyObject) -> c_int,
    ) -> c_int {
        let mut held: [Option<*mut ffi::PyObject>; 5] = [None; 5];
        held[0] = Some(self.breaker.as_ptr());
        match &self.stage {
            Stage::Pending {
                func,
                args,
                kwargs,
                fallback,
            } => {
                held[1] = Some(func.as_ptr());
                held[2] = Some(args.as_ptr());
                held[3] = kwargs.as_ref().map(|k| k.as_ptr());
                held[4] = fallback.as_ref().map(|f| f.as_ptr());
            }
            Stage::Awaiting { inner, .. } => held[1] = Some(inner.as_ptr()),
            Stage::Finished => {}
        }
        held.into_iter()
            .flatten()
            .map(&mut visit)
            .find(|answer| *answer != 0)
            .unwrap_or(0)
    }

    /// Replaces the stage, letting go of the old one's objects.
    fn set_stage(&mut self, py: Python<'_>, stage: Stage) {
        std::mem::replace(&mut self.stage, stage).release(py);
    }

    /// Runs the first step: admission and the call. `Ok(Some(value))`
    /// means the execution finished with `value` (a sync function's
    /// result); `Ok(None)` that the call's awaitable is in place to drive.
    fn start<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Stage::Pending {
            func,
            args,
            kwargs,
            fallback,
        } = std::mem::replace(&mut self.stage, Stage::Finished)
        else {
            return Ok(None);
        };
        let (func, args) = (func.into_bound(py), args.into_bound(py));
        let kwargs = kwargs.map(|k| k.into_bound(py));
        let fallback = fallback.map(|f| f.into_bound(py));
        let breaker = self.breaker.get();
        // `execute(coroutine)`: an awaitable already made, to run as the call.
        let made = !func.is_callable();
        let permit = match breaker.take_permit(py) {
            Ok(permit) => permit,
            Err(refusal) => {
                let close = pyo3::intern!(py, "close");
                if made && step::has_attr(&func, close) {
                    // Refused: it will never run; close it so Python does not
                    // warn that it was never awaited.
                    func.call_method0(close)?;
                }
                let Some(fallback) = fallback else {
                    return Err(breaker.refused(py, &refusal));
                };
                let answer = fallback.call(&args, kwargs.as_ref())?;
                return self.drive_result(py, answer, None);
            }
        };
        if made {
            return self.drive_result(py, func, Some(permit));
        }
        let called = if args.is_empty() && kwargs.is_none() {
            func.call0()
        } else {
            func.call(&args, kwargs.as_ref())
        };
        match called {
            Ok(value) => self.drive_result(py, value, Some(permit)),
            Err(err) => {
                breaker.settle(py, permit, breaker.outcome_of(py, &err));
                Err(err)
            }
        }
    }

    /// Makes `value` the awaitable to drive, or, if it is a plain value (a
    /// sync function given to `execute`), finishes with it.
    fn drive_result<'py>(
        &mut self,
        py: Python<'py>,
        value: Bound<'py, PyAny>,
        permit: Option<OwnedPermit>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let awaitable = match python::is_awaitable(&value) {
            Ok(awaitable) => awaitable,
            Err(err) => {
                if let Some(permit) = permit {
                    let breaker = self.breaker.get();
                    breaker.settle(py, permit, breaker.outcome_of(py, &err));
                }
                return Err(err);
            }
        };
        if !awaitable {
            if let Some(permit) = permit {
                self.breaker
                    .get()
                    .settle(py, permit, Some(Outcome::Success));
            }
            return Ok(Some(value));
        }
        let inner = match driven(value) {
            Ok(inner) => inner,
            Err(err) => {
                // A broken awaitable (`__await__` raised or returned no
                // iterator): the call never ran, so it is not counted.
                if let Some(permit) = permit {
                    self.breaker.get().settle(py, permit, None);
                }
                return Err(err);
            }
        };
        self.stage = Stage::Awaiting {
            inner: inner.unbind(),
            permit,
        };
        Ok(None)
    }

    /// One step: start if needed, then pass `how` to the inner awaitable.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        how: impl FnOnce(&Bound<'py, PyAny>) -> Sent<'py>,
    ) -> PyResult<Stepped<'py>> {
        if matches!(self.stage, Stage::Pending { .. }) {
            if let Some(value) = self.start(py)? {
                return Ok(Stepped::Returned(value));
            }
        }
        let Stage::Awaiting { inner, .. } = &self.stage else {
            return Err(reused());
        };
        let inner = inner.bind(py).clone();
        match how(&inner) {
            Sent::Yielded(value) => Ok(Stepped::Yielded(value)),
            Sent::Returned(value) => {
                self.finish(py, Some(Outcome::Success));
                Ok(Stepped::Returned(value))
            }
            Sent::Raised(err) => {
                let outcome = self.breaker.get().outcome_of(py, &err);
                self.finish(py, outcome);
                Err(err)
            }
        }
    }

    fn finish(&mut self, py: Python<'_>, outcome: Option<Outcome>) {
        if let Stage::Awaiting { inner, permit } =
            std::mem::replace(&mut self.stage, Stage::Finished)
        {
            if let Some(permit) = permit {
                self.breaker.get().settle(py, permit, outcome);
            }
            drop(inner.into_bound(py));
        }
    }

    /// `send(value)`: one step with `value` sent into the awaited call.
    pub(crate) fn send<'py>(
        &mut self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Stepped<'py>> {
        if !value.is_none() && matches!(self.stage, Stage::Pending { .. }) {
            return Err(PyTypeError::new_err(
                "can't send non-None value to a just-started circuit breaker call",
            ));
        }
        self.step(py, |inner| send(inner, value))
    }

    /// `throw(kind, value, traceback)`: raises inside the awaited call.
    pub(crate) fn throw<'py>(
        &mut self,
        py: Python<'py>,
        kind: &Bound<'py, PyAny>,
        value: Option<&Bound<'py, PyAny>>,
        traceback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Stepped<'py>> {
        let thrown_in = thrown(py, kind, value, traceback)?;
        match self.stage {
            Stage::Awaiting { .. } => {}
            // Never started: nothing runs, the exception comes out.
            Stage::Pending { .. } => {
                self.set_stage(py, Stage::Finished);
                return Err(thrown_in);
            }
            Stage::Finished => return Err(reused()),
        }
        if thrown_in.is_instance_of::<PyGeneratorExit>(py) {
            // As a coroutine does: the awaited call is closed (neutral, as
            // by `close`), then the exit raised where it waits, or what
            // closing raised.
            self.close(py)?;
            return Err(thrown_in);
        }
        self.step(py, |inner| {
            let throw = pyo3::intern!(py, "throw");
            if !step::has_attr(inner, throw) {
                // As a coroutine does: raised where it awaits.
                return Sent::Raised(thrown_in);
            }
            let result = match (value, traceback) {
                (None, _) => inner.call_method1(throw, (kind,)),
                (Some(value), None) => inner.call_method1(throw, (kind, value)),
                (Some(value), Some(tb)) => inner.call_method1(throw, (kind, value, tb)),
            };
            step::sort(py, result)
        })
    }

    /// `close()`: stops the awaited call; neutral for the breaker.
    pub(crate) fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        let Stage::Awaiting { inner, permit } = stage else {
            stage.release(py);
            return Ok(());
        };
        let closed = close(&inner.into_bound(py));
        if let Some(permit) = permit {
            self.breaker.get().settle(py, permit, None);
        }
        closed
    }
}

/// Stepping an execution that has finished (or was closed).
fn reused() -> PyErr {
    PyRuntimeError::new_err("cannot reuse already awaited circuit breaker call")
}

/// Closes an awaited object, if it can be closed.
fn close(inner: &Bound<'_, PyAny>) -> PyResult<()> {
    let close = pyo3::intern!(inner.py(), "close");
    if step::has_attr(inner, close) {
        inner.call_method0(close)?;
    }
    Ok(())
}

/// The exception `throw(kind, value, traceback)` raises, made as a
/// coroutine's `throw` makes it: `kind` is a class (called with `value` as
/// its argument, or its arguments if a tuple, unless `value` is already an
/// instance) or an instance (with no separate value). `Err` for arguments
/// that make no exception.
fn thrown(
    py: Python<'_>,
    kind: &Bound<'_, PyAny>,
    value: Option<&Bound<'_, PyAny>>,
    traceback: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyErr> {
    let value = value.filter(|v| !v.is_none());
    let traceback = traceback.filter(|t| !t.is_none());
    if traceback.is_some_and(|t| !t.is_instance_of::<PyTraceback>()) {
        return Err(PyTypeError::new_err(
            "throw() third argument must be a traceback object",
        ));
    }
    let class = kind
        .cast::<PyType>()
        .ok()
        .filter(|class| class.is_subclass_of::<PyBaseException>().unwrap_or(false));
    let err = match (class, value) {
        (Some(class), None) => PyErr::from_type(class.clone(), ()),
        (Some(class), Some(value)) if value.is_instance(class).unwrap_or(false) => {
            PyErr::from_value(value.clone())
        }
        (Some(class), Some(value)) => PyErr::from_type(class.clone(), value.clone().unbind()),
        (None, None) if kind.is_instance_of::<PyBaseException>() => PyErr::from_value(kind.clone()),
        (None, Some(_)) if kind.is_instance_of::<PyBaseException>() => {
            return Err(PyTypeError::new_err(
                "instance exception may not have a separate value",
            ));
        }
        (None, _) => {
            return Err(PyTypeError::new_err(format!(
                "exceptions must be classes or instances deriving from BaseException, not {}",
                crate::args::type_name(kind)
            )));
        }
    };
    if let Some(traceback) = traceback {
        err.value(py)
            .setattr(pyo3::intern!(py, "__traceback__"), traceback)?;
    }
    Ok(err)
}

/// What to call `send`, `throw` and `close` on to drive `awaitable`: a native
/// coroutine itself (saving the wrapper `__await__` would make), else the
/// iterator its `__await__()` returns.
fn driven(awaitable: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    if python::is_coroutine(&awaitable) || python::is_iterable_coroutine(&awaitable) {
        return Ok(awaitable);
    }
    let iterator = awaitable.call_method0(pyo3::intern!(awaitable.py(), "__await__"))?;
    Ok(iterator.cast_into::<PyIterator>()?.into_any())
}

/// `inner.send(value)`: through `PyIter_Send` where the interpreter has it
/// (3.10+), else as CPython 3.9's `await` does it: `send` for a native
/// coroutine (unbound), `__next__` for `None` (an iterator need not have
/// `send`), else the `send` method.
fn send<'py>(inner: &Bound<'py, PyAny>, value: &Bound<'py, PyAny>) -> Sent<'py> {
    if let Some(sent) = step::iter_send(inner, value) {
        return sent;
    }
    let py = inner.py();
    let result = if python::is_coroutine(inner) {
        python::coroutine_send(inner, value)
    } else if value.is_none() {
        inner.call_method0(pyo3::intern!(py, "__next__"))
    } else {
        inner.call_method1(pyo3::intern!(py, "send"), (value,))
    };
    step::sort(inner.py(), result)
}
