"""A breaker made before fork() works in the child: os.fork and
multiprocessing's fork start method (gunicorn's and Celery's workers)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path

import pytest

from fusebox import CircuitBreaker, CircuitOpenError, CircuitState

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork() is POSIX")


class Down(Exception):
    pass


def fail() -> None:
    raise Down()


def exercise(cb: CircuitBreaker) -> str:
    """Trips the breaker, waits out its 250 ms recovery timeout (real time: the
    child's clock is what is checked), and closes it with a trial call."""
    for _ in range(2):
        try:
            cb.call(fail)
        except Down:
            pass
    assert cb.state is CircuitState.OPEN, cb.state
    try:
        cb.call(lambda: None)
        return "not refused"
    except CircuitOpenError:
        pass
    deadline = time.monotonic() + 0.25
    while time.monotonic() < deadline + 0.02:
        time.sleep(0.01)
    assert cb.state is CircuitState.HALF_OPEN, cb.state
    assert asyncio.run(cb.execute(_ok)) == "ok"  # type: ignore[arg-type]
    assert cb.state is CircuitState.CLOSED, cb.state
    return "ok"


async def _ok() -> str:
    return "ok"


def _open_before_fork(cb: CircuitBreaker) -> None:
    # The parent opens the breaker first, so its clock thread is running
    # (and lost in the child) at the time of the fork.
    cb.trip()
    try:
        cb.call(lambda: None)
    except CircuitOpenError:
        pass
    cb.reset()


def test_os_fork_child_uses_a_breaker_made_before(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=2, recovery_timeout=0.25)
    _open_before_fork(cb)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            answer = exercise(cb)
        except BaseException as error:  # report, never run the parent's tests
            answer = f"{type(error).__name__}: {error}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1000).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == "ok"
    # The child's calls were its own: the parent's breaker is untouched.
    assert cb.state is CircuitState.CLOSED


def _child(cb: CircuitBreaker, answers: "multiprocessing.Queue[str]") -> None:
    try:
        answers.put(exercise(cb))
    except BaseException as error:
        answers.put(f"{type(error).__name__}: {error}")


def test_multiprocessing_fork_workers_use_a_breaker_made_before(name: str) -> None:
    context = multiprocessing.get_context("fork")
    cb = CircuitBreaker(name, failure_threshold=2, recovery_timeout=0.25)
    _open_before_fork(cb)
    answers: "multiprocessing.Queue[str]" = context.Queue()
    workers = [context.Process(target=_child, args=(cb, answers)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [answers.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert results == ["ok", "ok"]


def test_a_sqlite_breaker_made_before_fork_shares_state_with_the_child(tmp_path: Path, name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=2, store=f"sqlite:///{tmp_path}/state.db")
    assert cb.call(lambda: 1) == 1
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for _ in range(2):
                try:
                    cb.call(fail)
                except Down:
                    pass
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert cb.state is CircuitState.OPEN


def _hammer(cb: CircuitBreaker, calls: int) -> None:
    for _ in range(calls):
        try:
            cb.call(fail)
        except Down:
            pass


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_connections_made_before_fork_are_not_shared_with_the_children(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, kind: str
) -> None:
    # A store used before fork() holds idle connections; the children
    # inherit them. Sharing one Redis socket between processes interleaves
    # their commands and replies: failures were lost (602 of 1200) or
    # counted twice. Each process must use connections of its own.
    if kind == "redis":
        server = request.getfixturevalue("redis")
        url = server.url.replace("timeout=5s", "timeout=10s")
    else:
        url = f"sqlite:///{tmp_path}/state.db?timeout=10s"
    cb = CircuitBreaker(name, failure_threshold=1_000_000, store=url)
    for _ in range(5):
        assert cb.call(lambda: 1) == 1
    children, calls = 3, 200
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _hammer(cb, calls)
                if cb.metrics()["degraded"]:
                    code = 2
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    _hammer(cb, calls)
    codes = [os.WEXITSTATUS(os.waitpid(pid, 0)[1]) for pid in pids]
    assert codes == [0] * children
    assert not cb.metrics()["degraded"]
    fresh = CircuitBreaker(name, failure_threshold=1_000_000, store=url)
    assert fresh.failure_count == (children + 1) * calls


FORK_AFTER_USE = """
import os, sys, warnings
import fusebox

# Every kind of use that could start a thread: an open breaker refusing
# (its rejections read the time), a closed one, an async call.
opened = fusebox.CircuitBreaker("opened", recovery_timeout=3600.0)
opened.trip()
for _ in range(10_000):
    try:
        opened.call(len, "")
    except fusebox.CircuitOpenError:
        pass
closed = fusebox.CircuitBreaker("closed")
for _ in range(1_000):
    closed.call(len, "")
import asyncio
async def answer():
    return 42
assert asyncio.run(closed.execute(answer)) == 42

threads = sorted(os.listdir("/proc/self/task"))
print("threads", len(threads))
warnings.simplefilter("always")  # CPython 3.12+ warns on fork() with threads
pid = os.fork()
if pid == 0:
    try:
        opened.call(len, "")
    except fusebox.CircuitOpenError:
        os._exit(0)
    os._exit(3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_process_that_used_fusebox_forks_without_threads() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", FORK_AFTER_USE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["threads 1", "child 0"], done.stdout + done.stderr
    assert "multi-threaded" not in done.stderr, done.stderr
