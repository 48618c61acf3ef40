#!/usr/bin/env bash
# Install the project and its dependencies into the active Python environment.
# torch comes first so that pip does not pull a multi-GB CUDA build on CPU-only
# machines: set TORCH_SPEC (e.g. "torch" for your platform's default build, or
# "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu") to choose.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    # shellcheck disable=SC2086
    "$PYTHON" -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
fi
"$PYTHON" -m pip install -q -e ".[dev]"
