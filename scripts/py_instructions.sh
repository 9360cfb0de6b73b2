#!/usr/bin/env bash
# Instructions per call of each contender of scripts/py_bench.py, counted by
# valgrind (callgrind), so the figures do not depend on the machine's load:
# (instructions of a loop of N calls - those of a loop of 0 calls) / N.
# Run scripts/py_bench.sh first (it makes the virtualenv this uses), or set
# BENCH_PYTHON to another interpreter with fusebox installed.
#
#     scripts/py_instructions.sh [N [LOOP...]]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${BENCH_PYTHON:-$(pwd)/target/python-bench/bin/python}"
calls="${1:-20000}"
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$python" -W ignore \
        ../scripts/py_bench.py --once "$1" --calls "$2" 2>&1 >/dev/null \
        | awk '/I +refs:/ { gsub(",", "", $NF); print $NF; exit }'
}
cd target
printf '| %-24s | %14s |\n|---|---:|\n' "loop" "instructions/call"
all=(bare-call fusebox-call fusebox-decorator circuitbreaker purgatory pybreaker
    bare-raise fusebox-open circuitbreaker-open pybreaker-open
    bare-await fusebox-execute fusebox-async-decorator circuitbreaker-async aiobreaker-async purgatory-async)
[ $# -gt 1 ] && all=("${@:2}")
for name in "${all[@]}"; do
    base=$(count "$name" 0)
    loop=$(count "$name" "$calls")
    printf '| %-24s | %14d |\n' "$name" $(( (loop - base) / calls ))
done
