"""The Python-side types the extension hands out: ``CircuitState``,
``CircuitOpenError``, ``Transition``, and ``announce``, which the core's
transition listener calls to log a transition and run the callbacks."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, List, Optional

__all__ = ["CircuitState", "CircuitOpenError", "Transition"]


class CircuitState(str, enum.Enum):
    """Where a breaker is in its life cycle.

    The values are the lower-case names the Rust core, the logs and the
    command-line tool use; a member also compares equal to its value
    (``CircuitState.OPEN == "open"``).
    """

    CLOSED = "closed"
    """Calls pass; failures are counted."""
    OPEN = "open"
    """Calls are refused until the recovery timeout has passed."""
    HALF_OPEN = "half_open"
    """A limited number of trial calls pass; the rest are refused."""
    FORCED_OPEN = "forced_open"
    """Every call is refused until ``reset()``."""
    DISABLED = "disabled"
    """Every call passes and is counted; the state never changes by itself."""

    def __str__(self) -> str:
        return self.value


class CircuitOpenError(Exception):
    """A call the breaker refused without running it.

    Attributes: ``name`` (also ``operation_name``), the breaker's name;
    ``state``, the ``CircuitState`` that refused; ``retry_after``, seconds
    until a call may be admitted, or None when unknown (forced open).

    Also importable as ``CircuitOpenException`` and
    ``CircuitBreakerOpenError``: one class under the names existing code uses.
    The attributes are read from the arguments, so
    ``CircuitOpenException(circuit.operation_name, circuit.state)`` works.
    """

    if TYPE_CHECKING:

        def __init__(
            self,
            name: str,
            state: CircuitState | str = CircuitState.OPEN,
            retry_after: Optional[float] = None,
        ) -> None: ...

    @property
    def name(self) -> str:
        """The name of the breaker that refused the call."""
        return str(self.args[0]) if self.args else ""

    @property
    def operation_name(self) -> str:
        """The name of the breaker that refused the call."""
        return self.name

    @property
    def state(self) -> CircuitState:
        """The state that refused the call."""
        if len(self.args) > 1:
            try:
                return CircuitState(self.args[1])
            except ValueError:
                pass
        return CircuitState.OPEN

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds until a call may be admitted; None when unknown."""
        if len(self.args) > 2 and self.args[2] is not None:
            return float(self.args[2])
        return None

    def __str__(self) -> str:
        name, state, after = self.name, self.state, self.retry_after
        if state is CircuitState.FORCED_OPEN:
            return f"circuit {name!r} is forced open; reset it to allow calls"
        if state is CircuitState.HALF_OPEN:
            tail = f"retry in {after:.1f}s" if after is not None else "retry shortly"
            return f"circuit {name!r} is half-open and all its trial calls are in flight; {tail}"
        if after is not None:
            return f"circuit {name!r} is {state.value}; retry in {after:.1f}s"
        return f"circuit {name!r} is {state.value}"


@dataclass(frozen=True)
class Transition:
    """One change of state, as given to ``on_transition`` callbacks."""

    name: str
    """The breaker's name."""
    from_state: CircuitState
    """The state left."""
    to_state: CircuitState
    """The state entered."""
    reason: str
    """What caused it, e.g. ``"5 consecutive failures"``."""
    generation: int
    """The generation that starts with this transition."""
    at: float
    """When it happened, a ``time.time()`` timestamp."""


_logger = logging.getLogger("fusebox")


def announce(
    name: str,
    from_state: CircuitState,
    to_state: CircuitState,
    reason: str,
    generation: int,
    at: float,
    callbacks: List[Callable[[Transition], Any]],
) -> None:
    """Logs one transition at INFO on logger ``fusebox`` and runs the
    breaker's callbacks; a failing callback is logged, never raised into the
    call that caused the transition."""
    _logger.info(
        "circuit %r %s -> %s: %s",
        name,
        from_state.value,
        to_state.value,
        reason,
        extra={
            "circuit": name,
            "from_state": from_state.value,
            "to_state": to_state.value,
            "reason": reason,
            "generation": generation,
        },
    )
    if not callbacks:
        return
    transition = Transition(name, from_state, to_state, reason, generation, at)
    for callback in list(callbacks):
        try:
            callback(transition)
        except Exception:
            _logger.exception("on_transition callback %r of circuit %r failed", callback, name)
