#!/usr/bin/env bash
# Per-call cost of each store and calls/s with 8 processes on one breaker.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p fusebox-stores --example store_bench
bench=target/release/examples/store_bench
. scripts/with_redis.sh
"$bench" memory: 1000000 1
"$bench" "sqlite://$dir/one.db" 20000 1
"$bench" "redis://127.0.0.1:$port/0" 20000 1
"$bench" "sqlite://$dir/eight.db" 5000 8
"$bench" "redis://127.0.0.1:$port/0" 5000 8
