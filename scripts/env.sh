#!/usr/bin/env bash
# Find or build the Python 3.7 environment syft-fl runs in; print its python's path on stdout.
#
# 1. An active conda env with Python 3.7 (CONDA_PREFIX set) is used as is.
# 2. Otherwise .venv/ at the repo root, created from the first Python 3.7 found:
#    $PYTHON, python3.7 on PATH, then pyenv's versions (~/.pyenv/versions/3.7*).
# The lock (requirements.txt) is installed when its SHA-256 differs from the one recorded at the last
# install, so a second call is a no-op. Progress goes to stderr.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/requirements.txt"

is_py37() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 7))' >/dev/null 2>&1; }

lock_hash() { sha256sum "$lock" | cut -d' ' -f1; }

sync_lock() {  # $1: python, $2: stamp file
    local want; want="$(lock_hash)"
    if [ -f "$2" ] && [ "$(cat "$2")" = "$want" ]; then return 0; fi
    echo "syft-fl: installing the pinned lock (requirements.txt) into $($1 -c 'import sys; print(sys.prefix)') ..." >&2
    "$1" -m pip install --disable-pip-version-check -q -r "$lock" >&2
    "$1" -m pip check >&2
    echo "$want" > "$2"
}

if [ -n "${CONDA_PREFIX:-}" ] && is_py37 "$CONDA_PREFIX/bin/python"; then
    sync_lock "$CONDA_PREFIX/bin/python" "$CONDA_PREFIX/.syft-fl-lock"
    echo "$CONDA_PREFIX/bin/python"
    exit 0
fi

venv="$root/.venv"
if ! is_py37 "$venv/bin/python"; then
    base=""
    for cand in "${PYTHON:-}" "$(command -v python3.7 || true)" "$HOME"/.pyenv/versions/3.7*/bin/python; do
        if [ -n "$cand" ] && is_py37 "$cand"; then base="$cand"; break; fi
    done
    if [ -z "$base" ]; then
        echo "syft-fl: no Python 3.7 found (tried \$PYTHON, python3.7 on PATH, ~/.pyenv/versions/3.7*)." >&2
        echo "syft-fl: torch 1.4 needs Python 3.5-3.8. Get it with:  conda env create -f environment.yml && conda activate syft-fl" >&2
        echo "syft-fl: (or install Python 3.7, e.g. 'pyenv install 3.7.16', or set PYTHON=/path/to/python3.7)" >&2
        exit 1
    fi
    echo "syft-fl: creating .venv from $base" >&2
    rm -rf "$venv"
    "$base" -m venv "$venv"
fi
sync_lock "$venv/bin/python" "$venv/.syft-fl-lock"
echo "$venv/bin/python"
