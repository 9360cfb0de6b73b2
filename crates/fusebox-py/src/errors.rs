//! The one place where Rust errors become Python exceptions.
//!
//! * A refused call ([`Rejected`]) is `fusebox.CircuitOpenError(name, state,
//!   retry_after)`; the class reads its attributes from those arguments, so
//!   raising it runs no Python code.
//! * An invalid setting ([`ConfigError`]) is a `ValueError` naming the
//!   setting and the refused value.
//! * A store URL that cannot be opened is a `ValueError` naming `store`.
//! * A configuration file that cannot be loaded is a `ValueError` naming the
//!   file and, where known, the line and key.

use fusebox::store::StoreError;
use fusebox::{ConfigError, ConfigFileError, Rejected};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::python;

/// `CircuitOpenError(name, state, retry_after)` for a refused call.
pub(crate) fn rejected(py: Python<'_>, name: &Py<PyString>, refusal: &Rejected) -> PyErr {
    let retry_after = refusal.retry_after.map(|d| d.as_secs_f64());
    let state = python::state(py, refusal.state);
    // Made now rather than from boxed lazy arguments: the exception is
    // raised at once anyway, and this spares an allocation per refusal.
    let made = python::open_error_type(py)
        .and_then(|class| class.call1((name.clone_ref(py), state, retry_after)));
    match made {
        Ok(error) => PyErr::from_value(error),
        Err(err) => err,
    }
}

/// A `ValueError` for a setting the core refused.
pub(crate) fn config(error: ConfigError) -> PyErr {
    PyValueError::new_err(format!(
        "{}: {} (got {})",
        error.field, error.expected, error.value
    ))
}

/// A `ValueError` for a store URL that cannot be opened.
pub(crate) fn store(error: StoreError) -> PyErr {
    PyValueError::new_err(format!("store: {error:#}"))
}

/// A `ValueError` for a configuration file that cannot be loaded.
pub(crate) fn config_file(error: ConfigFileError) -> PyErr {
    PyValueError::new_err(format!("{error:#}"))
}
