"""A circuit-breaker contract in the style of a provider compliance kit: an
async factory `(failure_threshold, reset_timeout)` gives a breaker with
`execute` and `state`. Here real time is the point (the kit waits for the
reset timeout with asyncio), so the timeouts are short real sleeps."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, List

import pytest

from fusebox import CircuitBreaker, CircuitOpenError, CircuitState

Factory = Callable[[int, float], Awaitable[Any]]


class Failure(Exception):
    pass


async def succeed() -> str:
    return "ok"


async def fail() -> None:
    raise Failure("operation failed")


class BaseCircuitBreakerContract:
    """The contract; a provider subclasses it and supplies `provider_factory`."""

    @pytest.fixture
    def provider_factory(self) -> Factory:
        raise NotImplementedError

    @pytest.mark.asyncio
    async def test_initial_state_is_closed(self, provider_factory: Factory) -> None:
        breaker = await provider_factory(2, 0.25)
        assert breaker.state == CircuitState.CLOSED

    @pytest.mark.asyncio
    async def test_successful_execution_in_closed_state(self, provider_factory: Factory) -> None:
        breaker = await provider_factory(2, 0.25)
        assert await breaker.execute(succeed) == "ok"
        assert breaker.state == CircuitState.CLOSED

    @pytest.mark.asyncio
    async def test_opens_after_threshold_and_rejects_without_running(self, provider_factory: Factory) -> None:
        breaker = await provider_factory(2, 10.0)
        for _ in range(2):
            with pytest.raises(Failure):
                await breaker.execute(fail)
        assert breaker.state == CircuitState.OPEN
        ran: List[int] = []

        async def operation() -> None:
            ran.append(1)

        with pytest.raises(CircuitOpenError):
            await breaker.execute(operation)
        assert ran == []

    @pytest.mark.asyncio
    async def test_transitions_to_half_open_after_timeout(self, provider_factory: Factory) -> None:
        breaker = await provider_factory(1, 0.25)
        with pytest.raises(Failure):
            await breaker.execute(fail)
        assert breaker.state == CircuitState.OPEN
        await asyncio.sleep(0.3)
        assert breaker.state == CircuitState.HALF_OPEN

    @pytest.mark.asyncio
    async def test_half_open_to_closed_on_success(self, provider_factory: Factory) -> None:
        breaker = await provider_factory(1, 0.25)
        with pytest.raises(Failure):
            await breaker.execute(fail)
        await asyncio.sleep(0.3)
        assert breaker.state == CircuitState.HALF_OPEN
        assert await breaker.execute(succeed) == "ok"
        assert breaker.state == CircuitState.CLOSED

    @pytest.mark.asyncio
    async def test_half_open_to_open_on_failure(self, provider_factory: Factory) -> None:
        breaker = await provider_factory(1, 0.25)
        with pytest.raises(Failure):
            await breaker.execute(fail)
        await asyncio.sleep(0.3)
        assert breaker.state == CircuitState.HALF_OPEN
        with pytest.raises(Failure):
            await breaker.execute(fail)
        assert breaker.state == CircuitState.OPEN
        # The reset timeout restarted: still open right after.
        with pytest.raises(CircuitOpenError):
            await breaker.execute(succeed)


class TestFuseboxCompliance(BaseCircuitBreakerContract):
    @pytest.fixture
    def provider_factory(self) -> Factory:
        async def factory(failure_threshold: int, reset_timeout: float) -> CircuitBreaker:
            return CircuitBreaker(
                "compliance", failure_threshold=failure_threshold, recovery_timeout=reset_timeout
            )

        return factory


class TestFuseboxComplianceWithTheKitsKeywords(BaseCircuitBreakerContract):
    """The kit's own example fixture passes `reset_timeout=` and no name."""

    @pytest.fixture
    def provider_factory(self) -> Factory:
        async def factory(failure_threshold: int, reset_timeout: float) -> CircuitBreaker:
            return CircuitBreaker(failure_threshold=failure_threshold, reset_timeout=reset_timeout)

        return factory
