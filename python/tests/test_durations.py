"""Every duration is accepted as seconds or as a `datetime.timedelta`, and a
bad one is refused with an error naming the parameter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitState, circuit_breaker, retry


def test_timedelta_settings_read_back_as_seconds(name: str) -> None:
    cb = CircuitBreaker(
        name, recovery_timeout=timedelta(minutes=2), probe_timeout=timedelta(milliseconds=1500)
    )
    assert cb.recovery_timeout == 120.0
    assert CircuitBreaker(f"{name}-alias", reset_timeout=timedelta(seconds=9)).recovery_timeout == 9.0


def test_a_timedelta_recovery_timeout_is_kept(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, recovery_timeout=timedelta(seconds=30), clock=clock)
    cb.trip()
    clock.advance(timedelta(seconds=29))
    assert cb.state is CircuitState.OPEN
    clock.advance(timedelta(seconds=1))
    assert cb.state is CircuitState.HALF_OPEN
    assert clock.elapsed == 30.0


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"recovery_timeout": timedelta(seconds=-1)}, "recovery_timeout"),
        ({"recovery_timeout": timedelta(0)}, "recovery_timeout"),
        ({"reset_timeout": timedelta(seconds=-5)}, "reset_timeout"),
        ({"probe_timeout": timedelta(0)}, "probe_timeout"),
        ({"recovery_timeout": timedelta.max}, "recovery_timeout"),
        ({"probe_timeout": timedelta(days=10**6)}, "probe_timeout"),
    ],
)
def test_bad_timedeltas_name_the_parameter(kwargs: Dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word) as refused:
        CircuitBreaker("checked", **kwargs)
    assert "timedelta" in str(refused.value)  # the value as it was given


def test_manual_clock_refuses_a_negative_timedelta(clock: fusebox.ManualClock) -> None:
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(timedelta(seconds=-1))
    assert clock.elapsed == 0.0


def test_the_decorator_takes_a_timedelta_and_compares_it_as_seconds(name: str) -> None:
    @circuit_breaker(name=name, recovery_timeout=timedelta(seconds=45))
    def first() -> int:
        return 1

    # The same setting again, in seconds: the same breaker, no conflict.
    @circuit_breaker(name=name, recovery_timeout=45)
    def second() -> int:
        return 2

    assert first() + second() == 3
    assert fusebox.get_breaker(name).recovery_timeout == 45.0
    with pytest.raises(ValueError, match="recovery_timeout"):
        circuit_breaker(name=name, recovery_timeout=timedelta(seconds=46))(first)


def test_retry_takes_timedelta_delays() -> None:
    attempts = []

    @retry(max_attempts=3, base_delay=timedelta(0), max_delay=timedelta(seconds=1), jitter=False)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("once more")
        return "done"

    assert flaky() == "done"
    assert len(attempts) == 3
    with pytest.raises(ValueError, match="base_delay"):
        retry(base_delay=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="max_delay"):
        retry(base_delay=timedelta(seconds=2), max_delay=timedelta(seconds=1))
    with pytest.raises(TypeError, match="max_delay"):
        retry(max_delay="1s")  # type: ignore[arg-type]
