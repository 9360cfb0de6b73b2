"""Overhead of a closed circuit breaker per call, fusebox against the
Python breakers on PyPI, in one process and one run.

Each row times a loop of N calls of a trivial function through the breaker
(best of R runs) and subtracts the same loop calling the function bare; the
ratio column is the contender's overhead divided by fusebox's. Contenders
that are not installed are skipped (scripts/py_bench.sh installs them).

    python scripts/py_bench.py [--calls N] [--repeats R]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import fusebox


def work() -> int:
    return 1


async def awork() -> int:
    return 1


def fail() -> int:
    raise OSError("down")


def best_ns(run: Callable[[int], Any], calls: int, repeats: int) -> float:
    """Best time per call of `run(calls)` over `repeats` runs, in ns."""
    run(calls // 10)  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run(calls)
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def best_async_ns(make: Callable[[int], Awaitable[Any]], calls: int, repeats: int) -> float:
    loop = asyncio.new_event_loop()
    try:
        return best_ns(lambda n: loop.run_until_complete(make(n)), calls, repeats)
    finally:
        loop.close()


# --- sync contenders: each returns a loop of n calls, or None if missing ---


def sync_bare() -> Callable[[int], None]:
    def run(n: int) -> None:
        f = work
        for _ in range(n):
            f()

    return run


def sync_fusebox() -> Callable[[int], None]:
    call = fusebox.CircuitBreaker("bench").call

    def run(n: int) -> None:
        f = work
        for _ in range(n):
            call(f)

    return run


def sync_fusebox_decorated() -> Callable[[int], None]:
    f = fusebox.CircuitBreaker("bench-decorated")(work)

    def run(n: int) -> None:
        for _ in range(n):
            f()

    return run


def sync_pybreaker() -> Optional[Callable[[int], None]]:
    try:
        import pybreaker
    except ImportError:
        return None
    call = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30).call

    def run(n: int) -> None:
        f = work
        for _ in range(n):
            call(f)

    return run


def sync_circuitbreaker() -> Optional[Callable[[int], None]]:
    try:
        import circuitbreaker
    except ImportError:
        return None
    f = circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(work)

    def run(n: int) -> None:
        for _ in range(n):
            f()

    return run


def sync_purgatory() -> Optional[Callable[[int], None]]:
    try:
        import purgatory
    except ImportError:
        return None
    f = purgatory.SyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)("bench")(work)

    def run(n: int) -> None:
        for _ in range(n):
            f()

    return run


# --- open rejections: a call refused, the exception caught ---


def open_bare() -> Callable[[int], None]:
    """The floor: calling a function that raises, and catching it."""

    def run(n: int) -> None:
        f = fail
        for _ in range(n):
            try:
                f()
            except OSError:
                pass

    return run


def open_fusebox() -> Callable[[int], None]:
    cb = fusebox.CircuitBreaker("bench-open", recovery_timeout=3600.0)
    cb.trip()
    call = cb.call

    def run(n: int) -> None:
        f = work
        for _ in range(n):
            try:
                call(f)
            except fusebox.CircuitOpenError:
                pass

    return run


def open_pybreaker() -> Optional[Callable[[int], None]]:
    try:
        import pybreaker
    except ImportError:
        return None
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=3600)
    breaker.open()
    call = breaker.call

    def run(n: int) -> None:
        f = work
        for _ in range(n):
            try:
                call(f)
            except pybreaker.CircuitBreakerError:
                pass

    return run


def open_circuitbreaker() -> Optional[Callable[[int], None]]:
    try:
        import circuitbreaker
    except ImportError:
        return None
    breaker = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=3600)
    f = breaker(fail)
    try:
        f()
    except OSError:
        pass
    g = breaker(work)

    def run(n: int) -> None:
        for _ in range(n):
            try:
                g()
            except circuitbreaker.CircuitBreakerError:
                pass

    return run


# --- async contenders ---


def async_bare() -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        f = awork
        for _ in range(n):
            await f()

    return run


def async_fusebox() -> Callable[[int], Awaitable[None]]:
    execute = fusebox.CircuitBreaker("bench-async").execute

    async def run(n: int) -> None:
        f = awork
        for _ in range(n):
            await execute(f)

    return run


def async_fusebox_decorated() -> Callable[[int], Awaitable[None]]:
    f = fusebox.CircuitBreaker("bench-async-decorated")(awork)

    async def run(n: int) -> None:
        for _ in range(n):
            await f()

    return run


def async_circuitbreaker() -> Optional[Callable[[int], Awaitable[None]]]:
    try:
        import circuitbreaker
    except ImportError:
        return None
    f = circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(awork)

    async def run(n: int) -> None:
        for _ in range(n):
            await f()

    return run


def async_aiobreaker() -> Optional[Callable[[int], Awaitable[None]]]:
    try:
        import aiobreaker
    except ImportError:
        return None
    call_async = aiobreaker.CircuitBreaker(fail_max=5).call_async

    async def run(n: int) -> None:
        f = awork
        for _ in range(n):
            await call_async(f)

    return run


def async_purgatory() -> Optional[Callable[[int], Awaitable[None]]]:
    try:
        import purgatory
    except ImportError:
        return None
    f = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)("bench")(awork)

    async def run(n: int) -> None:
        for _ in range(n):
            await f()

    return run


Row = Tuple[str, Optional[float]]


def table(title: str, floor_name: str, floor: float, rows: List[Row]) -> None:
    ours = next(ns for name, ns in rows if name == "fusebox" and ns is not None) - floor
    print(f"\n{title}")
    print(f"| {'contender':<28} | {'ns/call':>8} | {'over ' + floor_name:>14} | {'× fusebox':>9} |")
    print(f"|{'-' * 30}|{'-' * 10}:|{'-' * 15}:|{'-' * 10}:|")
    print(f"| {floor_name:<28} | {floor:8.0f} | {'':>14} | {'':>9} |")
    for name, ns in rows:
        if ns is None:
            print(f"| {name:<28} | {'not installed':>8} | {'':>14} | {'':>9} |")
            continue
        over = ns - floor
        print(f"| {name:<28} | {ns:8.0f} | {over:14.0f} | {over / ours:9.1f} |")


LOOPS: Dict[str, Callable[[], Any]] = {
    "bare-call": sync_bare,
    "fusebox-call": sync_fusebox,
    "fusebox-decorator": sync_fusebox_decorated,
    "circuitbreaker": sync_circuitbreaker,
    "purgatory": sync_purgatory,
    "pybreaker": sync_pybreaker,
    "bare-raise": open_bare,
    "fusebox-open": open_fusebox,
    "circuitbreaker-open": open_circuitbreaker,
    "pybreaker-open": open_pybreaker,
    "bare-await": async_bare,
    "fusebox-execute": async_fusebox,
    "fusebox-async-decorator": async_fusebox_decorated,
    "circuitbreaker-async": async_circuitbreaker,
    "aiobreaker-async": async_aiobreaker,
    "purgatory-async": async_purgatory,
}


def run_once(name: str, calls: int) -> None:
    """Runs one contender's loop once, untimed: for counting instructions
    (scripts/py_instructions.sh runs this under valgrind)."""
    made = LOOPS[name]()
    if made is None:
        raise SystemExit(f"{name} is not installed")
    result = made(calls)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--once", choices=sorted(LOOPS), help="run one loop once, untimed")
    options = parser.parse_args()
    n, r = options.calls, options.repeats
    if options.once:
        run_once(options.once, n)
        return
    print(f"CPython {sys.version.split()[0]}, {n} calls per run, best of {r} runs")

    def sync(make: Callable[[], Optional[Callable[[int], None]]]) -> Optional[float]:
        run = make()
        return None if run is None else best_ns(run, n, r)

    def aio(make: Callable[[], Optional[Callable[[int], Awaitable[None]]]]) -> Optional[float]:
        run = make()
        return None if run is None else best_async_ns(run, n, r)

    bare = best_ns(sync_bare(), n, r)
    table(
        "sync call, closed breaker",
        "bare call",
        bare,
        [
            ("fusebox", sync(sync_fusebox)),
            ("fusebox (decorator)", sync(sync_fusebox_decorated)),
            ("circuitbreaker", sync(sync_circuitbreaker)),
            ("purgatory", sync(sync_purgatory)),
            ("pybreaker", sync(sync_pybreaker)),
        ],
    )
    raising = best_ns(open_bare(), n, r)
    table(
        "open breaker: call refused, exception caught",
        "bare raise",
        raising,
        [
            ("fusebox", sync(open_fusebox)),
            ("circuitbreaker", sync(open_circuitbreaker)),
            ("pybreaker", sync(open_pybreaker)),
        ],
    )
    print(f"(fusebox open rejection over a bare call: {sync(open_fusebox) - bare:.0f} ns)")  # type: ignore[operator]
    bare_await = best_async_ns(async_bare(), n, r)
    table(
        "async call, closed breaker",
        "bare await",
        bare_await,
        [
            ("fusebox", aio(async_fusebox)),
            ("fusebox (decorator)", aio(async_fusebox_decorated)),
            ("circuitbreaker", aio(async_circuitbreaker)),
            ("aiobreaker", aio(async_aiobreaker)),
            ("purgatory", aio(async_purgatory)),
        ],
    )


if __name__ == "__main__":
    main()
