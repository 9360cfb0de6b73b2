"""While the core waits on a store, the GIL is released: other Python
threads run.

The redis-server is stopped (SIGSTOP) so that the breaker's store commands
wait. Another thread, pure Python, counts to a mark and only then lets the
server go on (SIGCONT); the waiting call reads the count when it returns.
Released, the GIL lets the counter reach the mark during the wait, so the
call returns after it. Held, the counter cannot move until the store
commands have run into their timeout and the call has returned: the call
would read a count far below the mark (a switch interval's worth at most).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import List

import pytest

from fusebox import CircuitBreaker

from conftest import RedisServer

# Many switch intervals' worth of counting: the counter cannot reach this
# before the waiting call has gone into the store, even if it is handed the
# GIL first, nor in the moments after a call that held the GIL returns.
MARK = 1_000_000


class Down(Exception):
    pass


def fail() -> None:
    raise Down("dependency down")


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP/SIGCONT")
def test_other_threads_run_while_a_call_waits_on_the_store(redis: RedisServer, name: str) -> None:
    # A timeout far longer than counting takes: answered in time, the store
    # command succeeds however loaded the machine is.
    url = redis.url.replace("timeout=5s", "timeout=20s")
    cb = CircuitBreaker(name, failure_threshold=5, store=url)
    assert cb.call(lambda: 1) == 1  # connected before the server stops
    assert redis.process is not None
    server = redis.process.pid

    calling = threading.Event()
    progress = [0]
    seen_on_return: List[int] = []
    outcome: List[BaseException] = []

    def count_then_resume() -> None:
        calling.wait()
        while progress[0] < MARK:
            progress[0] += 1
        os.kill(server, signal.SIGCONT)

    def call_through_the_stopped_store() -> None:
        calling.set()
        try:
            cb.call(fail)
        except BaseException as error:  # noqa: BLE001 - checked below
            seen_on_return.append(progress[0])
            outcome.append(error)

    counter = threading.Thread(target=count_then_resume)
    os.kill(server, signal.SIGSTOP)
    try:
        counter.start()
        caller = threading.Thread(target=call_through_the_stopped_store)
        caller.start()
        caller.join()
        counter.join()
    finally:
        os.kill(server, signal.SIGCONT)

    assert len(outcome) == 1 and isinstance(outcome[0], Down)
    assert seen_on_return == [MARK], "no other thread ran while the call waited: the GIL was held"
    # The failure reached the server: a second breaker object reads it there.
    assert CircuitBreaker(name, failure_threshold=5, store=url).failure_count == 1
