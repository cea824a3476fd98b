"""Tests of the fidelity benchmark's helper code: benchmarks/baselines.py and benchmarks/fidelity.py."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import baselines  # noqa: E402
import fidelity  # noqa: E402
from mssvae.contract import GROUPS, N_SPECIFIC, UNS, W_SHARED, W_SPECIFIC, Z_SHARED, Z_SPECIFIC  # noqa: E402
from mssvae.sim.metrics import evaluate  # noqa: E402
from mssvae.sim.designs import gaussian  # noqa: E402


def test_sparsify_relative_rule():
    V = np.array([[1.0, 0.0, -0.2], [-0.5, 0.0, 0.4], [0.2, 0.0, -0.1]])
    W = baselines.sparsify(V, rel_threshold=0.3)
    # column 1: |v|/max = 1, 0.5, 0.2 -> the last is dropped; column 2 stays zero;
    # column 3: 0.5, 1, 0.25 -> the last is dropped, the sign is kept
    assert W[:, 0] == pytest.approx([1.0, -0.5, 0.0])
    assert W[:, 1] == pytest.approx([0.0, 0.0, 0.0])
    assert W[:, 2] == pytest.approx([-0.5, 1.0, 0.0])
    assert baselines.sparsify(np.zeros((4, 0))).shape == (4, 0)


def test_log_normalise():
    X = np.array([[1.0, 3.0], [2.0, 6.0]])
    assert baselines.log_normalise(X, counts=False) is not X
    assert baselines.log_normalise(X, counts=False) == pytest.approx(X)
    Y = baselines.log_normalise(X, counts=True)  # both rows have the same proportions
    assert Y[0] == pytest.approx(Y[1])
    assert Y[0] == pytest.approx(np.log1p(np.array([0.25, 0.75]) * 6.0))  # median library 6


def test_assign_factors_rule():
    r2 = np.array([
        [0.10, 0.20, 0.000, 0.005, 0.30, 0.002],
        [0.09, 0.00, 0.150, 0.004, 0.02, 0.000],
        [0.11, 0.00, 0.001, 0.003, 0.00, 0.000],
    ])
    # shared; group 0; group 1; inactive (< 1 %); group 0 (0.02 < 0.1 * 0.30); inactive
    assert baselines.assign_factors(r2) == ["shared", 0, 1, None, 0, None]
    # a factor in two of three groups is not specific to one group: shared
    assert baselines.assign_factors(np.array([[0.1], [0.1], [0.0]])) == ["shared"]


def test_variance_explained_exact_factor():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 1))
    z1, z2 = rng.normal(size=(50, 1)), rng.normal(size=(40, 1))
    Y1 = z1 @ w.T  # explained exactly by the factor
    Y2 = rng.normal(size=(40, 6))  # the factor is switched off here
    r2 = baselines.variance_explained([Y1, Y2], [z1, np.zeros_like(z2)], w)
    assert r2[0, 0] == pytest.approx(1.0)
    assert r2[1, 0] == pytest.approx(0.0)
    assert baselines.assign_factors(r2) == [0]


@pytest.fixture(scope="module")
def small_gauss():
    return gaussian(n_per_group=60, n_features=60, n_shared=3, n_specific=1, seed=1)


def test_pca_baseline_writes_contract_and_is_scored(small_gauss):
    adata = small_gauss.copy()
    baselines.pca_baseline(adata, counts=False)
    assert adata.varm[W_SHARED].shape == (60, 3)
    assert adata.varm[W_SPECIFIC].shape == (60, 3)  # K_m = 1 for each of 3 groups
    assert adata.obsm[Z_SHARED].shape == (180, 3) and adata.obsm[Z_SPECIFIC].shape == (180, 1)
    assert list(adata.uns[UNS][GROUPS]) == ["group1", "group2", "group3"]
    assert list(adata.uns[UNS][N_SPECIFIC]) == [1, 1, 1]
    W = np.hstack([adata.varm[W_SHARED], adata.varm[W_SPECIFIC]])
    assert np.abs(W).max(axis=0) == pytest.approx(np.ones(6))  # each column scaled to max 1
    assert ((W == 0) | (np.abs(W) > baselines.REL_THRESHOLD)).all()  # exact zeros off the support
    res = evaluate(adata, threshold=0.0, dci=False)
    for block in (res["shared"], res["group"]["mean"]):
        assert all(0.0 <= v <= 1.0 for v in block.values())


@pytest.mark.skipif(importlib.util.find_spec("mofapy2") is None, reason="mofapy2 not installed")
def test_mofa_baseline_runs(small_gauss):
    adata = small_gauss.copy()
    info = baselines.mofa_baseline(adata, counts=False, seed=0, iters=50)
    assert len(info["assignment"]) == 6 and np.asarray(info["r2"]).shape == (3, 6)
    k_spec = list(adata.uns[UNS][N_SPECIFIC])
    n_shared = adata.varm[W_SHARED].shape[1]
    assert n_shared + sum(k_spec) == sum(a != "None" for a in info["assignment"])
    assert adata.varm[W_SPECIFIC].shape[1] == sum(k_spec)
    evaluate(adata, threshold=0.0, dci=False)


def _with_estimate(adata, W_shared, W_specific, n_specific):
    adata = adata.copy()
    adata.varm[W_SHARED] = W_shared
    adata.varm[W_SPECIFIC] = W_specific
    adata.uns[UNS] = {GROUPS: ["group1", "group2", "group3"], N_SPECIFIC: np.asarray(n_specific)}
    return adata


def test_diagnose_names_failure_modes(small_gauss):
    from mssvae.contract import TRUE_W_SHARED, TRUE_W_SPECIFIC

    Ts = (np.asarray(small_gauss.varm[TRUE_W_SHARED]) != 0).astype(float)  # 60 x 3
    Tm = (np.asarray(small_gauss.varm[TRUE_W_SPECIFIC]) != 0).astype(float)  # 60 x 3 (one per group)
    perfect = _with_estimate(small_gauss, Ts, Tm, [1, 1, 1])
    d = fidelity.diagnose(perfect, threshold=0.5)
    assert d["misplaced"] == d["merged"] == d["split"] == d["missed"] == []
    assert d["n_est"] == d["n_true"] == {"shared": 3, "group1": 1, "group2": 1, "group3": 1}

    # shared 1 and 2 merged into one column; shared 3 moved into group1's block, which also holds
    # a satellite (3 rows of its own factor, already matched); group2's factor split into two
    # columns (halves of its support); group3's factor missing
    rows = np.flatnonzero(Tm[:, 1])
    half_a, half_b = np.zeros(60), np.zeros(60)
    half_a[rows[: len(rows) // 2]] = 1
    half_b[rows[len(rows) // 2 :]] = 1
    W_s = np.stack([np.maximum(Ts[:, 0], Ts[:, 1])], axis=1)
    satellite = np.zeros(60)
    satellite[np.flatnonzero(Tm[:, 0])[:3]] = 1
    W_m = np.stack([Tm[:, 0], Ts[:, 2], satellite, half_a, half_b], axis=1)
    bad = _with_estimate(small_gauss, W_s, W_m, [3, 2, 0])
    d = fidelity.diagnose(bad, threshold=0.5)
    assert d["merged"] == ["shared:1=shared:1+shared:2"]
    assert d["misplaced"] == ["shared:3->group1:2"]
    assert d["split"] == ["group2:1->group2:1+group2:2"]
    assert d["satellite"] == ["group1:3<group1:1 (3 rows: " + ",".join(map(str, np.flatnonzero(Tm[:, 0])[:3])) + ")"]
    assert d["missed"] == ["group3:1"]
    assert d["n_est"] == {"shared": 1, "group1": 3, "group2": 2}


def test_rescore_from_saved_w(tmp_path, small_gauss):
    from mssvae.contract import TRUE_W_SHARED, TRUE_W_SPECIFIC

    # The truth's supports at |w| = 0.2: found at threshold 0.1, gone at 0.5.
    adata = _with_estimate(small_gauss, 0.2 * np.sign(np.asarray(small_gauss.varm[TRUE_W_SHARED])),
                           0.2 * np.sign(np.asarray(small_gauss.varm[TRUE_W_SPECIFIC])), [1, 1, 1])
    fidelity.save_w(adata, tmp_path / "W" / "gaussian_s1_mssvae.npz")
    run = {"design": "gaussian", "seed": 1, "method": "mssvae",
           "data": dict(n_per_group=60, n_features=60, n_shared=3, n_specific=1),
           "scores": {"0.3": {"diagnosis": {"stale": True}}}}
    kept = {"shared": {"consensus": 0.4}}
    baseline = {"design": "gaussian", "seed": 2, "method": "pca", "data": run["data"], "scores": {"0.3": kept}}  # no W file
    fidelity.rescore([run, baseline], tmp_path, [0.1, 0.5], max_density=0.25)
    assert baseline["scores"] == {"0.1": kept, "0.5": kept}  # a baseline's own support rule ignores the threshold
    assert set(run["scores"]) == {"0.1", "0.5"}
    low, high = run["scores"]["0.1"], run["scores"]["0.5"]
    assert low["shared"]["consensus"] == 1.0 and low["group"]["consensus"] == 1.0
    assert low["diagnosis"]["n_est"] == {"shared": 3, "group1": 1, "group2": 1, "group3": 1}
    assert low["diagnosis"]["missed"] == []
    assert high["shared"]["consensus"] == 0.0 and len(high["diagnosis"]["missed"]) == 6


def test_overrides_and_table():
    over = fidelity.parse_overrides(["rnaseq.model.hidden=[128,64]", "gaussian.fit.epochs=10"])
    assert over == {"rnaseq": {"model": {"hidden": (128, 64)}}, "gaussian": {"fit": {"epochs": 10}}}
    cfg = fidelity.sizes_for("rnaseq", quick=False, overrides=over)
    assert cfg["model"]["hidden"] == (128, 64) and cfg["data"]["n_features"] == 300 and cfg["fit"]["epochs"] == 400
    with pytest.raises(SystemExit):
        fidelity.parse_overrides(["rnaseq.hidden=3"])

    def run(seed, cons, dci):
        block = {"consensus": cons, "relevance": cons, "recovery": cons}
        return {"design": "gaussian", "method": "mssvae", "seed": seed, "shape": [30, 10], "seconds": 2.0 * seed,
                "dci": dci, "scores": {"0.1": {"shared": block, "group": block}}}

    table = fidelity.summarise([run(1, 0.9, 0.8), run(2, 0.5, 0.6), run(3, 0.7, None)], "0.1")
    row = table.splitlines()[2]
    assert row.startswith("| gaussian (30x10) | mssvae | 3 | 4 |")
    assert "0.70 / 0.50" in row and row.endswith("0.70 / 0.60 |")  # median / worst; DCI skips None


def test_fold_record_moves_a_switched_shared_factor(tmp_path, small_gauss):
    """A shared factor estimated once in every group's block: the +fold record puts it back in W^(S)."""
    from mssvae.contract import TRUE_W_SHARED, TRUE_W_SPECIFIC

    Ts = (np.asarray(small_gauss.varm[TRUE_W_SHARED]) != 0).astype(float)
    Tm = (np.asarray(small_gauss.varm[TRUE_W_SPECIFIC]) != 0).astype(float)
    switched = np.hstack([Tm[:, [0]], Ts[:, [2]], Tm[:, [1]], Ts[:, [2]], Tm[:, [2]], Ts[:, [2]]])  # K_m = 2
    adata = _with_estimate(small_gauss, Ts[:, :2], switched, [2, 2, 2])
    run = {"design": "gaussian", "seed": 1, "method": "mssvae", "data": dict(n_per_group=60, n_features=60, n_shared=3, n_specific=1),
           "scores": {}, "dci": None}
    fidelity.save_w(adata, tmp_path / "W" / "gaussian_s1_mssvae.npz")
    fidelity.rescore([run], tmp_path, [0.1], max_density=None)
    runs = fidelity.add_folds([run], tmp_path, [0.1], max_density=None)
    assert [r["method"] for r in runs] == ["mssvae", "mssvae+fold"]
    raw, fold = runs[0]["scores"]["0.1"], runs[1]["scores"]["0.1"]
    assert runs[1]["folded"] == ["group1_2 + group2_2 + group3_2 -> shared_3"]
    assert raw["shared"]["consensus"] == pytest.approx(2 / 3) and fold["shared"]["consensus"] == 1.0
    assert fold["group"]["consensus"] == 1.0 > raw["group"]["consensus"]
    assert np.load(tmp_path / "W" / "gaussian_s1_mssvae+fold.npz")["W_shared"].shape == (60, 3)
    assert fidelity.add_folds(runs, tmp_path, [0.1], max_density=None) == runs  # one record per run
