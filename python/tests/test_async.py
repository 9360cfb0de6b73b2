"""SPEC 7 behaviour through the async paths: `execute`, `call` on an
`async def`, the decorator and `async with`; cancellation is neutral."""

from __future__ import annotations

import asyncio
import inspect
from typing import List

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitOpenError, CircuitState


class Down(Exception):
    pass


async def fail() -> None:
    await asyncio.sleep(0)
    raise Down("dependency down")


async def ok(value: int = 1) -> int:
    await asyncio.sleep(0)
    return value


async def trip(cb: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Down):
            await cb.execute(fail)


@pytest.mark.asyncio
async def test_execute_returns_the_value_with_arguments(name: str) -> None:
    cb = CircuitBreaker(name)
    assert await cb.execute(ok, 41) == 41
    assert await cb.execute(ok, value=7) == 7
    assert cb.metrics()["successes"] == 2


@pytest.mark.asyncio
async def test_execute_returns_tuples_and_none_unchanged(name: str) -> None:
    cb = CircuitBreaker(name)

    async def pair() -> tuple:
        return (1, 2)

    async def nothing() -> None:
        return None

    assert await cb.execute(pair) == (1, 2)
    assert await cb.execute(nothing) is None


@pytest.mark.asyncio
async def test_execute_accepts_a_sync_function(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)
    assert await cb.execute(lambda: 5) == 5

    def broken() -> None:
        raise Down()

    with pytest.raises(Down):
        await cb.execute(broken)
    assert cb.state is CircuitState.OPEN


@pytest.mark.asyncio
async def test_execute_does_nothing_until_awaited(name: str) -> None:
    cb = CircuitBreaker(name)
    ran: List[int] = []

    async def record() -> None:
        ran.append(1)

    pending = cb.execute(record)
    assert ran == [] and cb.metrics()["half_open_in_flight"] == 0
    await pending
    assert ran == [1]


@pytest.mark.asyncio
async def test_opens_and_refuses_without_running(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=2, recovery_timeout=3.0, clock=clock)
    await trip(cb, 2)
    assert cb.state is CircuitState.OPEN
    ran: List[int] = []

    async def record() -> None:
        ran.append(1)

    with pytest.raises(CircuitOpenError) as refused:
        await cb.execute(record)
    assert ran == []
    assert refused.value.retry_after == pytest.approx(3.0, abs=0.05)
    clock.advance(3.0)
    assert cb.state is CircuitState.HALF_OPEN
    assert await cb.execute(ok, 3) == 3
    assert cb.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_call_on_an_async_function_returns_an_awaitable(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)
    assert await cb.call(ok, 9) == 9
    with pytest.raises(Down):
        await cb.call(fail)
    assert cb.state is CircuitState.OPEN


@pytest.mark.asyncio
async def test_the_decorator_wraps_async_functions(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)

    @cb
    async def fetch(x: int) -> int:
        if x < 0:
            raise Down()
        return x

    assert fetch.__name__ == "fetch"
    assert asyncio.iscoroutinefunction(fetch)
    assert inspect.iscoroutinefunction(fetch)
    assert await fetch(2) == 2
    with pytest.raises(Down):
        await fetch(-1)
    with pytest.raises(CircuitOpenError):
        await fetch(2)


@pytest.mark.asyncio
async def test_async_with_counts_its_exception(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)
    async with cb:
        await asyncio.sleep(0)
    with pytest.raises(Down):
        async with cb:
            raise Down()
    with pytest.raises(CircuitOpenError):
        async with cb:
            pass


@pytest.mark.asyncio
async def test_async_with_blocks_of_concurrent_tasks_keep_their_own_permits(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, half_open_max_calls=2, recovery_timeout=1.0, clock=clock)
    cb.trip()
    clock.advance(1.0)
    release = asyncio.Event()

    async def probe(fails: bool) -> None:
        async with cb:
            await release.wait()
            if fails:
                raise Down()

    good = asyncio.ensure_future(probe(False))
    bad = asyncio.ensure_future(probe(True))
    await asyncio.sleep(0)
    assert cb.metrics()["half_open_in_flight"] == 2
    release.set()
    await good
    with pytest.raises(Down):
        await bad
    # The success closed the breaker; the failure belongs to an older generation.
    assert cb.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_a_cancelled_trial_call_frees_its_slot_and_counts_nothing(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, clock=clock)
    cb.trip()
    clock.advance(1.0)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(cb.execute(hang))
    await started.wait()
    assert cb.metrics()["half_open_in_flight"] == 1
    with pytest.raises(CircuitOpenError):
        await cb.execute(ok)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    m = cb.metrics()
    assert (m["half_open_in_flight"], m["cancelled"], m["failures"]) == (0, 1, 0)
    assert cb.state is CircuitState.HALF_OPEN
    assert await cb.execute(ok, 1) == 1
    assert cb.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_wait_for_timeout_is_neutral(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, clock=clock)

    async def slow() -> None:
        await asyncio.sleep(3600)

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(cb.execute(slow), timeout=0.01)
    assert cb.state is CircuitState.CLOSED
    assert cb.metrics()["cancelled"] == 1


@pytest.mark.asyncio
async def test_excluded_exceptions_are_ignored(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, exclude=KeyError)

    async def missing() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await cb.execute(missing)
    assert cb.state is CircuitState.CLOSED
    assert cb.metrics()["ignored"] == 1


@pytest.mark.asyncio
async def test_async_fallback_is_awaited(name: str) -> None:
    async def cached(key: str) -> str:
        await asyncio.sleep(0)
        return f"cached {key}"

    cb = CircuitBreaker(name, failure_threshold=1, fallback=cached)
    await trip(cb, 1)

    async def live(key: str) -> str:
        return f"live {key}"

    assert await cb.execute(live, "k") == "cached k"
    assert await cb.call(live, "k") == "cached k"


def test_asyncio_run_accepts_execute(name: str) -> None:
    cb = CircuitBreaker(name)
    assert asyncio.iscoroutine(cb.execute(ok, 4))
    assert asyncio.run(cb.execute(ok, 4)) == 4  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_an_awaitable_is_awaited_once(name: str) -> None:
    cb = CircuitBreaker(name)
    pending = cb.execute(ok, 1)
    assert await pending == 1
    with pytest.raises(RuntimeError):
        await pending


@pytest.mark.asyncio
async def test_gather_of_many_calls(name: str) -> None:
    cb = CircuitBreaker(name)
    results = await asyncio.gather(*(cb.execute(ok, i) for i in range(100)))
    assert results == list(range(100))
    assert cb.metrics()["successes"] == 100


@pytest.mark.asyncio
async def test_execute_accepts_a_coroutine_already_made(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)
    assert await cb.execute(ok(8)) == 8
    with pytest.raises(Down):
        await cb.execute(fail())
    assert cb.state is CircuitState.OPEN
    ran: List[int] = []

    async def record() -> None:
        ran.append(1)

    pending = record()
    with pytest.raises(CircuitOpenError):
        await cb.execute(pending)
    assert ran == [] and pending.cr_frame is None  # closed unrun: no "never awaited" warning
    made = ok(1)
    with pytest.raises(TypeError, match="func"):
        cb.execute(made, 2)  # type: ignore[call-overload]
    made.close()


class Ticks:
    """An awaitable that is not a coroutine: its `__await__` is a generator
    that yields once to the event loop, then returns `value`."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __await__(self):  # type: ignore[no-untyped-def]
        yield None
        return self.value


def test_execute_driven_by_hand_follows_the_coroutine_protocol(name: str) -> None:
    cb = CircuitBreaker(name)

    async def twice(value: int) -> int:
        return 2 * await Ticks(value)

    running = cb.execute(twice, 21)
    assert running.send(None) is None  # suspended at the yield
    with pytest.raises(StopIteration) as returned:
        running.send(None)
    assert returned.value.value == 42
    assert cb.metrics()["successes"] == 1

    suspended = cb.execute(Ticks(5))  # an awaitable given alone
    assert suspended.send(None) is None
    with pytest.raises(Down):
        suspended.throw(Down("while suspended"))
    assert cb.metrics()["failures"] == 1

    nothing = cb.execute(twice, 0)
    next(nothing)
    with pytest.raises(StopIteration) as returned:
        next(nothing)
    assert returned.value.value == 0
    assert cb.metrics()["successes"] == 2


@pytest.mark.asyncio
async def test_awaited_values_come_back_unchanged(name: str) -> None:
    cb = CircuitBreaker(name)
    marker = object()

    async def give(value: object) -> object:
        return value

    for value in (None, 0, (), (1, 2), StopIteration("a value"), marker):
        assert await cb.execute(give, value) is value
        assert await cb.execute(Ticks(7)) == 7
    assert cb.metrics()["successes"] == 12


@pytest.mark.asyncio
async def test_the_async_decorator_settles_as_execute_does(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = CircuitBreaker(
        name, failure_threshold=1, recovery_timeout=1.0, exclude=KeyError, clock=clock
    )
    started = asyncio.Event()

    @cb
    async def call(kind: str) -> str:
        if kind == "missing":
            raise KeyError(kind)
        if kind == "hang":
            started.set()
            await asyncio.sleep(3600)
        if kind == "down":
            raise Down(kind)
        return kind

    with pytest.raises(KeyError):
        await call("missing")
    assert (cb.metrics()["ignored"], cb.state) == (1, CircuitState.CLOSED)
    with pytest.raises(Down):
        await call("down")
    assert cb.state is CircuitState.OPEN
    clock.advance(1.0)
    # A trial call cancelled mid-way frees its slot and counts nothing.
    task = asyncio.ensure_future(call("hang"))
    await started.wait()
    assert cb.metrics()["half_open_in_flight"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    m = cb.metrics()
    assert (m["half_open_in_flight"], m["cancelled"], m["failures"]) == (0, 1, 1)
    # A coroutine closed before it finished is neutral too.
    closed = call("hang")
    started.clear()
    closed.send(None)
    closed.close()
    assert cb.metrics()["cancelled"] == 2
    assert await call("fine") == "fine"
    assert cb.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_the_async_decorator_answers_with_its_fallback(name: str) -> None:
    cb = fusebox.get_breaker(name)
    cb.trip()

    async def from_cache(key: str) -> str:
        return f"cached {key}"

    @fusebox.circuit_breaker(name=name, fallback=lambda key: f"default {key}")
    async def plain(key: str) -> str:
        return key

    @fusebox.circuit_breaker(name=name, fallback=from_cache)
    async def awaited(key: str) -> str:
        return key

    ran: List[str] = []

    @cb
    async def refused(key: str) -> str:
        ran.append(key)
        return key

    assert await plain("k") == "default k"
    assert await awaited("k") == "cached k"
    with pytest.raises(CircuitOpenError):
        await refused("k")
    assert ran == []
    assert plain.breaker is cb  # type: ignore[attr-defined]
