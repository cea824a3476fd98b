"""Data-parallel training (mssvae.core.distributed): two gloo processes on the CPU, started as
torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), against one process."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import anndata
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from mssvae import MSSVAE, MSSVAEInputError
from mssvae import contract as C
from mssvae.core.distributed import Ranks, check_share, process_device
from mssvae.core.train import epoch_batches
from mssvae.io.ondisk import write_whole

from conftest import make_adata

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_shared=3, n_specific=2, hidden=(8, 6), precision="fp32", early_stopping=False)
FIT = dict(batch_size=16, epochs=1, seed=3, device="cpu", progress=False, threads=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(sizes=(30, 20, 25), seed=0):
    a = make_adata(n_per_group=sizes, seed=seed)
    return a.X, a.obs["group"].astype(str).to_numpy()


def _snapshot(model) -> dict:
    m = model.module
    return {"state": {k: v.detach().clone() for k, v in m.state_dict().items()},
            "grads": {k: p.grad.detach().clone() for k, p in m.named_parameters() if p.grad is not None},
            "history": model.history, "distributed": model.state.distributed}


def _history(snapshot) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in snapshot["history"]]


def _worker(rank, world, port, out, settings, fits, data_kwargs):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    X, labels = _data(**data_kwargs.get(rank, data_kwargs.get("all", {})))
    earlier = []
    for i, fit in enumerate(fits):
        if i:
            torch.distributed.barrier()  # rank 0 has written its checkpoint
        model = MSSVAE("nb", **settings).fit(X, groups=labels, **fit)
        earlier.append(model.history)
    torch.save({**_snapshot(model), "histories": earlier}, Path(out) / f"rank{rank}.pt")


def _two_processes(tmp_path, settings, fit, data_kwargs=None):
    """Two processes as torchrun starts them, each running the fit ``fit`` (or the fits of a list
    of them, one after the other); the snapshot of each one's last model."""
    fits = fit if isinstance(fit, list) else [fit]
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), settings, fits, data_kwargs or {}), nprocs=2)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]


def _batch_norm_input_biases(state: dict) -> set[str]:
    """Biases of the encoders' linear layers that feed a batch norm: the batch norm removes
    them, so their gradient is 0 up to rounding, and Adam's first step (± lr × sign) moves them
    by an amount rounding decides. The function the network computes does not depend on them."""
    return {k for k in state if ".body." in k and k.endswith(".bias") and k.replace(".bias", ".weight") in state
            and state[k].ndim == 1 and f"{k.rsplit('.', 2)[0]}.{int(k.rsplit('.', 2)[1]) + 1}.running_mean" in state}


def test_first_step_of_two_processes_equals_one_process_step(tmp_path):
    X, labels = _data()
    single = _snapshot(MSSVAE("nb", **TINY, max_steps=1).fit(X, groups=labels, **FIT))
    ranks = _two_processes(tmp_path, {**TINY, "max_steps": 1}, FIT)
    assert single["distributed"] == {"world_size": 1, "backend": "none"}
    assert [r["distributed"] for r in ranks] == [{"world_size": 2, "backend": "gloo"}] * 2
    # every process holds the same model: W, p* and η (the E-step), batch norm's running statistics
    for k, v in ranks[0]["state"].items():
        assert torch.equal(v, ranks[1]["state"][k]), k
    assert _history(ranks[0]) == _history(ranks[1])
    # the averaged gradient is the one-process gradient on the same global batch
    assert set(ranks[0]["grads"]) == set(single["grads"])
    bn_biases = _batch_norm_input_biases(single["state"])
    assert bn_biases
    for k, g in single["grads"].items():
        # a bias that batch norm removes has gradient 0 up to rounding: the scale is its weight's
        atol = 1e-5 * single["grads"][k.replace(".bias", ".weight") if k in bn_biases else k].abs().max().item()
        if k == "log_phi":
            # d log NB / d log φ = φ (ψ(x + φ) − ψ(φ) + log φ − log(φ + μ) + …) is float32 rounding
            # times φ where φ is large (999 for this data's Poisson genes): the rounding of μ
            # (~1e-7) moves it by ~1e-7 × φ × B
            atol = 1e-6 * single["state"]["log_phi"].exp().max().item()
        torch.testing.assert_close(ranks[0]["grads"][k], g, rtol=1e-4, atol=atol, msg=k)
    # and so are the parameters and buffers after the step (Adam's first step is ± lr × sign)
    moved = 0
    for k, v in single["state"].items():
        got = ranks[0]["state"][k]
        if k in bn_biases:
            assert (got - v).abs().max() <= 2 * MSSVAE("nb").settings.lr + 1e-6, k
            continue
        torch.testing.assert_close(got, v, rtol=1e-4, atol=1e-5, msg=k)
        moved += int(k.endswith("W"))
    assert moved == 1
    h1, h2 = single["history"][0], ranks[0]["history"][0]
    assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-5) and h1["lambda0"] == h2["lambda0"]


def test_an_epoch_with_an_absent_and_a_one_sample_group(tmp_path):
    """Unbalanced batches of 8 with a group of 3 samples: its encoder sees no rows in some global
    batches (no gradient, as in one process), one row in others (one process holds it, the other
    none; batch norm then uses its running statistics on both), and two in one (one on each
    process: batch norm's statistics over both)."""
    settings = {**TINY, "balance_groups": False}
    fit = {**FIT, "batch_size": 8, "seed": 4}
    sizes = {"sizes": (40, 30, 3)}
    X, labels = _data(**sizes)
    codes = np.repeat([0, 1, 2], sizes["sizes"])
    small = [int((codes[b.numpy()] == 2).sum()) for b in
             epoch_batches(codes, 8, balance=False, generator=torch.Generator().manual_seed(fit["seed"]))]
    assert {0, 1, 2} <= set(small)  # the cases this test is for
    single = MSSVAE("nb", **settings).fit(X, groups=labels, **fit)
    ranks = _two_processes(tmp_path, settings, fit, {"all": sizes})
    for k, v in ranks[0]["state"].items():
        assert torch.equal(v, ranks[1]["state"][k]), k
    assert _history(ranks[0]) == _history(ranks[1])
    assert ranks[0]["history"][0]["step"] == single.history[0]["step"] == 9
    assert ranks[0]["history"][0]["loss"] == pytest.approx(single.history[0]["loss"], rel=1e-4)
    state, bn_biases = single.module.state_dict(), _batch_norm_input_biases(ranks[0]["state"])
    for k, v in state.items():  # the rare group's encoder too: Adam skipped it where it was absent
        # rounding decides these (first test), and the running means hold those biases
        if k not in bn_biases and k != "log_phi" and not k.endswith("running_mean"):
            torch.testing.assert_close(ranks[0]["state"][k], v, rtol=1e-3, atol=1e-4, msg=k)


def test_a_data_parallel_fit_resumes_from_rank_0s_checkpoint(tmp_path):
    X, labels = _data()
    tiny = {**TINY, "lambda0_breaks": (2, 5)}  # one schedule for both: unset, it follows the first run's epochs
    single = MSSVAE("nb", **tiny).fit(X, groups=labels, **{**FIT, "epochs": 2})
    model_dir = tmp_path / "model"
    ranks = _two_processes(tmp_path, tiny, [{**FIT, "epochs": 1, "model_dir": str(model_dir)},
                                            {**FIT, "epochs": 2, "model_dir": str(model_dir), "resume": True}])
    assert sorted(p.name for p in model_dir.iterdir()) == ["checkpoint.pt"]  # rank 0's, no stray temporary file
    assert _history(ranks[0]) == _history(ranks[1]) and len(ranks[0]["history"]) == 2
    for r in ranks:  # epoch 1 came from the checkpoint, its time included
        assert r["histories"][1][0] == ranks[0]["histories"][0][0]
    for mine, theirs in zip(ranks[0]["history"], single.history):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-4)


def test_processes_that_see_different_input_are_named(tmp_path):
    with pytest.raises(Exception) as err:
        _two_processes(tmp_path, {**TINY, "max_steps": 1}, FIT, {0: {}, 1: {"sizes": (20, 30, 25)}})
    assert "rank 1 differs from rank 0 in its group labels" in str(err.value)
    assert "same file, group key, layer and settings" in str(err.value)


def test_too_few_samples_per_process_and_nccl_without_cuda():
    two = Ranks(rank=0, world_size=2)
    check_share(two, 4, 100)  # 2 each
    with pytest.raises(MSSVAEInputError, match="2 processes share each minibatch of 3 samples, 1 each.*batch_size to at least 4"):
        check_share(two, 3, 100)
    with pytest.raises(MSSVAEInputError, match="this data set has 3 samples"):
        check_share(two, 16, 3)
    check_share(Ranks(), 2, 2)  # one process: no limit beyond the batch's own
    if not torch.cuda.is_available():
        with pytest.raises(MSSVAEInputError, match="NCCL.*no CUDA device.*device='cpu'"):
            process_device("cuda", 0)
    assert process_device("cpu", 1) == torch.device("cpu")


def test_results_file_is_complete_or_absent(tmp_path, monkeypatch):
    a = make_adata()
    out = tmp_path / "out.h5ad"

    def dies(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(anndata.AnnData, "write_h5ad", dies)
    with pytest.raises(RuntimeError):
        write_whole(a, out, {})
    assert list(tmp_path.iterdir()) == []


def _torchrun() -> list[str]:
    exe = Path(sys.executable).parent / "torchrun"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def test_mssvae_fit_under_torchrun_writes_one_complete_results_file(tmp_path):
    script = Path(sys.executable).parent / "mssvae"
    script = str(script) if script.exists() else shutil.which("mssvae")
    if script is None:
        pytest.skip("the mssvae command is not installed")
    path, out = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    make_adata().write_h5ad(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [*_torchrun(), "--standalone", "--nproc-per-node", "2", script, "fit", str(path), "--group-key", "group",
           "--out", str(out), "--epochs", "2", "--batch-size", "16", "--n-shared", "3", "--n-specific", "2",
           "--hidden", "8", "6", "--device", "cpu", "--threads", "1", "--quiet"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("wrote ") == 1  # rank 0 alone writes and reports
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5ad", "out.h5ad", "out_model"]
    a = anndata.read_h5ad(out)
    uns = a.uns[C.UNS]
    assert dict(uns[C.DISTRIBUTED]) == {"world_size": 2, "backend": "gloo"}
    assert a.varm[C.W_SHARED].shape == (12, 3) and a.obsm[C.Z_SHARED].shape == (75, 3)
    assert len(uns[C.HISTORY]["epoch"]) == 2 and uns[C.STOPPING]["epochs"] == 2
    assert np.isfinite(a.obsm[C.Z_SHARED]).all()
