#!/usr/bin/env bash
# Every GPU check of avsl in one go (a few minutes on one H200): the `gpu` tests (each method
# trains in fp32 and bf16, validates, resumes and evaluates on CUDA), then the GPU benches
# (DMT's step, the training step, `localize` at 224, 360p and 720p),
# whose JSON lands in OUT (default results/) named after the device; last, with SCALE=1, the
# 224 px ResNet-18 study (`avsl bench --suite scale`: its benchmark, supervised and
# DMT at 3 %), whose table, curves and plot are copied to OUT.
# Usage: [SCALE=1] scripts/gpu_check.sh [OUT]   (run from the repository root, avsl importable)
set -euo pipefail
out=${1:-results}
mkdir -p "$out"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device here')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -m pytest -q -m gpu tests
python -m avsl.cli.main bench --suite dmt --device cuda --out "$out/bench_dmt_cuda.json"
python -m avsl.cli.main bench --suite train --device cuda --out "$out/bench_train_cuda.json"
python -m avsl.cli.main bench --suite localize --device cuda --out "$out/bench_localize_cuda.json"
if [[ "${SCALE:-0}" == 1 ]]; then
  python -m avsl.cli.main bench --suite scale
  [[ "$out" -ef results ]] || cp results/scale.* results/scale_curves.json "$out"/
fi
