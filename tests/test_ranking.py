"""Group-specific gene and factor rankings (mssvae.analysis.ranking): planted genes come out on top."""

import anndata
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from mssvae import MSSVAE

from mssvae import MSSVAEInputError
from mssvae.cli import main
from mssvae.contract import FACTOR_COLUMNS, GENE_COLUMNS
from mssvae.bridge import rank_arrays

torch.set_num_threads(1)

SHARED = [f"g{j}" for j in range(0, 10)]
PLANTED_A = [f"g{j}" for j in range(10, 16)]  # driven by a factor of group A only


def planted(n=150, G=30, counts=False, seed=0):
    """Two groups: genes 0-9 follow a shared factor, genes 10-15 a factor of group A only."""
    rng = np.random.default_rng(seed)
    grp = np.repeat(["A", "B"], n)
    N = len(grp)
    z, za = rng.normal(size=N), rng.normal(size=N)
    signal = np.zeros((N, G))
    signal[:, 0:10] = 1.5 * z[:, None]
    a = grp == "A"
    signal[a, 10:16] = 1.5 * za[a, None]
    X = rng.poisson(np.exp(1.5 + 0.6 * signal)) if counts else signal + 0.5 * rng.normal(size=(N, G))
    obs = pd.DataFrame({"group": pd.Categorical(grp)}, index=[f"c{i}" for i in range(N)])
    return anndata.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(G)]))


@pytest.fixture(scope="module")
def gauss_fit():
    adata = planted()
    # 40 epochs of 5 steps: λ0 anneals at the paper's 5% and 30% of them
    model = MSSVAE("gaussian", n_shared=2, n_specific=2, hidden=(16, 8), lambda0_breaks=(10, 60))
    model.fit(adata, group_key="group", epochs=40, batch_size=64, progress=False)
    return model, adata


def test_gaussian_ranking_puts_planted_genes_on_top(gauss_fit):
    model, adata = gauss_fit
    table = model.rank_group_genes(adata, "A")
    assert list(table.columns) == GENE_COLUMNS
    assert len(table) == adata.n_vars
    assert set(table.gene[:6]) == set(PLANTED_A)
    assert table.score.is_monotonic_decreasing
    top, rest = table.score[:6], table.score[6:]
    assert top.min() > 5 * rest.max()  # a clear gap, not a near tie
    assert (table.frac_positive[:6] > 0.6).all()
    np.testing.assert_allclose(table.mean_log_lr, table.score / 150)
    assert table.log2_fold_change.isna().all()  # Gaussian means may be negative: no fold change
    # In group B the planted genes are noise: B's factors have nothing to explain there.
    assert not set(model.rank_group_genes(adata, "B").gene[:6]) & set(PLANTED_A)


def test_nb_ranking_is_the_likelihood_ratio_of_the_group_block():
    """NB mechanics, independent of how well a short fit learns: with W's group-A rows zeroed
    except on the planted genes, A's factors reach only those genes, so every other gene's ratio
    is exactly 0 and the planted ones are the only non-zero scores."""
    adata = planted(counts=True, n=60)
    model = MSSVAE("nb", n_shared=2, n_specific=2, hidden=(16, 8))
    model.fit(adata, group_key="group", epochs=5, batch_size=64, progress=False)
    cols = (model.module.block_group == 0).nonzero().ravel()  # group A's block ("A" sorts first)
    rows = [j for j in range(adata.n_vars) if f"g{j}" not in PLANTED_A]
    with torch.no_grad():
        model.module.W[np.ix_(rows, cols.numpy())] = 0.0
        model.module.W[10:16, cols] = 1.0
    table = model.rank_group_genes(adata, "A").set_index("gene")
    assert (table.drop(PLANTED_A).score == 0).all()
    assert (table.loc[PLANTED_A].score != 0).all()
    assert np.isfinite(table.log2_fold_change).all()
    assert (table.drop(PLANTED_A).log2_fold_change.abs() < 1e-6).all()  # same decoded means under M0 and M1


def test_factor_ranking_uses_w_and_a_switched_off_factor_scores_zero(gauss_fit):
    model, adata = gauss_fit
    factors = model.rank_group_factors(adata, "A")
    assert list(factors.columns) == FACTOR_COLUMNS
    assert set(factors.factor) == {"A_1", "A_2"}
    best = factors.iloc[0]
    assert best.score > 100
    assert set(best.top_genes_lr.split(", ")[:6]) == set(PLANTED_A)
    # Zero one column of W: that factor can no longer reach any gene, so its score is exactly 0.
    col = model.settings.n_shared + model.factor_names()["A"].index(best.factor)
    saved = model.module.W.data[:, col].clone()
    try:
        model.module.W.data[:, col] = 0.0
        again = model.rank_group_factors(adata, "A").set_index("factor").loc[best.factor]
        assert again.score == 0.0 and again.n_genes == 0 and again.top_genes_w == ""
    finally:
        model.module.W.data[:, col] = saved


def test_unknown_group_and_absent_group_are_clear_errors(gauss_fit):
    model, adata = gauss_fit
    with pytest.raises(MSSVAEInputError, match=r"unknown group 'C'; the model's groups are: 'A', 'B'"):
        model.rank_group_genes(adata, "C")
    with pytest.raises(MSSVAEInputError, match="no samples of group 'B'"):
        model.rank_group_genes(adata[adata.obs.group == "A"].copy(), "B")
    with pytest.raises(MSSVAEInputError, match="features differ"):
        model.rank_group_genes(adata[:, :20].copy(), "A")


def test_rank_arrays_for_r_matches_the_method(gauss_fit, tmp_path):
    model, adata = gauss_fit
    model.save(tmp_path / "m")
    out = rank_arrays(np.asarray(adata.X).T, list(adata.obs.group.astype(str)), str(tmp_path / "m"), "A",
                      feature_names=list(adata.var_names))
    direct = model.rank_group_genes(adata, "A")
    assert out["gene"] == list(direct.gene)
    np.testing.assert_allclose(out["score"], direct.score, rtol=1e-5)
    fac = rank_arrays(np.asarray(adata.X).T, list(adata.obs.group.astype(str)), str(tmp_path / "m"), "A",
                      feature_names=list(adata.var_names), level="factor")
    assert set(fac) == set(FACTOR_COLUMNS)
    with pytest.raises(MSSVAEInputError, match="no saved model"):
        rank_arrays(np.asarray(adata.X).T, list(adata.obs.group.astype(str)), str(tmp_path / "nope"), "A")


def test_cli_rank(gauss_fit, tmp_path):
    model, adata = gauss_fit
    adata.write_h5ad(tmp_path / "fit.h5ad")
    model.save(tmp_path / "fit_model")
    runner = CliRunner()
    res = runner.invoke(main, ["rank", str(tmp_path / "fit.h5ad"), "--group", "A", "--top", "6",
                               "--out", str(tmp_path / "rank.csv")])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "rank.csv").gene[:6]) == set(PLANTED_A)
    assert "g1" in res.output and "wrote 30 rows" in res.output
    res = runner.invoke(main, ["rank", str(tmp_path / "fit.h5ad"), "--group", "Z"])
    assert res.exit_code != 0 and "the model's groups are: 'A', 'B'" in res.output
    res = runner.invoke(main, ["rank", str(tmp_path / "fit.h5ad"), "--group", "A", "--level", "factor"])
    assert res.exit_code == 0 and "A_1" in res.output


def test_ranking_a_model_fitted_with_covariates(tmp_path):
    """A batch that shifts every gene crosses the groups; both decodings keep its offset, so the
    planted genes still come out on top, from obs columns, from covariates=, and from R's door."""
    adata = planted(seed=1)
    rng = np.random.default_rng(2)
    batch = rng.choice(["b1", "b2"], size=adata.n_obs)
    adata.X = adata.X + np.where(batch == "b2", 1.0, -1.0)[:, None] * rng.normal(0, 2, size=adata.n_vars)[None, :]
    adata.obs["batch"] = batch
    model = MSSVAE("gaussian", n_shared=2, n_specific=2, hidden=(16, 8))
    model.fit(adata, group_key="group", covariate_keys=["batch"], epochs=40, batch_size=64, progress=False)
    table = model.rank_group_genes(adata, "A")
    assert set(table.gene[:6]) == set(PLANTED_A)
    assert table.score[:6].min() > 5 * table.score[6:].max()
    no_batch = adata.copy()
    del no_batch.obs["batch"]
    with pytest.raises(MSSVAEInputError, match="batch"):
        model.rank_group_genes(no_batch, "A")
    from_table = model.rank_group_genes(no_batch, "A", covariates=adata.obs[["batch"]])
    np.testing.assert_allclose(from_table.score, table.score, rtol=1e-5)
    # the covariates are used (encoders and decoder offset): the other batch changes the scores
    flipped = pd.DataFrame({"batch": np.where(batch == "b1", "b2", "b1")}, index=adata.obs_names)
    moved = model.rank_group_genes(no_batch, "A", covariates=flipped).set_index("gene").score
    assert not np.allclose(moved.loc[table.gene].to_numpy(), table.score.to_numpy(), rtol=1e-3)
    groups = adata.obs.group.to_numpy()
    model.save(tmp_path / "m")
    out = rank_arrays(np.asarray(adata.X).T, list(groups.astype(str)), str(tmp_path / "m"), "A",
                      feature_names=list(adata.var_names), level="factor", covariates={"batch": list(batch)})
    direct = model.rank_group_factors(adata, "A")
    np.testing.assert_allclose(out["score"], direct.score, rtol=1e-5)
