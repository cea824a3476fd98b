"""Tests of mssvae.sim.metrics (App. C.1) and the simulate/evaluate commands."""

import itertools
import json

import anndata as ad
import numpy as np
import pytest
from click.testing import CliRunner

from mssvae.contract import (
    GROUP_KEY, GROUPS, N_SPECIFIC, SIM, TRUE_W_SHARED, TRUE_W_SPECIFIC, TRUE_Z_SHARED, TRUE_Z_SPECIFIC, UNS, W_SHARED,
    W_SPECIFIC, Z_SHARED, Z_SPECIFIC,
)
from mssvae.cli.sim import evaluate_cmd, simulate_cmd
from mssvae.sim.metrics import (
    MissingKeyError, consensus, dci_disentanglement, disentanglement_from_importance, evaluate, jaccard,
    jaccard_matrix, recovery, relevance, support_scores, supports,
)
from mssvae.sim.designs import GROUP_COLUMN, gaussian

SCORES = ("consensus", "relevance", "recovery")


def test_jaccard():
    assert jaccard({1, 2, 3}, {2, 3, 4}) == 2 / 4  # |{2,3}| / |{1,2,3,4}|
    assert jaccard({1}, {2}) == 0
    assert jaccard(set(), set()) == 1


def test_hand_computed_scores():
    true = [{0, 1, 2, 3}, {4, 5, 6, 7}]
    est = [{0, 1, 2}, {4, 5, 6, 7, 8}, {9}]
    # J = [[3/4, 0, 0], [0, 4/5, 0]]
    assert jaccard_matrix(true, est) == pytest.approx(np.array([[0.75, 0, 0], [0, 0.8, 0]]))
    assert relevance(true, est) == pytest.approx((0.75 + 0.8 + 0) / 3)  # mean over the 3 estimates
    assert recovery(true, est) == pytest.approx((0.75 + 0.8) / 2)  # mean over the 2 truths
    assert consensus(true, est) == pytest.approx((0.75 + 0.8) / 3)  # matched sum / max(2, 3)


def test_consensus_is_the_optimal_matching_not_greedy():
    # a case where greedy matching (best pair first) loses:
    true = [{0, 1, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7}]
    est = [{0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}]
    # J(t0,e0) = 4/6, J(t0,e1) = 4/12, J(t1,e0) = 6/8, J(t1,e1) = 8/12
    # greedy: best pair (t1,e0) = 3/4, then (t0,e1) = 1/3 -> 13/12; optimal: 4/6 + 8/12 = 16/12
    assert consensus(true, est) == pytest.approx((4 / 6 + 8 / 12) / 2)


def test_consensus_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        true = [set(rng.choice(12, size=rng.integers(1, 8), replace=False).tolist()) for _ in range(3)]
        est = [set(rng.choice(12, size=rng.integers(1, 8), replace=False).tolist()) for _ in range(4)]
        jac = jaccard_matrix(true, est)
        best = max(sum(jac[i, p[i]] for i in range(3)) for p in itertools.permutations(range(4), 3))
        assert consensus(true, est) == pytest.approx(best / 4)


def test_perfect_and_permuted_estimates():
    rng = np.random.default_rng(1)
    w = (rng.random((50, 6)) < 0.2) * rng.normal(5, 1, (50, 6))
    w[0] = 1.0  # no empty column
    perm = rng.permutation(6)
    scaled = -0.3 * w[:, perm]  # sign and scale do not change supports
    for w_hat in (w, scaled):
        assert support_scores(w, w_hat) == {s: 1.0 for s in SCORES}


def test_empty_conventions():
    assert relevance([{1}], []) == recovery([{1}], []) == consensus([{1}], []) == 0
    assert relevance([], []) == recovery([], []) == consensus([], []) == 1
    assert relevance([], [{1}]) == recovery([], [{1}]) == consensus([], [{1}]) == 0
    w = np.eye(4)
    assert support_scores(w, np.zeros((4, 3))) == {s: 0.0 for s in SCORES}


def test_supports_threshold_and_density():
    w = np.zeros((10, 4))
    w[[0, 1], 0] = 1.0
    w[:8, 1] = 2.0  # 80 % dense
    w[3, 2] = 0.02  # below the default threshold 0.03 -> column treated as all-zero, dropped
    w[5, 3] = -0.7
    assert supports(w) == [frozenset({0, 1}), frozenset(range(8)), frozenset({5})]
    assert supports(w, max_density=0.25) == [frozenset({0, 1}), frozenset({5})]
    assert supports(w, threshold=0.01)[2] == frozenset({3})
    assert supports(w, threshold=0.5) == [frozenset({0, 1}), frozenset(range(8)), frozenset({5})]


def test_support_scores_threshold_and_density_filter():
    truth = np.zeros((20, 2))
    truth[:5, 0] = 8
    truth[10:15, 1] = 8
    est = truth.copy()
    est[5, 0] = 0.3  # a spurious weak loading
    est[:, 1] += 0.02  # noise floor under the threshold
    # default threshold: column 0 = {0..5}, J = 5/6; column 1 exact
    assert support_scores(truth, est)["consensus"] == pytest.approx((5 / 6 + 1) / 2)
    assert support_scores(truth, est, threshold=0.5)["consensus"] == 1
    dense = np.hstack([est, np.ones((20, 1))])  # a dense column, as the normalisation of §4.2 causes
    assert support_scores(truth, dense)["relevance"] == pytest.approx((5 / 6 + 1 + 5 / 20) / 3)
    assert support_scores(truth, dense, max_density=0.5) == support_scores(truth, est)  # 6/20 kept, 20/20 not


def test_disentanglement_from_importance_by_hand():
    assert disentanglement_from_importance(np.eye(3)) == pytest.approx(1)
    # one estimated factor equally important for both true factors: H_2 = 1 -> D = 0
    assert disentanglement_from_importance([[0.5, 0.5], [0, 0]]) == pytest.approx(0)
    # rho = (1/2, 1/2), D_1 = 1, D_2 = 0 -> 0.5
    assert disentanglement_from_importance([[1, 0], [0.5, 0.5]]) == pytest.approx(0.5)
    assert disentanglement_from_importance(np.zeros((2, 2))) == 0


@pytest.fixture(scope="module")
def latents():
    return np.random.default_rng(2).normal(size=(500, 4))


def test_dci_permuted_monotone_copy_is_disentangled(latents):
    z_hat = latents[:, [2, 0, 3, 1]].copy()
    z_hat[:, 0] = np.exp(z_hat[:, 0])  # element-wise monotone maps are invisible to trees
    z_hat[:, 1] = z_hat[:, 1] ** 3
    z_hat[:, 2] = -2 * z_hat[:, 2] + 1
    z_hat = np.hstack([z_hat, np.zeros((500, 3))])  # pruned factors carry no weight
    assert dci_disentanglement(latents, z_hat) > 0.9


def test_dci_rotation_is_entangled(latents):
    rotation, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))
    perfect = dci_disentanglement(latents, latents)
    mixed = dci_disentanglement(latents, latents @ rotation)
    assert mixed < 0.6 and mixed < perfect - 0.3


# --- evaluate() and the CLI -----------------------------------------------------------------


def fake_fit(adata, order=None, extra_shared=0):
    """A 'fitted' AnnData whose estimates are the truth (optionally groups reordered)."""
    fitted = adata.copy()
    groups = list(adata.uns[SIM][GROUPS])
    k = list(adata.uns[SIM][N_SPECIFIC])
    order = order or groups
    offsets = dict(zip(groups, np.cumsum([0, *k[:-1]])))
    kk = dict(zip(groups, k))
    fitted.varm[W_SHARED] = np.hstack([adata.varm[TRUE_W_SHARED], np.zeros((adata.n_vars, extra_shared))])
    fitted.varm[W_SPECIFIC] = np.hstack([adata.varm[TRUE_W_SPECIFIC][:, offsets[g] : offsets[g] + kk[g]] for g in order])
    fitted.obsm[Z_SHARED] = np.hstack([adata.obsm[TRUE_Z_SHARED], np.zeros((adata.n_obs, extra_shared))])
    fitted.obsm[Z_SPECIFIC] = adata.obsm[TRUE_Z_SPECIFIC].copy()
    fitted.uns[UNS] = {GROUPS: list(order), N_SPECIFIC: [kk[g] for g in order], GROUP_KEY: GROUP_COLUMN}
    return fitted


@pytest.fixture(scope="module")
def small():
    return gaussian(n_per_group=150, seed=0)


def test_evaluate_perfect(small):
    result = evaluate(fake_fit(small, extra_shared=5))
    assert result["shared"] == {s: 1.0 for s in SCORES}
    assert result["group"]["mean"] == {s: 1.0 for s in SCORES}
    assert set(result["group"]["per_group"]) == {"group1", "group2", "group3"}
    assert result["disentanglement"] > 0.9
    no_key = fake_fit(small)
    no_key.uns[UNS][GROUP_KEY] = "none"  # groups given as an array at fit time
    assert evaluate(no_key)["disentanglement"] == pytest.approx(result["disentanglement"], abs=0.05)


def test_evaluate_matches_groups_by_label(small):
    reordered = fake_fit(small, order=["group3", "group1", "group2"])
    result = evaluate(reordered, dci=False)
    assert result["group"]["mean"] == {s: 1.0 for s in SCORES} and result["disentanglement"] is None
    # the same blocks under the wrong labels: each group's columns now face another group's truth
    mislabelled = reordered.copy()
    mislabelled.uns[UNS][GROUPS] = ["group1", "group2", "group3"]
    assert evaluate(mislabelled, dci=False)["group"]["mean"]["consensus"] < 0.2


def test_evaluate_missing_keys(small):
    with pytest.raises(MissingKeyError, match=W_SHARED):
        evaluate(small)
    no_truth = fake_fit(small)
    del no_truth.varm[TRUE_W_SPECIFIC]
    with pytest.raises(MissingKeyError, match="simulate"):
        evaluate(no_truth)


def test_cli_simulate(tmp_path):
    runner = CliRunner()
    out = tmp_path / "g.h5ad"
    res = runner.invoke(simulate_cmd, ["gaussian", "--seed", "3", "--n-per-group", "20", "--out", str(out)])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(ad.read_h5ad(out).X, gaussian(n_per_group=20, seed=3).X)
    res = runner.invoke(simulate_cmd, ["rnaseq", "--n-samples", "30", "--n-features", "300", "--overlap", "2",
                                       "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert ad.read_h5ad(out).uns["simulation"]["params"]["overlap"] == 2
    res = runner.invoke(simulate_cmd, ["nope", "--out", str(out)])
    assert res.exit_code == 2 and "nope" in res.output
    res = runner.invoke(simulate_cmd, ["gaussian", "--n-cells", "5", "--out", str(out)])
    assert res.exit_code == 2 and "--n-cells" in res.output and "--n-per-group" in res.output


def test_cli_evaluate(tmp_path, small):
    runner = CliRunner()
    fitted, raw = tmp_path / "fit.h5ad", tmp_path / "raw.h5ad"
    fake_fit(small, order=["group2", "group3", "group1"]).write_h5ad(fitted)
    small.write_h5ad(raw)
    metrics = tmp_path / "m.json"
    res = runner.invoke(evaluate_cmd, [str(fitted), "--no-dci", "--max-density", "0.25", "--out", str(metrics)])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.output)
    assert printed == json.loads(metrics.read_text())
    assert printed["shared"]["consensus"] == 1 and printed["group"]["mean"]["recovery"] == 1
    assert printed["disentanglement"] is None and printed["settings"]["max_density"] == 0.25
    res = runner.invoke(evaluate_cmd, [str(raw)])
    assert res.exit_code == 1 and W_SHARED in res.output and "fit" in res.output


def test_group_blocks_split_by_label():
    from mssvae.sim.metrics import group_blocks

    W = np.arange(12).reshape(2, 6)
    blocks = group_blocks(W, ["a", "b", "c"], [1, 0, 5])
    assert list(blocks) == ["a", "b", "c"]
    assert blocks["a"].tolist() == [[0], [6]] and blocks["b"].shape == (2, 0)
    assert blocks["c"].tolist() == [[1, 2, 3, 4, 5], [7, 8, 9, 10, 11]]
