#!/usr/bin/env bash
set -u
cd /work/wt-bench
export OMP_NUM_THREADS=1
export PYTHONPATH=/work/wt-bench/python
F="/work/main/.venv/bin/python benchmarks/fidelity.py --designs rnaseq --methods mssvae --seeds 3 --no-dci --thresholds 0.03,0.1 --set rnaseq.model.precision=\"fp32\""
fail=0
$F --out /work/main/out/fid-rnaseq-budget || fail=1
$F --set 'rnaseq.model.lambda0_breaks=[280,1680]' --out /work/main/out/fid-rnaseq-steps || fail=1
exit $fail
