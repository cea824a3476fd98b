#!/usr/bin/env bash
# The GPU check: runs from the source tree on a machine with one NVIDIA GPU, in at most about
# 8 minutes, and prints every figure that benchmarks/FINDINGS.md ("GPU check") records:
#   1. the CUDA tests (tests/test_cuda.py: decoder against the CPU reference, a training step
#      with no host synchronisation, a fit on the device, sparse input);
#   2. the speed table at N = 1024, G in {1000, 5000} (benchmarks/speed.py --device cuda);
#   3. a fit of 100,000 x 2,000 sparse counts (2 epochs, the defaults' widths);
#   4. the full-size §4.2 design (3200 x 5000) at the package's defaults, scored.
# Every stage runs whatever became of the others; the script exits 1 when any failed (a failed
# test, a stage past its time limit, a fit that failed, records without a commit), and every
# file it writes starts with the provenance lines (commit, versions, GPU and compute capability).
#
# Usage: [MSSVAE_COMMIT=<commit>] benchmarks/gpu_check.sh [WHEEL_DIR] [OUT_DIR]
# The machine may have its own Python with a CUDA build of PyTorch and no network: what the
# package needs beyond it (anndata and its dependencies) is installed from WHEEL_DIR (default
# .whl; benchmarks/gpu_wheels.sh fills it on a machine with network) into a temporary folder.
# SKIP="2 3" runs stages 1 and 4 only; DRY_RUN=1 prints the stages' commands (gpu_stages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${2:-${OUT:-out/gpu_check}}
mkdir -p "$OUT_DIR"
source benchmarks/gpu_stages.sh
echo "=== machine"
source benchmarks/gpu_env.sh "${1:-.whl}"

cuda_tests() {
  timeout 150 $PY -m pytest -q -p no:cacheprovider -W ignore::UserWarning tests/test_cuda.py tests/test_train.py 2>&1 \
    | record_to "$OUT_DIR/tests.txt" | tail -40
}

speed_table() {
  timeout 150 $PY benchmarks/speed.py --device cuda --configs 1024x1000,1024x5000 --epochs 3 --threads 4 2>&1 \
    | record_to "$OUT_DIR/speed.txt" | { grep -v '^{' || true; }
}

sparse_fit() {
  timeout 120 $PY benchmarks/speed.py --device cuda --sparse 100000x2000 --epochs 2 --threads 4 2>&1 \
    | record_to "$OUT_DIR/sparse.txt"
}

full_size() {
  local left=$(( 470 - ($(date +%s) - STAGES_START) )) t0 t
  if (( left < 60 )); then
    echo "not run: $left s left of the 8 minutes"
    return 1
  fi
  $PY -m mssvae simulate rnaseq --seed 0 --out /tmp/mssvae_rnaseq.h5ad >/dev/null
  t0=$SECONDS
  timeout "$left" $PY -m mssvae fit /tmp/mssvae_rnaseq.h5ad --group-key group --likelihood nb \
    --out /tmp/mssvae_rnaseq_fit.h5ad 2>&1 | tr '\r' '\n' | record_to "$OUT_DIR/full_size.txt" | tail -30
  echo "fit wall $(( SECONDS - t0 )) s" | tee -a "$OUT_DIR/full_size.txt"
  for t in 0.5 0.03; do
    $PY -m mssvae evaluate /tmp/mssvae_rnaseq_fit.h5ad --threshold $t \
      | $PY -c "import json,sys; d=json.load(sys.stdin); print('threshold $t: shared consensus', round(d['shared']['consensus'],3), 'group', round(d['group']['mean']['consensus'],3))" \
      | tee -a "$OUT_DIR/full_size.txt"
  done
}

run_stage "0. provenance" require_commit
run_stage "1. CUDA tests" cuda_tests
run_stage "2. speed table (s per epoch, N = 1024)" speed_table
run_stage "3. 100,000 x 2,000 sparse counts, 2 epochs" sparse_fit
run_stage "4. the §4.2 design at full size (3200 x 5000), the defaults" full_size
finish_stages
