"""A breaker held by the object whose methods it calls is in a reference
cycle with it; the cycle collector frees both."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from fusebox import CircuitBreaker


class Client:
    def __init__(self, name: str) -> None:
        self.cb = CircuitBreaker(name, fallback=self.cached, exclude=[KeyError])
        self.cb.on_transition(self.changed)

    def cached(self, *args: Any) -> str:
        return "cached"

    def changed(self, transition: Any) -> None:
        pass


def test_a_client_whose_breaker_calls_its_methods_is_collected(name: str) -> None:
    client = Client(name)
    client.cb.trip()  # the callback ran: the breaker is in use, not just made
    assert client.cb.call(lambda: 1) == "cached"
    watched = [weakref.ref(client), weakref.ref(client.cb)]
    del client
    gc.collect()
    assert [ref() for ref in watched] == [None, None]


def test_a_live_breaker_keeps_its_callbacks(name: str) -> None:
    client = Client(name)
    heard = []
    client.cb.on_transition(heard.append)
    gc.collect()  # the breaker is reachable: nothing it holds may be cleared
    client.cb.trip()
    assert len(heard) == 1
    assert client.cb.call(lambda: 1) == "cached"
