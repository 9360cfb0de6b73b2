#!/usr/bin/env bash
# Runs the criterion benchmarks of fusebox and the peer crates in one run and
# prints, per scenario, each crate's time and its ratio to the best peer.
# Extra arguments go to criterion (e.g. a filter: scripts/bench.sh closed_success).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p fusebox-benches --bench breakers -- "$@" >&2
python3 scripts/bench_table.py target/criterion
