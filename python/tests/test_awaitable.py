"""The awaitable `execute` returns, as a Python object: its type, misuse,
re-entry, and that it lets go of what it holds as soon as it is done."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import subprocess
import sys
import threading
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


def half_open(name: str, clock: fusebox.ManualClock) -> CircuitBreaker:
    """A breaker whose recovery timeout has just passed: one trial slot."""
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=10.0, clock=clock)
    cb.trip()
    clock.advance(10.0)
    assert cb.state is CircuitState.HALF_OPEN
    return cb


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
    cb = half_open(name, clock)
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
    cb = half_open(name, clock)
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


def _thrown(awaitable: Any, state: str, args: tuple) -> str:
    """What `throw(*args)` raised in `state`, told as its class and arguments."""
    if state == "suspended":
        awaitable.send(None)
    if state == "finished":
        awaitable.send(None)
        try:
            awaitable.send(None)
        except StopIteration:
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3-argument throw, 3.12+
            awaitable.throw(*args)
    except BaseException as error:  # noqa: B902 - any class is the point
        return f"{type(error).__name__}{error.args!r}".replace("circuit breaker call", "coroutine")
    finally:
        awaitable.close()
    return "nothing raised"


@pytest.mark.parametrize("state", ["pending", "suspended", "finished"])
def test_throw_makes_its_exception_as_a_coroutine_does(name: str, state: str) -> None:
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
        (GeneratorExit,),
        (5,),
        ("text",),
    ]
    for args in cases:
        expected = _thrown(native(), state, args)
        assert _thrown(cb.execute(native), state, args) == expected, args


class Stubborn:
    """Awaited objects with their own ways of meeting `GeneratorExit`."""

    def __init__(self, how: str) -> None:
        self.how, self.closed = how, False

    def __await__(self):  # type: ignore[no-untyped-def]
        if self.how == "close only":
            return self
        return self.steps()

    def steps(self):  # type: ignore[no-untyped-def]
        try:
            yield None
        except GeneratorExit:
            if self.how == "ignores":
                yield "still here"
            return "caught"

    def __iter__(self) -> "Stubborn":
        return self

    def __next__(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("how", ["returns", "ignores", "close only"])
def test_a_thrown_generator_exit_closes_the_awaited_call_as_a_coroutine_does(
    name: str, how: str
) -> None:
    cb = CircuitBreaker(name)

    async def native() -> Any:
        return await Stubborn(how)

    outcomes = []
    for awaitable in (native(), cb.execute(Stubborn(how))):
        awaitable.send(None)
        try:
            awaitable.throw(GeneratorExit)
        except BaseException as error:  # noqa: B902
            outcomes.append(type(error).__name__)
        awaitable.close()
    assert outcomes[0] == outcomes[1]
    metrics = cb.metrics()
    assert (metrics["successes"], metrics["failures"]) == (0, 0)  # neutral, as close()


def test_a_call_revived_by_a_finalizer_in_its_cycle_is_closed_and_counts_nothing(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = half_open(name, clock)
    revived: List[Any] = []

    class Box:
        def __del__(self) -> None:
            revived.append(self.awaitable)

    async def trial(box: Box) -> None:
        await Suspend(None)

    box = Box()
    pending = cb.execute(trial, box)
    assert pending.send(None) is None
    box.awaitable = pending  # type: ignore[attr-defined]
    del box, pending
    gc.collect()
    assert len(revived) == 1
    with pytest.raises(RuntimeError, match="cannot reuse"):
        revived[0].send(None)
    assert cb.acquire() is not None  # the trial slot was freed
    assert cb.metrics()["failures"] == 0


def test_an_object_whose_getattr_raises_is_returned_quietly(
    name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    class AttrDict(dict):  # type: ignore[type-arg]
        __getattr__ = dict.__getitem__

    cb = CircuitBreaker(name)
    answer = AttrDict(a=1)
    assert asyncio.run(cb.execute(lambda: answer)) is answer  # type: ignore[arg-type]
    assert capfd.readouterr().err == ""


def test_a_deep_chain_of_calls_is_a_recursion_error_not_a_crash(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1_000_000)
    # Deeper than CPython's limit on C recursion (10,000 on 3.13), and far
    # deeper than the main thread's stack would hold a frame per link.
    chain: Any = Suspend(1)
    for _ in range(50_000):
        chain = cb.execute(chain)
    with pytest.raises(RecursionError):
        chain.send(None)
    del chain  # freed link by link, not one stack frame per link
    unsent: Any = Suspend(1)
    for _ in range(100_000):
        unsent = cb.execute(unsent)
    del unsent
    assert cb.call(lambda: 7) == 7  # and the breaker goes on


def test_a_class_whose_metaclass_answers_everything_is_not_taken_for_awaitable(
    name: str,
) -> None:
    class Meta(type):
        def __getattr__(cls, attribute: str) -> Any:
            return lambda *args, **kwargs: None

    class Row(metaclass=Meta):
        pass

    row = Row()
    cb = CircuitBreaker(name)
    assert asyncio.run(cb.execute(lambda: row)) is row  # type: ignore[arg-type]
    assert cb.metrics()["successes"] == 1


def test_exit_with_calls_still_suspended_is_clean(tmp_path: Any) -> None:
    script = tmp_path / "suspended.py"
    script.write_text(
        "import asyncio, fusebox\n"
        "cb = fusebox.CircuitBreaker('exit')\n"
        "async def fetch():\n"
        "    await asyncio.sleep(3600)\n"
        "async def poller():\n"
        "    while True:\n"
        "        await cb.execute(fetch)\n"
        "async def main():\n"
        "    asyncio.ensure_future(poller())\n"
        "    await asyncio.sleep(0.05)\n"
        "class Wait:\n"
        "    def __await__(self):\n"
        "        yield\n"
        "kept = cb.execute(Wait())\n"
        "kept.send(None)\n"
        "asyncio.new_event_loop().run_until_complete(main())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "panicked" not in done.stderr, done.stderr


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


def test_a_call_let_go_of_while_another_is_let_go_of_frees_its_slot_at_once(
    name: str, clock: fusebox.ManualClock
) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, clock=clock)
    heard: List[str] = []

    async def trial() -> None:
        await Suspend(None)

    async def outer() -> None:
        try:
            await Suspend(None)
        finally:
            inner = cb.execute(trial)
            inner.send(None)  # holds the one trial slot
            del inner  # let go of while `outer` is: the slot is free again
            heard.append(cb.call(lambda: "trial ok"))

    for end in ("close", "drop"):
        heard.clear()
        cb.trip()
        clock.advance(1.0)
        running = CircuitBreaker(f"{name}-outer").execute(outer)
        running.send(None)
        if end == "close":
            running.close()
        else:
            del running
        assert heard == ["trial ok"], end


def test_await_set_to_none_blocks_an_inherited_one(name: str) -> None:
    class Awaitable:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield None

    class Row(Awaitable):
        __await__ = None  # type: ignore[assignment]

    row = Row()
    cb = CircuitBreaker(name)
    assert asyncio.run(cb.execute(lambda: row)) is row  # type: ignore[arg-type]
    assert cb.metrics()["successes"] == 1


def test_a_metaclass_that_hides_or_fakes_the_namespace_does_not_mislead(name: str) -> None:
    class Hiding(type):
        def __getattribute__(cls, attribute: str) -> Any:
            if attribute in ("__mro__", "__dict__"):
                raise AttributeError(attribute)
            return super().__getattribute__(attribute)

    class Faking(type):
        @property
        def __dict__(cls) -> Any:  # type: ignore[override]
            return {"__await__": lambda self: iter(())}

    class Awaited(metaclass=Hiding):
        def __await__(self):  # type: ignore[no-untyped-def]
            yield None
            return "awaited"

    class Plain(metaclass=Faking):
        pass

    cb = CircuitBreaker(name)
    assert asyncio.run(cb.execute(lambda: Awaited())) == "awaited"  # type: ignore[arg-type]
    plain = Plain()
    assert asyncio.run(cb.execute(lambda: plain)) is plain  # type: ignore[arg-type]
    assert cb.metrics()["successes"] == 2
