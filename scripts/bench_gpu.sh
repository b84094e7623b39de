#!/usr/bin/env bash
# The training benchmark on whatever accelerators this machine has (docs/training.md "Speed").
#
#   scripts/bench_gpu.sh [extra bench_train.py options]
#
# With GPUs: precision, XLA and strategy are `auto` (mixed_float16 on compute capability >= 7.0,
# XLA on, MirroredStrategy over the GPUs when there are several: archspec/train/precision.py and
# strategy.py), and the figures are against the GPU's fp16/bf16 tensor peak
# (archspec.tools.bench.GPU_PEAKS, by device name). Without a GPU the same command runs on the CPU
# (auto: bfloat16 where the CPU has it, no XLA). The batch is per step, global (split over the GPUs).
# Prints nvidia-smi's view first where it exists; the last line is bench_train.py's ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
else
  GPUS=0
fi
echo "gpus: $GPUS; $(date -u +%Y-%m-%dT%H:%MZ)"
if [ "$GPUS" -gt 0 ]; then
  # GPU epochs are short: more images so that per-epoch costs (checkpoint, TensorBoard) amortize
  exec "$PY" scripts/bench_train.py --precision auto --jit-compile auto --images $((20480 * GPUS)) \
    --nets resnet20,resnet50_64 --rounds 3 "$@"
fi
exec "$PY" scripts/bench_train.py --precision auto --jit-compile auto "$@"
