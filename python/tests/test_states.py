"""SPEC 7 behaviour of one breaker through the sync call path, with time
moved by a ManualClock."""

from __future__ import annotations

import time

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitOpenError, CircuitState


class Down(Exception):
    pass


def fail() -> None:
    raise Down("dependency down")


def trip(cb: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Down):
            cb.call(fail)


def test_state_values_are_the_lower_case_names() -> None:
    assert [s.value for s in CircuitState] == [
        "closed", "open", "half_open", "forced_open", "disabled"]
    assert CircuitState("half_open") is CircuitState.HALF_OPEN
    assert CircuitState.OPEN == "open"


def test_a_new_breaker_is_closed_and_passes_calls_with_their_arguments(name: str) -> None:
    cb = CircuitBreaker(name)
    assert cb.state is CircuitState.CLOSED
    assert cb.name == name == cb.operation_name
    assert cb.call(lambda a, b=0: a + b, 40, b=2) == 42
    assert cb.failure_count == 0
    assert cb.last_failure_time is None


def test_opens_after_the_threshold_and_refuses_without_running(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=3, recovery_timeout=30.0, clock=clock)
    trip(cb, 2)
    assert cb.state is CircuitState.CLOSED
    # The call that trips it raises its own error, unchanged.
    error = Down("third")

    def third() -> None:
        raise error

    with pytest.raises(Down) as raised:
        cb.call(third)
    assert raised.value is error
    assert cb.state is CircuitState.OPEN

    ran = []
    with pytest.raises(CircuitOpenError) as refused:
        cb.call(lambda: ran.append(1))
    assert ran == []
    assert refused.value.name == name == refused.value.operation_name
    assert refused.value.state is CircuitState.OPEN
    assert refused.value.retry_after == pytest.approx(30.0, abs=0.05)
    assert name in str(refused.value) and "retry in 30.0s" in str(refused.value)


def test_reads_half_open_after_the_timeout_with_no_call(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=10.0, clock=clock)
    trip(cb, 1)
    clock.advance(9.9)
    assert cb.state is CircuitState.OPEN
    clock.advance(0.1)
    assert cb.state is CircuitState.HALF_OPEN


def test_half_open_success_closes_and_failure_reopens(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=5.0, clock=clock)
    trip(cb, 1)
    clock.advance(5.0)
    trip(cb, 1)  # the trial call fails
    assert cb.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as refused:
        cb.call(lambda: None)
    assert refused.value.retry_after == pytest.approx(5.0, abs=0.05)  # restarted
    clock.advance(5.0)
    assert cb.call(lambda: "ok") == "ok"
    assert cb.state is CircuitState.CLOSED


def test_success_threshold_needs_that_many_trial_successes(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, success_threshold=2, clock=clock)
    trip(cb, 1)
    clock.advance(1.0)
    cb.call(lambda: None)
    assert cb.state is CircuitState.HALF_OPEN
    cb.call(lambda: None)
    assert cb.state is CircuitState.CLOSED


def test_half_open_admits_at_most_half_open_max_calls(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=2, clock=clock)
    trip(cb, 1)
    clock.advance(1.0)
    first, second = cb.acquire(), cb.acquire()
    with pytest.raises(CircuitOpenError) as refused:
        cb.call(lambda: None)
    assert refused.value.state is CircuitState.HALF_OPEN
    # Until the earliest trial's lease (probe_timeout, 60 s) ends.
    assert refused.value.retry_after == pytest.approx(60.0, abs=0.05)
    clock.advance(10.0)
    with pytest.raises(CircuitOpenError) as refused:
        cb.call(lambda: None)
    assert refused.value.retry_after == pytest.approx(50.0, abs=0.05)
    first.cancel()  # a cancelled trial frees its slot and counts nothing
    third = cb.acquire()
    second.success()
    third.success()
    assert cb.state is CircuitState.CLOSED


def test_failure_count_keeps_the_tripping_failures_until_closed(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=3, recovery_timeout=1.0, clock=clock)
    trip(cb, 2)
    assert cb.failure_count == 2
    cb.call(lambda: None)  # ends the streak, not the count since closed
    assert cb.failure_count == 2
    trip(cb, 3)
    assert cb.state is CircuitState.OPEN
    assert cb.failure_count == 5
    clock.advance(1.0)
    assert cb.state is CircuitState.HALF_OPEN
    assert cb.failure_count == 5
    cb.call(lambda: None)
    assert cb.state is CircuitState.CLOSED
    assert cb.failure_count == 0


def test_last_failure_time_is_a_wall_clock_timestamp(name: str) -> None:
    cb = CircuitBreaker(name)
    before = time.time()
    trip(cb, 1)
    after = time.time()
    stamp = cb.last_failure_time
    assert stamp is not None
    assert before - 0.01 <= stamp <= after + 0.01


def test_excluded_exceptions_are_reraised_and_count_as_neither(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, exclude=(KeyError,), clock=clock)

    def missing() -> None:
        raise KeyError("k")

    for _ in range(3):
        with pytest.raises(KeyError):
            cb.call(missing)
    assert cb.state is CircuitState.CLOSED
    assert cb.metrics()["ignored"] == 3
    trip(cb, 1)
    clock.advance(1.0)
    # An excluded error on a trial call frees the slot: the next trial runs.
    with pytest.raises(KeyError):
        cb.call(missing)
    assert cb.state is CircuitState.HALF_OPEN
    assert cb.call(lambda: 1) == 1
    assert cb.state is CircuitState.CLOSED


def test_base_exceptions_other_than_exception_are_neutral(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, clock=clock)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cb.call(interrupted)
    assert cb.state is CircuitState.CLOSED
    assert cb.metrics()["cancelled"] == 1


def test_manual_control(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=2.0, clock=clock)
    cb.force_open()
    assert cb.state is CircuitState.FORCED_OPEN
    with pytest.raises(CircuitOpenError) as refused:
        cb.call(lambda: None)
    assert refused.value.state is CircuitState.FORCED_OPEN
    assert refused.value.retry_after is None
    clock.advance(100.0)
    assert cb.state is CircuitState.FORCED_OPEN
    cb.disable()
    assert cb.state is CircuitState.DISABLED
    trip(cb, 5)
    assert cb.state is CircuitState.DISABLED
    assert cb.metrics()["failures"] == 5
    cb.reset()
    assert cb.state is CircuitState.CLOSED
    assert cb.failure_count == 0 and cb.last_failure_time is None
    cb.trip()
    assert cb.state is CircuitState.OPEN
    clock.advance(2.0)
    assert cb.state is CircuitState.HALF_OPEN


def test_metrics_has_the_rust_metrics_fields(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=2, clock=clock)
    cb.call(lambda: None)
    trip(cb, 2)
    with pytest.raises(CircuitOpenError):
        cb.call(lambda: None)
    m = cb.metrics()
    assert set(m) >= {
        "name", "state", "generation", "successes", "failures", "rejections", "ignored", "slow",
        "cancelled", "consecutive_failures", "half_open_in_flight", "failure_rate", "time_in_state",
        "last_failure_time", "retry_after", "degraded", "failures_since_closed", "reason",
        "refusals_recorded"}
    assert m["reason"] == "2 consecutive failures"
    assert m["refusals_recorded"] == 0
    assert (m["name"], m["state"], m["successes"], m["failures"], m["rejections"]) == (
        name, CircuitState.OPEN, 1, 2, 1)
    assert m["failure_rate"] == pytest.approx(2 / 3)
    assert m["retry_after"] == pytest.approx(30.0, abs=0.05)
    assert m["degraded"] is False


def test_fallback_answers_refused_calls(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, fallback=lambda key, default=None: ("cached", key))
    assert cb.call(lambda key: ("live", key), "k") == ("live", "k")
    trip(cb, 1)
    assert cb.call(lambda key: ("live", key), "k") == ("cached", "k")


def test_with_block_counts_its_exception(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=2)
    with cb:
        pass
    for _ in range(2):
        with pytest.raises(Down):
            with cb:
                raise Down()
    assert cb.state is CircuitState.OPEN
    ran = []
    with pytest.raises(CircuitOpenError):
        with cb:
            ran.append(1)
    assert ran == []


def test_decorator_keeps_the_function_name_and_counts(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)

    @cb
    def fetch(x: int) -> int:
        """Fetches."""
        if x < 0:
            raise Down()
        return x

    assert fetch.__name__ == "fetch" and fetch.__doc__ == "Fetches."
    assert fetch(3) == 3
    with pytest.raises(Down):
        fetch(-1)
    with pytest.raises(CircuitOpenError):
        fetch(3)


def test_error_aliases_are_one_class() -> None:
    assert fusebox.CircuitOpenException is fusebox.CircuitOpenError
    assert fusebox.CircuitBreakerOpenError is fusebox.CircuitOpenError
    error = fusebox.CircuitOpenException("s3", CircuitState.OPEN)
    assert (error.operation_name, error.state, error.retry_after) == ("s3", CircuitState.OPEN, None)
    assert issubclass(fusebox.CircuitOpenError, Exception)


def test_everything_in_all_is_importable() -> None:
    for exported in fusebox.__all__:
        assert getattr(fusebox, exported) is not None


class Client:
    breaker = CircuitBreaker("client-methods", failure_threshold=1)

    def __init__(self, base: str) -> None:
        self.base = base

    @breaker
    def get(self, path: str) -> str:
        """Gets a path."""
        return self.base + path


def test_decorated_methods_are_bound_and_keep_their_metadata() -> None:
    client = Client("https://x")
    assert client.get("/a") == "https://x/a"
    assert Client.get.__name__ == "get" and Client.get.__doc__ == "Gets a path."
    assert Client.get.__wrapped__(client, "/b") == "https://x/b"  # type: ignore[attr-defined]
    assert Client.get.breaker is Client.breaker  # type: ignore[attr-defined]
    assert Client.breaker.metrics()["successes"] == 1


@CircuitBreaker("pickled")
def module_level(x: int) -> int:
    return x + 1


def test_decorated_functions_pickle_by_name() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert module_level(1) == 2
