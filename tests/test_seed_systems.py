"""The seed-paper checks: the toy and leakage designs, the one-group (Sparse VAE) case,
the foreign-latent penalty variant, and benchmarks/seed_systems.py at a tiny size."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import seed_systems  # noqa: E402
from mssvae import MSSVAE  # noqa: E402
from foreign_penalty import foreign_latents, foreign_penalty  # noqa: E402
from mssvae.sim.metrics import dci_disentanglement  # noqa: E402
from mssvae.sim.designs import simulate  # noqa: E402
from mssvae.sim.toy import TOY_SUPPORT, leakage, toy, toy_signal  # noqa: E402

torch.set_num_threads(1)


def test_toy_is_eq10_with_correlated_factors():
    a = toy(n_samples=4000, rho=0.6, seed=1)
    z = a.obsm["true_z_shared"]
    assert a.shape == (4000, 7) and list(a.obs.group.unique()) == ["group1"]
    assert abs(np.corrcoef(z.T)[0, 1] - 0.6) < 0.05
    resid = np.asarray(a.X) - toy_signal(z)
    assert abs(resid.std() - 0.5) < 0.02  # noise N(0, 0.5²)
    np.testing.assert_allclose(toy_signal(np.array([[1.0, 2.0]])), [[1, 2, 3, 8, 10, 6 * np.sin(2), 14]])
    assert a.varm["true_W_specific"].shape == (7, 0)
    np.testing.assert_array_equal(a.varm["true_W_shared"] != 0, TOY_SUPPORT != 0)
    with pytest.raises(ValueError, match="rho must lie in"):
        toy(rho=1.0)


def test_leakage_design_private_features_are_noise_in_other_groups():
    a = leakage(n_per_group=200, n_private_features=40, seed=0)
    assert a.shape == (400, 60)
    fs = a.var.feature_set.astype(str).to_numpy()
    assert (fs == "shared").sum() == 20 and (fs == "group1").sum() == 20 and (fs == "group2").sum() == 20
    X, g = np.asarray(a.X), a.obs.group.astype(str).to_numpy()
    own = X[g == "group1"][:, fs == "group1"].std(0)
    other = X[g == "group2"][:, fs == "group1"].std(0)
    assert own.min() > 1.0 and np.allclose(other, 0.5, atol=0.1)  # noise sd 0.5 only
    # true supports: private features load on their group's block only
    ws, wm = a.varm["true_W_shared"], a.varm["true_W_specific"]
    assert (ws[fs != "shared"] == 0).all() and (wm[fs == "shared"] == 0).all()
    assert (wm[fs == "group1"][:, 2:] == 0).all()


def test_designs_are_registered_with_simulate():
    assert simulate("toy", seed=0, n_samples=50, rho=0.2).shape == (50, 7)
    assert simulate("leakage", seed=0, n_per_group=10, n_private_features=8).shape == (20, 28)


def test_one_group_is_the_sparse_vae_and_recovers_the_toy_factors():
    train, test = toy(n_samples=600, rho=0.0, seed=0), toy(n_samples=600, rho=0.0, seed=1)
    model = MSSVAE("gaussian", n_shared=3, n_specific=0, hidden=(16, 16)).fit(train, group_key="group", epochs=60,
                                                                           batch_size=128, progress=False)
    assert model.groups == ["group1"] and model.W_specific["group1"].shape == (7, 0)
    z_hat = model.transform(test)["shared"].to_numpy()
    assert dci_disentanglement(test.obsm["true_z_shared"], z_hat) > 0.2  # a random encoder scores ~0.05
    mse = np.mean((seed_systems.reconstruct(model, np.asarray(test.X)) - np.asarray(test.X)) ** 2)
    assert mse < 0.5 * np.asarray(test.X).var(0).mean()  # explains most of the variance


def test_foreign_penalty_silences_other_groups_encoders():
    a = leakage(n_per_group=150, n_private_features=20, seed=0)
    X = torch.as_tensor(np.asarray(a.X))
    g1 = (a.obs.group == "group1").to_numpy()
    out = {}
    for weight in (None, 10.0):
        model = MSSVAE("gaussian", n_shared=2, n_specific=2, hidden=(16, 16))
        if weight:
            with foreign_penalty(weight):
                model.fit(a.copy(), group_key="group", epochs=15, batch_size=100, progress=False)
        else:
            model.fit(a.copy(), group_key="group", epochs=15, batch_size=100, progress=False)
        out[weight] = foreign_latents(model.module, X[~g1], 0).pow(2).sum(1).mean().item()
        assert type(model.module).__name__ != "MSSVAEModule" if weight else type(model.module).__name__ == "MSSVAEModule"
    assert out[10.0] < 0.3 * out[None]


def test_benchmark_parts_run_at_a_tiny_size():
    sweep = seed_systems.sweep_table(dict(n_private=(4, 12), n_per_group=40, epochs=3, n_shared=2, n_specific=2,
                                          hidden=(8, 8)))
    assert list(sweep.private_features) == [4, 12]
    for col in ("consensus_shared", "consensus_group", "private_in_WS", "shared_kept_in_WS"):
        assert sweep[col].between(0, 1).all()
    assert sweep.shared_ARI_celltype.notna().all()
    summary, runs = seed_systems.toy_table(dict(rhos=(0.0,), seeds=(0,), epochs=3, n_shared=2, hidden=(8, 8)))
    assert len(runs) == 1 and np.isfinite(summary.MSE_mean).all()
    asw, ari = seed_systems.asw_ari(np.r_[np.zeros((10, 2)), np.ones((10, 2)) * 5], ["a"] * 10 + ["b"] * 10)
    assert asw == pytest.approx(1.0) and ari == pytest.approx(1.0)
    cfg = dict(n_cells=120, n_shared_genes=40, n_program_genes=20, epochs=2, hidden=(8, 8), n_shared=2, n_specific=2,
               penalty=1.0, designs=(("paper", {}), ("strong", dict(lib_loc_program=8.0, de_fac_loc=1.0))))
    ranking, penalty = seed_systems.splatter_tables(cfg)
    assert list(ranking.design.unique()) == ["paper", "strong"] and len(ranking) == 2 * 2 * 2  # designs × fits × groups
    assert ranking.AUROC.between(0, 1).all() and (ranking.program_genes > 0).all()
    assert (ranking.DE_genes > 0).all() and (ranking.DE_genes <= ranking.program_genes).all()
    assert ranking.top_DE_precision.between(0, 1).all() and ranking.AUROC_DE.between(0, 1).all()
    assert len(penalty) == 2 * 3 and penalty.fit.str.startswith("reference").sum() == 2
