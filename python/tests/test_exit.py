"""A program that exits while daemon threads are inside breaker calls exits
cleanly. CPython before 3.14 ends such a thread, when it next wants the GIL,
with pthread_exit; its unwinding used to abort the process (SIGABRT or
SIGSEGV) when it met the extension's frames. Real processes, real exits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = """
import asyncio, sys, threading, time
import fusebox

mode, store = sys.argv[1], sys.argv[2]
cb = fusebox.CircuitBreaker("exit", store=store or None)

def python_code():
    return sum(range(100))

async def in_a_loop():
    async def step():
        await asyncio.sleep(0)
        return python_code()
    while True:
        await cb.execute(step)

def work():
    while True:
        if mode == "python":
            cb.call(python_code)
        elif mode == "sleep":
            cb.call(time.sleep, 0.01)
        elif mode == "async":
            asyncio.run(in_a_loop())

for _ in range(4):
    threading.Thread(target=work, daemon=True).start()
time.sleep(0.2)
print("main done", flush=True)
"""


@pytest.mark.parametrize("mode", ["python", "sleep", "async", "store"])
def test_daemon_threads_inside_calls_do_not_crash_the_exit(mode: str, tmp_path: Path) -> None:
    # The store's calls release the GIL while they wait on the file.
    store = f"sqlite://{tmp_path / 'state.db'}" if mode == "store" else ""
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM, "python" if mode == "store" else mode, store],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout) == (0, "main done\n"), done.stderr
