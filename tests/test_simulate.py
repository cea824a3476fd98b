"""Tests of mssvae.sim (designs, splatter): the designs of §4.1, §4.2 and multiGroupVI App. D."""

import anndata as ad
import numpy as np
import pytest

from mssvae.contract import GROUPS, N_SPECIFIC, SIM, TRUE_W_SHARED, TRUE_W_SPECIFIC, TRUE_Z_SHARED, TRUE_Z_SPECIFIC
from mssvae.sim.designs import (
    DESIGNS, GROUP_COLUMN, TRUE_MEAN_LAYER, anchor_counts, block_layout, gaussian, nonlinear_features, rnaseq,
    simulate, splatter2,
)


def full_w(adata):
    return np.hstack([adata.varm[TRUE_W_SHARED], adata.varm[TRUE_W_SPECIFIC]])


def block_z(adata):
    """True factors in the §2.2 block layout [z, xi^(m) in group m's block]."""
    n_specific = list(adata.uns[SIM][N_SPECIFIC])
    blocks = [adata.obsm[TRUE_Z_SHARED]]
    codes = adata.obs[GROUP_COLUMN].cat.codes.to_numpy()
    for m, k in enumerate(n_specific):
        block = np.zeros((adata.n_obs, k))
        block[codes == m] = adata.obsm[TRUE_Z_SPECIFIC][codes == m, :k]
        blocks.append(block)
    return np.hstack(blocks)


@pytest.fixture(scope="module")
def gauss():
    return gaussian(seed=0)


@pytest.fixture(scope="module")
def counts():
    return rnaseq(n_samples=400, n_features=600, seed=1, keep_means=True)


@pytest.fixture(scope="module")
def splat():
    return splatter2(n_cells=3000, n_shared_genes=500, n_program_genes=200, seed=2, keep_means=True)


def test_gaussian_shapes_and_labels(gauss):
    assert gauss.shape == (3000, 100)
    assert gauss.X.dtype == np.float32
    assert list(gauss.obs[GROUP_COLUMN].cat.categories) == ["group1", "group2", "group3"]
    assert (gauss.obs[GROUP_COLUMN].value_counts() == 1000).all()
    assert gauss.var_names[0] == "feature_1"
    assert gauss.varm[TRUE_W_SHARED].shape == (100, 8)
    assert gauss.varm[TRUE_W_SPECIFIC].shape == (100, 6)
    assert gauss.obsm[TRUE_Z_SHARED].shape == (3000, 8)
    assert gauss.obsm[TRUE_Z_SPECIFIC].shape == (3000, 2)
    sim = gauss.uns[SIM]
    assert sim["design"] == "gaussian" and sim["seed"] == 0
    assert sim[GROUPS] == ["group1", "group2", "group3"] and sim[N_SPECIFIC] == [2, 2, 2]


def test_gaussian_support_layout(gauss):
    w = full_w(gauss)
    support = w != 0
    assert (anchor_counts(w) >= 2).all()  # Assumption 1: two anchors per factor
    assert support.any(axis=1).all()  # every feature is loaded
    assert (support.sum(axis=1) == 2).any() and support.sum(axis=1).max() == 2  # overlaps, at most pairs
    for k in range(w.shape[1]):  # each factor owns one contiguous block
        rows = np.flatnonzero(support[:, k])
        assert np.array_equal(rows, np.arange(rows[0], rows[-1] + 1))
    specific = gauss.varm[TRUE_W_SPECIFIC] != 0
    per_group = [specific[:, 2 * m : 2 * m + 2].any(axis=1) for m in range(3)]
    for a in range(3):  # different groups' specific factors sit on different rows
        for b in range(a + 1, 3):
            assert not (per_group[a] & per_group[b] & ~(specific.sum(axis=1) == 2)).any()
    ws, wm = gauss.varm[TRUE_W_SHARED], gauss.varm[TRUE_W_SPECIFIC]
    assert abs(ws[ws != 0].mean() - 8) < 0.05 and abs(ws[ws != 0].std() - 0.1) < 0.03  # N(8, 0.01): var 0.01
    assert abs(wm[wm != 0].mean() - 10) < 0.05 and abs(wm[wm != 0].std() - 0.1) < 0.03


def test_gaussian_follows_the_equation(gauss):
    """Rebuild the signal of §4.1 from the truth: the residual is N(0, 0.2) with 0.2 the variance."""
    z = block_z(gauss)
    w = full_w(gauss)
    signal = z @ w.T
    quad = nonlinear_features(100)
    assert quad[:3].tolist() == [2, 5, 8]  # 1-based features 3, 6, 9
    signal[:, quad] = (z**2) @ w[quad].T
    resid = gauss.X - signal
    assert abs(resid.mean()) < 0.01
    assert resid.var() == pytest.approx(0.2, rel=0.03)
    assert gauss.obsm[TRUE_Z_SHARED].std() == pytest.approx(0.5, rel=0.03)


def test_block_layout_small_g_raises():
    with pytest.raises(ValueError, match="anchor"):
        block_layout(20, 10, overlap=2)
    blocks = block_layout(30, 5, overlap=1)
    assert blocks[0, 0] == 0 and blocks[-1, 1] == 30


def test_unequal_and_zero_specific_dimensions():
    adata = gaussian(n_per_group=30, n_specific=[2, 0, 1], seed=3)
    assert adata.varm[TRUE_W_SPECIFIC].shape == (100, 3)
    xi = adata.obsm[TRUE_Z_SPECIFIC]
    assert xi.shape == (90, 2)
    codes = adata.obs[GROUP_COLUMN].cat.codes.to_numpy()
    assert (xi[codes == 1] == 0).all() and (xi[codes == 2, 1] == 0).all() and (xi[codes == 2, 0] != 0).all()


@pytest.mark.parametrize("design,sizes", [
    ("gaussian", dict(n_per_group=40)),
    ("rnaseq", dict(n_samples=60, n_features=400)),
    ("splatter2", dict(n_cells=60, n_shared_genes=100, n_program_genes=40)),
])
def test_seeds_reproduce_and_differ(design, sizes):
    a, b, c = (simulate(design, seed=s, **sizes) for s in (5, 5, 6))
    assert np.array_equal(a.X, b.X) and np.array_equal(a.varm[TRUE_W_SHARED], b.varm[TRUE_W_SHARED])
    assert not np.array_equal(a.X, c.X)


def test_registry():
    assert set(DESIGNS) == {"gaussian", "rnaseq", "splatter2", "toy", "leakage", "wide"}
    assert np.array_equal(simulate("gaussian", seed=4, n_per_group=20).X, gaussian(n_per_group=20, seed=4).X)
    with pytest.raises(ValueError, match="unknown design"):
        simulate("nope")


def test_rnaseq_structure(counts):
    assert counts.shape == (400, 600)
    assert counts.var_names[0] == "gene_1"
    x = counts.X
    assert x.dtype == np.float32 and np.array_equal(x, np.round(x)) and x.min() >= 0
    assert counts.uns[SIM]["group_sizes"] == [120, 120, 160]  # (30 %, 30 %, 40 %) of 400
    w = full_w(counts)
    assert w.shape == (600, 10 + 3 * 3)
    assert (anchor_counts(w) >= 2).all()
    blocks = counts.uns[SIM]["blocks"]
    in_block = np.zeros(w.shape, dtype=bool)
    for k, (start, end) in enumerate(blocks):
        in_block[start:end, k] = True
    assert (w[in_block] != 0).all()
    off = ((w != 0) & ~in_block).sum() / (w != 0).sum()
    assert off == pytest.approx(0.05, abs=0.01)  # "5 % non-block non-zeros"
    ws, wm = counts.varm[TRUE_W_SHARED], counts.varm[TRUE_W_SPECIFIC]
    assert abs(ws[ws != 0].mean() - 10) < 0.05 and abs(wm[wm != 0].mean() - 12) < 0.05
    mean = counts.layers[TRUE_MEAN_LAYER]
    # sum_j mu~_ij = l_i (per-sample normalisation to 1, then library size)
    assert np.allclose(mean.sum(axis=1), counts.obs["true_library_size"], rtol=1e-4)
    assert np.log(counts.obs["true_library_size"]).mean() == pytest.approx(12, abs=0.1)


def test_rnaseq_library_sets_the_counts_per_gene_alone():
    base = rnaseq(n_samples=60, n_features=300, seed=2)
    more = rnaseq(n_samples=60, n_features=300, seed=2, library_log_mean=12 + np.log(5))
    assert np.log(more.obs["true_library_size"]).mean() == pytest.approx(12 + np.log(5), abs=0.2)
    assert more.X.sum() / base.X.sum() == pytest.approx(5, rel=0.05)
    np.testing.assert_array_equal(more.varm[TRUE_W_SHARED], base.varm[TRUE_W_SHARED])


def test_rnaseq_mean_variance_trend(counts):
    """NB(mu~, 1/BCV^2): E[(x - mu)^2] = mu + mu^2 E[BCV^2], E[nu / chi^2_nu] = nu / (nu - 2)."""
    x = counts.X.astype(float)
    mu = counts.layers[TRUE_MEAN_LAYER].astype(float)
    phi, nu = 0.1, 60
    predicted = mu + mu**2 * (phi + 1 / np.sqrt(mu)) ** 2 * nu / (nu - 2)
    sq = (x - mu) ** 2
    assert x.sum() / mu.sum() == pytest.approx(1, rel=0.01)
    assert sq.sum() / mu.sum() > 2  # clearly overdispersed relative to Poisson
    for lo, hi in [(1, 10), (10, 100), (100, np.inf)]:  # the trend holds across expression levels
        sel = (mu >= lo) & (mu < hi)
        assert sel.sum() > 2000
        assert sq[sel].sum() / predicted[sel].sum() == pytest.approx(1, rel=0.1)


def test_splatter2_truth(splat):
    assert splat.shape == (3000, 700)
    assert splat.uns[SIM][N_SPECIFIC] == [2, 2] and splat.uns[SIM][GROUPS] == ["group1", "group2"]
    gene_set = splat.var["gene_set"].to_numpy()
    ws, wm = splat.varm[TRUE_W_SHARED], splat.varm[TRUE_W_SPECIFIC]
    assert ws.shape == (700, 5) and wm.shape == (700, 4)
    assert (ws[gene_set != "shared"] == 0).all() and (ws != 0).any(axis=0).all()
    for m, label in enumerate(["group1", "group2"]):
        block = wm[:, 2 * m : 2 * m + 2] != 0
        assert block.any(axis=0).all()
        assert not block[gene_set != label].any()  # programs are DE only on their group's genes
    assert (gene_set == "group1").sum() == 100
    z, xi = splat.obsm[TRUE_Z_SHARED], splat.obsm[TRUE_Z_SPECIFIC]
    assert (z.sum(axis=1) == 1).all() and (xi.sum(axis=1) == 1).all()
    assert np.array_equal(z.argmax(axis=1), splat.obs["cell_type"].cat.codes)
    assert np.array_equal(xi.argmax(axis=1), splat.obs["program"].cat.codes)
    x = splat.X
    assert np.array_equal(x, np.round(x))
    # library-size locations 11 (cell types) and 6 (programs), as in multiGroupVI App. D
    assert np.log(splat.obs["true_library_size_shared"]).mean() == pytest.approx(11, abs=0.05)
    assert np.log(x[:, gene_set != "shared"].sum(axis=1) + 1).mean() == pytest.approx(6, abs=0.3)


def test_splatter2_programs_act_only_in_their_group(splat):
    """Within group 1, program 1 vs program 2 changes only group 1's DE genes (up to normalisation)."""
    gene_set = splat.var["gene_set"].to_numpy()
    prog_genes = np.flatnonzero(gene_set != "shared")
    mean = splat.layers[TRUE_MEAN_LAYER][:, prog_genes].astype(float)
    mean /= mean.sum(axis=1, keepdims=True)
    group, program = splat.obs[GROUP_COLUMN].cat.codes.to_numpy(), splat.obs["program"].cat.codes.to_numpy()
    fac = splat.varm[TRUE_W_SPECIFIC][prog_genes]
    for m in range(2):
        cells = [np.flatnonzero((group == m) & (program == p))[0] for p in range(2)]
        log_ratio = np.log(mean[cells[0]] / mean[cells[1]])
        expected = fac[:, 2 * m] - fac[:, 2 * m + 1]
        # equal up to one normalisation constant, which is the ratio on all non-DE genes
        assert np.allclose(log_ratio - expected, (log_ratio - expected)[0], atol=1e-5)
    # and in the counts: the observed log fold change tracks the true one on group 1's DE genes
    x = splat.X[:, prog_genes].astype(float)
    de = np.flatnonzero(fac[:, 0] - fac[:, 1] != 0)
    m1 = x[(group == 0) & (program == 0)][:, de].mean(axis=0)
    m2 = x[(group == 0) & (program == 1)][:, de].mean(axis=0)
    observed = np.log((m1 + 0.1) / (m2 + 0.1))
    assert np.corrcoef(observed, (fac[:, 0] - fac[:, 1])[de])[0, 1] > 0.6


@pytest.mark.parametrize("design,sizes", [
    ("gaussian", dict(n_per_group=20)),
    ("rnaseq", dict(n_samples=40, n_features=400)),
    ("splatter2", dict(n_cells=40, n_shared_genes=100, n_program_genes=40)),
])
def test_h5ad_round_trip(tmp_path, design, sizes):
    adata = simulate(design, seed=7, **sizes)
    path = tmp_path / f"{design}.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.X, adata.X)
    for key in (TRUE_W_SHARED, TRUE_W_SPECIFIC):
        np.testing.assert_array_equal(back.varm[key], adata.varm[key])
    for key in (TRUE_Z_SHARED, TRUE_Z_SPECIFIC):
        np.testing.assert_array_equal(back.obsm[key], adata.obsm[key])
    sim, sim_back = adata.uns[SIM], back.uns[SIM]
    assert sim_back["design"] == design and int(sim_back["seed"]) == 7
    assert list(sim_back[GROUPS]) == sim[GROUPS]
    assert [int(k) for k in sim_back[N_SPECIFIC]] == sim[N_SPECIFIC]
    assert list(back.obs[GROUP_COLUMN]) == list(adata.obs[GROUP_COLUMN])


def test_wide_programs_are_disjoint_and_group_specific():
    a = simulate("wide", seed=1, n_per_group=10, n_features=1000, n_shared=2, shared_size=50, specific_size=30)
    truth = np.hstack([a.varm["true_W_shared"], a.varm["true_W_specific"]]) != 0
    assert truth.sum(0).tolist() == [50, 50, 30, 30, 30] and truth.sum(1).max() == 1
    g1 = (a.obs["group"] == "group1").to_numpy()
    assert np.all(a.obsm["true_z_specific"][~g1] != 0)  # every sample has its own group's factor
    with pytest.raises(ValueError, match="the programs need"):
        simulate("wide", n_features=100)
