#!/usr/bin/env bash
# The full-size §4.2 fidelity sweep on one NVIDIA GPU, in at most about 8 minutes: three seeds
# of each configuration of benchmarks/time_to_result.py named in CONFIGS (default: Table 2's 800
# epochs without the stopping rule, at the default widths and at [64, 32]), six fits at a time,
# scored at |W| > 0.5 and 0.03. It asks whether the stopped fits of the defaults (about 2,200
# steps; shared consensus 0.43, group 0.42 on an H200) end before the full size is learnt.
#
# Usage: benchmarks/gpu_sweep.sh [WHEEL_DIR] [OUT_DIR]   (as gpu_check.sh; CONFIGS, PARALLEL,
# DEVICE and TTR_ARGS, extra arguments of time_to_result.py, from the environment)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${2:-${OUT:-out/gpu_sweep}}
mkdir -p "$OUT_DIR"
source benchmarks/gpu_env.sh "${1:-.whl}"
# shellcheck disable=SC2086  # TTR_ARGS is a list of arguments
timeout "${LIMIT:-470}" $PY benchmarks/time_to_result.py --device "${DEVICE:-cuda}" --parallel "${PARALLEL:-6}" \
  --seeds 3 --configs "${CONFIGS:-fixed800,h64-fixed800}" --out "$OUT_DIR/rows.jsonl" ${TTR_ARGS:-} 2>&1 \
  | tee "$OUT_DIR/table.txt"
