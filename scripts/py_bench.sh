#!/usr/bin/env bash
# The Python benchmark: builds the extension (release), installs it with
# pybreaker, circuitbreaker, aiobreaker and purgatory from PyPI into a
# virtualenv of its own, and runs scripts/py_bench.py (arguments passed on).
#
#     scripts/py_bench.sh [--calls N] [--repeats R]
#
# PYTHON picks the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${BENCH_VENV:-$(pwd)/target/python-bench}"
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip maturin \
    pybreaker circuitbreaker aiobreaker purgatory
rm -f target/wheels/fusebox-*.whl
"$venv/bin/maturin" build --quiet --out target/wheels --interpreter "$venv/bin/python"
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps target/wheels/fusebox-*.whl
cd target  # import the installed package, not the source tree
exec "$venv/bin/python" -W ignore ../scripts/py_bench.py "$@"
