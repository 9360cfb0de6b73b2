"""``retry``: retries a function with exponential backoff and jitter, each
attempt through a breaker if one is given.

Retrying stops as soon as the breaker refuses an attempt: if an attempt
ran before, its exception is re-raised (the operation's own error), else
the ``CircuitOpenError``. Whether an attempt was refused is known from
whether the function ran, not from the exception's class, so a
``CircuitOpenError`` raised by the function itself (from another breaker)
is an ordinary failure."""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import random
import time
from datetime import timedelta
from typing import Any, Callable, Optional, Tuple, Type, TypeVar, Union, cast

from ._breaker import CircuitBreaker
from ._types import CircuitOpenError

__all__ = ["retry"]

F = TypeVar("F", bound=Callable[..., Any])


def retry(
    max_attempts: int = 3,
    base_delay: Union[float, timedelta] = 1.0,
    max_delay: Union[float, timedelta] = 30.0,
    jitter: bool = True,
    breaker: Optional[CircuitBreaker] = None,
    retry_on: Union[Type[BaseException], Tuple[Type[BaseException], ...]] = Exception,
) -> Callable[[F], F]:
    """Decorates a function (sync or ``async def``) to try it up to
    ``max_attempts`` times.

    Before attempt ``n + 1`` it waits ``min(max_delay, base_delay * 2**(n-1))``
    seconds, a uniformly random share of that with ``jitter`` (full
    jitter); the delays are seconds or ``datetime.timedelta``. Only exceptions of ``retry_on`` are retried; others are raised
    at once."""
    _check_count("max_attempts", max_attempts)
    base_delay = _seconds("base_delay", base_delay)
    max_delay = _seconds("max_delay", max_delay)
    if max_delay < base_delay:
        raise ValueError(f"max_delay must be at least base_delay ({base_delay}), got {max_delay}")
    if not isinstance(jitter, bool):
        raise TypeError(f"jitter must be a bool, not {type(jitter).__name__}")
    if breaker is not None and not isinstance(breaker, CircuitBreaker):
        raise TypeError(f"breaker must be a fusebox.CircuitBreaker, not {type(breaker).__name__}")
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        raise TypeError("retry_on must be an exception class or a tuple of them")

    def delay(attempt: int) -> float:
        wait = min(max_delay, base_delay * 2.0 ** (attempt - 1))
        return random.uniform(0.0, wait) if jitter else wait

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        if inspect.iscoroutinefunction(func):
            return cast(F, _retry_async(func, max_attempts, delay, breaker, classes))
        return cast(F, _retry_sync(func, max_attempts, delay, breaker, classes))

    return decorate


def _retry_sync(
    func: Callable[..., Any],
    max_attempts: int,
    delay: Callable[[int], float],
    breaker: Optional[CircuitBreaker],
    classes: Tuple[Type[BaseException], ...],
) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        last: Optional[BaseException] = None
        for attempt in range(1, max_attempts + 1):
            ran = False

            def once() -> Any:
                nonlocal ran
                ran = True
                return func(*args, **kwargs)

            try:
                return once() if breaker is None else breaker.call(once)
            except CircuitOpenError as error:
                if not ran:
                    if last is not None:
                        raise last from None
                    raise
                if not isinstance(error, classes) or attempt == max_attempts:
                    raise
                last = error
            except classes as error:
                if attempt == max_attempts:
                    raise
                last = error
            time.sleep(delay(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    return run


def _retry_async(
    func: Callable[..., Any],
    max_attempts: int,
    delay: Callable[[int], float],
    breaker: Optional[CircuitBreaker],
    classes: Tuple[Type[BaseException], ...],
) -> Callable[..., Any]:
    @functools.wraps(func)
    async def run(*args: Any, **kwargs: Any) -> Any:
        last: Optional[BaseException] = None
        for attempt in range(1, max_attempts + 1):
            ran = False

            async def once() -> Any:
                nonlocal ran
                ran = True
                return await func(*args, **kwargs)

            try:
                if breaker is None:
                    return await once()
                return await breaker.execute(once)
            except CircuitOpenError as error:
                if not ran:
                    if last is not None:
                        raise last from None
                    raise
                if not isinstance(error, classes) or attempt == max_attempts:
                    raise
                last = error
            except classes as error:
                if attempt == max_attempts:
                    raise
                last = error
            await asyncio.sleep(delay(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    return run


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1 (got {value})")


def _seconds(name: str, value: object) -> float:
    """``value`` (seconds, or a ``timedelta``) as seconds, finite and at least 0."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds < 0:
            raise ValueError(f"{name} must be at least 0 seconds (got {value!r}, {seconds} seconds)")
        return seconds
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds or a datetime.timedelta, not {type(value).__name__}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds of at least 0 (got {value})")
    return float(value)
