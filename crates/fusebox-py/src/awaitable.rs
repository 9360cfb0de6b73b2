//! `fusebox._fusebox.Execution`, the awaitable `execute` returns: a Python
//! type made by hand (`PyType_FromSpec`) around an [`Execution`].
//!
//! PyO3's classes cannot fill the `am_send` slot, through which Python 3.10
//! and 3.11 drive an awaitable (`await`, asyncio's tasks) and take its
//! return value directly: without it, every awaited call makes, raises,
//! catches and inspects a `StopIteration`. Filling the slots by hand also
//! spares the trampoline PyO3 puts around every method call. Together these
//! were over a third of what `await cb.execute(f)` cost on top of
//! `await f()` (counted in instructions by `scripts/py_instructions.sh`).
//!
//! The type has `am_send` (3.10+), `tp_iternext`, and `am_await`/`tp_iter`
//! returning the instance itself, which is what `await` needs; `send`,
//! `throw` and `close`, so that `asyncio.iscoroutine` accepts it; and no
//! constructor: instances come from `execute` and `call` only.
//!
//! Every slot is called by the interpreter with the GIL held (this module
//! is built for the stable ABI, which has no free-threaded build). Each one
//! sets an exception whenever it returns an error (and a panic's, in builds
//! that unwind; the wheel aborts, see the crate's docs). The
//! slots for an instance nobody awaits to the end (the cycle collector's,
//! `tp_dealloc`) are in `collect`.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_uint, c_void};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyNone, PyTuple, PyType};

use crate::execution::{Execution, Stepped};

/// `Py_am_send`, the slot number of `am_send` (Python 3.10+): the module's
/// build target, 3.9, does not define it.
const AM_SEND: c_int = 81;

/// `Py_TPFLAGS_IMMUTABLETYPE` and `Py_TPFLAGS_DISALLOW_INSTANTIATION`
/// (Python 3.10+): no attribute of the type can be replaced, and Python code
/// cannot make an instance.
const IMMUTABLE_TYPE: std::ffi::c_ulong = 1 << 8;
const DISALLOW_INSTANTIATION: std::ffi::c_ulong = 1 << 7;

/// `PySendResult`, what `am_send` returns.
const PYGEN_RETURN: c_int = 0;
const PYGEN_ERROR: c_int = -1;
const PYGEN_NEXT: c_int = 1;

const DOC: &std::ffi::CStr = c"An awaited call through a circuit breaker, made by \
CircuitBreaker.execute (or CircuitBreaker.call on an async function).\n\n\
Await it once. It has send, throw and close, as a coroutine has.";

/// An instance's memory: the object header, then the execution.
#[repr(C)]
struct Object {
    header: ffi::PyObject,
    /// Set once `execution` is written. An instance made some other way
    /// (Python code can hand the type another `__new__` on 3.9, where a
    /// type cannot be made immutable) is zeroed memory, and is refused.
    ready: bool,
    /// Set while a step runs: the code a step runs (the awaited function)
    /// may reach this object again, and must not get a second
    /// `&mut Execution`.
    busy: Cell<bool>,
    execution: UnsafeCell<ManuallyDrop<Execution>>,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The type, made on first use.
pub(crate) fn type_object(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TYPE.get_or_try_init(py, || make_type(py))
        .map(|tp| tp.bind(py))
}

/// A new instance driving `execution`.
pub(crate) fn new(py: Python<'_>, execution: Execution) -> PyResult<Bound<'_, PyAny>> {
    let tp = match type_object(py) {
        Ok(tp) => tp.as_type_ptr(),
        Err(err) => {
            execution.release(py);
            return Err(err);
        }
    };
    // SAFETY: the GIL is held. `tp` is the type `make_type` made: its
    // instances are `Object`s (its basic size), not tracked by the cycle
    // collector, so `PyType_GenericAlloc` gives zeroed memory of that size
    // with the header set, and the fields are written before any use.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(tp, 0);
        if obj.is_null() {
            execution.release(py);
            return Err(PyErr::fetch(py));
        }
        let object = obj.cast::<Object>();
        ptr::addr_of_mut!((*object).busy).write(Cell::new(false));
        ptr::addr_of_mut!((*object).execution).write(UnsafeCell::new(ManuallyDrop::new(execution)));
        ptr::addr_of_mut!((*object).ready).write(true);
        Ok(Bound::from_owned_ptr(py, obj))
    }
}

fn make_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    let method = |name: &'static std::ffi::CStr,
                  function: ffi::PyCFunction,
                  flags: c_int,
                  doc: &'static std::ffi::CStr| ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: function,
        },
        ml_flags: flags,
        ml_doc: doc.as_ptr(),
    };
    // The type keeps a pointer to its method table: made once per process,
    // it lives as long as the process.
    let methods: &'static mut [ffi::PyMethodDef; 4] = Box::leak(Box::new([
        method(
            c"send",
            send_method,
            ffi::METH_O,
            c"send(value)\n--\n\nSends value into the awaited call, as coroutine.send does.",
        ),
        method(
            c"throw",
            throw_method,
            ffi::METH_VARARGS,
            c"throw(type, value=None, traceback=None)\n--\n\n\
Raises an exception inside the awaited call, as coroutine.throw does.",
        ),
        method(
            c"close",
            close_method,
            ffi::METH_NOARGS,
            c"close()\n--\n\nStops the awaited call; neutral for the breaker.",
        ),
        ffi::PyMethodDef::zeroed(),
    ]));
    let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
    let mut slots = vec![
        slot(ffi::Py_tp_new, refuse_new as *mut c_void),
        slot(ffi::Py_tp_dealloc, collect::dealloc as *mut c_void),
        slot(ffi::Py_tp_traverse, collect::traverse as *mut c_void),
        slot(ffi::Py_tp_clear, collect::clear as *mut c_void),
        slot(ffi::Py_tp_finalize, collect::finalize as *mut c_void),
        slot(ffi::Py_tp_iter, itself as *mut c_void),
        slot(ffi::Py_tp_iternext, iternext as *mut c_void),
        slot(ffi::Py_am_await, itself as *mut c_void),
        slot(ffi::Py_tp_methods, methods.as_mut_ptr().cast()),
        slot(ffi::Py_tp_doc, DOC.as_ptr() as *mut c_void),
    ];
    // Tracked by the cycle collector, as a coroutine is: a suspended call
    // can be part of a cycle (a task whose coroutine awaits it).
    let mut flags = ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_HAVE_GC;
    if py.version_info() >= (3, 10) {
        slots.push(slot(AM_SEND, am_send as *mut c_void));
        flags |= IMMUTABLE_TYPE | DISALLOW_INSTANTIATION;
    }
    slots.push(slot(0, ptr::null_mut()));
    let mut spec = ffi::PyType_Spec {
        // The type keeps this pointer too: a literal, it lives for ever.
        name: c"fusebox._fusebox.Execution".as_ptr(),
        basicsize: c_int::try_from(std::mem::size_of::<Object>())
            .expect("an Execution's size fits a C int"),
        itemsize: 0,
        flags: flags as c_uint,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: the GIL is held; the spec and its slots are valid for the
    // call, and what the type keeps pointers to is 'static (see above).
    let tp = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
    Ok(tp.cast_into::<PyType>()?.unbind())
}

/// Runs `body` on the execution inside `obj`, unless a step is already
/// running on it. An error or a panic is set as the Python exception and
/// `failed` returned.
///
/// # Safety
/// The GIL is held and `obj` is a live instance of the type.
unsafe fn with_execution<R>(
    obj: *mut ffi::PyObject,
    failed: R,
    body: impl FnOnce(&mut Execution) -> PyResult<R>,
) -> R {
    // SAFETY: `obj` is an `Object` (see above), kept alive by the caller.
    let object = unsafe { &*obj.cast::<Object>() };
    if !object.ready {
        raise(PyTypeError::new_err(
            "this Execution was not made by CircuitBreaker.execute",
        ));
        return failed;
    }
    if object.busy.replace(true) {
        raise(PyValueError::new_err(
            "circuit breaker call already executing",
        ));
        return failed;
    }
    // A chain of executions awaiting executions steps down through the C
    // stack: deep enough, it is a `RecursionError`, as for coroutines.
    // SAFETY: the GIL is held.
    if unsafe { ffi::Py_EnterRecursiveCall(c" in a circuit breaker call".as_ptr()) } != 0 {
        object.busy.set(false);
        return failed;
    }
    // SAFETY: `busy` makes this the only reference to the execution until it
    // is cleared below; the GIL orders every access to `busy`.
    let execution = unsafe { &mut **object.execution.get() };
    let result = catch_unwind(AssertUnwindSafe(|| body(execution)));
    // SAFETY: paired with the call above.
    unsafe { ffi::Py_LeaveRecursiveCall() };
    object.busy.set(false);
    let err = match result {
        Ok(Ok(value)) => return value,
        Ok(Err(err)) => err,
        Err(panic) => PanicException::new_err(panic_message(&*panic)),
    };
    raise(err);
    failed
}

/// Runs `f` attached through PyO3, where whatever it drops goes at once
/// (see `execution`). While the interpreter shuts down PyO3 will not attach
/// (it would panic); then `f` runs on the GIL the slot's caller holds, and
/// what it drops is left to PyO3's pool, which no longer matters.
fn attached<R>(f: impl FnOnce(Python<'_>) -> R) -> R {
    let mut f = Some(f);
    if let Some(Some(done)) = Python::try_attach(|py| f.take().map(|f| f(py))) {
        return done;
    }
    // SAFETY: every slot is called with the GIL held (module docs).
    let py = unsafe { Python::assume_attached() };
    match f.take() {
        Some(f) => f(py),
        None => unreachable!("`f` ran inside `try_attach`"),
    }
}

/// Sets `err` as the Python exception. Raising an error made lazily (most
/// of the module's own) lets go of objects, so it is done attached through
/// PyO3, where they go at once (see `execution`).
///
/// A `StopIteration` raised by the call (`func`, a fallback, `__await__`)
/// would read as a return to whoever drives the awaitable, or confuse
/// asyncio for good; it becomes a `RuntimeError`, as in a coroutine (PEP
/// 479).
fn raise(err: PyErr) {
    attached(|py| {
        if !err.is_instance_of::<PyStopIteration>(py) {
            return err.restore(py);
        }
        let raised = PyRuntimeError::new_err("coroutine raised StopIteration");
        raised.set_cause(py, Some(err));
        raised.restore(py);
    });
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        return (*message).to_owned();
    }
    match panic.downcast_ref::<String>() {
        Some(message) => message.clone(),
        None => "panic in a circuit breaker call".to_owned(),
    }
}

/// Raises `StopIteration(value)`: how a step's return is told to a caller
/// of `send`, `throw` or `__next__`. As CPython's generators do it: the
/// value alone, which before 3.12 is not even made into an exception when
/// the interpreter takes it back at once; an instance made first only for a
/// tuple or an exception, which would otherwise be taken for the
/// exception's arguments or for the exception itself.
fn set_stop_iteration(value: Bound<'_, PyAny>) {
    // SAFETY: the GIL is held (a `Bound` proves it); the arguments are live
    // objects and a null pointer ends the variadic call's.
    unsafe {
        let value = value.as_ptr();
        if ffi::PyTuple_Check(value) == 0 && ffi::PyExceptionInstance_Check(value) == 0 {
            ffi::PyErr_SetObject(ffi::PyExc_StopIteration, value);
            return;
        }
        let stop = ffi::PyObject_CallFunctionObjArgs(
            ffi::PyExc_StopIteration,
            value,
            ptr::null_mut::<ffi::PyObject>(),
        );
        if !stop.is_null() {
            ffi::PyErr_SetObject(ffi::PyExc_StopIteration, stop);
            ffi::Py_DECREF(stop);
        }
    }
}

/// A step's end as `send`, `throw` and `__next__` give it: the value
/// yielded, or null with `StopIteration(value)` raised for a return.
fn yielded_or_stop(stepped: Stepped<'_>) -> *mut ffi::PyObject {
    match stepped {
        Stepped::Yielded(value) => value.into_ptr(),
        Stepped::Returned(value) => {
            set_stop_iteration(value);
            ptr::null_mut()
        }
    }
}

/// `am_send`: one step, its return value handed back as a value.
unsafe extern "C" fn am_send(
    obj: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> c_int {
    // SAFETY: the interpreter calls slots with the GIL held, on a live
    // instance, a live `value` and a place for the result.
    unsafe {
        let py = Python::assume_attached();
        *result = ptr::null_mut();
        let value = Borrowed::from_ptr(py, value);
        with_execution(obj, PYGEN_ERROR, |execution| {
            Ok(match execution.send(py, &value)? {
                Stepped::Yielded(value) => {
                    *result = value.into_ptr();
                    PYGEN_NEXT
                }
                Stepped::Returned(value) => {
                    *result = value.into_ptr();
                    PYGEN_RETURN
                }
            })
        })
    }
}

/// `__next__`: a step with `None` sent. A return of `None` ends the
/// iteration without an exception, which the interpreter reads so.
unsafe extern "C" fn iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: see `am_send`.
    unsafe {
        let py = Python::assume_attached();
        with_execution(obj, ptr::null_mut(), |execution| {
            Ok(match execution.send(py, &PyNone::get(py))? {
                Stepped::Returned(value) if value.is_none() => ptr::null_mut(),
                stepped => yielded_or_stop(stepped),
            })
        })
    }
}

unsafe extern "C" fn send_method(
    obj: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see `am_send`; `METH_O` passes one live argument. Not a hot
    // path (`await` steps through `am_send` or `tp_iternext`), so attached
    // through PyO3, where whatever it drops goes at once.
    attached(|py| unsafe {
        let value = Borrowed::from_ptr(py, value);
        with_execution(obj, ptr::null_mut(), |execution| {
            Ok(yielded_or_stop(execution.send(py, &value)?))
        })
    })
}

unsafe extern "C" fn throw_method(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see `am_send`; `METH_VARARGS` passes a tuple. Attached, as
    // `send_method`.
    attached(|py| unsafe {
        let args = Borrowed::from_ptr(py, args).cast_unchecked::<PyTuple>();
        with_execution(obj, ptr::null_mut(), |execution| {
            let count = args.len();
            if !(1..=3).contains(&count) {
                return Err(PyTypeError::new_err(format!(
                    "throw expected 1 to 3 arguments, got {count}"
                )));
            }
            let kind = args.get_item(0)?;
            let value = if count > 1 {
                Some(args.get_item(1)?)
            } else {
                None
            };
            let traceback = if count > 2 {
                Some(args.get_item(2)?)
            } else {
                None
            };
            let stepped = execution.throw(py, &kind, value.as_ref(), traceback.as_ref())?;
            Ok(yielded_or_stop(stepped))
        })
    })
}

unsafe extern "C" fn close_method(
    obj: *mut ffi::PyObject,
    _no_args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see `am_send`. Attached, as `send_method`.
    attached(|py| unsafe {
        with_execution(obj, ptr::null_mut(), |execution| {
            execution.close(py)?;
            Ok(py.None().into_ptr())
        })
    })
}

/// `__await__` and `__iter__`: the instance drives itself.
unsafe extern "C" fn itself(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held and `obj` is live.
    unsafe { ffi::Py_INCREF(obj) };
    obj
}

unsafe extern "C" fn refuse_new(
    _tp: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    raise(PyTypeError::new_err(
        "fusebox._fusebox.Execution cannot be created directly: \
         CircuitBreaker.execute makes one",
    ));
    ptr::null_mut()
}

mod collect;
