//! The Python objects the extension hands out, defined in the pure-Python
//! module `fusebox._types` and looked up once per interpreter.

use fusebox::State;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// What `fusebox._types` provides, in the order of [`State::ALL`] for states.
struct Handles {
    states: [Py<PyAny>; 5],
    open_error: Py<PyType>,
    announce: Py<PyAny>,
    coroutine: Py<PyType>,
    generator: Py<PyType>,
    /// `types.CoroutineType.send`, called unbound: no bound method per step.
    coroutine_send: Py<PyAny>,
    /// `type`'s own descriptors of `__mro__` and `__dict__`: read through
    /// them, a class's MRO and namespace are what `await` sees, whatever its
    /// metaclass defines.
    mro_of: Py<PyAny>,
    namespace_of: Py<PyAny>,
}

static HANDLES: PyOnceLock<Handles> = PyOnceLock::new();

fn handles(py: Python<'_>) -> PyResult<&Handles> {
    HANDLES.get_or_try_init(py, || {
        let types = py.import("fusebox._types")?;
        let enum_class = types.getattr("CircuitState")?;
        let member = |state: State| -> PyResult<Py<PyAny>> {
            Ok(enum_class.call1((state.as_str(),))?.unbind())
        };
        let coroutine = py
            .import("types")?
            .getattr("CoroutineType")?
            .cast_into::<PyType>()?;
        Ok(Handles {
            states: [
                member(State::ALL[0])?,
                member(State::ALL[1])?,
                member(State::ALL[2])?,
                member(State::ALL[3])?,
                member(State::ALL[4])?,
            ],
            open_error: types
                .getattr("CircuitOpenError")?
                .cast_into::<PyType>()?
                .unbind(),
            announce: types.getattr("announce")?.unbind(),
            coroutine_send: coroutine.getattr("send")?.unbind(),
            mro_of: type_descriptor(py, "__mro__")?,
            namespace_of: type_descriptor(py, "__dict__")?,
            generator: py
                .import("types")?
                .getattr("GeneratorType")?
                .cast_into::<PyType>()?
                .unbind(),
            coroutine: coroutine.unbind(),
        })
    })
}

/// Loads the handles now, so that a broken installation fails at import.
pub(crate) fn load(py: Python<'_>) -> PyResult<()> {
    handles(py).map(drop)
}

/// The `CircuitState` member of `state`.
pub(crate) fn state(py: Python<'_>, state: State) -> Py<PyAny> {
    let index = State::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or_default();
    match handles(py) {
        Ok(handles) => handles.states[index].clone_ref(py),
        // Unreachable after a successful import; the name is still right.
        Err(_) => pyo3::types::PyString::new(py, state.as_str())
            .into_any()
            .unbind(),
    }
}

/// The class `CircuitOpenError`.
pub(crate) fn open_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    Ok(handles(py)?.open_error.bind(py))
}

/// `fusebox._types.announce`, which logs a transition and runs callbacks.
pub(crate) fn announce(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    Ok(handles(py)?.announce.bind(py))
}

/// Whether `value` is a native coroutine (the result of an `async def`).
#[inline]
pub(crate) fn is_coroutine(value: &Bound<'_, PyAny>) -> bool {
    match handles(value.py()) {
        Ok(handles) => value.get_type().is(handles.coroutine.bind(value.py())),
        Err(_) => false,
    }
}

/// `CO_ITERABLE_COROUTINE`: the code flag `@types.coroutine` sets on a
/// generator function, whose generators may then be awaited.
const CO_ITERABLE_COROUTINE: i64 = 0x100;

/// Whether `value` is a generator that may be awaited, made by a function
/// decorated with `@types.coroutine` (asyncio's generator-based coroutines).
pub(crate) fn is_iterable_coroutine(value: &Bound<'_, PyAny>) -> bool {
    let py = value.py();
    let Ok(handles) = handles(py) else {
        return false;
    };
    if !value.get_type().is(handles.generator.bind(py)) {
        return false;
    }
    value
        .getattr(pyo3::intern!(py, "gi_code"))
        .and_then(|code| code.getattr(pyo3::intern!(py, "co_flags")))
        .and_then(|flags| flags.extract::<i64>())
        .is_ok_and(|flags| flags & CO_ITERABLE_COROUTINE != 0)
}

/// Whether `value` can be awaited: a coroutine, a generator-based one, or
/// an object whose class defines `__await__` other than as `None` (what
/// `inspect.isawaitable` answers). Looked up in the namespaces of the
/// classes of the MRO, read through `type`'s own descriptors, as
/// `collections.abc.Awaitable` does: no `__getattr__`, `__getattribute__`
/// or `__dict__` of an instance's or a metaclass's is run (`await` runs
/// none either).
pub(crate) fn is_awaitable(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if is_coroutine(value) || is_iterable_coroutine(value) {
        return Ok(true);
    }
    defines_await(&value.get_type())
}

/// Errors (a `RecursionError` deep in a chain of calls) are raised, not
/// taken for an answer.
fn defines_await(class: &Bound<'_, PyType>) -> PyResult<bool> {
    let py = class.py();
    let handles = handles(py)?;
    let get = pyo3::intern!(py, "__get__");
    let mro = handles.mro_of.bind(py).call_method1(get, (class,))?;
    let namespace_of = handles.namespace_of.bind(py);
    // The first class that names `__await__` decides; `None` there blocks
    // an inherited one, as `collections.abc.Awaitable` reads it. Asked with
    // `contains` first: a missing key must not make a `KeyError` (this runs
    // in the awaitable's slots, where a dropped error lingers).
    let name = pyo3::intern!(py, "__await__");
    for base in mro.cast_into::<pyo3::types::PyTuple>()?.iter() {
        let namespace = namespace_of.call_method1(get, (base,))?;
        if namespace.contains(name)? {
            return Ok(!namespace.get_item(name)?.is_none());
        }
    }
    Ok(false)
}

/// `type.__dict__[name]`, the descriptor `type` itself reads `name` with.
fn type_descriptor(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    Ok(py
        .get_type::<PyType>()
        .getattr("__dict__")?
        .get_item(name)?
        .unbind())
}

/// `coroutine.send(value)` for a native coroutine.
#[inline]
pub(crate) fn coroutine_send<'py>(
    coroutine: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = coroutine.py();
    handles(py)?
        .coroutine_send
        .bind(py)
        .call1((coroutine, value))
}
