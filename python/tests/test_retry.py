"""retry: backoff attempts through a breaker, stopping when it refuses."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitOpenError, CircuitState, retry


class Down(Exception):
    pass


def test_retries_until_success() -> None:
    attempts: List[int] = []

    @retry(max_attempts=5, base_delay=0, jitter=False)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Down()
        return "ok"

    assert flaky() == "ok"
    assert len(attempts) == 3


def test_reraises_the_last_attempts_own_error() -> None:
    errors: List[Down] = []

    @retry(max_attempts=3, base_delay=0)
    def broken() -> None:
        errors.append(Down(len(errors)))
        raise errors[-1]

    with pytest.raises(Down) as raised:
        broken()
    assert raised.value is errors[-1] and len(errors) == 3


def test_stops_when_the_breaker_opens_and_reraises_the_operations_error(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=2)
    errors: List[Down] = []

    @retry(max_attempts=10, base_delay=0, breaker=cb)
    def upload() -> None:
        errors.append(Down(len(errors)))
        raise errors[-1]

    with pytest.raises(Down) as raised:
        upload()
    assert len(errors) == 2  # the third attempt was refused: no more tries
    assert raised.value is errors[-1]
    assert cb.state is CircuitState.OPEN
    # Already open: no attempt runs, so the refusal itself is raised.
    with pytest.raises(CircuitOpenError):
        upload()
    assert len(errors) == 2


def test_does_not_retry_other_exceptions() -> None:
    attempts: List[int] = []

    @retry(max_attempts=5, base_delay=0, retry_on=Down)
    def wrong() -> None:
        attempts.append(1)
        raise KeyError()

    with pytest.raises(KeyError):
        wrong()
    assert len(attempts) == 1


@pytest.mark.asyncio
async def test_async_retry_through_a_breaker(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=2)
    attempts: List[int] = []

    @retry(max_attempts=5, base_delay=0.001, max_delay=0.002, breaker=cb)
    async def upload() -> None:
        attempts.append(1)
        await asyncio.sleep(0)
        raise Down()

    assert asyncio.iscoroutinefunction(upload)
    with pytest.raises(Down):
        await upload()
    assert len(attempts) == 2
    with pytest.raises(CircuitOpenError):
        await upload()


@pytest.mark.asyncio
async def test_async_retry_until_success() -> None:
    attempts: List[int] = []

    @retry(max_attempts=3, base_delay=0)
    async def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 2:
            raise Down()
        return len(attempts)

    assert await flaky() == 2


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"max_attempts": 1.5}, TypeError, "max_attempts"),
        ({"base_delay": -1}, ValueError, "base_delay"),
        ({"base_delay": float("nan")}, ValueError, "base_delay"),
        ({"max_delay": "1"}, TypeError, "max_delay"),
        ({"base_delay": 5, "max_delay": 1}, ValueError, "max_delay"),
        ({"jitter": 1}, TypeError, "jitter"),
        ({"breaker": object()}, TypeError, "breaker"),
        ({"retry_on": 3}, TypeError, "retry_on"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=word):
        retry(**kwargs)
