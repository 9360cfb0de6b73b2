"""Many threads on one breaker: every outcome counted once, and never more
trial calls in flight than half_open_max_calls; permits of allow_request()
belong to the calling thread."""

from __future__ import annotations

import threading
import time
from typing import List

import fusebox
from fusebox import CircuitBreaker, CircuitOpenError, CircuitState

THREADS = 16
CALLS = 1000


def run_threads(target: "threading.Thread | object", count: int = THREADS) -> None:
    start = threading.Barrier(count)

    def body() -> None:
        start.wait()
        target()  # type: ignore[operator]

    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_counts_add_up_over_16_threads(name: str) -> None:
    cb = CircuitBreaker(name, failure_threshold=10**6)
    outcomes: List[int] = []
    lock = threading.Lock()

    def body() -> None:
        mine = [0, 0]
        for i in range(CALLS):
            if i % 10 == 0:
                try:
                    cb.call(lambda: 1 / 0)
                except ZeroDivisionError:
                    mine[1] += 1
            else:
                cb.call(lambda: None)
                mine[0] += 1
        with lock:
            outcomes.extend(mine)

    run_threads(body)
    m = cb.metrics()
    assert m["successes"] == sum(outcomes[0::2]) == THREADS * CALLS * 9 // 10
    assert m["failures"] == sum(outcomes[1::2]) == THREADS * CALLS // 10
    assert cb.state is CircuitState.CLOSED


def test_never_more_trial_calls_in_flight_than_allowed(name: str, clock: fusebox.ManualClock) -> None:
    allowed = 3
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0,
                        half_open_max_calls=allowed, success_threshold=10**6, clock=clock)
    cb.trip()
    clock.advance(1.0)
    in_flight = 0
    most = 0
    admitted = 0
    refused = 0
    lock = threading.Lock()

    def probe() -> None:
        nonlocal in_flight, most, admitted
        with lock:
            in_flight += 1
            admitted += 1
            most = max(most, in_flight)
        # Give other threads the GIL while this trial is in flight.
        threading.Event().wait(0.0001)
        with lock:
            in_flight -= 1

    def body() -> None:
        nonlocal refused
        for _ in range(CALLS // 10):
            try:
                cb.call(probe)
            except CircuitOpenError as error:
                assert error.state is CircuitState.HALF_OPEN
                with lock:
                    refused += 1

    run_threads(body)
    assert 1 <= most <= allowed
    assert admitted + refused == THREADS * CALLS // 10
    m = cb.metrics()
    assert m["successes"] == admitted and m["rejections"] == refused
    assert cb.state is CircuitState.HALF_OPEN


def test_allow_request_permits_belong_to_the_calling_thread(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, clock=clock)
    cb.trip()
    clock.advance(1.0)
    assert cb.allow_request()  # this thread holds the one trial slot
    seen: List[bool] = []

    def other() -> None:
        seen.append(cb.allow_request())
        cb.record_failure()  # no permit here: the trial slot is taken, nothing counts

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [False]
    assert cb.state is CircuitState.HALF_OPEN
    cb.record_success()  # settles this thread's trial call
    assert cb.state is CircuitState.CLOSED


def test_allow_request_and_record_as_in_the_seed(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=2, recovery_timeout=5.0, clock=clock)
    for _ in range(2):
        assert cb.allow_request()
        cb.record_failure()
    assert cb.state is CircuitState.OPEN
    assert not cb.allow_request()
    clock.advance(5.0)
    # A record_* with no permit is an outcome of the current generation.
    cb.record_success()
    assert cb.state is CircuitState.CLOSED
    cb.record_failure()
    cb.record_failure()
    assert cb.state is CircuitState.OPEN


def test_a_permit_left_by_a_finished_thread_is_cancelled(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, recovery_timeout=1.0, clock=clock)
    cb.trip()
    clock.advance(1.0)
    thread = threading.Thread(target=cb.allow_request)
    thread.start()
    thread.join()
    # The permit is dropped with the thread's Rust thread-local storage, a
    # moment after join() returns: wait for that event (not for time).
    deadline = time.monotonic() + 10
    while cb.metrics()["half_open_in_flight"] and time.monotonic() < deadline:
        time.sleep(0.001)
    assert cb.metrics()["half_open_in_flight"] == 0
    assert cb.metrics()["cancelled"] == 1
    assert cb.allow_request()
