//! `Guarded`: what `@cb` and `@circuit_breaker(...)` return for a function,
//! a callable written in Rust so that calling the decorated function costs
//! one extension call, like `cb.call(func, ...)`, and no Python frame.
//!
//! Only sync functions get one: an `async def` gets a Python `async def`
//! wrapper (see `fusebox._breaker.guard`). The Python layer copies the
//! function's name, docstring and `__wrapped__` onto it
//! (`functools.update_wrapper`, hence the instance `__dict__`).
//! `__get__` binds it like a function, so decorated methods get `self`;
//! `__reduce__` pickles it by its qualified name, like the function.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::breaker::CircuitBreaker;
use crate::{args, call};

/// A function whose calls go through a breaker.
#[pyclass(module = "fusebox._fusebox", frozen, dict)]
pub(crate) struct Guarded {
    breaker: Py<CircuitBreaker>,
    func: Py<PyAny>,
    fallback: Option<Py<PyAny>>,
}

#[pymethods]
impl Guarded {
    #[new]
    #[pyo3(signature = (breaker, func, fallback))]
    fn new(
        breaker: Bound<'_, CircuitBreaker>,
        func: &Bound<'_, PyAny>,
        fallback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Guarded> {
        args::callable("func", func)?;
        let fallback = match fallback.filter(|f| !f.is_none()) {
            Some(fallback) => {
                args::callable("fallback", fallback)?;
                Some(fallback.clone().unbind())
            }
            None => breaker
                .get()
                .fallback
                .as_ref()
                .map(|f| f.clone_ref(func.py())),
        };
        Ok(Guarded {
            breaker: breaker.unbind(),
            func: func.clone().unbind(),
            fallback,
        })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let breaker = self.breaker.bind(py);
        let func = self.func.bind(py);
        let fallback = self.fallback.as_ref().map(|f| f.bind(py));
        call::call(breaker, fallback, func, args, kwargs)
    }

    /// Binds like a function: `instance.method` is a bound method.
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        instance: Option<&Bound<'py, PyAny>>,
        owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = owner;
        match instance.filter(|i| !i.is_none()) {
            None => Ok(slf.clone().into_any()),
            Some(instance) => slf
                .py()
                .import("types")?
                .getattr("MethodType")?
                .call1((slf, instance)),
        }
    }

    /// The breaker calls go through.
    #[getter]
    fn breaker(&self, py: Python<'_>) -> Py<CircuitBreaker> {
        self.breaker.clone_ref(py)
    }

    /// Pickled by reference, as the function it replaces.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.getattr("__qualname__")
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<fusebox guarded {} via {}>",
            self.func.bind(py).repr()?,
            self.breaker.bind(py).repr()?
        ))
    }
}
