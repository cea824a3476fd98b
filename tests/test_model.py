import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import mssvae
from mssvae import contract as C
from mssvae.model import MSSVAE

from conftest import TINY, make_adata

FAST = dict(epochs=3, batch_size=32, progress=False, threads=1)  # one thread: bit-identical reruns


def test_results_contract_nb(counts_adata, tmp_path):
    a = counts_adata
    model = mssvae.fit(a, group_key="group", likelihood="nb", **TINY, **FAST)
    G, N = a.n_vars, a.n_obs
    assert a.varm[C.W_SHARED].shape == (G, 3)
    assert a.varm[C.W_SPECIFIC].shape == (G, 2 * 3)
    assert a.obsm[C.Z_SHARED].shape == (N, 3) and a.obsm[C.Z_SPECIFIC].shape == (N, 2)
    uns = a.uns[C.UNS]
    assert uns[C.GROUPS] == ["g0", "g1", "g2"] and list(uns[C.N_SPECIFIC]) == [2, 2, 2]
    assert ((uns[C.ETA_SHARED] > 0) & (uns[C.ETA_SHARED] < 1)).all()
    assert len(uns[C.HISTORY]["loss"]) == 3 and np.isfinite(uns[C.HISTORY]["loss"]).all()
    assert uns[C.VERSIONS]["mssvae"] == mssvae.__version__
    assert uns["phi"].shape == (G,)
    # labelled getters agree with the contract
    assert model.W_shared.columns.tolist() == ["shared_1", "shared_2", "shared_3"]
    assert np.allclose(model.W_specific["g1"].to_numpy(), a.varm[C.W_SPECIFIC][:, 2:4])
    # the h5ad round trip keeps everything
    import anndata

    a.write_h5ad(tmp_path / "fit.h5ad")
    b = anndata.read_h5ad(tmp_path / "fit.h5ad")
    assert np.array_equal(b.varm[C.W_SHARED], a.varm[C.W_SHARED])
    assert list(b.uns[C.UNS][C.GROUPS]) == ["g0", "g1", "g2"]


def test_gaussian_fit_and_matrix_input(gauss_adata):
    a = gauss_adata
    model = MSSVAE("gaussian", **TINY).fit(a.X, groups=a.obs["group"].to_numpy(), **FAST)
    assert model.W_shared.shape == (a.n_vars, 3)
    out = model.transform(a.X, groups=a.obs["group"].to_numpy())
    assert out["shared"].shape == (a.n_obs, 3) and np.isfinite(out["shared"].to_numpy()).all()


def test_same_seed_same_result_and_sparse_equals_dense(counts_adata):
    a1, a2, a3 = counts_adata.copy(), counts_adata.copy(), counts_adata.copy()
    a3.X = sp.csr_matrix(a3.X)
    for a in (a1, a2, a3):
        mssvae.fit(a, likelihood="nb", seed=7, **TINY, **FAST)
    assert np.array_equal(a1.varm[C.W_SHARED], a2.varm[C.W_SHARED])
    assert np.array_equal(a1.obsm[C.Z_SHARED], a2.obsm[C.Z_SHARED])
    # the starts come from the same float64 row blocks, so sparse input changes nothing
    assert np.array_equal(a1.varm[C.W_SHARED], a3.varm[C.W_SHARED])
    assert np.array_equal(a1.obsm[C.Z_SHARED], a3.obsm[C.Z_SHARED])
    a4 = counts_adata.copy()
    mssvae.fit(a4, likelihood="nb", seed=8, **TINY, **FAST)
    assert not np.array_equal(a1.varm[C.W_SHARED], a4.varm[C.W_SHARED])


def test_save_load_round_trip(tmp_path, counts_adata):
    model = mssvae.fit(counts_adata, likelihood="nb", **TINY, **FAST)
    model.save(tmp_path / "m")
    loaded = MSSVAE.load(tmp_path / "m")
    assert loaded.groups == model.groups
    assert np.array_equal(loaded.W_shared.to_numpy(), model.W_shared.to_numpy())
    assert np.array_equal(loaded.eta.to_numpy(), model.eta.to_numpy())
    t1, t2 = model.transform(counts_adata), loaded.transform(counts_adata)
    assert np.array_equal(t1["shared"].to_numpy(), t2["shared"].to_numpy())
    assert loaded.history == model.history


def test_standardized_encoder_input_is_centred_and_scaled(counts_adata):
    a = counts_adata
    model = mssvae.fit(a, likelihood="nb", **TINY, **FAST)
    assert model.settings.encoder_input == "standardized"  # the NB default
    X = a.X.astype(np.float64)
    lib = X.sum(1, keepdims=True)
    L = np.log1p(X / lib * np.median(lib))  # counts per median library, log1p
    m = model.module
    assert m.library_scale == pytest.approx(np.median(lib))
    assert np.allclose(m.input_center.numpy(), L.mean(0), atol=1e-5)
    assert np.allclose(m.input_scale.numpy(), L.std(0), atol=1e-5)
    h = m._encoder_input(torch.as_tensor(a.X)).numpy()
    assert np.allclose(h.mean(0), 0, atol=1e-4) and np.allclose(h.std(0), 1, atol=1e-3)
    raw = mssvae.fit(a.copy(), likelihood="nb", encoder_input="raw", **TINY, **FAST).module
    assert np.allclose(raw._encoder_input(torch.as_tensor(a.X)).numpy(), np.log1p(a.X))
    with pytest.raises(mssvae.MSSVAEInputError, match="encoder_input.*standardized"):
        MSSVAE("nb", encoder_input="scaled")


def test_fit_leaves_the_constructors_settings_alone(tmp_path, counts_adata):
    """A second fit on other data resolves its own batch size and epochs: those of the first fit
    are the fit's (``fitted_settings``, the results, the save), not the estimator's."""
    from mssvae.core.train import default_batch_size

    model = MSSVAE("nb", **TINY)
    model.fit(counts_adata, epochs=1, progress=False, threads=1)
    assert model.fitted_settings.batch_size == default_batch_size(counts_adata.n_obs) == 32
    assert model.settings.batch_size is None and model.settings.epochs == 800
    big = make_adata(n_per_group=(300, 300, 300), seed=2)
    model.fit(big, epochs=1, progress=False, threads=1)
    assert model.fitted_settings.batch_size == default_batch_size(big.n_obs) == 225
    assert big.uns[C.UNS][C.SETTINGS]["batch_size"] == 225 and big.uns[C.UNS][C.SETTINGS]["epochs"] == 1
    model.save(tmp_path / "m")
    loaded = MSSVAE.load(tmp_path / "m")
    assert loaded.settings.batch_size is None and loaded.fitted_settings.batch_size == 225
    assert loaded.fitted_settings.epochs == 1 and loaded.settings.epochs == 800
    payload = torch.load(tmp_path / "m" / "model.pt", weights_only=False)
    del payload["constructor_settings"]  # as saves made before 2026-12-06 are
    torch.save(payload, tmp_path / "m" / "model.pt")
    with pytest.raises(mssvae.MSSVAEInputError, match="development version.*fit the model again"):
        MSSVAE.load(tmp_path / "m")


def test_transform_new_samples_of_known_groups(counts_adata):
    model = mssvae.fit(counts_adata, likelihood="nb", **TINY, **FAST)
    new = make_adata(n_per_group=(4, 0, 3), seed=5)
    out = model.transform(new)
    assert out["shared"].shape == (7, 3)
    assert list(out["shared"].index) == list(new.obs_names)
    prepared = model.prepare_input(new)  # read and checked once, then reused as it is
    assert prepared.features.shape == (7, new.n_vars) and list(prepared.codes) == [0] * 4 + [2] * 3
    assert model.transform(prepared)["shared"].equals(out["shared"])
    other = mssvae.fit(make_adata(n_per_group=(10, 10), seed=3), likelihood="nb", **TINY, **FAST)
    with pytest.raises(mssvae.MSSVAEInputError, match="not made for this model"):
        model.transform(other.prepare_input(make_adata(n_per_group=(3, 3), seed=4)))
    bad = make_adata(n_per_group=(4, 3), seed=5)
    bad.obs["group"] = ["g0"] * 4 + ["zzz"] * 3
    with pytest.raises(mssvae.MSSVAEInputError, match="zzz"):
        model.transform(bad)


def test_interrupt_keeps_work_and_resume_reproduces(tmp_path, counts_adata, monkeypatch):
    import mssvae.core.train as train

    full = counts_adata.copy()
    # one thread for every fit: the default (the cores left idle) can differ between the fits on a
    # busy machine, and with it the order of float sums
    mssvae.fit(full, likelihood="nb", seed=3, **TINY, epochs=4, batch_size=32, progress=False, threads=1)

    calls = {"n": 0}

    def stop_after_two(epoch, total, record, **kw):
        calls["n"] += 1
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "_progress", stop_after_two)
    part = counts_adata.copy()
    model = MSSVAE("nb", **TINY)
    with pytest.raises(mssvae.FitInterrupted, match="after 2 of at most 4 epochs.*resume"):
        model.fit(part, seed=3, epochs=4, batch_size=32, progress=True, model_dir=tmp_path, threads=1)
    assert len(model.history) == 2 and (tmp_path / train.CHECKPOINT).exists()
    monkeypatch.setattr(train, "_progress", lambda *a, **kw: None)
    MSSVAE("nb", **TINY).fit(part, seed=3, epochs=4, batch_size=32, progress=True, model_dir=tmp_path, resume=True,
                             threads=1)
    assert np.array_equal(part.varm[C.W_SHARED], full.varm[C.W_SHARED])


def test_lambda0_follows_the_budget_and_a_resumed_fit_keeps_its_schedule(tmp_path, counts_adata):
    """Unset breaks too late for the first run's 60 steps (75 samples, batch 32: 3 steps an
    epoch) are scaled to end at 80 % of them; resuming with more epochs continues that annealing
    instead of moving its breaks."""
    a = counts_adata.copy()
    kw = dict(likelihood="nb", seed=2, **TINY, batch_size=32, threads=1, progress=False)
    first = mssvae.fit(a, epochs=20, model_dir=tmp_path, **kw)
    assert a.uns[C.UNS][C.RUNTIME]["lambda0_breaks"] == [8, 48]  # NB's 280, 1680 × 48 / 1680
    assert [h["lambda0"] for h in first.history[:17]] == [1.0] * 2 + [10.0] * 14 + [15.0]  # at each epoch's last step
    longer = mssvae.fit(a, epochs=40, model_dir=tmp_path, resume=True, **kw)
    assert a.uns[C.UNS][C.RUNTIME]["lambda0_breaks"] == [8, 48]  # not [16, 96] of 120 steps
    assert longer.history[:20] == first.history and longer.history[-1]["lambda0"] == 15.0


def test_a_progress_callback_sees_every_epoch_and_can_stop_the_fit(counts_adata, tmp_path, capsys):
    import mssvae.core.train as train

    seen = []

    def report(epoch, total, record, final=False):
        seen.append((epoch, total, final, record["lambda0"], np.isfinite(record["loss"])))

    mssvae.fit(counts_adata.copy(), likelihood="nb", seed=1, **TINY, epochs=3, batch_size=32, progress=report,
               threads=1)
    assert [s[:3] for s in seen] == [(1, 3, False), (2, 3, False), (3, 3, True)]
    assert all(s[4] for s in seen)
    assert capsys.readouterr().err == ""  # a callback replaces the bar and the lines on stderr

    # returning STOP (R's callback, when R's interrupt arrives while it draws) is Ctrl-C
    model = MSSVAE("nb", **TINY)
    with pytest.raises(mssvae.FitInterrupted, match="after 2 of at most 4 epochs"):
        model.fit(counts_adata.copy(), seed=1, epochs=4, batch_size=32, model_dir=tmp_path, threads=1,
                  progress=lambda epoch, *a, **kw: train.STOP if epoch == 2 else None)
    assert len(model.history) == 2 and (tmp_path / train.CHECKPOINT).exists()


def test_factor_gene_sets_and_active_factors(counts_adata):
    a = counts_adata
    model = mssvae.fit(a, likelihood="nb", **TINY, **FAST)
    W = np.zeros_like(a.varm[C.W_SHARED])
    W[[0, 3], 1] = [0.7, -2.0]
    a.varm[C.W_SHARED] = W
    a.varm[C.W_SPECIFIC] = np.zeros_like(a.varm[C.W_SPECIFIC])
    a.varm[C.W_SPECIFIC][5, 3] = 0.6  # group g1, factor 2
    sets = mssvae.factor_gene_sets(a, threshold=0.5)
    assert sets == {"shared_2": ["gene3", "gene0"], "g1_2": ["gene5"]}
    assert mssvae.factor_gene_sets(a, which="g1") == {"g1_2": ["gene5"]}
    with pytest.raises(KeyError, match="g0"):
        mssvae.factor_gene_sets(a, which="nope")
    # a set holding more than half of the fitted features warns (W not sparse yet)
    n = a.n_vars
    a.varm[C.W_SHARED][: n // 2 + 1, 0] = 1.0
    with pytest.warns(UserWarning, match=rf"shared_1 hold more than half of the {n} fitted features"):
        dense = mssvae.factor_gene_sets(a, threshold=0.5)
    assert len(dense["shared_1"]) == n // 2 + 1
    a.varm[C.W_SHARED][n // 2, 0] = 0.0  # exactly half: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mssvae.factor_gene_sets(a, threshold=0.5)
    table = model.active_factors(threshold=0.0)
    assert set(table.columns) >= {"factor", "block", "n_genes", "top_genes"}


# ----- bad input -------------------------------------------------------------------------------
def fit_nb(a, **kw):
    return mssvae.fit(a, likelihood=kw.pop("likelihood", "nb"), **TINY, **FAST, **kw)


def test_unknown_group_key_lists_columns(counts_adata):
    with pytest.raises(mssvae.MSSVAEInputError, match="'disease'.*group, donor"):
        fit_nb(counts_adata, group_key="disease")


def test_nan_reports_count_and_location(counts_adata):
    counts_adata.X[3, 2] = np.nan
    counts_adata.X[5, 1] = np.inf
    with pytest.raises(mssvae.MSSVAEInputError, match=r"2 NaN or infinite.*'cell3'.*'gene2'"):
        fit_nb(counts_adata)


@pytest.mark.parametrize("value,word", [(-1.0, "negative"), (2.5, "non-integer")])
def test_nb_needs_counts(counts_adata, value, word):
    counts_adata.X[4, 0] = value
    with pytest.raises(mssvae.MSSVAEInputError, match=f"1 {word}.*likelihood='gaussian'"):
        fit_nb(counts_adata)
    counts_adata.X = sp.csr_matrix(counts_adata.X)
    with pytest.raises(mssvae.MSSVAEInputError, match=f"1 {word}.*'cell4'"):
        fit_nb(counts_adata)


def test_group_with_one_sample(counts_adata):
    counts_adata.obs["group"] = counts_adata.obs["group"].astype(str)
    counts_adata.obs.iloc[0, 0] = "lonely"
    with pytest.raises(mssvae.MSSVAEInputError, match="'lonely' \\(1\\)"):
        fit_nb(counts_adata)


def test_constant_features_dropped_with_warning_and_zero_rows(counts_adata):
    counts_adata.X[:, 4] = 3.0
    with pytest.warns(UserWarning, match="1 features are constant.*gene4"):
        fit_nb(counts_adata)
    assert (counts_adata.varm[C.W_SHARED][4] == 0).all()
    assert (counts_adata.varm[C.W_SHARED][3] != 0).any()


def test_more_factors_than_features(counts_adata):
    with pytest.raises(mssvae.MSSVAEInputError, match="more factors than features"):
        mssvae.fit(counts_adata, likelihood="nb", n_shared=20, n_specific=2, hidden=(4, 4), **FAST)


def test_missing_layer_lists_layers(counts_adata):
    counts_adata.layers["counts"] = counts_adata.X.copy()
    with pytest.raises(mssvae.MSSVAEInputError, match="'raw' not found.*counts"):
        fit_nb(counts_adata, layer="raw")


def test_unknown_likelihood():
    with pytest.raises(mssvae.MSSVAEInputError, match="likelihood"):
        MSSVAE("poisson")


def test_support_overlaps_finds_switched_and_split_factors(counts_adata):
    from mssvae.analysis.diagnostics import support_overlaps

    a = counts_adata
    mssvae.fit(a, likelihood="nb", **TINY, **FAST)
    a.varm[C.W_SHARED] = np.zeros_like(a.varm[C.W_SHARED])
    spec = np.zeros_like(a.varm[C.W_SPECIFIC])  # blocks: g0 cols 0-1, g1 cols 2-3, g2 cols 4-5
    spec[[0, 1, 2], 0] = spec[[0, 1, 2], 3] = spec[[1, 2], 4] = 1.0  # one program in every group
    spec[[6, 7], 5] = 1.0
    a.varm[C.W_SPECIFIC] = spec
    found = support_overlaps(a)
    assert found.to_dict("records") == [{"kind": "shared in every group", "factors": "g0_1, g1_2, g2_1", "jaccard": 0.667}]
    spec[[0, 1, 2, 6, 7], 4] = 1.0  # g2_1 = {0,1,2,6,7}: J = 3/5 with g0_1 and g1_2
    spec[2, 5] = 1.0  # g2_2 = {2,6,7}: J = 3/5 with g2_1, a split
    a.varm[C.W_SPECIFIC] = spec
    kinds = set(support_overlaps(a, min_jaccard=0.5)["kind"])
    assert kinds == {"split", "shared in every group"}
    spec[:] = 0.0
    spec[[0, 1, 2, 3, 4, 5, 6, 7, 8], 0] = 1.0  # g0_1: a program on 9 genes
    spec[[2, 5, 8], 1] = 1.0  # g0_2: three of them (Jaccard 1/3), a satellite
    a.varm[C.W_SPECIFIC] = spec
    found = support_overlaps(a)
    assert found.to_dict("records") == [{"kind": "nested", "factors": "g0_2, g0_1", "jaccard": 1.0}]
    from mssvae.analysis.diagnostics import overlap_notes
    assert "100% of factor g0_2's genes are also factor g0_1's" in overlap_notes(a)[0]
    spec[[9, 10], 1] = 1.0  # g0_2 = {2, 5, 8, 9, 10}: 3 of 5 inside g0_1, below 0.7
    a.varm[C.W_SPECIFIC] = spec
    assert support_overlaps(a).empty


def test_shared_only_and_single_group(counts_adata):
    """K_m = 0 is the shared-only model; one group is the single-study Sparse VAE (Moran et al. 2022)."""
    a = counts_adata.copy()
    mssvae.fit(a, likelihood="nb", n_shared=3, n_specific=0, hidden=(8, 6), **FAST)
    assert a.varm[C.W_SPECIFIC].shape == (a.n_vars, 0) and a.obsm[C.Z_SPECIFIC].shape == (a.n_obs, 0)
    one = counts_adata.copy()
    one.obs["group"] = "all"
    model = mssvae.fit(one, likelihood="nb", **TINY, **FAST)
    assert model.groups == ["all"] and one.obsm[C.Z_SPECIFIC].shape == (one.n_obs, 2)


def test_categorical_group_order_is_kept_and_shared_is_reserved(counts_adata):
    a = counts_adata.copy()
    a.obs["group"] = a.obs["group"].cat.reorder_categories(["g2", "g0", "g1"])
    model = mssvae.fit(a, likelihood="nb", **TINY, **FAST)
    assert model.groups == ["g2", "g0", "g1"]
    b = counts_adata.copy()
    b.obs["group"] = b.obs["group"].cat.rename_categories({"g1": "shared"})
    with pytest.raises(mssvae.MSSVAEInputError, match="a group is named 'shared'"):
        mssvae.fit(b, likelihood="nb", **TINY, **FAST)


# long enough for W to end sparse on this data, so the starts are scored; at the weight of N >= 3200
# (the default at these 75 samples, 0.23, leaves it dense)
SPARSE = {**FAST, "epochs": 40, "sparsity_weight": 10.0}


def test_several_starts_keep_the_lowest_loss_and_score_every_factor(counts_adata, tmp_path):
    a = counts_adata.copy()
    model = mssvae.fit(a, likelihood="nb", seed=3, starts=3, **TINY, **SPARSE)
    assert not model.state.stopping["dense"]
    uns = a.uns[C.UNS]
    starts, stability = uns[C.STARTS], uns[C.STABILITY]
    assert list(starts["seed"]) == [3, 4, 5] and len(starts["objective"]) == 3
    best = int(np.argmin(starts["objective"]))
    assert starts["chosen"] == 3 + best and uns[C.SETTINGS]["seed"] == 3 + best
    assert starts["objective"][best] == model.history[-1]["loss"]
    # the kept start is the fit a single start from its seed gives
    single = counts_adata.copy()
    mssvae.fit(single, likelihood="nb", seed=3 + best, **TINY, **SPARSE)
    assert np.array_equal(a.varm[C.W_SHARED], single.varm[C.W_SHARED])
    assert np.array_equal(a.obsm[C.Z_SPECIFIC], single.obsm[C.Z_SPECIFIC])
    n_factors = 3 + 3 * 2
    assert stability["stability"].shape == (n_factors,) and stability["median_jaccard"].shape == (n_factors,)
    assert ((stability["stability"] >= 0) & (stability["stability"] <= 1)).all()
    # every start's match, from which the scores follow: own column 1 where a factor has a gene set
    jac, others = stability["jaccard"], [i for i in range(3) if i != best]
    assert jac.shape == (n_factors, 3) and ((jac >= 0) & (jac <= 1)).all()
    has_set = np.abs(mssvae.loadings(a).to_numpy()).max(0) > np.asarray(uns[C.GENE_SET_THRESHOLD])
    np.testing.assert_array_equal(jac[:, best], has_set.astype(float))
    np.testing.assert_allclose(stability["stability"], (jac[:, others] >= stability["min_jaccard"]).mean(1))
    np.testing.assert_allclose(stability["median_jaccard"], np.median(jac[:, others], axis=1))
    from mssvae.analysis.plotting import plot_stability
    assert plot_stability(a, tmp_path / "stability.png").stat().st_size > 0
    table = model.active_factors()
    assert table.columns.tolist() == C.ACTIVE_FACTOR_COLUMNS + C.STABILITY_COLUMNS
    names = sum(model.factor_names().values(), [])
    expected = dict(zip(names, stability["stability"]))
    assert [expected[f] for f in table["factor"]] == table["stability"].tolist()
    one = counts_adata.copy()
    assert "stability" not in mssvae.fit(one, likelihood="nb", **TINY, **FAST).active_factors()
    with pytest.raises(ValueError, match="starts >= 2"):
        plot_stability(one, tmp_path / "none.png")


def test_a_kept_start_still_dense_scores_no_factor(counts_adata):
    a = counts_adata.copy()
    model = mssvae.fit(a, likelihood="nb", seed=3, starts=2, **TINY, **FAST)  # 3 epochs: W ends dense
    assert model.state.stopping["dense"]
    stability = a.uns[C.UNS][C.STABILITY]
    assert np.isnan(stability["stability"]).all() and np.isnan(stability["median_jaccard"]).all()
    assert np.isnan(model.active_factors()["stability"]).all()


def test_gene_sets_filtered_by_stability(counts_adata):
    a = counts_adata.copy()
    mssvae.fit(a, likelihood="nb", seed=1, starts=2, **TINY, **FAST)
    names = sum(mssvae.io.results.factor_names(a).values(), [])
    a.uns[C.UNS][C.STABILITY]["stability"] = np.where(np.arange(len(names)) % 2 == 0, 1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 3-epoch W is dense
        every = mssvae.factor_gene_sets(a)
        stable = mssvae.factor_gene_sets(a, min_stability=0.5)
    assert set(stable) == {n for i, n in enumerate(names) if i % 2 == 0} & set(every)
    with pytest.raises(mssvae.MSSVAEInputError, match=r"in \[0, 1\]"):
        mssvae.factor_gene_sets(a, min_stability=2)
    single = counts_adata.copy()
    mssvae.fit(single, likelihood="nb", **TINY, **FAST)
    with pytest.raises(mssvae.MSSVAEInputError, match="fit with starts=5"):
        mssvae.factor_gene_sets(single, min_stability=0.5)


def test_an_interrupted_fit_of_several_starts_resumes(tmp_path, counts_adata, monkeypatch):
    import mssvae.core.train as train

    kw = dict(likelihood="nb", seed=3, starts=2, **TINY, epochs=4, batch_size=32, threads=1)
    full = counts_adata.copy()
    mssvae.fit(full, progress=False, **kw)

    calls = {"n": 0}

    def stop_in_the_second_start(epoch, total, record, **_):
        calls["n"] += 1
        if calls["n"] == 6:  # epoch 2 of start 2
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "_progress", stop_in_the_second_start)
    part = counts_adata.copy()
    with pytest.raises(mssvae.FitInterrupted, match="start 2 of 2 .*after 2 of at most 4 epochs.*resume all") as info:
        mssvae.fit(part, progress=True, model_dir=tmp_path, **kw)
    assert info.value.checkpoint_dir == str(tmp_path)
    assert (tmp_path / "start_1" / "model.pt").exists() and (tmp_path / "start_2" / train.CHECKPOINT).exists()
    assert not (tmp_path / "start_2" / "model.pt").exists()
    monkeypatch.setattr(train, "_progress", lambda *a, **k: None)
    model = mssvae.fit(part, progress=True, model_dir=tmp_path, resume=True, **kw)
    assert np.array_equal(part.varm[C.W_SHARED], full.varm[C.W_SHARED])
    np.testing.assert_array_equal(part.uns[C.UNS][C.STARTS]["objective"], full.uns[C.UNS][C.STARTS]["objective"])
    np.testing.assert_array_equal(part.uns[C.UNS][C.STABILITY]["stability"], full.uns[C.UNS][C.STABILITY]["stability"])
    assert model.state.starts["seed"] == [3, 4]
    with pytest.raises(mssvae.MSSVAEInputError, match="checkpoints of a fit with starts=3"):
        mssvae.fit(part, progress=False, model_dir=tmp_path / "other", resume=True, **{**kw, "starts": 3})


def test_starts_is_checked():
    with pytest.raises(mssvae.MSSVAEInputError, match="starts"):
        MSSVAE("nb", **TINY).fit(make_adata(), starts=0)
