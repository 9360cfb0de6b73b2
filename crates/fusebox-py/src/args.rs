//! Checks of the arguments Python code passes, with errors that name the
//! argument: a `TypeError` for a value of the wrong type, a `ValueError` for
//! a value out of range.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple, PyType};

use crate::errors;

/// An `int` of at least 1 (a count of calls or failures).
pub(crate) fn count(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u32> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(value)
        )));
    }
    let number: i128 = value.extract()?;
    if number < 1 {
        return Err(PyValueError::new_err(format!(
            "{name} must be at least 1 (got {number})"
        )));
    }
    u32::try_from(number).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be at most {} (got {number})",
            u32::MAX
        ))
    })
}

/// A duration: an `int` or `float` of seconds, or a `datetime.timedelta`;
/// finite, greater than zero and at most the core's longest duration.
pub(crate) fn seconds(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let py = value.py();
    let timedelta = py.import("datetime")?.getattr("timedelta")?;
    if value.is_instance(&timedelta)? {
        let secs: f64 = value.call_method0("total_seconds")?.extract()?;
        return fusebox::__private::duration_from_secs(name, secs).map_err(|error| {
            PyValueError::new_err(format!(
                "{name}: {} (got {}, {secs} seconds)",
                error.expected,
                value.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        });
    }
    let is_number = value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>();
    if value.is_instance_of::<PyBool>() || !is_number {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number of seconds (int or float) or a datetime.timedelta, not {}",
            type_name(value)
        )));
    }
    let secs: f64 = value.extract()?;
    fusebox::__private::duration_from_secs(name, secs).map_err(errors::config)
}

/// A `bool`.
pub(crate) fn flag(name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if !value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a bool, not {}",
            type_name(value)
        )));
    }
    value.extract()
}

/// Exception classes: one class or an iterable of them, as a tuple usable
/// with `isinstance`; `None` when empty.
pub(crate) fn exceptions<'py>(
    name: &str,
    value: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let py = value.py();
    let base = py.get_type::<pyo3::exceptions::PyBaseException>();
    let is_exception_class = |item: &Bound<'py, PyAny>| -> bool {
        item.cast::<PyType>()
            .map(|class| class.is_subclass(&base).unwrap_or(false))
            .unwrap_or(false)
    };
    let items: Vec<Bound<'py, PyAny>> = if is_exception_class(value) {
        vec![value.clone()]
    } else {
        let iterator = value.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must be an exception class or a tuple of them, not {}",
                type_name(value)
            ))
        })?;
        iterator.collect::<PyResult<_>>()?
    };
    if let Some(bad) = items.iter().find(|item| !is_exception_class(item)) {
        return Err(PyTypeError::new_err(format!(
            "{name} must hold exception classes, not {}",
            bad.repr()?
        )));
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(PyTuple::new(py, items)?))
}

/// A callable.
pub(crate) fn callable<'py>(name: &str, value: &Bound<'py, PyAny>) -> PyResult<()> {
    if !value.is_callable() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be callable, not {}",
            type_name(value)
        )));
    }
    Ok(())
}

/// What `execute` runs: a callable, or an awaitable already made (a
/// coroutine) given with no arguments.
pub(crate) fn callable_or_awaitable(
    name: &str,
    value: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<()> {
    if value.is_callable() {
        return Ok(());
    }
    if crate::python::is_awaitable(value)? && args.is_empty() && kwargs.is_none_or(|k| k.is_empty())
    {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "{name} must be callable (or an awaitable given alone), not {}",
        type_name(value)
    )))
}

/// A `str`.
pub(crate) fn text(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if !value.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a str, not {}",
            type_name(value)
        )));
    }
    value.extract()
}

pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an unknown type".to_owned())
}
