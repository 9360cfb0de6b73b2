#!/usr/bin/env bash
# Runs every check and test of the workspace. Sets up what it needs on a
# fresh machine itself: redis-server, installed with apt-get when missing
# (the Redis tests start their own servers); chromium and chromedriver, the
# same way (the dashboard's browser test drives a headless Chromium and
# fails, never skips, without them); and for the Python package
# (scripts/test_python.sh) the virtualenvs, maturin and the abi3 wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "set-up"
if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server is missing: installing it with apt-get (the Redis store tests start their own)"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version
if ! command -v chromedriver >/dev/null 2>&1; then
    echo "chromedriver is missing: installing chromium and chromium-driver with apt-get (the dashboard's browser test drives them)"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromedriver --version

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests"
cargo test --workspace --all-features

step "loom model checks"
RUSTFLAGS="--cfg fusebox_loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p fusebox --test loom --test loom_time_window --release

step "doc build"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

step "python package"
scripts/test_python.sh

echo
echo "all checks passed"
