"""Shared state: two breaker objects, and two processes, on one SQLite file
and on a real redis-server see one state machine."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import List

import pytest

from fusebox import CircuitBreaker, CircuitOpenError, CircuitState

from conftest import RedisServer


class Down(Exception):
    pass


def fail() -> None:
    raise Down()


def fail_in_another_process(url: str, name: str, times: int) -> None:
    script = textwrap.dedent(
        f"""
        import fusebox
        cb = fusebox.CircuitBreaker({name!r}, failure_threshold=3, store={url!r})
        for _ in range({times}):
            try:
                cb.call(lambda: 1 / 0)
            except ZeroDivisionError:
                pass
        print(cb.state.value)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def shares_one_state(url: str, name: str) -> None:
    first = CircuitBreaker(name, failure_threshold=3, store=url)
    second = CircuitBreaker(name, failure_threshold=3, store=url)
    with pytest.raises(Down):
        first.call(fail)
    with pytest.raises(Down):
        second.call(fail)
    assert first.state is CircuitState.CLOSED
    with pytest.raises(Down):
        first.call(fail)
    assert second.state is CircuitState.OPEN  # three failures in total
    with pytest.raises(CircuitOpenError):
        second.call(lambda: None)
    second.reset()
    assert first.state is CircuitState.CLOSED
    assert first.call(lambda: 1) == 1


def shared_across_processes(url: str, name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=3, store=url)
    with pytest.raises(Down):
        cb.call(fail)
    fail_in_another_process(url, name, 2)
    assert cb.state is CircuitState.OPEN
    ran: List[int] = []
    with pytest.raises(CircuitOpenError):
        cb.call(lambda: ran.append(1))
    assert ran == []


def test_sqlite_two_breakers_share_one_state(tmp_path: Path, name: str) -> None:
    shares_one_state(f"sqlite:///{tmp_path}/state.db", name)


def test_sqlite_two_processes_share_one_state(tmp_path: Path, name: str) -> None:
    shared_across_processes(f"sqlite:///{tmp_path}/state.db", name)


@pytest.mark.asyncio
async def test_sqlite_breaker_in_async_code(tmp_path: Path, name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, store=f"sqlite:///{tmp_path}/state.db")

    async def ok() -> int:
        return 3

    async def broken() -> None:
        raise Down()

    assert await cb.execute(ok) == 3
    with pytest.raises(Down):
        await cb.execute(broken)
    assert cb.state is CircuitState.OPEN


def test_redis_two_breakers_share_one_state(redis: RedisServer, name: str) -> None:
    shares_one_state(redis.url, name)


def test_redis_two_processes_share_one_state(redis: RedisServer, name: str) -> None:
    shared_across_processes(redis.url, name)


def test_redis_keys_are_under_the_circuit_breaker_prefix(redis: RedisServer, name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, store=redis.url)
    with pytest.raises(Down):
        cb.call(fail)
    keys = redis.cli("--scan").split()
    assert f"circuit_breaker:{name}" in keys, keys
    custom = CircuitBreaker(name, store=redis.url + "&prefix=myapp:")
    custom.trip()
    assert f"myapp:{name}" in redis.cli("--scan").split()


def test_redis_killed_mid_test_calls_go_on_with_a_warning(
    redis: RedisServer, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    cb = CircuitBreaker(name, failure_threshold=3, store=redis.url)
    assert cb.call(lambda: 1) == 1
    redis.kill()
    with caplog.at_level(logging.WARNING, logger="fusebox"):
        for _ in range(5):
            assert cb.call(lambda: 2) == 2  # fail open on local state
        with pytest.raises(Down):
            cb.call(fail)
    warnings = [r for r in caplog.records if r.name == "fusebox" and r.levelno == logging.WARNING]
    assert warnings, "the store outage should be logged"
    assert cb.metrics()["degraded"] is True


def test_sqlite_relative_urls_are_relative_to_the_working_directory(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relative").mkdir()
    cb = CircuitBreaker(name, failure_threshold=1, store="sqlite://relative/state.db")
    with pytest.raises(Down):
        cb.call(fail)
    assert (tmp_path / "relative" / "state.db").exists()
    again = CircuitBreaker(name, store=f"sqlite:///{tmp_path}/relative/state.db")
    assert again.state is CircuitState.OPEN


def test_fleet_mode_url_counts_in_memory_and_shares_trips(tmp_path: Path, name: str) -> None:
    """`?sync=10ms`: calls run in memory; a trip reaches the other breaker
    at its next synchronisation (real time is the point: a short wait)."""
    url = f"sqlite:///{tmp_path}/state.db?sync=10ms"
    first = CircuitBreaker(name, failure_threshold=3, store=url)
    second = CircuitBreaker(name, failure_threshold=3, store=url)
    for _ in range(3):
        with pytest.raises(Down):
            first.call(fail)
    assert first.state is CircuitState.OPEN  # its own view trips at once
    deadline = time.monotonic() + 20
    while second.state is not CircuitState.OPEN:
        assert time.monotonic() < deadline, "the trip never reached the other breaker"
        time.sleep(0.005)
    with pytest.raises(CircuitOpenError):
        second.call(lambda: None)
