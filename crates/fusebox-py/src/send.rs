//! One step of an awaitable, told as a [`Sent`]: through `PyIter_Send`,
//! which hands a coroutine's return value back directly (no `StopIteration`
//! is made, raised, fetched and inspected per awaited call), or from the
//! result of a `send` or `throw` method.
//!
//! `PyIter_Send` is in the stable ABI from Python 3.10; this module is built
//! for 3.9 (`abi3-py39`), so the function is looked up in the running
//! interpreter (through `ctypes.pythonapi`, its own symbols) and, where it
//! is missing, callers use the `send` method instead. PyO3 has no safe
//! wrapper for a function its build target lacks.
//!
//! The steps run in slots the interpreter calls directly (`awaitable`),
//! where PyO3 defers the release of a dropped `PyErr` until the thread next
//! attaches through it, which may be much later. So the two answers that
//! would make one only to drop it (an attribute that may be missing, the
//! value of a `StopIteration`) are taken from the C API here.
#![allow(unsafe_code)]

use std::os::raw::c_int;

use pyo3::exceptions::PyStopIteration;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

/// `PyIter_Send(iterator, value, &result) -> PySendResult`.
type SendFn =
    unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject, *mut *mut ffi::PyObject) -> c_int;

/// `PySendResult`: returned (`result` is the return value), yielded
/// (`result` is the yielded value); anything else is an error.
const PYGEN_RETURN: c_int = 0;
const PYGEN_NEXT: c_int = 1;

static ITER_SEND: PyOnceLock<Option<SendFn>> = PyOnceLock::new();

/// What one step of an awaitable came to.
pub(crate) enum Sent<'py> {
    /// It suspended, handing this to the event loop.
    Yielded(Bound<'py, PyAny>),
    /// It returned this value.
    Returned(Bound<'py, PyAny>),
    /// It raised.
    Raised(PyErr),
}

/// `iterator.send(value)` as one step, if the interpreter has
/// `PyIter_Send`; None if it has not (Python 3.9).
#[inline]
pub(crate) fn iter_send<'py>(
    iterator: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
) -> Option<Sent<'py>> {
    let py = iterator.py();
    let send = (*ITER_SEND.get_or_init(py, || find(py)))?;
    let mut result: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `send` is the interpreter's `PyIter_Send` (see `find`), called
    // with the GIL held and two live objects; it stores a new reference in
    // `result` unless it fails, and then it has set an exception.
    let status = unsafe { send(iterator.as_ptr(), value.as_ptr(), &mut result) };
    Some(match status {
        PYGEN_RETURN | PYGEN_NEXT if !result.is_null() => {
            // SAFETY: a new, non-null reference, owned from here on.
            let result = unsafe { Bound::from_owned_ptr(py, result) };
            if status == PYGEN_RETURN {
                Sent::Returned(result)
            } else {
                Sent::Yielded(result)
            }
        }
        _ => Sent::Raised(PyErr::fetch(py)),
    })
}

/// The running interpreter's `PyIter_Send`; None before 3.10 or without
/// `ctypes`.
fn find(py: Python<'_>) -> Option<SendFn> {
    if py.version_info() < (3, 10) {
        return None;
    }
    let lookup = || -> PyResult<usize> {
        let ctypes = py.import("ctypes")?;
        let function = ctypes.getattr("pythonapi")?.getattr("PyIter_Send")?;
        ctypes
            .getattr("cast")?
            .call1((function, ctypes.getattr("c_void_p")?))?
            .getattr("value")?
            .extract()
    };
    let address = lookup().ok().filter(|address| *address != 0)?;
    // SAFETY: the address is that of the interpreter's `PyIter_Send`, whose
    // C signature in the stable ABI (3.10 on) is `SendFn`.
    Some(unsafe { std::mem::transmute::<usize, SendFn>(address) })
}

/// Sorts the result of an awaitable's `send` or `throw` method: a value is
/// yielded, a `StopIteration` is a return.
pub(crate) fn sort<'py>(py: Python<'py>, result: PyResult<Bound<'py, PyAny>>) -> Sent<'py> {
    match result {
        Ok(value) => Sent::Yielded(value),
        Err(err) if err.is_instance_of::<PyStopIteration>(py) => {
            // Handed back to the interpreter (not dropped), then taken as
            // plain references.
            err.restore(py);
            match stop_iteration_value(py) {
                Some(value) => Sent::Returned(value),
                None => Sent::Raised(PyErr::fetch(py)),
            }
        }
        Err(err) => Sent::Raised(err),
    }
}

/// Takes the raised `StopIteration` and gives its `value`; None, with an
/// exception set, if that attribute cannot be read.
fn stop_iteration_value(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    let (mut kind, mut value, mut traceback) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    // SAFETY: the GIL is held and an exception is set (`sort` just set it);
    // the three references taken are owned, and passed on or released here.
    unsafe {
        ffi::PyErr_Fetch(&mut kind, &mut value, &mut traceback);
        ffi::PyErr_NormalizeException(&mut kind, &mut value, &mut traceback);
        ffi::Py_XDECREF(kind);
        ffi::Py_XDECREF(traceback);
        let stop = Bound::from_owned_ptr_or_opt(py, value)?;
        let returned = ffi::PyObject_GetAttr(stop.as_ptr(), pyo3::intern!(py, "value").as_ptr());
        Bound::from_owned_ptr_or_opt(py, returned)
    }
}

/// Whether `object` has the attribute `name`, asked without making an
/// exception object for a missing one. An error raised while looking is
/// taken as a missing attribute, as `hasattr` once did.
pub(crate) fn has_attr(object: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> bool {
    // SAFETY: the GIL is held (a `Bound` proves it) and both are live.
    unsafe { ffi::PyObject_HasAttr(object.as_ptr(), name.as_ptr()) == 1 }
}
