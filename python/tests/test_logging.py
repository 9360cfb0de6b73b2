"""Transitions: one INFO record per transition on logger `fusebox`, with
levels and handlers honoured whenever they are set; on_transition callbacks."""

from __future__ import annotations

import logging
from typing import List

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitState, Transition


class Down(Exception):
    pass


def fail() -> None:
    raise Down()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> "List[logging.LogRecord]":
    logger = logging.getLogger("fusebox")
    handler = Collect()
    old_level = logger.level
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_one_info_record_per_transition(name: str, clock: fusebox.ManualClock, collected: List[logging.LogRecord]) -> None:
    logging.getLogger("fusebox").setLevel(logging.INFO)
    cb = CircuitBreaker(name, failure_threshold=2, recovery_timeout=1.0, clock=clock)
    for _ in range(2):
        with pytest.raises(Down):
            cb.call(fail)
    clock.advance(1.0)
    cb.call(lambda: None)
    mine = [r for r in collected if getattr(r, "circuit", None) == name]
    assert [(r.levelno, r.from_state, r.to_state) for r in mine] == [  # type: ignore[attr-defined]
        (logging.INFO, "closed", "open"),
        (logging.INFO, "open", "half_open"),
        (logging.INFO, "half_open", "closed"),
    ]
    assert mine[0].getMessage() == f"circuit {name!r} closed -> open: 2 consecutive failures"
    assert mine[0].name == "fusebox"


def test_levels_and_handlers_set_after_the_breaker_are_honoured(name: str, collected: List[logging.LogRecord]) -> None:
    logger = logging.getLogger("fusebox")
    cb = CircuitBreaker(name)
    logger.setLevel(logging.WARNING)
    cb.trip()
    assert [r for r in collected if getattr(r, "circuit", None) == name] == []
    logger.setLevel(logging.INFO)
    cb.reset()
    assert [r.to_state for r in collected if getattr(r, "circuit", None) == name] == ["closed"]  # type: ignore[attr-defined]
    late = Collect()
    logger.addHandler(late)
    try:
        cb.force_open()
    finally:
        logger.removeHandler(late)
    assert [r.to_state for r in late.records] == ["forced_open"]  # type: ignore[attr-defined]


def test_on_transition_callbacks_receive_transitions(name: str, clock: fusebox.ManualClock) -> None:
    cb = CircuitBreaker(name, failure_threshold=1, clock=clock)
    seen: List[Transition] = []

    @cb.on_transition
    def remember(transition: Transition) -> None:
        seen.append(transition)

    with pytest.raises(Down):
        cb.call(fail)
    cb.reset()
    assert [(t.name, t.from_state, t.to_state) for t in seen] == [
        (name, CircuitState.CLOSED, CircuitState.OPEN),
        (name, CircuitState.OPEN, CircuitState.CLOSED),
    ]
    assert seen[0].reason == "1 failure" and seen[1].reason == "reset by hand"
    assert seen[1].generation > seen[0].generation
    assert seen[0].at > 1.5e9


def test_a_failing_callback_is_logged_not_raised(name: str, collected: List[logging.LogRecord]) -> None:
    cb = CircuitBreaker(name, failure_threshold=1)

    def broken(transition: Transition) -> None:
        raise RuntimeError("callback bug")

    cb.on_transition(broken)
    with pytest.raises(Down):
        cb.call(fail)
    assert cb.state is CircuitState.OPEN
    assert any("callback" in r.getMessage() and r.levelno == logging.ERROR for r in collected)
    with pytest.raises(TypeError, match="callback"):
        cb.on_transition(42)  # type: ignore[type-var]
