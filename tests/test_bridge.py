"""The bridge the R package calls (mssvae.bridge) and the Bioconductor files of mssvae.bridge.sce."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mssvae
from mssvae import bridge
from mssvae.bridge.arrays import samples_by_features
from mssvae import contract as C

# lambda0_breaks: λ0 moves at steps 1 and 2, so these two epochs run every value of the annealing
FAST = dict(n_shared=3, n_specific=2, hidden=(8, 6), epochs=2, batch_size=32, seed=0, lambda0_breaks=(1, 2))
BRIDGE = dict(FAST, threads=1)  # one thread: these fits are tiny


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny fits: one torch thread is faster, and much faster on a busy machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _counts(G=30, n_per=15, seed=1):
    """Features x samples counts (R's orientation) and one label per sample."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(["b", "a", "c"], n_per)
    z = rng.normal(size=groups.size)
    mu = np.full((G, groups.size), 4.0)
    mu[:8] = np.exp(1.5 + 0.8 * z)
    mu[8:12, groups == "a"] = 12.0
    return rng.poisson(mu).astype(np.int32), groups.tolist()


def _assert_plain(value, where="result"):
    """Only types reticulate converts faithfully: no pandas, no scipy, no numpy scalars."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), where
            _assert_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _assert_plain(v, f"{where}[{i}]")
    elif isinstance(value, np.ndarray):
        assert value.dtype.kind in "biuf", f"{where}: dtype {value.dtype}"
    else:
        assert value is None or type(value) in (str, int, float, bool), f"{where}: {type(value)}"


@pytest.fixture(scope="module")
def fitted():
    x, groups = _counts()
    return bridge.fit_arrays(x, groups, [f"g{j}" for j in range(x.shape[0])], [f"s{i}" for i in range(x.shape[1])],
                             group_levels=["c", "a", "b"], group_key="condition", **BRIDGE)


def test_fit_arrays_results_contract(fitted):
    out = fitted
    assert out[bridge.GROUPS] == ["c", "a", "b"]  # the order of group_levels (R's factor levels)
    assert out[bridge.GROUP_KEY] == "condition"
    assert out[bridge.FACTOR_NAMES]["shared"] == ["shared_1", "shared_2", "shared_3"]
    assert out[bridge.FACTOR_NAMES]["a"] == ["a_1", "a_2"]
    assert out[bridge.W_SHARED].shape == (30, 3)
    assert list(out[bridge.W_SPECIFIC]) == ["c", "a", "b"]
    assert all(w.shape == (30, 2) for w in out[bridge.W_SPECIFIC].values())
    assert out[bridge.Z_SHARED].shape == (45, 3) and out[bridge.Z_SPECIFIC].shape == (45, 2)
    assert out[bridge.SAMPLE_GROUPS][:16] == ["b"] * 15 + ["a"]
    md = out[bridge.METADATA]
    assert md[C.GROUPS] == ["c", "a", "b"] and md[C.GROUP_KEY] == "condition"
    assert md[C.SETTINGS]["epochs"] == 2 and md[C.SETTINGS]["hidden"] == [8, 6]
    assert md[C.VERSIONS]["mssvae"] == mssvae.__version__
    assert set(md[C.HISTORY]) >= {"epoch", "loss", "lambda0"}
    assert out[bridge.WARNINGS] == [] and out[bridge.MODEL_DIR] is None


def test_fit_arrays_returns_only_plain_types(fitted):
    _assert_plain(fitted)
    _assert_plain(bridge.example_arrays())
    _assert_plain(bridge.version())


def test_orientation_and_sparse_input():
    x, groups = _counts()
    dense = bridge.fit_arrays(np.asfortranarray(x), groups, **BRIDGE)  # as reticulate hands over an R matrix
    same = bridge.fit_arrays(np.ascontiguousarray(x.T), groups, transpose=False, **BRIDGE)
    np.testing.assert_array_equal(dense[bridge.W_SHARED], same[bridge.W_SHARED])
    csc = sp.csc_matrix(x.astype(np.float64))  # as reticulate hands over a dgCMatrix
    sparse = bridge.fit_arrays(csc, groups, **BRIDGE)
    # the core's start values round differently for sparse and dense input (float precision)
    np.testing.assert_allclose(sparse[bridge.W_SHARED], dense[bridge.W_SHARED], atol=1e-5)
    np.testing.assert_allclose(sparse[bridge.Z_SHARED], dense[bridge.Z_SHARED], atol=1e-2)


def test_transposes_are_views_not_copies():
    x, _ = _counts()
    csc = sp.csc_matrix(x.astype(np.float64))
    csr = samples_by_features(csc, transpose=True)
    assert csr.format == "csr" and csr.shape == (45, 30)
    assert np.shares_memory(csr.data, csc.data)  # never densified, not even copied
    f = np.asfortranarray(x)
    c = samples_by_features(f, transpose=True)
    assert c.flags.c_contiguous and np.shares_memory(c, f)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(likelihood="poisson"), "likelihood must be 'nb' or 'gaussian'"),
        (dict(groups=["a", "b"]), "got 2 group labels for 45 samples"),
        (dict(groups=[None] + ["a"] * 44), "1 samples have no group label (first at sample 'sample_1' (row 0))"),
        (dict(groups=["shared"] * 20 + ["a"] * 25), "a group is named 'shared'"),
        (dict(hidden=(8,)), "hidden must give the widths of the two hidden layers"),
        (dict(learning_rate=0.1), "unknown settings ['learning_rate']; the model takes:"),
        (dict(group_levels=["a", "b"]), "group labels ['c'] are not among the group levels"),
        (dict(feature_names=["g1"]), "got 1 feature names for 30 features"),
        (dict(n_shared=40), "more factors than features"),
    ],
)
def test_fit_arrays_input_errors(kwargs, message):
    x, groups = _counts()
    args = dict(groups=groups, **BRIDGE)
    args.update(kwargs)
    with pytest.raises(mssvae.MSSVAEInputError) as err:
        bridge.fit_arrays(x, **args)
    assert message in str(err.value)


def test_core_errors_pass_through():
    x, groups = _counts()
    x = x.astype(np.float64)
    x[2, 4] = -1
    with pytest.raises(mssvae.MSSVAEInputError, match="needs counts, but the data hold 1 negative values"):
        bridge.fit_arrays(x, groups, **BRIDGE)
    x[2, 4] = np.nan
    with pytest.raises(mssvae.MSSVAEInputError, match="1 NaN or infinite values"):
        bridge.fit_arrays(x, groups, **BRIDGE)


def test_warnings_and_model_dir(tmp_path):
    x, groups = _counts()
    x[5] = 3  # a constant feature
    out = bridge.fit_arrays(x, groups, model_dir=str(tmp_path / "m"), **BRIDGE)
    assert any("constant" in w for w in out[bridge.WARNINGS])
    assert np.all(out[bridge.W_SHARED][5] == 0)
    assert out[bridge.MODEL_DIR] == str((tmp_path / "m").resolve())
    model = mssvae.MSSVAE.load(tmp_path / "m")
    np.testing.assert_allclose(model.W_shared.to_numpy(), out[bridge.W_SHARED])


def test_threads_are_set_for_the_fit_and_restored():
    import torch

    x, groups = _counts()
    before = torch.get_num_threads()
    bridge.fit_arrays(x, groups, **dict(FAST, threads=2))
    assert torch.get_num_threads() == before
    with pytest.raises(mssvae.MSSVAEInputError, match="threads must be a whole number >= 1"):
        bridge.fit_arrays(x, groups, **dict(FAST, threads=0))


def test_results_dict_of_a_python_fit_matches_the_anndata():
    import anndata

    x, groups = _counts()
    adata = anndata.AnnData(X=x.T.astype(np.float32), obs=pd.DataFrame({"cond": groups}, index=[f"s{i}" for i in range(45)]))
    mssvae.fit(adata, group_key="cond", **FAST, progress=False)
    out = bridge.results_dict(adata)
    assert out[bridge.GROUPS] == ["a", "b", "c"] and out[bridge.SAMPLE_GROUPS] == groups
    np.testing.assert_array_equal(out[bridge.W_SHARED], adata.varm[C.W_SHARED])
    np.testing.assert_array_equal(np.hstack(list(out[bridge.W_SPECIFIC].values())), adata.varm[C.W_SPECIFIC])
    _assert_plain(out)
    with pytest.raises(mssvae.MSSVAEInputError, match="no MSSVAE results"):
        bridge.results_dict(anndata.AnnData(X=x.T.astype(np.float32)))


def test_prepare_arrays_equals_pp_prepare():
    import anndata

    from mssvae import pp

    ex = bridge.example_arrays()
    c = ex["counts"]
    counts = sp.csc_matrix((c["data"], c["indices"], c["indptr"]), shape=tuple(c["shape"]))
    out = bridge.prepare_arrays(counts, ex["genes"], ex["cells"], min_total=500, n_top=100)
    ref = pp.prepare(anndata.AnnData(X=sp.csr_matrix(counts.T), obs=pd.DataFrame(index=ex["cells"]),
                                     var=pd.DataFrame(index=ex["genes"])), min_total=500, n_top=100)
    assert list(np.asarray(ex["genes"])[out["keep_features"]]) == list(ref.var_names)
    assert list(np.asarray(ex["cells"])[out["keep_samples"]]) == list(ref.obs_names)
    np.testing.assert_array_equal(out["pearson_residual_rank"], ref.var["pearson_residual_rank"].to_numpy())
    assert "highly_variable_pearson" in out["report_text"]
    _assert_plain(out)


def test_example_arrays_rebuild_the_example():
    from mssvae.io.example import example_data

    ex = bridge.example_arrays()
    c = ex["counts"]
    counts = sp.csc_matrix((c["data"], c["indices"], c["indptr"]), shape=tuple(c["shape"]))
    adata = example_data()
    assert counts.shape == (adata.n_vars, adata.n_obs)
    assert (counts != sp.csr_matrix(adata.X).T).nnz == 0
    assert ex["levels"]["lineage"] == list(adata.obs["lineage"].cat.categories)
    assert ex["obs"]["lineage"] == [str(v) for v in adata.obs["lineage"]]


def test_version():
    v = bridge.version()
    assert v["mssvae"] == mssvae.__version__ and v["torch"].startswith("2.")


# ----- mssvae.bridge.sce: Bioconductor files ------------------------------------------------------------
def _r_or_skip():
    try:
        import anndata2ri  # noqa: F401
        import rpy2.robjects as ro

        ro.r("suppressPackageStartupMessages(library(SingleCellExperiment))")
    except Exception as err:  # rpy2 missing, R missing or too new for rpy2, no SingleCellExperiment
        pytest.skip(f"rpy2 cannot run R with SingleCellExperiment here: {err}")
    if not ro.r('isTRUE(requireNamespace("mssvae", quietly = TRUE))')[0]:
        pytest.skip("the R package, whose functions write the layout, is not installed (make r-install)")
    return ro


@pytest.fixture(scope="module")
def fitted_adata():
    import anndata

    x, groups = _counts()
    obs = pd.DataFrame({"cond": pd.Categorical(groups), "depth": x.sum(0).astype(float)}, index=[f"s{i}" for i in range(45)])
    adata = anndata.AnnData(X=sp.csr_matrix(x.T.astype(np.float32)), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(30)]))
    adata.layers["logcounts"] = np.log1p(x.T.astype(np.float32))
    mssvae.fit(adata, group_key="cond", **FAST, progress=False)
    return adata


def test_write_sce_uses_the_r_layout(fitted_adata, tmp_path):
    ro = _r_or_skip()
    from mssvae.bridge.sce import write_sce

    path = write_sce(fitted_adata, tmp_path / "fit.rds", x_assay="counts")
    ro.r.assign("path", str(path))
    x = ro.r("x <- readRDS(path)")
    assert list(ro.r("assayNames(x)")) == ["counts", "logcounts"]
    assert list(ro.r("colnames(rowData(x))")) == ["MSSVAE_W_shared", "MSSVAE_W_a", "MSSVAE_W_b", "MSSVAE_W_c"]
    assert list(ro.r("colnames(rowData(x)$MSSVAE_W_shared)")) == ["shared_1", "shared_2", "shared_3"]
    assert list(ro.r("colnames(rowData(x)$MSSVAE_W_b)")) == ["b_1", "b_2"]
    assert list(ro.r("reducedDimNames(x)")) == ["MSSVAE_shared", "MSSVAE_specific"]
    assert list(ro.r("levels(x$MSSVAE_group)")) == ["a", "b", "c"]
    assert list(ro.r("names(metadata(x)$MSSVAE$eta_specific)"))[:2] == ["a_1", "a_2"]
    assert list(ro.r("class(metadata(x)$MSSVAE$history)")) == ["data.frame"]
    w = np.asarray(ro.r("unname(rowData(x)$MSSVAE_W_b)"))
    np.testing.assert_allclose(w, fitted_adata.varm[C.W_SPECIFIC][:, 2:4])
    del x


def test_the_r_package_reads_what_write_sce_writes(fitted_adata, tmp_path):
    """Both front doors agree: the R package's readers give the Python gene sets."""
    ro = _r_or_skip()
    from mssvae.bridge.sce import write_sce

    path = write_sce(fitted_adata, tmp_path / "fit.rds")
    ro.r.assign("path", str(path))
    ro.r("x <- readRDS(path); sets <- mssvae::factorGeneSets(x, threshold = 0.9)")
    r_sets = {str(k): list(v) for k, v in zip(ro.r("names(sets)"), ro.r("sets"))}
    assert r_sets == mssvae.factor_gene_sets(fitted_adata, threshold=0.9)
    assert int(ro.r("nrow(mssvae::loadingsTable(x))")[0]) == 30 * (3 + 3 * 2)
    assert int(ro.r("nrow(ggplot2::ggplot_build(mssvae::plotLoadings(x, threshold = 0))$data[[1]])")[0]) > 0
    assert int(ro.r("nrow(ggplot2::ggplot_build(mssvae::plotLatents(x, type = 'specific'))$data[[1]])")[0]) == 45


def test_sce_round_trip(fitted_adata, tmp_path):
    _r_or_skip()
    from mssvae.bridge.sce import read_sce, write_sce

    path = write_sce(fitted_adata, tmp_path / "fit.rds", x_assay="counts")
    back = read_sce(path)
    assert back.uns["sce_x_assay"] == "counts" and list(back.layers) == ["logcounts"]
    assert (back.X != fitted_adata.X).nnz == 0
    assert list(back.obs_names) == list(fitted_adata.obs_names) and back.obs_names.dtype == object
    for key in (C.W_SHARED, C.W_SPECIFIC):
        np.testing.assert_allclose(back.varm[key], fitted_adata.varm[key])
    for key in (C.Z_SHARED, C.Z_SPECIFIC):
        np.testing.assert_allclose(back.obsm[key], fitted_adata.obsm[key])
    assert back.uns[C.UNS][C.GROUPS] == ["a", "b", "c"]
    assert mssvae.factor_gene_sets(back, threshold=0.9) == mssvae.factor_gene_sets(fitted_adata, threshold=0.9)
    back.write_h5ad(tmp_path / "back.h5ad")  # plain types: h5ad can store them
    # and it can be fitted again from Python
    mssvae.fit(back, group_key="cond", **FAST, progress=False)


def test_read_sce_of_a_summarized_experiment(tmp_path):
    ro = _r_or_skip()
    from mssvae.bridge.sce import read_sce

    path = tmp_path / "se.rds"
    ro.r.assign("path", str(path))
    ro.r("""
        m <- matrix(rpois(40, 5), 5, 8, dimnames = list(paste0("g", 1:5), paste0("s", 1:8)))
        se <- SummarizedExperiment(assays = list(logcounts = log1p(m), counts = m),
                                   colData = DataFrame(grp = rep(c("x", "y"), 4)))
        rowData(se)$loadings <- matrix(1:10, 5, 2)
        metadata(se)$note <- list(a = 1, b = "two")
        saveRDS(se, path)
    """)
    a = read_sce(path)
    assert a.shape == (8, 5) and a.uns["sce_x_assay"] == "counts" and list(a.layers) == ["logcounts"]
    assert a.varm["loadings"].shape == (5, 2)
    assert a.uns["note"] == {"a": 1.0, "b": "two"}
    assert list(a.obs["grp"]) == ["x", "y"] * 4
    b = read_sce(path, x_assay="logcounts")
    assert list(b.layers) == ["counts"]
    with pytest.raises(mssvae.MSSVAEInputError, match="assay 'spliced' not found; available assays: logcounts, counts"):
        read_sce(path, x_assay="spliced")
    ro.r(f'saveRDS(1:3, "{tmp_path / "vec.rds"}")')
    with pytest.raises(mssvae.MSSVAEInputError, match="holds a integer, not a SummarizedExperiment"):
        read_sce(tmp_path / "vec.rds")
    with pytest.raises(FileNotFoundError):
        read_sce(tmp_path / "missing.rds")


def test_fit_arrays_fold_switched_passes_the_groups(monkeypatch):
    """fold_switched=True applies mssvae.fold_switched to the results, with the samples' groups."""
    from mssvae.analysis import postprocess

    calls, real = [], postprocess.fold_switched

    def spy(adata, groups=None, **kw):
        calls.append(list(map(str, groups)))
        return real(adata, groups=groups, **kw)

    monkeypatch.setattr(postprocess, "fold_switched", spy)
    x, groups = _counts()
    bridge.fit_arrays(x, groups, **BRIDGE)
    assert calls == []
    res = bridge.fit_arrays(x, groups, fold_switched=True, **BRIDGE)
    assert calls == [list(map(str, groups))]
    assert res["W_shared"].shape[1] == len(res["factor_names"]["shared"])


def test_an_interrupted_fit_keeps_its_fields_and_resumes(tmp_path, monkeypatch):
    """Ctrl-C during a fit through the door: the interruption's fields (epochs done, the
    checkpoint's folder) are kept for R, and ``resume=True`` completes the same fit as an
    uninterrupted one."""
    import mssvae.core.train as train

    x, groups = _counts()
    kw = dict(BRIDGE, epochs=4)
    whole = bridge.call("fit_arrays", x, groups, **kw)

    def stop_at_two(epoch, total, record, **other):
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "_progress", stop_at_two)
    with pytest.raises(mssvae.FitInterrupted, match="after 2 of at most 4 epochs"):
        bridge.call("fit_arrays", x, groups, model_dir=str(tmp_path), progress=True, **kw)
    fields = bridge.last_error()
    assert fields == dict(interrupted=True, epochs_done=2, max_epochs=4, checkpoint_dir=str(tmp_path))
    monkeypatch.setattr(train, "_progress", lambda *a, **other: None)
    resumed = bridge.call("fit_arrays", x, groups, model_dir=str(tmp_path), resume=True, **kw)
    assert bridge.last_error() == {}
    assert np.array_equal(resumed["W_shared"], whole["W_shared"])
