#!/usr/bin/env bash
# The GPU check, at most 8 minutes on one H100/H200 where only torch, transformers and
# accelerate are installed: every stage of dvc.yaml on the real MARC files with the GPU
# profile (profiles/gpu.yaml), then the mT5-small-shaped throughput benchmark with the
# seconds left, then one summary table (also benchmarks/out/gpu/summary.md).
#   bash benchmarks/gpu.sh [MARC_DIR] [--wheels DIR]   # MARC_DIR: default ../shared/marc
# --wheels: the packages the stages need beyond those three (../shared/gpu/fetch-wheels.sh
# downloads them). The throughput benchmark alone: python -m benchmarks.gpu --device cuda
# (4-6 minutes). On the CPU, in about a minute: python -m benchmarks.gpu_check --tiny
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 480 "${PYTHON:-python3}" -m benchmarks.gpu_check "$@"
