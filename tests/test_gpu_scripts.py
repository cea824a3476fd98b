"""The GPU scripts' integrity, on a CPU: a failed stage makes the script exit non-zero while the
later stages still run, and every record names the commit it ran (``benchmarks/gpu_stages.sh``,
``gpu_env.sh``, ``gpu_check.sh``, ``gpu_sweep.sh``, ``gpu_nb_fullsize.sh``, ``provenance.py``)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import provenance  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

RUNNER = r"""
set -euo pipefail
OUT_DIR=$1
source "$2/gpu_stages.sh"
printf 'commit: abc1234 (sources 0123456789ab)\n' > "$OUT_DIR/provenance.txt"
stops_at_first_failure() { true; false; touch "$OUT_DIR/after_false"; }
pipeline() { false | tee "$OUT_DIR/pipe.txt"; }
too_long() { timeout 1 sleep 10; }
writes_record() { echo "a figure" | record_to "$OUT_DIR/record.txt" > /dev/null; touch "$OUT_DIR/last_ran"; }
run_stage "1. errexit inside a stage" stops_at_first_failure
run_stage "2. a failing command inside a pipeline" pipeline
run_stage "3. a timeout" too_long
run_stage "4. a stage that passes" writes_record
run_stage "5. a skipped stage" false
finish_stages
"""


def _bash(script: str, *args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script, "bash", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_stage_runner_fails_the_script_for_any_failed_stage_and_runs_the_later_ones(tmp_path):
    res = _bash(RUNNER, tmp_path, BENCH, env={"SKIP": "5"})
    assert res.returncode == 1, res.stdout + res.stderr
    status = (tmp_path / "stages.txt").read_text().splitlines()
    assert status == ["1. errexit inside a stage: FAILED (exit 1)",
                      "2. a failing command inside a pipeline: FAILED (exit 1)",
                      "3. a timeout: FAILED (exit 124)",
                      "4. a stage that passes: ok",
                      "5. a skipped stage: skipped (SKIP)",
                      "3 stage(s) failed"]
    assert not (tmp_path / "after_false").exists()  # the stage stopped at its failing command
    assert (tmp_path / "last_ran").exists()  # the stages after the failures ran
    assert (tmp_path / "record.txt").read_text().splitlines() == ["commit: abc1234 (sources 0123456789ab)", "",
                                                                  "a figure"]


def test_stage_runner_exits_zero_when_every_stage_passes(tmp_path):
    script = RUNNER.replace("run_stage \"1.", "# ").replace("run_stage \"2.", "# ").replace("run_stage \"3.", "# ")
    res = _bash(script, tmp_path, BENCH, env={"SKIP": "5"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "stages.txt").read_text().splitlines() == ["4. a stage that passes: ok",
                                                                  "5. a skipped stage: skipped (SKIP)"]


@pytest.mark.parametrize("script,stages", [("gpu_check.sh", 5), ("gpu_nb_fullsize.sh", 2), ("gpu_sweep.sh", 2)])
def test_each_gpu_script_reports_a_failed_stage_in_its_exit_status(tmp_path, script, stages):
    """A dry run (no stage runs, no GPU needed) with stage 0 made to fail: the script exits 1,
    and every later stage still comes up; without the failure it exits 0."""
    run = lambda out, **env: subprocess.run([str(BENCH / script), ".whl", str(out)], capture_output=True, text=True,  # noqa: E731
                                            env={**os.environ, "DRY_RUN": "1", **env}, timeout=60)
    failed = run(tmp_path / "failed", DRY_RUN_FAIL="0")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    status = (tmp_path / "failed" / "stages.txt").read_text().splitlines()
    assert len(status) == stages + 1 and status[0].endswith("FAILED (exit 1)") and status[-1] == "1 stage(s) failed"
    assert all(s.endswith(": ok") for s in status[1:-1])
    passed = run(tmp_path / "passed")
    assert passed.returncode == 0, passed.stdout + passed.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_fails_on_a_machine_without_cuda(tmp_path):
    """Without a GPU the CUDA tests would all be skipped and pass: the script refuses instead."""
    res = subprocess.run([str(BENCH / "gpu_check.sh"), ".whl", str(tmp_path)], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert res.returncode == 1 and "sees no CUDA device" in res.stdout, res.stdout + res.stderr


def _smoke(out: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(BENCH / "gpu_nb_fullsize.sh"), "--smoke", ".whl", str(out)], capture_output=True,
                          text=True, env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env},
                          timeout=170)


def test_nb_fullsize_smoke_run_writes_scored_records_that_name_the_commit(tmp_path):
    res = _smoke(tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert sorted(r["config"] for r in rows) == ["defaults", "fixed800"]
    here = provenance.commit()
    for r in rows:
        assert r["provenance"]["commit"] == here and r["provenance"]["source_digest"] == provenance.source_digest()
        assert set(r["provenance"]["versions"]) >= {"torch", "numpy", "pandas"}
        assert r["shape"] == [200, 100] and r["epochs"] == 4 and not r["truncated"]
        assert set(r["scores"]) == {"0.5", "0.03"}
        diagnosis = r["scores"]["0.5"]["diagnosis"]
        assert sum(diagnosis["n_true"].values()) == 19  # K_S 10 + 3 groups × K_m 3: each true column classified
        assert len(r["history"]["loss"]) == 4
    settings = {r["config"]: r["settings"] for r in rows}
    assert settings["fixed800"]["early_stopping"] is False and "early_stopping" not in settings["defaults"]
    for name in ("table.md", "provenance.txt"):
        assert f"commit: {here} " in (tmp_path / name).read_text()
    assert (tmp_path / "stages.txt").read_text().splitlines() == ["0. provenance: ok", "1. fits and scores: ok"]
    with np.load(tmp_path / "W.npz") as w:
        assert w["defaults_s0_W_shared"].shape == (100, 8)


def test_nb_fullsize_exits_non_zero_when_a_fit_fails(tmp_path):
    """A design the simulator refuses (10 genes cannot hold 19 blocks): the fits fail, the
    failure is recorded, and the script's status says so."""
    res = _smoke(tmp_path, TTR_ARGS="--data n_features=10", CONFIGS="defaults")
    assert res.returncode == 1, res.stdout[-3000:]
    assert (tmp_path / "stages.txt").read_text().splitlines()[1] == "1. fits and scores: FAILED (exit 1)"
    row = json.loads((tmp_path / "rows.jsonl").read_text().splitlines()[0])
    assert "cannot hold" in row["error"] and row["provenance"]["commit"] == provenance.commit()


def test_provenance_without_git_takes_the_commit_from_the_environment(tmp_path):
    for part in ("python/mssvae", "benchmarks"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "results"))
    script = [sys.executable, str(tmp_path / "benchmarks" / "provenance.py")]
    env = {k: v for k, v in os.environ.items() if k != provenance.COMMIT_ENV}
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path)  # no repository above the copy either
    unknown = subprocess.run([*script, "--require-commit"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "commit: unknown" in unknown.stdout and "MSSVAE_COMMIT" in unknown.stderr
    named = subprocess.run([*script, "--json"], capture_output=True, text=True, cwd=tmp_path,
                           env={**env, provenance.COMMIT_ENV: "abc1234"})
    rec = json.loads(named.stdout)
    assert rec["commit"].startswith("abc1234 (from MSSVAE_COMMIT, not checked")
    assert rec["source_digest"] == provenance.source_digest()  # the copy's sources are the checkout's
    assert rec["device"]["gpus"] == provenance.gpus()


def test_header_names_the_device_and_versions():
    lines = provenance.header()
    device = next(line for line in lines if line.startswith("device: "))
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        assert f"compute capability {major}.{minor}" in device
    else:
        assert device.startswith("device: no CUDA device")
    versions = next(line for line in lines if line.startswith("versions: "))
    assert all(f"{pkg} " in versions for pkg in ("torch", "numpy", "pandas"))
    assert any(line.startswith(f"commit: {provenance.commit()} (sources ") for line in lines)
