"""The awaitable `execute` returns, as a Python object: its type, misuse,
re-entry, and that it lets go of what it holds as soon as it is done."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import weakref
from typing import Any, List

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitState


class Down(Exception):
    pass


class Suspend:
    """Yields once to whoever drives the await, then returns `value`."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self):  # type: ignore[no-untyped-def]
        yield None
        return self.value


class Job:
    """An async callable whose instances can be watched with weak references."""

    def __init__(self) -> None:
        self.finally_ran = False

    async def __call__(self) -> object:
        try:
            await Suspend(None)
            return Result()
        finally:
            self.finally_ran = True


class Result:
    pass


def test_the_type_is_a_coroutine_that_cannot_be_made_directly(name: str) -> None:
    cb = CircuitBreaker(name)
    pending = cb.execute(Suspend(1))
    kind = type(pending)
    assert kind is fusebox._fusebox.Execution
    assert isinstance(pending, collections.abc.Coroutine)
    assert asyncio.iscoroutine(pending)
    with pytest.raises(TypeError, match="cannot be created directly"):
        kind()
    pending.close()


def test_a_step_that_reaches_its_own_execution_again_is_refused(name: str) -> None:
    cb = CircuitBreaker(name)
    seen: List[BaseException] = []
    pending: Any = None

    async def reenter() -> int:
        try:
            pending.send(None)
        except ValueError as error:
            seen.append(error)
        return 5

    pending = cb.execute(reenter)
    with pytest.raises(StopIteration) as returned:
        pending.send(None)
    assert returned.value.value == 5
    assert len(seen) == 1 and "already executing" in str(seen[0])
    assert cb.metrics()["successes"] == 1


def test_throw_takes_one_to_three_arguments(name: str) -> None:
    cb = CircuitBreaker(name)
    pending = cb.execute(Suspend(1))
    assert pending.send(None) is None
    with pytest.raises(TypeError, match="got 0"):
        pending.throw()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="got 4"):
        pending.throw(Down, Down("x"), None, None)  # type: ignore[call-arg]
    with pytest.raises(Down, match="thrown"):
        pending.throw(Down("thrown"))
    assert cb.metrics()["failures"] == 1


def test_returned_tuples_and_exceptions_come_back_whole_by_hand(name: str) -> None:
    cb = CircuitBreaker(name)
    for value in ((1, 2), (), StopIteration(3), None):
        pending = cb.execute(Suspend(value))
        assert pending.send(None) is None
        with pytest.raises(StopIteration) as returned:
            pending.send(None)
        assert returned.value.value is value


@pytest.mark.asyncio
async def test_what_a_finished_call_held_is_let_go_at_once(name: str) -> None:
    cb = CircuitBreaker(name)
    job = Job()
    result = await cb.execute(job)
    watched = [weakref.ref(job), weakref.ref(result)]
    assert job.finally_ran
    del job, result
    # No fusebox call in between: nothing is left for a later one to free.
    assert [ref() for ref in watched] == [None, None]

    def plain() -> Result:
        return Result()

    result = await cb.execute(plain)  # a plain value: finished at once
    watched = [weakref.ref(result)]
    del result

    async def failing() -> None:
        raise Down("down")

    try:
        await cb.execute(failing)
    except Down as error:
        watched.append(weakref.ref(error))
    assert [ref() for ref in watched] == [None, None]
    assert cb.metrics()["failures"] == 1


def test_an_abandoned_call_is_let_go_at_once_and_frees_its_trial_slot(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=10.0, clock=clock)
    cb.trip()
    clock.advance(10.0)
    assert cb.state is CircuitState.HALF_OPEN
    job = Job()
    pending = cb.execute(job)
    assert pending.send(None) is None  # the trial call is running, suspended
    watched = weakref.ref(job)
    del job, pending
    assert watched() is None
    # Abandoned is neutral: the slot is free for the next trial call.
    assert cb.acquire() is not None
    assert cb.metrics()["failures"] == 0


def test_an_execution_never_awaited_holds_nothing_after_it_is_dropped(name: str) -> None:
    cb = CircuitBreaker(name)
    job = Job()
    watched = weakref.ref(job)
    pending = cb.execute(job)
    del job
    assert watched() is not None
    del pending
    assert watched() is None
    assert cb.metrics()["successes"] == 0


def test_a_suspended_call_in_a_reference_cycle_is_collected(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=10.0, clock=clock)
    cb.trip()
    clock.advance(10.0)
    job = Job()
    pending = cb.execute(job)
    assert pending.send(None) is None  # the trial call is running, suspended
    # The cycle: the awaitable -> the job's coroutine -> the job -> the awaitable.
    job.cycle = pending  # type: ignore[attr-defined]
    watched = weakref.ref(job)
    del job, pending
    assert watched() is not None
    gc.collect()
    assert watched() is None
    # Collected is abandoned, which is neutral: the slot is free again.
    assert cb.acquire() is not None
    assert cb.metrics()["failures"] == 0
