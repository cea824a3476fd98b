#!/usr/bin/env bash
# Download, on a machine with network, the wheels that benchmarks/gpu_check.sh installs on a GPU
# machine whose Python 3.12 has PyTorch (CUDA), numpy, scipy, pandas, h5py and click but no
# anndata: anndata and the packages it needs beyond those. Usage: benchmarks/gpu_wheels.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.whl}
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$DIR" anndata==0.12.6 array-api-compat legacy-api-wrap natsort zarr donfig numcodecs google-crc32c msgspec
ls "$DIR"
