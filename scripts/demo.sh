#!/usr/bin/env bash
# The main job: `fusebox run` tripping and recovering on a real command, with
# `fusebox status` showing it. Needs no network; state goes to a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p fusebox-cli
fusebox=target/release/fusebox
export FUSEBOX_STATE="$(mktemp -d)/state.db"
flags=(--failure-threshold 3 --recovery-timeout 2s)

say() { printf '\n$ %s\n' "$*"; }
run() { say "fusebox run mirror ${flags[*]} -- ${*@Q}"; "$fusebox" run mirror "${flags[@]}" -- "$@" && code=0 || code=$?; echo "(exit $code)"; }

echo "A mirror that is down: every fetch fails."
for _ in 1 2 3; do run sh -c 'echo "fetching..."; exit 1'; done
echo
echo "Three failures in a row: the breaker is open, and fusebox does not even run the command."
run sh -c 'echo "fetching..."; exit 1'
say "fusebox status"; "$fusebox" status
echo
echo "Waiting out the 2 s recovery timeout; the mirror is back."
sleep 2.1
say "fusebox status"; "$fusebox" status
run sh -c 'echo "fetching... ok"'
say "fusebox status --json"; "$fusebox" status --json
