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
from mssvae.core import train as train_module
from mssvae.core.stopping import StoppingRule, StoppingState, column_density, densest_column, epoch_annealed, observe
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


@pytest.mark.parametrize("rows,stops", [(20, False), (11, False), (10, True)])
def test_one_dense_column_among_sparse_ones_holds_the_fit(rows, stops):
    """One column over ``max_density`` (half the features) holds the fit however still the
    other columns and the loss are; a column at exactly half does not."""
    rule = StoppingRule(window=2, patience=2)
    state = StoppingState()
    W = _sparse_w()
    W[:rows, 2] = 1.0  # columns 0 and 1 hold 5 of 20 features, column 3 none
    records = [observe(rule, state, W, 100.0, annealed=True) for _ in range(10)]
    assert records[-1]["densest"] == pytest.approx(rows / 20)
    assert records[-1]["stable_epochs"] >= rule.patience  # supports and loss alone would stop it
    assert any(r["done"] for r in records) is stops


def test_density_is_read_from_the_rules_averaged_w():
    """After many epochs of a dense column, one epoch in which it looks sparse leaves the rule's
    averaged |W| dense: the rule holds the fit, and the end-of-fit density reads the same W."""
    rule = StoppingRule(window=2, patience=2)
    state = StoppingState()
    dense = _sparse_w()
    dense[:, 2] = 1.0
    for _ in range(8):
        observe(rule, state, dense, 100.0, annealed=True)
    sparse = _sparse_w()
    record = observe(rule, state, sparse, 100.0, annealed=True)
    assert column_density(sparse, rule.threshold) == 0.25 and record["densest"] == 1.0 and not record["done"]
    assert densest_column(rule, state, sparse) == record["densest"]
    assert densest_column(rule, None, sparse) == 0.25 == densest_column(rule, StoppingState(), sparse)


def test_end_of_fit_density_reads_the_rules_averaged_w():
    """The trainer's summary judges density from the W the rule read (its average), not from
    the last W alone; without a rule, from the last W."""
    from mssvae.core.module import MSSVAEModule
    from mssvae.core.train import Trainer
    from mssvae.model.start import module_kwargs

    a = make_adata()
    s = MSSVAE("nb", **TINY).settings.for_fit(a.n_obs, epochs=1, batch_size=32)
    module = MSSVAEModule(**module_kwargs(a.X, s, [2, 2, 2]))
    assert column_density(module.W, 0.03) == 1.0  # W starts at ones
    trainer = Trainer(module, s.train_settings(a.n_obs), seed=0)
    trainer.stop_reason = "max_epochs"
    average = torch.zeros_like(module.W)
    average[:3, 0] = 1.0
    trainer.stopping_state.w_average = average
    summary = trainer.summary()
    assert not summary["dense"] and "dense" not in summary["message"]
    trainer.settings.stopping = None
    assert trainer.summary()["dense"]


def test_an_epoch_is_annealed_only_when_all_its_steps_ran_at_the_last_lambda0():
    assert not epoch_annealed(16, 20)  # steps 16–19 end at the break: all at the previous λ0
    assert not epoch_annealed(16, 18)  # steps 16, 17 before the break, 18, 19 after
    assert epoch_annealed(20, 20) and epoch_annealed(24, 20) and epoch_annealed(0, 0)


@pytest.mark.parametrize("final_break", [20, 18])
def test_fit_counts_only_epochs_run_entirely_at_the_last_lambda0(monkeypatch, final_break):
    """4 steps an epoch: the 5th epoch (steps 16–19) ends at step 20, or holds the break at 18;
    either way its steps did not all run at λ0's last value, and the rule's counts start with
    the 6th. With windows of 3 epochs, the loss comparison exists first at epoch 6 + 2·3 − 1."""
    seen = []

    def spy(rule, state, W, loss, annealed):
        seen.append(annealed)
        return observe(rule, state, W, loss, annealed)

    monkeypatch.setattr(train_module, "observe", spy)
    a = make_adata(n_per_group=(40, 30, 30), n_features=16, counts=False)
    model = MSSVAE("gaussian", **TINY, lambda0_breaks=(4, final_break), stopping_patience=3, stopping_tol=0.05)
    model.fit(a, group_key="group", epochs=200, batch_size=25, progress=False)
    assert steps_per_epoch(100, 25) == 4
    assert seen.index(True) == 5 and not any(seen[:5]) and all(seen[5:])  # epoch 6, counted from 0
    history = model.history
    first_compared = next(h["epoch"] for h in history if "improvement" in h)
    assert first_compared == 6 + 2 * 3 - 1
    assert all(h["stable_epochs"] == 0 for h in history[:5])
    stop = model.state.stopping
    assert stop["reason"] == "converged" and stop["epochs"] == len(history) >= first_compared
    assert history[-1]["stable_epochs"] >= 3 and history[-1]["densest"] <= 0.5


def test_a_fit_whose_w_stays_dense_runs_to_its_maximum_and_says_so():
    """A spike as wide as the slab leaves W dense: the supports hold and the loss flattens, but
    the rule never stops the fit, and the end-of-fit message gives the density the rule read."""
    a = make_adata(n_per_group=(40, 30, 30), n_features=16, counts=False)
    model = MSSVAE("gaussian", **TINY, lambda0=(1.0,), lambda0_breaks=(), sparsity_weight=0.01, stopping_patience=3)
    model.fit(a, group_key="group", epochs=40, batch_size=25, progress=False)
    stop, history = model.state.stopping, model.history
    assert stop["reason"] == "max_epochs" and stop["epochs"] == len(history) == 40
    assert all(h["densest"] > 0.5 for h in history)
    assert max(h["stable_epochs"] for h in history) >= 3  # the supports alone would have let it stop
    assert stop["dense"] and f"a column holds {history[-1]['densest']:.0%} of the features" in stop["message"]


def test_fit_stops_early_and_records_why():
    a = make_adata(n_per_group=(40, 30, 30), n_features=16, counts=False)
    model = MSSVAE("gaussian", **TINY, lambda0_breaks=(4, 20), stopping_patience=3, stopping_tol=0.05)
    model.fit(a, group_key="group", epochs=200, batch_size=25, progress=False)
    stop = a.uns[C.UNS][C.STOPPING]
    assert stop["reason"] == "converged" and stop["epochs"] < 200 and not stop["dense"]
    assert stop["steps"] == stop["epochs"] * steps_per_epoch(100, 25)
    assert len(model.history) == stop["epochs"] and model.history[-1]["stable_epochs"] >= 3
    assert "the stopping rule held" in stop["message"] and "dense" not in stop["message"]
    full = MSSVAE("gaussian", **TINY, lambda0_breaks=(4, 20), early_stopping=False)
    full.fit(a.copy(), group_key="group", epochs=12, batch_size=25, progress=False)
    assert len(full.history) == 12 and full.state.stopping["reason"] == "max_epochs"


def test_max_steps_bounds_the_fit_and_a_short_schedule_warns():
    a = make_adata(n_per_group=(40, 30, 30), n_features=16, counts=False)
    with pytest.warns(UserWarning, match="λ0 reaches its last value at gradient step 900"):
        model = MSSVAE("gaussian", **TINY, max_steps=10, lambda0_breaks=(150, 900)).fit(
            a, group_key="group", epochs=50, batch_size=25, progress=False)
    assert model.state.stopping["reason"] == "max_steps" and model.history[-1]["step"] == 10
    with warnings.catch_warnings(record=True) as caught:  # the default breaks, scaled into those 10 steps
        warnings.simplefilter("always")
        model = MSSVAE("gaussian", **TINY, max_steps=10).fit(a, group_key="group", epochs=50, batch_size=25,
                                                             progress=False)
    assert not [w for w in caught if "λ0 reaches" in str(w.message)]
    assert model.state.runtime["lambda0_breaks"] == [1, 8] and model.history[-1]["lambda0"] == 15.0


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


@pytest.mark.parametrize("capability,expected", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"),
                                                 ((8, 9), "bf16"), ((9, 0), "bf16")])
def test_precision_auto_on_cuda_follows_the_compute_capability(monkeypatch, capability, expected):
    """bf16 from compute capability 8.0, where the hardware runs it; fp16 below, whatever
    ``torch.cuda.is_bf16_supported()`` says (it answers True where bf16 is emulated)."""
    monkeypatch.setattr(hardware, "cuda_device_info", lambda device: ("Test GPU", capability))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    precision, why = hardware.resolve_precision("auto", torch.device("cuda", 0), (256, 128))
    assert precision == expected
    assert f"Test GPU, compute capability {capability[0]}.{capability[1]}" in why
    assert hardware.resolve_precision("bf16", torch.device("cuda", 0), (256, 128)) == ("bf16", "as requested")
    with pytest.raises(mssvae.MSSVAEInputError, match="precision must be one of"):
        MSSVAE("nb", precision="half")


@pytest.mark.parametrize("native_bf16,hidden,expected", [(False, (64, 64), "fp32"), (True, (64, 64), "bf16"),
                                                         (True, (8, 6), "fp32")])
def test_fit_records_runtime_and_threads_are_restored(monkeypatch, native_bf16, hidden, expected):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native_bf16)
    a = make_adata()
    before = torch.get_num_threads()
    MSSVAE("nb", **{**TINY, "hidden": hidden}).fit(a, group_key="group", epochs=1, batch_size=32, progress=False,
                                                   threads=1)
    runtime = a.uns[C.UNS][C.RUNTIME]
    assert runtime["device"] == "cpu" and runtime["threads"] == 1 and runtime["batch_size"] == 32
    assert (runtime["precision"], runtime["precision_reason"]) == hardware.resolve_precision("auto", torch.device("cpu"),
                                                                                             hidden)
    assert runtime["precision"] == expected
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
