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


FLEET = """
import logging, shutil, socket, subprocess, sys, time
import fusebox

mode = sys.argv[1]
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = subprocess.Popen(
    [shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(port),
     "--save", "", "--appendonly", "no"],
    stdout=subprocess.DEVNULL,
)
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.01)

import slow_filter
logging.getLogger("fusebox").addFilter(slow_filter.Slow())
cb = fusebox.CircuitBreaker("fleet", store=f"redis://127.0.0.1:{port}/0?sync=10ms")
cb.call(lambda: 1)
permit = cb.acquire() if mode == "permit" else None
server.kill()
server.wait()
# A call for the synchronisation thread to send: it finds the store away
# and logs so, through the slow filter, while this goes on.
cb.call(lambda: 1)
time.sleep(0.1)
if mode in ("drop", "permit"):
    del cb  # the last handle synchronises: the breaker, or a permit of it
    del permit
print("main done", flush=True)
"""


SLOW_FILTER = """
import logging, time

class Slow(logging.Filter):
    # A filter that waits on something (the GIL is released meanwhile).
    def filter(self, record):
        time.sleep(0.5)
        return True
"""


@pytest.mark.parametrize("mode", ["drop", "permit", "exit"])
def test_a_fleet_breaker_whose_store_went_away_lets_go_and_exits(
    mode: str, tmp_path: Path
) -> None:
    # The synchronisation thread holds its round trip while it logs, and
    # waits for the GIL to do so: dropping the breaker's last handle (which
    # synchronises) with the GIL held deadlocked; at exit, CPython ended
    # the thread (an abort) or it waited for ever.
    (tmp_path / "slow_filter.py").write_text(SLOW_FILTER)
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", FLEET, mode],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert (done.returncode, done.stdout) == (0, "main done\n"), done.stderr
