#!/usr/bin/env bash
# The §4.2 count design at the paper's size (3200 samples x 5000 genes, `mssvae simulate
# rnaseq` at its defaults) on one NVIDIA GPU, in at most about 8 minutes: three seeds of the
# package's NB defaults (the stopping rule ends the fit) and three of Table 2's protocol (800
# fixed epochs), six fits at a time on the one device (one process each; more with CONFIGS and
# PARALLEL), each scored with the paper's metrics (App. C.1 consensus, relevance and recovery,
# columns over 25 % of the genes dropped, at |W| > 0.5 and 0.03) and each true column's failure
# mode (benchmarks/time_to_result.py, which scores with benchmarks/fidelity.py). Fits still
# running at the deadline (LIMIT - 60 s) stop at the end of their epoch, are scored as they are
# and are marked truncated.
#
# Records, in OUT_DIR (default $OUT, else out/gpu_nb_fullsize): rows.jsonl (one record per fit:
# settings, epochs, steps, why it stopped, scores, failure modes, the loss and stopping-rule
# history, and its provenance: commit, sources' digest, versions, GPU and compute capability),
# table.md, W.npz (every fit's W), log.txt, provenance.txt, stages.txt: six files.
# Exits 1 when a stage failed: a fit failed or was truncated, or the records name no commit.
#
# Usage: [MSSVAE_COMMIT=<commit>] benchmarks/gpu_nb_fullsize.sh [--smoke] [WHEEL_DIR] [OUT_DIR]
#   CONFIGS   time_to_result.py configurations (default defaults,fixed800)
#   TTR_ARGS  its further arguments, e.g. a candidate fix: TTR_ARGS='--add fix={"sparsity_weight":50}'
#             CONFIGS=defaults,fixed800,fix (nine fits at a time: set PARALLEL=9)
#   PARALLEL  fits at a time (default 6); SEEDS (default 3); LIMIT seconds (default 470)
#   --smoke   the same pipeline on the CPU at N = 200, G = 100, 4 epochs, one seed (seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=
if [[ ${1:-} == --smoke ]]; then
  SMOKE=--smoke
  shift
  export DEVICE=cpu
fi
OUT_DIR=${2:-${OUT:-out/gpu_nb_fullsize}}
mkdir -p "$OUT_DIR"
source benchmarks/gpu_stages.sh
echo "=== machine"
source benchmarks/gpu_env.sh "${1:-.whl}"

fits() {
  local limit=${LIMIT:-470}
  # shellcheck disable=SC2086  # TTR_ARGS is a list of arguments
  timeout $(( limit + 60 )) $PY benchmarks/time_to_result.py --device "$DEVICE" $SMOKE \
    --parallel "${PARALLEL:-$([[ -n $SMOKE ]] && echo 2 || echo 6)}" --seeds "${SEEDS:-$([[ -n $SMOKE ]] && echo 1 || echo 3)}" \
    --configs "${CONFIGS:-defaults,fixed800}" --deadline $(( limit - 60 )) \
    --out "$OUT_DIR/rows.jsonl" --w-file "$OUT_DIR/W.npz" --table "$OUT_DIR/table.md" ${TTR_ARGS:-} 2>&1 \
    | tee "$OUT_DIR/log.txt"
}

run_stage "0. provenance" require_commit
run_stage "1. fits and scores" fits
finish_stages
