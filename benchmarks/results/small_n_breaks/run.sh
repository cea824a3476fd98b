#!/usr/bin/env bash
set -u
cd /work/wt-bench
export OMP_NUM_THREADS=1
export PYTHONPATH=/work/wt-bench/python
B="/work/main/.venv/bin/python benchmarks/wide_gene_sets.py --out /work/main/out/wgs2"
fail=0
$B --designs rnaseq-90x1000,rnaseq-90x1000-paper-steps || fail=1
$B --designs wide-90x4000 --decoders free,free-weight5 || fail=1
$B --designs wide-252x4000 --decoders free --seeds 2 || fail=1
$B --designs wide-252x10000 --decoders free || fail=1
exit $fail
