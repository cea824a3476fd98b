#!/usr/bin/env bash
set -u
cd /work/wt-bench
export OMP_NUM_THREADS=1
export PYTHONPATH=/work/wt-bench/python
B="/work/main/.venv/bin/python benchmarks/wide_gene_sets.py --out /work/main/out/wgs3"
fail=0
$B --designs rnaseq-90x1000-weight1.5 || fail=1
$B --designs wide-90x4000 --decoders free-weight0.6 || fail=1
$B --designs wide-252x4000 --decoders free-weight1.7 || fail=1
exit $fail
