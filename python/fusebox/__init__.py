"""fusebox: a circuit breaker for Python on the Rust core of the ``fusebox``
crate — one state machine for Rust, Python, the command line and the
shared stores.

>>> from fusebox import CircuitBreaker, CircuitState
>>> cb = CircuitBreaker("s3_upload", failure_threshold=5, recovery_timeout=30.0)
>>> cb.call(lambda: 42)
42
>>> cb.state
<CircuitState.CLOSED: 'closed'>

See ``CircuitBreaker`` for the settings and the ways to call through it;
``circuit_breaker`` / ``get_breaker`` / ``load_config`` for named breakers
from a YAML or TOML file; ``retry`` for retries that stop when the circuit
opens. Transitions are logged at INFO on logger ``fusebox``.
"""

from ._types import CircuitOpenError, CircuitState, Transition
from ._breaker import CircuitBreaker
from ._registry import circuit_breaker, get_breaker, load_config
from ._retry import retry
from . import _fusebox

CircuitOpenException = CircuitOpenError
"""The same class as ``CircuitOpenError``, under the name other breaker libraries use."""
CircuitBreakerOpenError = CircuitOpenError
"""The same class as ``CircuitOpenError``, under the name other breaker libraries use."""
CircuitBreakerOpenException = CircuitOpenError
"""The same class as ``CircuitOpenError``, under the name other breaker libraries use."""

Permit = _fusebox.Permit
ManualClock = _fusebox.ManualClock

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "CircuitOpenError",
    "CircuitOpenException",
    "CircuitBreakerOpenError",
    "CircuitBreakerOpenException",
    "Transition",
    "Permit",
    "ManualClock",
    "circuit_breaker",
    "get_breaker",
    "load_config",
    "retry",
]

__version__ = "0.1.0"
