"""Covariates (mssvae.io.covariates): coding, the decoder offset, a planted batch removed from the
shared latents, the saved coding, and the input errors."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import mssvae
from mssvae import contract as C
from mssvae import bridge
from mssvae.sim import metrics
from mssvae.sim import designs as simulate
from mssvae.cli import main
from mssvae.io.covariates import CovariateEncoding, covariate_start
from mssvae.errors import MSSVAEInputError
from mssvae.model import MSSVAE
from mssvae.core.module import MSSVAEModule

from conftest import TINY, make_adata

FAST = dict(epochs=3, batch_size=32, progress=False)


def with_covariates(adata, seed=0):
    rng = np.random.default_rng(seed)
    adata.obs["batch"] = pd.Categorical(rng.choice(["b2", "b1", "b3"], adata.n_obs), categories=["b2", "b1", "b3"])
    adata.obs["age"] = rng.normal(50, 10, adata.n_obs)
    return adata


# ----- coding -------------------------------------------------------------------------------------
def test_encoding_drops_the_reference_level_and_standardises_numbers():
    frame = pd.DataFrame({"batch": pd.Categorical(["y", "x", "y", "z"], categories=["y", "x", "z"]),
                          "donor": ["d2", "d1", "d1", "d2"], "ok": [True, False, True, True], "age": [1.0, 2.0, 3.0, 4.0]})
    enc = CovariateEncoding.fit(frame)
    assert enc.columns() == ["batch[x]", "batch[z]", "donor[d2]", "ok[True]", "age"]  # categories keep their order
    S = enc.transform(frame)
    assert S.dtype == np.float32 and S.shape == (4, 5)
    assert S[:, :2].tolist() == [[0, 0], [1, 0], [0, 0], [0, 1]]  # "y", the first category, is the reference
    assert S[:, 2].tolist() == [1, 0, 0, 1]
    assert abs(S[:, 4].mean()) < 1e-6 and np.isclose(S[:, 4].std(), 1)
    back = CovariateEncoding.from_dict(enc.to_dict())
    assert back == enc and np.array_equal(back.transform(frame), S)


def test_gaussian_start_is_least_squares_and_nb_start_recovers_level_shares():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, 200).astype(np.float32)[:, None]
    X = 3.0 + 2.0 * s @ np.ones((1, 4)) + 0.01 * rng.normal(size=(200, 4))
    bias, beta = covariate_start(X, s, "gaussian")
    assert np.allclose(bias, 3.0, atol=0.01) and np.allclose(beta, 2.0, atol=0.01)
    # NB: gene 0 has twice the library share in level 1
    share = np.where(s == 1, [0.2, 0.8], [0.1, 0.9])
    X = np.round(share * 1000).astype(np.float32)
    bias, beta = covariate_start(X, s, "nb")
    soft = torch.nn.functional.softplus
    assert np.allclose(soft(torch.tensor(bias)).numpy(), [0.1, 0.9], atol=1e-3)
    assert np.allclose(soft(torch.tensor(bias + beta[:, 0])).numpy(), [0.2, 0.8], atol=1e-3)


def test_module_adds_the_offset_before_the_link_and_encoders_can_see_s():
    torch.manual_seed(0)
    G = 6
    kw = dict(n_features=G, n_shared=2, n_specific=[1, 1], hidden=(5, 4), likelihood="nb", output_bias=torch.zeros(G),
              phi_init=torch.ones(G), library_prior=(3.0, 0.5))
    plain = MSSVAEModule(**kw)
    cov = MSSVAEModule(**kw, n_covariates=2, covariate_init=torch.arange(2 * G, dtype=torch.float32).reshape(G, 2))
    enc = MSSVAEModule(**kw, n_covariates=2, covariates_in_encoder=True)
    assert plain.encoder_shared.body[0].in_features == G == cov.encoder_shared.body[0].in_features
    assert enc.encoder_shared.body[0].in_features == G + 2
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.equal(cov.covariate_offset(s), s @ cov.covariate_effect.t())
    assert plain.covariate_offset(None) == 0.0
    x, g = torch.ones(2, G), torch.tensor([0, 1])
    assert torch.isfinite(cov(x, g, 2, 1.0, 1.0, s=s).loss) and torch.isfinite(enc(x, g, 2, 1.0, 1.0, s=s).loss)
    with pytest.raises(ValueError, match="pass s"):
        cov(x, g, 2, 1.0, 1.0)
    # the offset enters inside the softplus: the decoder output f is shifted, not the NB mean
    torch.manual_seed(1)
    z = torch.randn(2, plain.n_latent) * plain.own_block_mask(g)
    cov.decoder.load_state_dict(plain.decoder.state_dict())
    cov.W.data.copy_(plain.W.data)
    assert torch.allclose(cov.decoder(z, cov.W) + cov.covariate_offset(s), plain.decoder(z, plain.W) + s @ cov.covariate_effect.t())


# ----- the planted batch ----------------------------------------------------------------------------
def _batch_r2(covariate_keys, **model_kw):
    a = simulate.gaussian(n_per_group=100, n_features=48, n_shared=3, n_specific=1, n_batches=2, batch_sd=4.0, seed=3)
    MSSVAE("gaussian", n_shared=6, n_specific=2, hidden=(16, 16), **model_kw).fit(
        a, group_key="group", epochs=25, batch_size=64, progress=False, seed=0, covariate_keys=covariate_keys)
    return metrics.label_r2(a.obsm[C.Z_SHARED], a.obs["batch"]), a


def test_covariate_removes_a_planted_batch_from_the_shared_latents():
    without, _ = _batch_r2(None)
    with_cov, a = _batch_r2(["batch"])
    assert without > 0.2  # the batch is visible in the shared latents without the covariate ...
    assert with_cov < 0.25 * without  # ... and mostly gone with it
    # the fitted per-feature batch effect is the planted one
    delta = a.varm[simulate.TRUE_BATCH_EFFECT]
    beta = a.uns[C.UNS][C.COVARIATE_EFFECTS][:, 0]
    assert np.corrcoef(beta, delta[:, 1] - delta[:, 0])[0, 1] > 0.95


# ----- saving, loading, new data --------------------------------------------------------------------
def test_save_load_transform_keep_the_coding(tmp_path):
    a = with_covariates(make_adata(counts=True))
    model = mssvae.fit(a, group_key="group", likelihood="nb", covariate_keys=["batch", "age"], **TINY, **FAST)
    uns = a.uns[C.UNS]
    assert list(uns[C.COVARIATES]["columns"]) == ["batch[b1]", "batch[b3]", "age"]
    assert uns[C.COVARIATE_EFFECTS].shape == (a.n_vars, 3)
    model.save(tmp_path / "m")
    loaded = MSSVAE.load(tmp_path / "m")
    assert loaded.covariate_encoding == model.covariate_encoding
    assert np.allclose(loaded.covariate_encoding.center["age"], a.obs["age"].mean())
    # new samples: a subset, in another order, whose batch column is no longer categorical and
    # lacks one level; coded as at fit time, so the latents equal those of the fit
    new = a[::-1][:40].copy()
    new.obs["batch"] = new.obs["batch"].astype(str)
    new = new[new.obs["batch"] != "b3"].copy()
    got = loaded.transform(new)["shared"]
    assert np.allclose(got.to_numpy(), pd.DataFrame(a.obsm[C.Z_SHARED], index=a.obs_names).loc[got.index].to_numpy(), atol=1e-5)
    # a covariates table instead of obs columns gives the same
    table = new.obs[["batch", "age"]]
    del new.obs["batch"], new.obs["age"]
    got2 = loaded.transform(new, covariates=table)["shared"]
    assert np.allclose(got2.to_numpy(), got.to_numpy(), atol=1e-6)
    # the h5ad round trip keeps the coding in .uns
    a.write_h5ad(tmp_path / "fit.h5ad")
    b = anndata.read_h5ad(tmp_path / "fit.h5ad")
    assert CovariateEncoding.from_dict(b.uns[C.UNS][C.COVARIATES]) == model.covariate_encoding


def test_encoder_option_and_matrix_input_and_no_covariates_unchanged():
    a = with_covariates(make_adata(counts=False))
    table = a.obs[["batch"]].reset_index(drop=True)
    m = MSSVAE("gaussian", covariates_in_encoder=True, **TINY).fit(a.X, groups=a.obs["group"].to_numpy(), covariates=table, **FAST)
    assert m.module.encoder_shared.body[0].in_features == a.n_vars + 2
    assert m.transform(a.X, groups=a.obs["group"].to_numpy(), covariates={"batch": a.obs["batch"].to_numpy()})["shared"].shape == (a.n_obs, 3)
    with pytest.raises(MSSVAEInputError, match=r"fitted with covariates \['batch'\]; pass covariates="):
        m.transform(a.X, groups=a.obs["group"].to_numpy())
    b = make_adata(counts=False)
    mssvae.fit(b, likelihood="gaussian", **TINY, **FAST)
    assert C.COVARIATES not in b.uns[C.UNS] and not hasattr(MSSVAE, "covariate_effect")


# ----- bad input -------------------------------------------------------------------------------------
def test_unknown_column_lists_the_columns():
    a = with_covariates(make_adata())
    with pytest.raises(MSSVAEInputError, match=r"covariate key 'donr' is not a column of obs; available columns: group, donor, batch, age"):
        mssvae.fit(a, covariate_keys=["donr"], **TINY, **FAST)


def test_missing_values_are_counted_and_located():
    a = with_covariates(make_adata())
    a.obs.loc[a.obs_names[[4, 9]], "age"] = np.nan
    with pytest.raises(MSSVAEInputError, match=r"covariate 'age' has 2 missing .* \(first at sample 'cell4' \(row 4\)\)"):
        mssvae.fit(a, covariate_keys=["batch", "age"], **TINY, **FAST)
    a = with_covariates(make_adata())
    a.obs["batch"] = a.obs["batch"].astype(object)
    a.obs.loc[a.obs_names[7], "batch"] = None
    with pytest.raises(MSSVAEInputError, match=r"covariate 'batch' has 1 missing .*'cell7' \(row 7\)"):
        mssvae.fit(a, covariate_keys="batch", **TINY, **FAST)


def test_unseen_level_missing_covariate_and_constant_covariate():
    a = with_covariates(make_adata())
    model = mssvae.fit(a, covariate_keys=["batch"], **TINY, **FAST)
    new = a.copy()
    new.obs["batch"] = new.obs["batch"].astype(str)
    new.obs.loc[new.obs_names[5], "batch"] = "b9"
    with pytest.raises(MSSVAEInputError, match=r"covariate 'batch' has level \['b9'\] not seen when the model was fitted "
                                               r"\(first at sample 'cell5' \(row 5\)\); the model knows: \['b2', 'b1', 'b3'\]"):
        model.transform(new)
    del new.obs["batch"]
    with pytest.raises(MSSVAEInputError, match="covariate key 'batch' is not a column of obs"):
        model.transform(new)
    with pytest.raises(MSSVAEInputError, match="covariate 'donor' has a single level"):
        mssvae.fit(a, covariate_keys=["donor"], **TINY, **FAST)
    with pytest.raises(MSSVAEInputError, match="covariate_keys= .* or covariates="):
        mssvae.fit(a, covariate_keys=["batch"], covariates={"batch": a.obs["batch"]}, **TINY, **FAST)
    with pytest.warns(UserWarning, match="treated as numeric"):
        a.obs["lane"] = np.arange(a.n_obs) % 3
        mssvae.fit(a, covariate_keys=["lane"], **TINY, **FAST)


# ----- the command line and the R bridge --------------------------------------------------------------
def test_cli_covariate_key(tmp_path):
    a = with_covariates(make_adata())
    a.write_h5ad(tmp_path / "in.h5ad")
    args = ["fit", str(tmp_path / "in.h5ad"), "--group-key", "group", "--out", str(tmp_path / "o.h5ad"), "--epochs", "2",
            "--batch-size", "32", "--n-shared", "3", "--n-specific", "2", "--quiet"]
    res = CliRunner().invoke(main, args + ["--covariate-key", "batch", "--covariate-key", "age"])
    assert res.exit_code == 0, res.output
    assert list(anndata.read_h5ad(tmp_path / "o.h5ad").uns[C.UNS][C.COVARIATES]["names"]) == ["batch", "age"]
    res = CliRunner().invoke(main, args + ["--covariate-key", "bacth"])
    assert res.exit_code != 0 and "available columns: group, donor, batch, age" in res.output and "Traceback" not in res.output


def test_bridge_covariates_from_r():
    a = with_covariates(make_adata())
    out = bridge.fit_arrays(a.X.T, a.obs["group"].astype(str).tolist(), n_shared=3, n_specific=2, hidden=(8, 6), epochs=2,
                            batch_size=32, threads=1, covariates={"batch": a.obs["batch"].astype(str).tolist(),
                                                                  "age": a.obs["age"].tolist()},
                            covariate_levels={"batch": ["b3", "b1", "b2"]})
    md = out[bridge.METADATA]
    assert md[C.COVARIATES]["columns"] == ["batch[b1]", "batch[b2]", "age"]  # the R factor's first level is the reference
    assert md[C.COVARIATE_EFFECTS].shape == (a.n_vars, 3)
    with pytest.raises(MSSVAEInputError, match="covariate .batch. has 27 missing"):
        bridge.fit_arrays(a.X.T, a.obs["group"].astype(str).tolist(), threads=1, epochs=1,
                          covariates={"batch": a.obs["batch"].astype(str).tolist()}, covariate_levels={"batch": ["b1", "b2"]})
