"""``fusebox.CircuitBreaker``: the extension's breaker plus what is written
in Python: the decorator and the ``with`` / ``async with`` blocks.

Every decision is the Rust core's; this module only routes calls to it."""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Callable, Optional, Tuple, Type, TypeVar, cast

from . import _fusebox
from ._types import CircuitOpenError

__all__ = ["CircuitBreaker"]

F = TypeVar("F", bound=Callable[..., Any])

# Permits of the `with` / `async with` blocks running in this context (a
# thread, or an asyncio task), innermost last, with the breaker they are of.
_blocks: ContextVar[Tuple[Tuple[int, _fusebox.Permit], ...]] = ContextVar(
    "fusebox_blocks", default=()
)


class CircuitBreaker(_fusebox.CircuitBreaker):
    """A circuit breaker in front of calls to something that can fail.

    ``CircuitBreaker(name, failure_threshold=5, recovery_timeout=30.0,
    success_threshold=1, half_open_max_calls=1, exclude=(), store=None,
    fallback=None, *, probe_timeout=60.0, fail_closed=False, clock=None)``

    * ``failure_threshold`` failures in a row open it; the call that trips it
      raises its own error, later calls raise ``CircuitOpenError`` at once.
    * After ``recovery_timeout`` seconds it is half-open (``state`` reads
      ``HALF_OPEN`` with no call made): ``half_open_max_calls`` trial calls
      may run at once; ``success_threshold`` successes in a row close it, a
      failure opens it again.
    * ``exclude``: exception classes that count as neither success nor
      failure; they are re-raised unchanged.
    * ``store``: keep the state in ``"sqlite:///abs/path.db"``,
      ``"sqlite://relative.db"`` or ``"redis://host:6379/0?prefix=…"``,
      shared by every process using the same name.
    * ``fallback``: while calls are refused, ``fallback(*args, **kwargs)``
      answers instead of ``CircuitOpenError`` (awaited if async).
    * ``probe_timeout``: a trial call silent this long frees its slot.
    * Durations are seconds (int or float) or ``datetime.timedelta``.
    * ``fail_closed``: refuse calls while the store cannot be reached,
      instead of running on local state.
    * ``clock``: a ``ManualClock``, for tests that move time by hand.
    * ``reset_timeout``: another name of ``recovery_timeout``.

    Use it as ``cb.call(fn, *args)``, ``await cb.execute(async_fn, *args)``,
    ``@cb``, ``with cb:``, ``async with cb:``, or with
    ``allow_request()`` / ``record_success()`` / ``record_failure()``.
    """

    def __call__(self, func: F) -> F:
        """Decorates ``func`` (sync or ``async def``) so each call goes
        through the breaker."""
        return guard(self, func, None)

    def __enter__(self) -> "CircuitBreaker":
        _blocks.set(_blocks.get() + ((id(self), self.acquire()),))
        return self

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        _take_block(self).settle(error)

    async def __aenter__(self) -> "CircuitBreaker":
        return self.__enter__()

    async def __aexit__(
        self,
        kind: Optional[Type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.__exit__(kind, error, traceback)


def guard(breaker: _fusebox.CircuitBreaker, func: F, fallback: Optional[Callable[..., Any]]) -> F:
    """``func`` with its calls going through ``breaker``, answered by
    ``fallback`` (or the breaker's own) while refused.

    A sync function gets a ``Guarded``, written in Rust: a call is one
    extension call. An ``async def`` gets an ``async def`` wrapper, which
    frameworks recognise (``inspect.iscoroutinefunction``): it takes a
    permit, awaits the call and settles the permit with how it ended (this
    measured faster than a wrapper awaiting ``breaker.execute_or``). Both
    carry the function's name, docstring and ``__wrapped__``."""
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    if fallback is not None and not callable(fallback):
        raise TypeError(f"fallback must be callable, not {type(fallback).__name__}")
    if inspect.iscoroutinefunction(func):
        return cast(F, _guard_async(breaker, func, fallback))
    guarded = _fusebox.Guarded(breaker, func, fallback)
    functools.update_wrapper(guarded, func)
    return cast(F, guarded)


def _guard_async(
    breaker: _fusebox.CircuitBreaker,
    func: Callable[..., Any],
    fallback: Optional[Callable[..., Any]],
) -> Callable[..., Any]:
    acquire = breaker.acquire
    answer = fallback if fallback is not None else breaker.fallback

    @functools.wraps(func)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            permit = acquire()
        except CircuitOpenError:
            if answer is None:
                raise
            result = answer(*args, **kwargs)
            return (await result) if inspect.isawaitable(result) else result
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            # Excluded: ignored; an Exception: a failure; CancelledError or
            # GeneratorExit (the task cancelled, the coroutine closed): neutral.
            permit.settle(error)
            raise
        permit.success()
        return result

    guarded.breaker = breaker  # type: ignore[attr-defined]
    return guarded


def _take_block(breaker: CircuitBreaker) -> _fusebox.Permit:
    blocks = _blocks.get()
    for index in range(len(blocks) - 1, -1, -1):
        if blocks[index][0] == id(breaker):
            _blocks.set(blocks[:index] + blocks[index + 1 :])
            return blocks[index][1]
    raise RuntimeError(f"{breaker!r}: no `with` block of this breaker is open here")
