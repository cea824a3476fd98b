"""torch's products run on torch's own BLAS in every process that holds R's BLAS too.

R links the system's BLAS (Debian's reference ``libblas.so.3``) into its global symbol scope;
each case below loads it the way R or rpy2 does, in a fresh process, then reads where torch's
``sgemm_`` calls go (:func:`mssvae.blas.torch_blas`) and times a product against a plain Python
process of the same run. The R session itself is tested in ``r-package/tests/testthat/test-blas.R``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dynamic-linker scopes are Linux's")

GLOBAL_BLAS = "import ctypes, os; ctypes.CDLL('libblas.so.3', mode=os.RTLD_NOW | os.RTLD_GLOBAL)\n"

# Prints where torch's sgemm_ goes, how mssvae loaded torch, and the median time of a
# 1,000 x 1,000 fp32 product on one thread (the reference BLAS is ~10x slower than MKL there).
PROBE = """
import json, statistics, time
import mssvae
import torch
from mssvae.blas import torch_blas
torch.set_num_threads(1)
a, b = torch.randn(1000, 1000), torch.randn(1000, 1000)
times = []
for _ in range(5):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
print(json.dumps(dict(torch_blas(), loading=mssvae._BLAS_LOADING, seconds=statistics.median(times))))
"""


def _probe(before: str = "", env: dict | None = None) -> dict:
    import os

    out = subprocess.run([sys.executable, "-c", before + PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def plain() -> dict:
    found = _probe()
    assert found["own"] is True and found["loading"] == "not needed"
    return found


def test_the_probe_sees_a_foreign_blas_and_its_cost(plain):
    # torch imported before mssvae, after R's BLAS went global: interposed, and slow.
    found = _probe(GLOBAL_BLAS + "import torch\n")
    assert found["own"] is False and "libblas" in found["library"]
    assert found["loading"] == "too late"
    assert found["seconds"] > 3 * plain["seconds"]


def test_mssvae_keeps_torch_on_its_own_blas_beside_a_global_one(plain):
    found = _probe(GLOBAL_BLAS)
    assert found["loading"] == "deepbind"
    assert found["own"] is True and found["library"].endswith("libtorch_cpu.so")
    assert found["seconds"] < 3 * plain["seconds"]


def test_the_switch_turns_it_off():
    found = _probe(GLOBAL_BLAS, env={"MSSVAE_DEEPBIND": "0"})
    assert found["loading"] == "off" and found["own"] is False


@pytest.mark.parametrize("mode", ["API", "ABI"])
@pytest.mark.parametrize("r_first", [True, False], ids=["R first", "mssvae first"])
def test_a_python_process_that_embeds_r(plain, mode, r_first):
    pytest.importorskip("rpy2")
    start_r = "import rpy2.robjects as ro; ro.r('x <- crossprod(matrix(1, 5, 5))')\n"
    code = (start_r + PROBE) if r_first else (PROBE.replace("import mssvae\n", "import mssvae\n" + start_r))
    found = _probe(code, env={"RPY2_CFFI_MODE": mode})
    assert found["own"] is True, found
    assert found["seconds"] < 3 * plain["seconds"]
