//! Permits outside the one-method call path.
//!
//! * [`Permit`]: leave to run one call, held by `with cb:` / `async with
//!   cb:` and by `retry`, settled with the exception the block raised.
//! * Thread-held permits: `allow_request()` takes a permit held for the
//!   calling thread, which the same thread's next `record_success()` or
//!   `record_failure()` settles (the most recent first, when one thread
//!   holds several). A `record_*` with no permit held is an outcome of the
//!   current generation: it is reported on a permit taken for it, so it
//!   counts only where a call could have run (closed, or a free half-open
//!   trial slot). A permit still held when its thread ends is cancelled.

use std::cell::RefCell;

use fusebox::{Outcome, OwnedPermit};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::breaker::CircuitBreaker;

/// Leave to run one call through a breaker; settle it once.
#[pyclass(module = "fusebox._fusebox")]
pub(crate) struct Permit {
    breaker: Py<CircuitBreaker>,
    permit: Option<OwnedPermit>,
}

impl Drop for Permit {
    /// An unsettled permit is let go without the GIL: it may be the
    /// breaker's last handle, which synchronises a fleet-mode breaker (see
    /// `CircuitBreaker`'s `Drop`), or a trial call to record in a store.
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            crate::shutdown::drop_detached(permit);
        }
    }
}

/// Takes a permit, or raises `CircuitOpenError`.
pub(crate) fn acquire(breaker: &Bound<'_, CircuitBreaker>) -> PyResult<Permit> {
    let py = breaker.py();
    let this = breaker.get();
    match this.take_permit(py) {
        Ok(permit) => Ok(Permit {
            breaker: breaker.clone().unbind(),
            permit: Some(permit),
        }),
        Err(refusal) => Err(this.refused(py, &refusal)),
    }
}

impl Permit {
    fn finish(&mut self, py: Python<'_>, outcome: Option<Outcome>) -> PyResult<()> {
        let permit = self
            .permit
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this permit was already settled"))?;
        self.breaker.bind(py).get().settle(py, permit, outcome);
        Ok(())
    }
}

#[pymethods]
impl Permit {
    /// Settles the permit by how the call ended: `None` for a return, else
    /// the exception it raised (ignored if excluded, a failure if an
    /// `Exception`, cancelled otherwise).
    #[pyo3(signature = (error=None))]
    fn settle(&mut self, py: Python<'_>, error: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let outcome = match error.filter(|e| !e.is_none()) {
            None => Some(Outcome::Success),
            Some(error) => {
                let err = PyErr::from_value(error.clone());
                self.breaker.bind(py).get().outcome_of(py, &err)
            }
        };
        self.finish(py, outcome)
    }

    /// The call succeeded.
    fn success(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, Some(Outcome::Success))
    }

    /// The call failed.
    fn failure(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, Some(Outcome::Failure))
    }

    /// The call's outcome says nothing about the dependency.
    fn ignore(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, Some(Outcome::Ignored))
    }

    /// The call was abandoned: neutral, a half-open trial slot is freed.
    fn cancel(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, None)
    }

    /// Whether the permit is still to be settled.
    #[getter]
    fn pending(&self) -> bool {
        self.permit.is_some()
    }
}

thread_local! {
    /// Permits taken by `allow_request()` on this thread, with the id of
    /// their breaker, oldest first.
    static HELD: RefCell<Vec<(u64, OwnedPermit)>> = const { RefCell::new(Vec::new()) };
}

/// `allow_request()`: takes a permit held for the calling thread.
pub(crate) fn allow_request(breaker: &Bound<'_, CircuitBreaker>) -> bool {
    let this = breaker.get();
    match this.take_permit(breaker.py()) {
        Ok(permit) => {
            HELD.with(|held| held.borrow_mut().push((this.id, permit)));
            true
        }
        Err(_) => false,
    }
}

/// `record_success()` / `record_failure()`: settles the calling thread's
/// most recent permit of this breaker, or reports on a permit taken now.
pub(crate) fn record(breaker: &Bound<'_, CircuitBreaker>, outcome: Outcome) {
    let py = breaker.py();
    let this = breaker.get();
    let held = HELD.with(|held| {
        let mut held = held.borrow_mut();
        let index = held.iter().rposition(|(id, _)| *id == this.id)?;
        Some(held.remove(index).1)
    });
    let permit = match held {
        Some(permit) => permit,
        None => match this.take_permit(py) {
            Ok(permit) => permit,
            // No call could run now, so there is no outcome to count.
            Err(_) => return,
        },
    };
    this.settle(py, permit, Some(outcome));
}
