# Sourced by the GPU scripts (gpu_check.sh, gpu_sweep.sh): the package from the source tree on
# the GPU machine's own Python (PY, default python3), with anndata and its dependencies installed
# from the wheel folder $1 (default .whl; benchmarks/gpu_wheels.sh fills it) where the machine
# lacks them, and the versions and the device printed.
WHEELS=${1:-.whl}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if ! $PY -c "import anndata" 2>/dev/null; then
  [ -d "$WHEELS" ] || { echo "anndata is missing and there is no wheel folder $WHEELS (benchmarks/gpu_wheels.sh)"; exit 1; }
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/mssvae_site "$WHEELS"/*.whl \
    || { echo "installing the wheels of $WHEELS failed"; exit 1; }
  export PYTHONPATH="$PYTHONPATH:/tmp/mssvae_site"
fi
# anndata 0.12 cannot write pandas 3's default Arrow-backed strings: keep object strings.
mkdir -p /tmp/mssvae_site
echo 'exec("try:\n import pandas\n pandas.set_option(\"future.infer_string\", False)\nexcept Exception:\n pass")' \
  > /tmp/mssvae_site/sitecustomize.py
export PYTHONPATH="$PYTHONPATH:/tmp/mssvae_site"
$PY - <<'PYEOF'
import anndata, numpy, torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, numpy {numpy.__version__}, anndata {anndata.__version__}")
if torch.cuda.is_available():
    print(f"device {torch.cuda.get_device_name()}, bf16 {torch.cuda.is_bf16_supported()}")
PYEOF
