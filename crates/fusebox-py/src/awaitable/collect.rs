//! How an awaitable ends when nobody awaits it to the end: the cycle
//! collector's slots (`tp_traverse`, `tp_finalize`, `tp_clear`) and
//! `tp_dealloc`. An unfinished call let go of is cancelled (neutral), as a
//! coroutine closed unfinished is.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;

use super::{attached, with_execution, Object};
use crate::execution::Execution;

/// `tp_traverse`: what the execution holds, for the cycle collector.
pub(super) unsafe extern "C" fn traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: the collector calls this with the GIL held on a live instance.
    // While a step runs (`busy`), the step owns the execution: it is not
    // read, and nothing is reported, which only keeps the objects alive; the
    // instance is reachable from the step's caller anyway.
    unsafe {
        let object = &*obj.cast::<Object>();
        if !object.ready || object.busy.get() {
            return 0;
        }
        let execution = &**object.execution.get();
        execution.visit_objects(|held| visit(held, arg))
    }
}

/// `tp_finalize`: run by the cycle collector on an instance in a cycle
/// before anything in it is cleared, as a coroutine's closes it: a call
/// still running is closed (neutral). Without it, a finalizer elsewhere in
/// the cycle could keep the instance alive, its trial permit held, around
/// an awaited coroutine the collector had closed.
pub(super) unsafe extern "C" fn finalize(obj: *mut ffi::PyObject) {
    // SAFETY: the collector calls this with the GIL held on a live instance.
    unsafe {
        let object = &*obj.cast::<Object>();
        if !object.ready || object.busy.get() || (*object.execution.get()).is_finished() {
            return;
        }
        // A finalizer reports its own errors as unraisable.
        keeping_the_raised_exception(|| {
            let closed = with_execution(obj, false, |execution| {
                attached(|py| execution.close(py)).map(|()| true)
            });
            if !closed {
                ffi::PyErr_WriteUnraisable(obj);
            }
        });
    }
}

/// `tp_clear`: the cycle collector breaks a cycle through the execution,
/// which ends as a cancelled call (neutral).
pub(super) unsafe extern "C" fn clear(obj: *mut ffi::PyObject) -> c_int {
    // SAFETY: as `traverse`; outside a step the execution is not borrowed.
    unsafe {
        let object = &*obj.cast::<Object>();
        if !object.ready || object.busy.replace(true) {
            return 0;
        }
        let execution = &mut **object.execution.get();
        let _ = catch_unwind(AssertUnwindSafe(|| {
            attached(|py| execution.cancel(py));
        }));
        object.busy.set(false);
        0
    }
}

pub(super) unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: the interpreter calls this with the GIL held once the last
    // reference is gone, so no step is running and the execution, written
    // by `new`, is taken once. The memory came from `PyType_GenericAlloc`
    // for a collected type, which `PyObject_GC_Del` returns once untracked;
    // an instance of a heap type holds a reference to its type.
    unsafe {
        ffi::PyObject_GC_UnTrack(obj.cast());
        let py = Python::assume_attached();
        let tp = ffi::Py_TYPE(obj);
        let object = obj.cast::<Object>();
        let execution = (*object)
            .ready
            .then(|| ManuallyDrop::take(&mut *(*object).execution.get()));
        ffi::PyObject_GC_Del(obj.cast());
        ffi::Py_DECREF(tp.cast());
        let Some(execution) = execution else {
            return;
        };
        if execution.is_finished() {
            // Only references left: no execution of its own to let go of.
            execution.release(py);
            return;
        }
        // Letting go of an unfinished call may run Python code (the
        // coroutine's `finally`).
        keeping_the_raised_exception(|| release_in_turn(execution));
    }
}

/// Runs `f`, which may run Python code, and leaves the exception being
/// raised (if any) as it found it, as finalizers and deallocators must.
///
/// # Safety
/// The GIL is held.
unsafe fn keeping_the_raised_exception(f: impl FnOnce()) {
    let (mut kind, mut value, mut traceback) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // SAFETY: the GIL is held; what is fetched is handed back unchanged.
    unsafe { ffi::PyErr_Fetch(&mut kind, &mut value, &mut traceback) };
    f();
    // SAFETY: as above.
    unsafe { ffi::PyErr_Restore(kind, value, traceback) };
}

/// How many unfinished executions may be let go of one inside another on
/// the stack: CPython's trashcan allows its containers as many.
const NESTED: usize = 50;

thread_local! {
    /// How many unfinished executions this thread is letting go of, one
    /// inside another.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Those let go of deeper than `NESTED`: the outermost lets go of them
    /// in turn, so freeing a chain of calls awaiting calls takes bounded
    /// stack, as CPython's trashcan does for its own containers.
    static DEFERRED: RefCell<Vec<Execution>> = const { RefCell::new(Vec::new()) };
}

/// Lets go of an unfinished execution, attached through PyO3 (it may make
/// and drop errors: see `execution`): at once, unless `NESTED` others are
/// being let go of around it on this thread.
fn release_in_turn(execution: Execution) {
    let depth = DEPTH.get();
    if depth >= NESTED {
        DEFERRED.with_borrow_mut(|deferred| deferred.push(execution));
        return;
    }
    release_nested(depth, execution);
    if depth > 0 {
        return;
    }
    while let Some(deferred) = DEFERRED.with_borrow_mut(Vec::pop) {
        release_nested(0, deferred);
    }
}

fn release_nested(depth: usize, execution: Execution) {
    DEPTH.set(depth + 1);
    // A panic here has nobody to be reported to; the rest go on.
    let _ = catch_unwind(AssertUnwindSafe(|| attached(|py| execution.release(py))));
    DEPTH.set(depth);
}
