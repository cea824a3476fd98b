#!/usr/bin/env bash
set -u
while pgrep -f run3.sh >/dev/null; do sleep 10; done
cd /work/wt-bench
export OMP_NUM_THREADS=1
export PYTHONPATH=/work/wt-bench/python
/work/main/.venv/bin/python benchmarks/wide_gene_sets.py --out /work/main/out/wgs3 --designs rnaseq-90x1000-lr0.01
