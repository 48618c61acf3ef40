#!/usr/bin/env bash
# Set up the project: a virtual environment with PyTorch, the project and its
# development tools; then run COMMAND, if given, inside it:
#   bash scripts/setup.sh [COMMAND ...]     e.g. bash scripts/setup.sh dvc repro
# Safe to run again: a second run installs nothing and takes about a second.
#
# Where: the active virtual environment ($VIRTUAL_ENV) if there is one, else
# .venv/ in the project (created with $PYTHON, default python3). A system Python
# marked "externally managed" (Debian, Ubuntu) is never installed into.
# PyTorch: the CPU build torch==2.13.0 by default (no CUDA download on CPU-only
# machines); TORCH_SPEC chooses another, e.g. TORCH_SPEC=torch for the
# platform's CUDA build on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

fail() { echo "error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || fail "no '$PYTHON' found: install Python 3.10 or newer \
(Debian/Ubuntu: apt install python3 python3-venv) or set PYTHON=/path/to/python3."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || fail "$("$PYTHON" -V 2>&1) is too old: this project needs Python 3.10 or newer \
(set PYTHON=/path/to/python3.10+)."

if [ -n "${VIRTUAL_ENV:-}" ]; then
    venv=$VIRTUAL_ENV
else
    venv=.venv
    if [ ! -x "$venv/bin/python" ]; then
        # ensurepip is what Debian's python3-venv package adds; without it venv
        # leaves a half-made folder, so check first.
        "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || fail "$PYTHON cannot create \
virtual environments: install the venv module (Debian/Ubuntu: apt install python3-venv) \
and run this script again."
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv" || { rm -rf "$venv"; fail "could not create $venv"; }
    fi
fi
py=$venv/bin/python

# The stamp records what the last successful install was made from; when it
# matches, nothing is reinstalled.
stamp=$venv/.marc-setup
want="$(cat pyproject.toml) $TORCH_SPEC"
run() {  # the command, with the environment's programs (dvc, summarize, pytest) first
    [ $# -gt 0 ] || exit 0
    export VIRTUAL_ENV
    VIRTUAL_ENV=$(cd "$venv" && pwd)
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    exec "$@"
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$py" -c 'import torch, stages' 2>/dev/null; then
    echo "set-up is current: $venv (in a new shell: source $venv/bin/activate)" >&2
    run "$@"
fi

pip_install() {
    "$py" -m pip install -q --disable-pip-version-check "$@" || fail "pip could not install \
$*: check the network connection to the package index (or a proxy: pip's --proxy, \
PIP_INDEX_URL) and run this script again."
}
"$py" -m pip --version >/dev/null 2>&1 || fail "$venv has no pip: run \
'$py -m ensurepip' (or make it with python3 -m venv) and run this script again."
torch_stamp=$venv/.marc-torch
if ! "$py" -c "import torch" 2>/dev/null; then
    # shellcheck disable=SC2086
    pip_install $TORCH_SPEC
elif [ -f "$torch_stamp" ] && [ "$(cat "$torch_stamp")" != "$TORCH_SPEC" ]; then
    # Another build asked for (e.g. TORCH_SPEC=torch for CUDA): replace the one there.
    # shellcheck disable=SC2086
    pip_install --force-reinstall $TORCH_SPEC
fi
echo "$TORCH_SPEC" >"$torch_stamp"
pip_install -e ".[dev]"
echo "$want" >"$stamp"
echo "set-up done: $venv (in a new shell: source $venv/bin/activate)" >&2
run "$@"
