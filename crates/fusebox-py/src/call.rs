//! The sync call path: one method that asks the core for a permit, calls the
//! function and reports its outcome, so a call through the breaker costs one
//! extension call on top of the function's own.

use fusebox::{Outcome, Rejected};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::breaker::CircuitBreaker;
use crate::execution::Execution;
use crate::{args, awaitable, python};

/// Runs `func(*args, **kwargs)` if the breaker admits it.
///
/// The function's result comes back; its exception is re-raised unchanged
/// after being counted. A coroutine (an `async def` called) is not finished
/// yet: it comes back wrapped in an [`Execution`] that holds the permit and
/// reports when the coroutine ends. A refused call raises
/// `CircuitOpenError`, or returns `fallback(*args, **kwargs)` if given.
#[inline]
pub(crate) fn call<'py>(
    breaker: &Bound<'py, CircuitBreaker>,
    fallback: Option<&Bound<'py, PyAny>>,
    func: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = breaker.py();
    let this = breaker.get();
    if !func.is_callable() {
        args::callable("func", func)?;
    }
    let permit = match this.take_permit(py) {
        Ok(permit) => permit,
        Err(refusal) => return refuse(breaker, &refusal, fallback, args, kwargs),
    };
    match func.call(args, kwargs) {
        Ok(value) => {
            if python::is_coroutine(&value) {
                let awaiting = Execution::awaiting(breaker, value, permit)?;
                return awaitable::new(py, awaiting);
            }
            this.settle(py, permit, Some(Outcome::Success));
            Ok(value)
        }
        Err(err) => {
            this.settle(py, permit, this.outcome_of(py, &err));
            Err(err)
        }
    }
}

/// `(func, *args)` as `func` and the tuple of its arguments: the empty
/// tuple, which is shared, when there are none.
#[inline]
pub(crate) fn split<'py>(
    args: &Bound<'py, PyTuple>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
    let func = args.get_item(0).map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err("call() missing its first argument: func")
    })?;
    Ok((func, args.get_slice(1, args.len())))
}

/// The answer to a refused call: the fallback's, or `CircuitOpenError`.
fn refuse<'py>(
    breaker: &Bound<'py, CircuitBreaker>,
    refusal: &Rejected,
    fallback: Option<&Bound<'py, PyAny>>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    match fallback {
        Some(fallback) => fallback.call(args, kwargs),
        None => Err(breaker.get().refused(breaker.py(), refusal)),
    }
}
