"""Shared fixtures: unique breaker names, a manual clock, and a real
redis-server on a free loopback port."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from typing import Iterator

import pytest

import fusebox

_names = itertools.count()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A breaker name no other test uses (the registry is process-wide)."""
    return f"{request.node.name}-{next(_names)}"


@pytest.fixture
def clock() -> fusebox.ManualClock:
    return fusebox.ManualClock()


class RedisServer:
    """A redis-server of this test's own, killed at the end."""

    def __init__(self, directory: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.process: "subprocess.Popen[bytes] | None" = None
        self.start()

    @property
    def url(self) -> str:
        # A timeout far above the 50 ms default: on a loaded test machine a
        # command may take longer, and that would read as an outage.
        return f"redis://127.0.0.1:{self.port}/0?timeout=5s"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (scripts/test.sh installs it)")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:  # wait for start-up (process time, not test time)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.01)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            check=True, capture_output=True, text=True,
        ).stdout


@pytest.fixture
def redis(tmp_path: "pytest.TempPathFactory") -> Iterator[RedisServer]:
    server = RedisServer(str(tmp_path))
    yield server
    server.kill()
