//! `ManualClock`: time moved by hand, so tests of code that uses breakers
//! need not sleep. Clones share one time, as in the Rust crate.

use pyo3::prelude::*;

use crate::args;

/// A clock that stands still until `advance(seconds)` is called; pass it as
/// `CircuitBreaker(..., clock=clock)`.
#[pyclass(module = "fusebox._fusebox", frozen)]
pub(crate) struct ManualClock {
    pub(crate) inner: fusebox::ManualClock,
}

#[pymethods]
impl ManualClock {
    #[new]
    fn new() -> ManualClock {
        ManualClock {
            inner: fusebox::ManualClock::new(),
        }
    }

    /// Moves the time forward by `seconds` (a number greater than zero).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let by = args::seconds("seconds", seconds)?;
        self.inner.advance(by);
        Ok(())
    }

    /// Seconds advanced since the clock was made.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.inner.elapsed().as_secs_f64()
    }
}
