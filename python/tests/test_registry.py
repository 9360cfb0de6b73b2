"""Named breakers: get_breaker, @circuit_breaker and load_config reading the
same YAML/TOML files as the Rust Registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import fusebox
from fusebox import CircuitBreaker, CircuitOpenError, CircuitState, circuit_breaker, get_breaker


class Down(Exception):
    pass


def test_get_breaker_returns_one_breaker_per_name(name: str) -> None:
    assert get_breaker(name) is get_breaker(name)
    assert get_breaker(name).name == name
    assert get_breaker(name) is not get_breaker(name + "-other")


def test_circuit_breaker_shares_the_registry_breaker(name: str) -> None:
    @circuit_breaker(name=name, failure_threshold=2)
    def fetch(fails: bool) -> str:
        if fails:
            raise Down()
        return "data"

    @circuit_breaker(name=name)
    def other() -> str:
        return "other"

    assert fetch(False) == "data"
    for _ in range(2):
        with pytest.raises(Down):
            fetch(True)
    assert get_breaker(name).state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        other()
    assert get_breaker(name).failure_threshold == 2


def test_a_different_setting_for_a_registered_name_is_an_error(name: str) -> None:
    circuit_breaker(name=name, failure_threshold=3, recovery_timeout=10.0)(lambda: None)
    circuit_breaker(name=name, failure_threshold=3, recovery_timeout=10.0)(lambda: None)
    with pytest.raises(ValueError, match="failure_threshold"):
        circuit_breaker(name=name, failure_threshold=4)(lambda: None)
    with pytest.raises(ValueError, match="recovery_timeout"):
        circuit_breaker(name=name, recovery_timeout=11.0)(lambda: None)


@pytest.mark.asyncio
async def test_circuit_breaker_on_async_functions_with_fallback(name: str) -> None:
    async def cached(key: str) -> str:
        return f"cached {key}"

    @circuit_breaker(name=name, failure_threshold=1, fallback=cached)
    async def fetch(key: str) -> str:
        await asyncio.sleep(0)
        raise Down()

    assert asyncio.iscoroutinefunction(fetch)
    with pytest.raises(Down):
        await fetch("k")
    assert await fetch("k") == "cached k"


def test_decorator_fallback_is_per_function(name: str) -> None:
    @circuit_breaker(name=name, failure_threshold=1, fallback=lambda: "default")
    def with_fallback() -> str:
        raise Down()

    @circuit_breaker(name=name)
    def without() -> str:
        return "live"

    with pytest.raises(Down):
        with_fallback()
    assert with_fallback() == "default"
    with pytest.raises(CircuitOpenError):
        without()


def test_load_config_yaml_sets_defaults_and_per_name_settings(tmp_path: Path, name: str) -> None:
    path = tmp_path / "breakers.yaml"
    path.write_text(
        "defaults:\n  failure_threshold: 3\n  recovery_timeout: 30s\n"
        f"breakers:\n  {name}-pypi:\n    failure_threshold: 5\n    recovery_timeout: 1m30s\n"
    )
    before = get_breaker(name + "-made-before")
    fusebox.load_config(path)
    try:
        assert get_breaker(name + "-pypi").failure_threshold == 5
        assert get_breaker(name + "-pypi").recovery_timeout == 90.0
        assert get_breaker(name + "-other").failure_threshold == 3
        # Breakers made before loading, and breakers built with arguments, keep theirs.
        assert before.failure_threshold == 5
        assert CircuitBreaker(name + "-pypi").failure_threshold == 5
        assert CircuitBreaker(name + "-other").failure_threshold == 5
    finally:
        empty = tmp_path / "empty.yaml"
        empty.write_text("")
        fusebox.load_config(empty)


def test_load_config_reads_a_tools_performance_section(tmp_path: Path, name: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "app: {theme: dark}\n"
        "performance:\n  cache: {size: 10}\n  circuit_breaker:\n"
        "    enabled: true\n    failure_threshold: 3\n    recovery_timeout: 30 # seconds\n"
    )
    fusebox.load_config(str(path))
    try:
        cb = get_breaker(name)
        assert (cb.failure_threshold, cb.recovery_timeout) == (3, 30.0)
        for _ in range(3):
            with pytest.raises(Down):
                cb.call(_fail)
        assert cb.state is CircuitState.OPEN
    finally:
        path.write_text("")
        fusebox.load_config(path)


def test_load_config_toml_and_disabled_breakers(tmp_path: Path, name: str) -> None:
    path = tmp_path / "breakers.toml"
    path.write_text("[performance.circuit_breaker]\nenabled = false\nfailure_threshold = 1\n")
    fusebox.load_config(path)
    try:
        cb = get_breaker(name)
        assert cb.state is CircuitState.DISABLED
    finally:
        path.write_text("")
        fusebox.load_config(path)


def test_bad_config_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fusebox.load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  failure_treshold: 3\n")
    with pytest.raises(ValueError, match="failure_treshold") as raised:
        fusebox.load_config(bad)
    assert "bad.yaml" in str(raised.value)
    zero = tmp_path / "zero.toml"
    zero.write_text("[defaults]\nfailure_threshold = 0\n")
    with pytest.raises(ValueError, match="failure_threshold"):
        fusebox.load_config(zero)
    with pytest.raises(TypeError, match="path"):
        fusebox.load_config(42)  # type: ignore[arg-type]


def _fail() -> None:
    raise Down()


def test_a_conflicting_store_is_named_without_its_password(name: str) -> None:
    # Nothing listens on port 1: the breaker carries on with local state.
    circuit_breaker(name=name, store="redis://:s3cretpw@127.0.0.1:1/0")(lambda: None)
    with pytest.raises(ValueError, match="store") as raised:
        circuit_breaker(name=name, store="redis://bob:0therpw@127.0.0.1:1/0?prefix=a@b")(lambda: None)
    message = str(raised.value)
    assert "s3cretpw" not in message and "0therpw" not in message, message
    assert "redis://:***@127.0.0.1:1/0" in message, message
    assert "redis://bob:***@127.0.0.1:1/0?prefix=a@b" in message, message
