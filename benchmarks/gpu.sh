#!/usr/bin/env bash
# GPU throughput of the scratch model and an mT5-small-shaped model (bf16), with model FLOP
# utilisation; writes benchmarks/out/gpu/results.{json,md} (the CPU results' format).
# Takes 4-6 minutes on one H100/H200; the timeout keeps it under 8. Extra arguments go to
# `python -m benchmarks.gpu` (e.g. --models mt5-small, --budget-s 5, --peak-tflops 989).
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible to torch"
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
PY
# H100/H200 SXM: 989 dense bf16 TFLOP/s (nominal), for a second MFU figure.
exec timeout 470 python -m benchmarks.gpu --device cuda --peak-tflops "${PEAK_TFLOPS:-989}" "$@"
