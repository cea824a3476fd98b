"""The stopping rule (``mssvae.stopping``), the choices of ``mssvae.hardware`` and how a fit
reports them."""

import warnings

import numpy as np
import pytest
import torch

import mssvae
from conftest import TINY, make_adata
from mssvae import contract as C
from mssvae.core import hardware
from mssvae.model import MSSVAE
from mssvae.core.train import default_batch_size
from mssvae.core.stopping import StoppingRule, StoppingState, observe
from mssvae.core.train import steps_per_epoch


def _sparse_w(flip=None):
    W = torch.zeros(20, 4)
    W[:5, 0] = W[5:10, 1] = 2.0
    if flip is not None:
        W[flip] = 2.0 - W[flip]
    return W


def test_rule_stops_once_supports_hold_and_loss_is_flat_after_annealing():
    rule = StoppingRule(window=3, patience=3, tol=1e-3)
    state = StoppingState()
    done = [observe(rule, state, _sparse_w(), 100.0, annealed=e >= 5)["done"] for e in range(12)]
    # counts start at the first annealed epoch (5): two windows of 3 losses, 3 stable epochs
    assert done.index(True) == 5 + 2 * 3 - 1


def test_rule_waits_while_supports_change_or_loss_falls():
    rule = StoppingRule(window=3, patience=3, tol=1e-3)
    state = StoppingState()
    records = [observe(rule, state, _sparse_w(flip=(e % 20, 3)), 100.0, annealed=True) for e in range(10)]
    assert not any(r["done"] for r in records) and max(r["stable_epochs"] for r in records) == 0
    state = StoppingState()
    records = [observe(rule, state, _sparse_w(), 100.0 * 0.99**e, annealed=True) for e in range(12)]
    assert not any(r["done"] for r in records)
    assert records[-1]["improvement"] == pytest.approx(1 - 0.99**3, rel=1e-5)


def test_rule_sees_through_minibatch_noise():
    """Entries hovering at the threshold and a loss that only jitters still let the rule stop."""
    rule = StoppingRule(window=5, patience=5)
    state, gen = StoppingState(), torch.Generator().manual_seed(0)
    records = []
    for e in range(40):
        W = _sparse_w()
        W[10:, 2] = (0.01 + 0.02 * torch.randn(10, generator=gen)).abs()  # spike entries crossing 0.03 at random
        loss = 100.0 + 4.0 * float(torch.randn(1, generator=gen))  # ±4% noise, no trend
        records.append(observe(rule, state, W, loss, annealed=True))
    assert any(r["done"] for r in records)


def test_rule_never_stops_a_dense_w():
    rule = StoppingRule(window=2, patience=2)
    state = StoppingState()
    records = [observe(rule, state, torch.ones(20, 4), 100.0, annealed=True) for _ in range(10)]
    assert records[-1]["densest"] == 1.0 and not any(r["done"] for r in records)


def test_fit_stops_early_and_records_why():
    a = make_adata(n_per_group=(40, 30, 30), n_features=16, counts=False)
    model = MSSVAE("gaussian", **TINY, lambda0_breaks=(4, 20), stopping_patience=3, stopping_tol=0.05)
    model.fit(a, group_key="group", epochs=200, batch_size=25, progress=False)
    stop = a.uns[C.UNS][C.STOPPING]
    assert stop["reason"] == "converged" and stop["epochs"] < 200
    assert stop["steps"] == stop["epochs"] * steps_per_epoch(100, 25) and stop["steps"] >= 20
    assert len(model.history) == stop["epochs"] and model.history[-1]["stable_epochs"] >= 3
    full = MSSVAE("gaussian", **TINY, lambda0_breaks=(4, 20), early_stopping=False)
    full.fit(a.copy(), group_key="group", epochs=12, batch_size=25, progress=False)
    assert len(full.history) == 12 and full.state.stopping["reason"] == "max_epochs"


def test_max_steps_bounds_the_fit_and_a_short_schedule_warns():
    a = make_adata(n_per_group=(40, 30, 30), n_features=16, counts=False)
    with pytest.warns(UserWarning, match="λ0 reaches its last value at gradient step 900"):
        model = MSSVAE("gaussian", **TINY, max_steps=10, lambda0_breaks=(150, 900)).fit(
            a, group_key="group", epochs=50, batch_size=25, progress=False)
    assert model.state.stopping["reason"] == "max_steps" and model.history[-1]["step"] == 10
    with warnings.catch_warnings(record=True) as caught:  # the default breaks: fractions of those 10 steps
        warnings.simplefilter("always")
        model = MSSVAE("gaussian", **TINY, max_steps=10).fit(a, group_key="group", epochs=50, batch_size=25,
                                                             progress=False)
    assert not [w for w in caught if "λ0 reaches" in str(w.message)]
    assert model.state.runtime["lambda0_breaks"] == [0, 3] and model.history[-1]["lambda0"] == 15.0


def test_default_batch_size_gives_small_data_four_steps_per_epoch():
    assert default_batch_size(3200) == 512 and default_batch_size(100_000) == 512
    assert default_batch_size(252) == 63 and steps_per_epoch(252, 63) == 4
    assert default_batch_size(40) == 32


def test_precision_auto_by_device_and_cpu(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert hardware.resolve_precision("auto", cpu, (256, 128))[0] == "fp32"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert hardware.resolve_precision("auto", cpu, (256, 128))[0] == "bf16"
    assert hardware.resolve_precision("auto", cpu, (50, 50))[0] == "fp32"  # narrow layers: bf16 is slower
    assert hardware.resolve_precision("fp16", cpu, (50, 50)) == ("fp16", "as requested")
    with pytest.raises(ValueError, match="precision must be one of"):
        hardware.resolve_precision("int8", cpu, (50, 50))
    with pytest.raises(mssvae.MSSVAEInputError, match="precision must be one of"):
        MSSVAE("nb", precision="half")


def test_fit_records_runtime_and_threads_are_restored():
    a = make_adata()
    before = torch.get_num_threads()
    MSSVAE("nb", **TINY).fit(a, group_key="group", epochs=1, batch_size=32, progress=False, threads=1)
    runtime = a.uns[C.UNS][C.RUNTIME]
    assert runtime["device"] == "cpu" and runtime["threads"] == 1 and runtime["batch_size"] == 32
    assert runtime["precision"] in ("fp32", "bf16") and runtime["precision_reason"]
    assert torch.get_num_threads() == before
    with pytest.raises(mssvae.MSSVAEInputError, match="threads must be a whole number"):
        MSSVAE("nb", **TINY).fit(a, group_key="group", epochs=1, progress=False, threads=0)


def test_idle_cores_is_within_the_usable_cores():
    n = hardware.idle_cores(interval=0.05)
    assert 1 <= n <= (len(hardware.os.sched_getaffinity(0)) if hasattr(hardware.os, "sched_getaffinity") else n)
    with hardware.torch_threads(1):
        assert torch.get_num_threads() == 1


def test_overlap_notes_are_summarised(monkeypatch):
    import pandas as pd

    from mssvae.analysis import diagnostics

    rows = [dict(kind="split", factors=f"shared_{i}, shared_{i + 1}", jaccard=0.9) for i in range(50)]
    rows += [dict(kind="nested", factors="shared_1, shared_2", jaccard=0.8)]
    monkeypatch.setattr(diagnostics, "support_overlaps", lambda adata, threshold: pd.DataFrame(rows))
    notes = diagnostics.overlap_notes(None)
    assert len(notes) == 4 and "48 more findings of the kind 'split'" in notes[2]
    assert np.sum(["nested" in n or "also factor" in n for n in notes]) == 1
