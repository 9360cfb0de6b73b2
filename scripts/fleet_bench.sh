#!/usr/bin/env bash
# Fleet mode's figures: closed-call cost against an in-memory breaker (same
# run), store commands per second, trip propagation between processes, and
# the overshoot of 8 processes failing at full speed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p fusebox-stores --example fleet_bench
bench=target/release/examples/fleet_bench
. scripts/with_redis.sh
redis="redis://127.0.0.1:$port/0"
"$bench" closed "$redis"
"$bench" closed "sqlite://$dir/closed.db"
"$bench" propagation "$redis" 100
"$bench" overshoot "$redis" 8 1000
"$bench" overshoot "sqlite://$dir/overshoot.db" 8 1000
