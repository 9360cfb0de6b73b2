#!/usr/bin/env bash
# The Python package's checks: builds the abi3 wheel once, installs it into a
# fresh virtualenv of the oldest (3.9), a 3.11 and the newest CPython found,
# and runs pytest under each and `mypy --strict` on the usage example.
#
# Called at the end of scripts/test.sh; runs alone too. Needs a Rust
# toolchain and python3 (pyenv's ~/.pyenv/versions/* are used when present).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="${PY_TEST_DIR:-$root/target/python-test}"
mkdir -p "$work"

step() { printf '\n==> %s\n' "$*"; }

# The interpreters: the newest 3.9 and the newest 3.x from pyenv, else python3.
pick() {
    ls -d "$HOME"/.pyenv/versions/$1/bin/python 2>/dev/null | sort -V | tail -n 1
}
oldest=$(pick '3.9.*')
newest=$(ls -d "$HOME"/.pyenv/versions/3.*/bin/python 2>/dev/null \
    | grep -v -- '-dev\|t/bin' | sort -V | tail -n 1 || true)
[ -n "$newest" ] || newest=$(command -v python3)
[ -n "$oldest" ] || oldest="$newest"
# And a 3.10 or 3.11 between them: only those drive an awaitable through its
# `am_send` slot, a path of its own in the extension.
middle=$(pick '3.11.*')
[ -n "$middle" ] || middle=$(pick '3.10.*')
pythons=()
for python in "$oldest" "$middle" "$newest"; do
    [ -n "$python" ] || continue
    for seen in "${pythons[@]}"; do
        [ "$(readlink -f "$seen")" = "$(readlink -f "$python")" ] && continue 2
    done
    pythons+=("$python")
done

# A virtualenv of $1 at $2; Debian's python3 needs python3-venv for that.
make_venv() {
    [ -x "$2/bin/python" ] && return
    if ! "$1" -m venv "$2" 2>/dev/null; then
        rm -rf "$2"
        echo "$1 cannot make a virtualenv: installing python3-venv with apt-get"
        sudo_cmd=""
        [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
        "$1" -m venv "$2"
    fi
}

step "python: build the abi3 wheel once"
builder="$work/venv-build"
make_venv "$newest" "$builder"
"$builder/bin/python" -m pip install -q --upgrade pip maturin
rm -f "$root"/target/wheels/fusebox-*.whl
# The profile is pyproject.toml's, as for `pip install .`.
"$builder/bin/maturin" build --quiet --out "$root/target/wheels" \
    --interpreter "$newest"
wheel=$(ls "$root"/target/wheels/fusebox-*-abi3-*.whl | head -n 1)
echo "built $wheel"

for python in "${pythons[@]}"; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    venv="$work/venv-$version"
    step "python $version: install the wheel and run pytest"
    make_venv "$python" "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip pytest pytest-asyncio mypy
    "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
    # From outside the source tree, so the installed package is the one tested.
    (cd "$work" && "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        -c "$root/pyproject.toml" --rootdir "$root" "$root/python/tests")
    step "python $version: mypy --strict on the usage example"
    (cd "$work" && "$venv/bin/python" -m mypy --strict --no-incremental \
        "$root/python/examples/usage.py")
done

echo
echo "python checks passed (${#pythons[@]} interpreters)"
