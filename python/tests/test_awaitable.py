"""The awaitable `execute` returns, as a Python object: its type, misuse,
re-entry, and that it lets go of what it holds as soon as it is done."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import subprocess
import sys
import types
import warnings
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
    with pytest.raises(TypeError, match="cannot be created directly|cannot create"):
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


def test_a_stop_iteration_from_the_call_is_a_runtime_error_as_in_a_coroutine(
    name: str,
) -> None:
    cb = CircuitBreaker(name, fallback=lambda: next(iter([])))

    def lookup() -> int:
        return next(iter([]))  # StopIteration escapes a sync function

    class Broken:
        def __await__(self):  # type: ignore[no-untyped-def]
            raise StopIteration(5)

    for func in (lookup, lambda: Broken()):
        with pytest.raises(RuntimeError, match="raised StopIteration") as raised:
            cb.execute(func).send(None)
        assert isinstance(raised.value.__cause__, StopIteration)
    assert cb.metrics()["failures"] == 1  # the call that raised; a broken awaitable is not run
    cb.force_open()
    with pytest.raises(RuntimeError, match="raised StopIteration"):
        cb.execute(lookup).send(None)  # the fallback raised it


def test_asyncio_gets_the_runtime_error_and_does_not_hang(tmp_path: Any) -> None:
    # Before, asyncio's task took the StopIteration for a bug of its own and
    # never finished: run in a child process, so a hang fails the test.
    script = tmp_path / "stop.py"
    script.write_text(
        "import asyncio, fusebox\n"
        "cb = fusebox.CircuitBreaker('stop')\n"
        "def lookup():\n"
        "    return next(iter([]))\n"
        "try:\n"
        "    asyncio.run(cb.execute(lookup))\n"
        "except RuntimeError as error:\n"
        "    print(type(error.__cause__).__name__, cb.metrics()['failures'])\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["StopIteration", "1"], done.stderr


class Countdown:
    """An awaitable whose iterator has `__next__` only: no `send`, no
    `throw`, like many written in C."""

    def __init__(self, steps: int, value: Any) -> None:
        self.steps, self.value = steps, value

    def __await__(self) -> "Countdown":
        return self

    def __iter__(self) -> "Countdown":
        return self

    def __next__(self) -> None:
        if self.steps == 0:
            raise StopIteration(self.value)
        self.steps -= 1
        return None


@pytest.mark.asyncio
async def test_an_iterator_with_next_only_is_awaited(name: str) -> None:
    cb = CircuitBreaker(name)
    assert await cb.execute(Countdown(2, 42)) == 42
    assert await cb.execute(lambda: Countdown(0, "now")) == "now"
    assert cb.metrics()["successes"] == 2


def test_a_throw_into_an_iterator_without_throw_is_raised_where_it_waits(name: str) -> None:
    cb = CircuitBreaker(name)
    pending = cb.execute(Countdown(3, 1))
    assert pending.send(None) is None
    with pytest.raises(asyncio.CancelledError):
        pending.throw(asyncio.CancelledError())
    failing = cb.execute(Countdown(3, 1))
    assert failing.send(None) is None
    with pytest.raises(Down):
        failing.throw(Down("at the await"))
    metrics = cb.metrics()
    assert (metrics["failures"], metrics["successes"]) == (1, 0)  # cancelled: neutral


def _thrown(awaitable: Any, started: bool, args: tuple) -> str:
    """What `throw(*args)` raised, told as its class, arguments and cause."""
    if started:
        awaitable.send(None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3-argument throw, 3.12+
            awaitable.throw(*args)
    except BaseException as error:  # noqa: B902 - any class is the point
        return f"{type(error).__name__}{error.args!r}"
    finally:
        awaitable.close()
    return "nothing raised"


@pytest.mark.parametrize("started", [False, True])
def test_throw_makes_its_exception_as_a_coroutine_does(name: str, started: bool) -> None:
    cb = CircuitBreaker(name, failure_threshold=1000)  # thrown failures count

    async def native() -> None:
        await Suspend(None)

    try:
        raise Down("for a traceback")
    except Down as caught:
        traceback = caught.__traceback__
    cases: List[tuple] = [
        (Down,),
        (Down, "message"),
        (Down, 5),
        (Down, ("a", "b")),
        (Down, Down("instance")),
        (KeyError, Down("instance of another class")),
        (Down("instance"),),
        (Down("a"), Down("b")),
        (Down, None, 5),
        (Down, None, traceback),
        (5,),
        ("text",),
    ]
    for args in cases:
        expected = _thrown(native(), started, args)
        assert _thrown(cb.execute(native), started, args) == expected, args


def test_an_execution_made_another_way_is_refused_not_read(name: str) -> None:
    kind = type(CircuitBreaker(name).execute(Suspend(1)))
    try:
        kind.__new__ = staticmethod(lambda cls: object.__new__(cls))  # type: ignore[assignment]
    except TypeError:
        return  # 3.10+: the type is immutable
    try:
        made = kind()
        with pytest.raises(TypeError, match="not made by"):
            made.send(None)
        with pytest.raises(TypeError, match="not made by"):
            made.close()
        del made  # freed without reading what was never written
    finally:
        del kind.__new__


@pytest.mark.asyncio
async def test_generator_based_coroutines_are_awaited(name: str) -> None:
    cb = CircuitBreaker(name)

    @types.coroutine
    def legacy(value: int):  # type: ignore[no-untyped-def]
        yield None
        return value

    assert await cb.execute(legacy, 3) == 3
    assert await cb.execute(legacy(4)) == 4
    assert cb.metrics()["successes"] == 2
