# Sourced by the GPU scripts (gpu_check.sh, gpu_sweep.sh, gpu_nb_fullsize.sh) after
# gpu_stages.sh, with OUT_DIR set: the package from the source tree on the GPU machine's own Python
# (PY: $PYTHON, default python3), with anndata and its dependencies installed from the wheel
# folder $1 (default .whl; benchmarks/gpu_wheels.sh fills it) where the machine lacks them.
#
# It ends the script (exit 1) when the set-up fails, and when DEVICE (default cuda) is a CUDA
# device that torch does not see: a GPU check that skipped its CUDA tests would pass having
# tested nothing. It writes the provenance lines (commit, sources' digest, torch / numpy / pandas
# versions, GPU name and compute capability) to $OUT_DIR/provenance.txt, which record_to puts at
# the head of every record, and defines the stage require_commit, which fails when the commit
# is unknown (a tree copied without .git: set MSSVAE_COMMIT=<commit>).
WHEELS=${1:-.whl}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

require_commit() {
  if grep -q '^commit: unknown' "$OUT_DIR/provenance.txt"; then
    echo "the records name no commit: no git checkout here and no MSSVAE_COMMIT; rerun with MSSVAE_COMMIT=<the commit" \
         "the tree was copied from> (the sources' digest in $OUT_DIR/provenance.txt still identifies the code)"
    return 1
  fi
}

if [[ -n ${DRY_RUN:-} ]]; then
  echo "dry run: machine set-up skipped (PY=$PY, DEVICE=$DEVICE, wheels $WHEELS)"
  echo "commit: dry run" > "$OUT_DIR/provenance.txt"
  return 0
fi

nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || echo "nvidia-smi: none"
if ! $PY -c "import anndata" 2>/dev/null; then
  [ -d "$WHEELS" ] || { echo "anndata is missing and there is no wheel folder $WHEELS (benchmarks/gpu_wheels.sh)"; exit 1; }
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/mssvae_site "$WHEELS"/*.whl \
    || { echo "installing the wheels of $WHEELS failed"; exit 1; }
fi
# anndata 0.12 cannot write pandas 3's default Arrow-backed strings: keep object strings.
mkdir -p /tmp/mssvae_site
echo 'exec("try:\n import pandas\n pandas.set_option(\"future.infer_string\", False)\nexcept Exception:\n pass")' \
  > /tmp/mssvae_site/sitecustomize.py
export PYTHONPATH="$PYTHONPATH:/tmp/mssvae_site"
$PY -c "import anndata, mssvae" || { echo "$PY cannot import anndata and mssvae"; exit 1; }
if [[ $DEVICE == cuda* ]] && ! $PY -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  echo "DEVICE=$DEVICE but $PY's torch sees no CUDA device (torch.cuda.is_available() is False): nothing to check"
  exit 1
fi
$PY benchmarks/provenance.py > "$OUT_DIR/provenance.txt" || { echo "benchmarks/provenance.py failed"; exit 1; }
cat "$OUT_DIR/provenance.txt"
