//! `fusebox._fusebox`: the extension module behind the Python package
//! `fusebox`.
//!
//! Only wrappers live here: every decision (admit, refuse, count, change
//! state) is made by the Rust core, the same `fusebox::CircuitBreaker` the
//! Rust crate and the command-line tool use. The pure-Python package
//! (`python/fusebox`) adds what must be Python: the `CircuitState` enum, the
//! exception class, decorators, context managers and `retry`.
//!
//! * `breaker`: `CircuitBreaker`, its settings, state and manual control.
//! * `call`: the sync call path, one method that acquires, calls, records.
//! * `execution`: what awaiting `execute` (or `call` on an `async`
//!   function) does, written in Rust so an async call costs no Python frame;
//!   `awaitable`: its Python type, made by hand to fill the `am_send` slot.
//! * `guarded`: the callable `@cb` returns, written in Rust for the same reason.
//! * `permit`: permits held by a `with` block or by the calling thread
//!   between `allow_request()` and `record_*()`.
//! * `clock`: `ManualClock`, for tests that move time by hand.
//! * `config`: `load_config`, a file read by the core's `fusebox::Config`.
//! * `args`: checks of Python arguments, with errors naming the argument.
//! * `errors`: the one place Rust errors become Python exceptions.
//! * `python`: the Python objects the module hands out (states, the
//!   exception class, the transition announcer), imported once.
//! * `send`: one step of an awaitable through `PyIter_Send` (3.10+), with
//!   no `StopIteration` per awaited call.
//! * `log_bridge`: the core's warnings (a store that cannot be reached) as
//!   records of the `fusebox` logger.
//! * `shutdown`: calls into Python from threads Rust started, which stop
//!   before the interpreter finalizes.
//!
//! The wheel is built with `panic = "abort"` (the workspace's `python`
//! profile): a thread that CPython ends with `pthread_exit` at interpreter
//! exit must meet no frame that catches or cleans up after an unwind. So a
//! panic here, which would be a defect, ends the process rather than raising
//! `PanicException`; nothing relies on catching one.

mod args;
mod awaitable;
mod breaker;
mod call;
mod clock;
mod config;
mod errors;
mod execution;
mod guarded;
mod log_bridge;
mod permit;
mod python;
mod send;
mod shutdown;

use pyo3::prelude::*;

/// A store URL as messages show it, its password replaced by `***`: the
/// stores' own rule (`fusebox_stores::redact_url`), so Python's messages
/// and Rust's read alike.
#[pyfunction]
fn redact_url(url: &str) -> String {
    fusebox_stores::redact_url(url)
}

/// The extension module `fusebox._fusebox`.
#[pymodule]
fn _fusebox(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<breaker::CircuitBreaker>()?;
    module.add("Execution", awaitable::type_object(module.py())?)?;
    module.add_class::<permit::Permit>()?;
    module.add_class::<guarded::Guarded>()?;
    module.add_class::<config::LoadedConfig>()?;
    module.add_class::<clock::ManualClock>()?;
    module.add_function(wrap_pyfunction!(config::load_config, module)?)?;
    module.add_function(wrap_pyfunction!(redact_url, module)?)?;
    log_bridge::install();
    let py = module.py();
    let before_exit = wrap_pyfunction!(shutdown::before_exit, module)?;
    py.import("atexit")?
        .call_method1("register", (before_exit,))?;
    let after_fork = wrap_pyfunction!(shutdown::after_fork_in_child, module)?;
    let hooks = pyo3::types::PyDict::new(py);
    hooks.set_item("after_in_child", after_fork)?;
    py.import("os")?
        .call_method("register_at_fork", (), Some(&hooks))?;
    // No thread of fusebox's own in a Python process: CPython warns on
    // `os.fork()` when there is one, and a Python rejection (an exception)
    // costs far more than reading the coarse clock the thread would cache.
    fusebox::Clock::forbid_background_thread();
    Ok(())
}
