#!/usr/bin/env bash
set -u
cd /work/wt-bench2
export OMP_NUM_THREADS=1
export PYTHONPATH=/work/wt-bench2/python
fail=0
/work/main/.venv/bin/python benchmarks/fidelity.py --designs rnaseq --methods mssvae --seeds 3 --no-dci --thresholds 0.03,0.1 --set 'rnaseq.model.precision="fp32"' --out /work/main/out/fid-rnaseq-scaled || fail=1
/work/main/.venv/bin/python benchmarks/wide_gene_sets.py --out /work/main/out/wgs5 --designs rnaseq-90x1000 || fail=1
exit $fail
