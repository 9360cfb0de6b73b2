"""Bad arguments raise ValueError / TypeError naming the argument."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from fusebox import CircuitBreaker


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"failure_threshold": 0}, ValueError, "failure_threshold"),
        ({"failure_threshold": -3}, ValueError, "failure_threshold"),
        ({"failure_threshold": 2**40}, ValueError, "failure_threshold"),
        ({"failure_threshold": 2.5}, TypeError, "failure_threshold"),
        ({"failure_threshold": "5"}, TypeError, "failure_threshold"),
        ({"failure_threshold": True}, TypeError, "failure_threshold"),
        ({"success_threshold": 0}, ValueError, "success_threshold"),
        ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls"),
        ({"half_open_max_calls": 10**6}, ValueError, "half_open_max_calls"),
        ({"recovery_timeout": 0}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": -1.0}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": float("nan")}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": float("inf")}, ValueError, "recovery_timeout"),
        ({"recovery_timeout": "30s"}, TypeError, "recovery_timeout"),
        ({"reset_timeout": -1}, ValueError, "reset_timeout"),
        ({"recovery_timeout": 1.0, "reset_timeout": 1.0}, TypeError, "reset_timeout"),
        ({"probe_timeout": 0.0}, ValueError, "probe_timeout"),
        ({"exclude": (KeyError, 3)}, TypeError, "exclude"),
        ({"exclude": "KeyError"}, TypeError, "exclude"),
        ({"exclude": 5}, TypeError, "exclude"),
        ({"fallback": "default"}, TypeError, "fallback"),
        ({"store": "ftp://host/x"}, ValueError, "store"),
        ({"store": "sqlite:"}, ValueError, "store"),
        ({"store": 5}, TypeError, "store"),
        ({"fail_closed": "yes"}, TypeError, "fail_closed"),
        ({"clock": "now"}, TypeError, "clock"),
    ],
)
def test_bad_settings(kwargs: Dict[str, Any], error: type, word: str) -> None:
    with pytest.raises(error, match=word):
        CircuitBreaker("checked", **kwargs)


@pytest.mark.parametrize("bad", [5, b"bytes", ""])
def test_bad_names(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="name"):
        CircuitBreaker(bad)


def test_non_callables_are_refused_naming_the_argument() -> None:
    cb = CircuitBreaker("callables")
    with pytest.raises(TypeError, match="func"):
        cb.call(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="func"):
        cb.execute(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="func"):
        cb(3)  # type: ignore[type-var]
    assert cb.metrics()["rejections"] == 0 and cb.metrics()["successes"] == 0


def test_a_breaker_in_a_store_needs_a_name(tmp_path: Any) -> None:
    # A generated name would make unrelated programs share one state.
    with pytest.raises(ValueError, match="name"):
        CircuitBreaker(store=f"sqlite:///{tmp_path}/state.db")
    CircuitBreaker()  # in memory, a name is optional
