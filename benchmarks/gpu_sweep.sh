#!/usr/bin/env bash
# benchmarks/gpu_nb_fullsize.sh with other configurations: by default Table 2's 800 epochs
# without the stopping rule at the default widths and at [64, 32] (fixed800,h64-fixed800), three
# seeds each, six fits at a time, in at most about 8 minutes. Same usage, environment, records
# and exit status; OUT_DIR defaults to out/gpu_sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${CONFIGS:-fixed800,h64-fixed800} exec benchmarks/gpu_nb_fullsize.sh "${1:-.whl}" "${2:-${OUT:-out/gpu_sweep}}"
