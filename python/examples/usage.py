"""A usage example of every public name, checked by `mypy --strict` (see
scripts/test_python.sh) and run by the test suite."""

from __future__ import annotations

import asyncio
import logging
from typing import Dict, List

import fusebox
from fusebox import (
    CircuitBreaker,
    CircuitBreakerOpenError,
    CircuitOpenError,
    CircuitOpenException,
    CircuitState,
    Transition,
    circuit_breaker,
    get_breaker,
    retry,
)

logging.basicConfig(level=logging.INFO)

cb = CircuitBreaker(
    "s3_upload",
    failure_threshold=5,
    recovery_timeout=30.0,
    success_threshold=1,
    half_open_max_calls=1,
    exclude=(KeyError,),
    store=None,
)


def upload(key: str, data: bytes) -> str:
    return key


async def fetch(key: str) -> Dict[str, str]:
    await asyncio.sleep(0)
    return {"key": key}


@cb
def decorated(key: str) -> str:
    return key


@cb
async def decorated_async(key: str) -> str:
    return key


@circuit_breaker(name="api_calls", failure_threshold=3, fallback=lambda: "cached")
def api() -> str:
    return "live"


@retry(max_attempts=5, base_delay=0.01, max_delay=0.1, jitter=True, breaker=cb)
def flaky_upload() -> str:
    return "uploaded"


transitions: List[Transition] = []


@cb.on_transition
def remember(transition: Transition) -> None:
    transitions.append(transition)


def sync_usage() -> None:
    key: str = cb.call(upload, "a", b"data")
    state: CircuitState = cb.state
    count: int = cb.failure_count
    last: float | None = cb.last_failure_time
    metrics: Dict[str, object] = cb.metrics()
    if cb.allow_request():
        cb.record_success()
    with cb:
        pass
    assert decorated("k") == "k" and api() == "live" and flaky_upload() == "uploaded"
    assert get_breaker("api_calls") is get_breaker("api_calls")
    cb.trip()
    try:
        cb.call(upload, "b", b"")
    except CircuitOpenError as error:
        name: str = error.name
        operation: str = error.operation_name
        refused_in: CircuitState = error.state
        after: float | None = error.retry_after
        print(name, operation, refused_in, after)
    assert CircuitOpenException is CircuitBreakerOpenError is CircuitOpenError
    cb.reset()
    cb.force_open()
    cb.disable()
    cb.reset()
    print(key, state, count, last, metrics["state"])


async def async_usage() -> None:
    value: Dict[str, str] = await cb.execute(fetch, "k")
    made: Dict[str, str] = await cb.execute(fetch("made"))
    plain: int = await cb.execute(len, "abc")
    print(made, plain)
    same: str = await decorated_async("k")
    async with cb:
        await asyncio.sleep(0)
    print(value, same)


def main() -> None:
    sync_usage()
    asyncio.run(async_usage())
    clock = fusebox.ManualClock()
    timed = CircuitBreaker("timed", failure_threshold=1, recovery_timeout=1.0, clock=clock)
    timed.trip()
    clock.advance(1.0)
    assert timed.state is CircuitState.HALF_OPEN
    print("transitions:", [(t.from_state.value, t.to_state.value) for t in transitions])


if __name__ == "__main__":
    main()
