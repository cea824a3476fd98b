"""Tests of mssvae.pp, the preprocessing of Moran & Krishnan, App. C.4."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mssvae import pp

FIXTURE = Path(__file__).parent / "data" / "pbmc_demo_pearson_top200.txt"


def _demo() -> ad.AnnData:
    with resources.as_file(resources.files("mssvae") / "data" / "pbmc_demo.h5ad") as path:
        return ad.read_h5ad(path)


def _adata(X, obs=None, var=None) -> ad.AnnData:
    X = np.asarray(X, dtype=np.float32) if not sp.issparse(X) else X
    n, g = X.shape
    return ad.AnnData(
        X=X,
        obs=pd.DataFrame(index=obs or [f"s{i}" for i in range(n)]),
        var=pd.DataFrame(index=var or [f"g{j}" for j in range(g)]),
    )


FORMATS = {
    "dense": lambda X: np.asarray(X, dtype=np.float32),
    "csr": lambda X: sp.csr_matrix(np.asarray(X, dtype=np.float32)),
    "csc": lambda X: sp.csc_matrix(np.asarray(X, dtype=np.float32)),
}


# ----------------------------------------------------------------- step 1: samples


@pytest.mark.parametrize("fmt", FORMATS)
def test_filter_samples_by_hand(fmt):
    # sample totals: s0 = 2+3 = 5, s1 = 12+0 = 12, s2 = 0, s3 = 10+20 = 30
    X = [[2, 3], [12, 0], [0, 0], [10, 20]]
    a = _adata(FORMATS[fmt](X))
    out = pp.filter_samples(a, min_total=12)  # keep total >= 12: the boundary s1 stays
    assert list(out.obs_names) == ["s1", "s3"]
    e = out.uns["mssvae_prepare"]["filter_samples"]
    assert (e["n_before"], e["n_removed"], e["n_kept"]) == (4, 2, 2)
    assert list(e["removed"]) == ["s0", "s2"]
    assert e["params"]["min_total"] == 12.0 and e["params"]["layer"] == "X"
    assert a.n_obs == 4  # the input is untouched
    np.testing.assert_array_equal(pp.filter_samples(a, 12, return_mask=True), [False, True, False, True])


def test_filter_samples_default_is_e_to_12_5():
    # e^12.5 = 268337.29: a total of 268337 is below it, 268338 above
    assert pp.DEFAULT_MIN_TOTAL == pytest.approx(268337.2865)
    a = _adata([[268337, 0], [268000, 338]])
    assert list(pp.filter_samples(a).obs_names) == ["s1"]


# ----------------------------------------------------------------- steps 2 and 3: genes

# Four samples, each with total 100 (gene "fill" tops them up), so 1 count = 10,000 CPM.
#            gA  gB  gC  gD  fill
GENES_X = [[20, 10, 3, 11, 56],  # 20+10+3+11+56 = 100
           [20, 10, 3, 0, 67],   # 100
           [0, 10, 3, 0, 87],    # 100
           [0, 0, 0, 0, 100]]    # 100
GENES = ["gA", "gB", "gC", "gD", "fill"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_filter_genes_by_hand(fmt):
    # min_counts=10: gene totals gA 40, gB 30, gC 9, gD 11, fill 310 -> gC (9 < 10) goes.
    # CPM > 1e5 (10% of a sample) in >= ceil(0.5 * 4) = 2 samples:
    #   gA: 20/100 * 1e6 = 2e5 in s0, s1 -> 2 samples, kept (>= is inclusive)
    #   gB: 10/100 * 1e6 = 1e5 exactly, not > 1e5 -> 0 samples, removed
    #   gD: 11/100 * 1e6 = 1.1e5 in s0 only -> 1 sample, removed
    #   fill: >= 5.6e5 everywhere -> kept
    a = _adata(FORMATS[fmt](GENES_X), var=GENES)
    out = pp.filter_genes(a, min_counts=10, min_cpm=1e5, min_frac=0.5)
    assert list(out.var_names) == ["gA", "fill"]
    rep = out.uns["mssvae_prepare"]
    assert list(rep["steps"]) == ["filter_genes_min_counts", "filter_genes_min_cpm"]
    c, m = rep["filter_genes_min_counts"], rep["filter_genes_min_cpm"]
    assert (c["n_before"], c["n_removed"], c["n_kept"]) == (5, 1, 4) and list(c["removed"]) == ["gC"]
    assert (m["n_before"], m["n_removed"], m["n_kept"]) == (4, 2, 2) and list(m["removed"]) == ["gB", "gD"]
    assert m["params"]["min_samples"] == 2
    np.testing.assert_array_equal(
        pp.filter_genes(a, 10, 1e5, 0.5, return_mask=True), [True, False, False, False, True]
    )


def test_filter_genes_fraction_rounding():
    # 0.2 * 15 = 3.0000000000000004 in floating point; "at least 20% of 15
    # samples" is 3 samples, so a gene expressed in exactly 3 must stay.
    X = np.zeros((15, 2))
    X[:, 1] = 50
    X[:3, 0] = 10
    a = _adata(X)
    assert pp.filter_genes(a, min_counts=25, min_cpm=1, min_frac=0.2, return_mask=True).tolist() == [True, True]
    X[2, 0] = 0
    X[3, 0] = 0
    X[1, 0] = 20  # now 2 of 15 samples
    assert pp.filter_genes(_adata(X), 25, 1, 0.2, return_mask=True).tolist() == [False, True]


def test_filter_genes_cpm_uses_sample_depth():
    # CPM relative to the sample's total over all genes: in s0, gene 0 has
    # 1 of 2,000,000 counts = 0.5 CPM (< 1); in s1 1 of 500,000 = 2 CPM (> 1).
    X = [[1, 1_999_999], [1, 499_999]]
    a = _adata(np.asarray(X, dtype=np.float64))
    mask = pp.filter_genes(a, min_counts=0, min_cpm=1.0, min_frac=0.5, return_mask=True)
    assert mask.tolist() == [True, True]
    mask = pp.filter_genes(a, min_counts=0, min_cpm=1.0, min_frac=1.0, return_mask=True)
    assert mask.tolist() == [False, True]


# ----------------------------------------------------------------- step 4: Pearson residuals


def test_pearson_residual_variance_by_hand():
    # X = [[3, 1], [0, 1], [1, 2]]: sample totals n_i = (4, 1, 3), gene totals
    # n_g = (4, 4), n = 8, so mu_ig = n_i n_g / n = (2, 0.5, 1.5) for both genes.
    # With theta = 1 the NB variance is mu + mu^2 = (6, 0.75, 3.75).
    # Gene 0: r = (3-2)/sqrt(6), (0-0.5)/sqrt(0.75), (1-1.5)/sqrt(3.75)
    #           = 0.40825, -0.57735, -0.25820; clip sqrt(3) = 1.732 does not bite.
    # Gene 1: r = (1-2)/sqrt(6), (1-0.5)/sqrt(0.75), (2-1.5)/sqrt(3.75) = -(gene 0).
    r0 = np.array([1 / np.sqrt(6), -0.5 / np.sqrt(0.75), -0.5 / np.sqrt(3.75)])
    expected = np.var(r0)  # population variance (ddof=0): 0.168602
    assert expected == pytest.approx(0.168602, abs=1e-6)
    X = np.array([[3, 1], [0, 1], [1, 2]], dtype=np.float64)
    v = pp.pearson_residual_variances(X, theta=1)
    np.testing.assert_allclose(v, [expected, expected], rtol=1e-14)
    # clip = 0.5 turns -0.57735 into -0.5: var of (0.40825, -0.5, -0.25820) = 0.147504
    clipped = np.var(np.clip(r0, -0.5, 0.5))
    assert clipped == pytest.approx(0.147504, abs=1e-6)
    np.testing.assert_allclose(pp.pearson_residual_variances(sp.csr_matrix(X), theta=1, clip=0.5), clipped, rtol=1e-14)


def test_pearson_ranking_and_zero_genes():
    rng = np.random.default_rng(0)
    n = 200
    depth = rng.integers(50, 150, size=n)
    X = np.column_stack([
        rng.poisson(0.1 * depth),                 # g0: Poisson noise only
        rng.poisson(0.1 * depth) * (np.arange(n) < 20) * 5,  # g1: on in 20 samples -> most variable
        np.zeros(n),                              # g2: all zero -> variance 0, ranked last
        rng.poisson(0.3 * depth),                 # g3: Poisson noise only
    ]).astype(np.float32)
    a = _adata(X)
    out = pp.highly_variable_pearson(a, n_top=2)
    v = pp.pearson_residual_variances(X)
    assert v[2] == 0.0
    assert "g1" in out.var_names and "g2" not in out.var_names
    assert out.var.loc["g1", "pearson_residual_rank"] == 0
    assert list(out.var_names) == [g for g in a.var_names if g in set(out.var_names)]  # original order
    # n_top larger than the number of genes keeps them all
    assert pp.highly_variable_pearson(a, n_top=10).n_vars == 4


def test_pearson_matches_scanpy_on_demo():
    # The fixture holds scanpy 1.11.5's top 200 genes with their ranks and
    # residual variances on the shipped pbmc_demo.h5ad, made in a throwaway
    # venv (scanpy is not a dependency) with
    #   df = sc.experimental.pp.highly_variable_genes(adata, n_top_genes=200,
    #            flavor="pearson_residuals", inplace=False)
    # and written sorted by df.highly_variable_rank (see the file's header).
    ref = pd.read_csv(FIXTURE, sep="\t", comment="#", header=None, names=["gene", "rank", "var"])
    assert len(ref) == 200
    a = _demo()
    out = pp.highly_variable_pearson(a, n_top=200)
    assert set(out.var_names) == set(ref["gene"])
    got = out.var.loc[ref["gene"]]
    np.testing.assert_array_equal(got["pearson_residual_rank"].to_numpy(), ref["rank"].to_numpy())
    np.testing.assert_allclose(got["pearson_residual_variance"].to_numpy(), ref["var"].to_numpy(), rtol=1e-12)  # summation order differs from scanpy: ~1e-15


def test_pearson_chunking_does_not_matter():
    a = _demo()
    v_all = pp.pearson_residual_variances(a.X)
    for chunk in (1, 7, 10_000):
        np.testing.assert_array_equal(pp.pearson_residual_variances(a.X, chunk_size=chunk), v_all)
    np.testing.assert_array_equal(pp.pearson_residual_variances(a.X.toarray(), chunk_size=13), v_all)


# ----------------------------------------------------------------- prepare


def _same(x, y):
    if isinstance(x, dict):
        assert set(x) == set(y)
        for k in x:
            _same(x[k], y[k])
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(x, y)
    else:
        assert x == y


def test_prepare_sparse_and_dense_identical():
    a = _demo()
    kw = dict(min_total=500, n_top=100)
    outs = {}
    for fmt in FORMATS:
        b = a.copy()
        b.X = FORMATS[fmt](a.X.toarray())
        outs[fmt] = pp.prepare(b, **kw)
    ref = outs["csr"]
    assert ref.shape == (559, 100)
    for fmt, o in outs.items():
        assert list(o.obs_names) == list(ref.obs_names), fmt
        assert list(o.var_names) == list(ref.var_names), fmt
        X = o.X.toarray() if sp.issparse(o.X) else o.X
        np.testing.assert_array_equal(X, ref.X.toarray())
        np.testing.assert_array_equal(o.var["pearson_residual_variance"], ref.var["pearson_residual_variance"])
        _same(dict(o.uns["mssvae_prepare"]), dict(ref.uns["mssvae_prepare"]))


def test_prepare_report_and_chaining():
    a = _demo()
    out = pp.prepare(a, min_total=500, min_counts=25, min_cpm=1, min_frac=0.2, n_top=150)
    rep = out.uns["mssvae_prepare"]
    steps = ["filter_samples", "filter_genes_min_counts", "filter_genes_min_cpm", "highly_variable_pearson"]
    assert list(rep["steps"]) == steps
    for s in steps:
        e = rep[s]
        assert e["n_removed"] + e["n_kept"] == e["n_before"] == len(e["removed"]) + e["n_kept"]
    # consecutive steps hand over: kept of one = before of the next, per axis
    assert rep["filter_genes_min_counts"]["n_kept"] == rep["filter_genes_min_cpm"]["n_before"]
    assert rep["filter_genes_min_cpm"]["n_kept"] == rep["highly_variable_pearson"]["n_before"]
    assert tuple(rep["input_shape"]) == (700, 765) and tuple(rep["output_shape"]) == out.shape
    assert rep["highly_variable_pearson"]["params"]["clip"] == pytest.approx(np.sqrt(out.n_obs))
    # the same four steps, called one by one, give the same data and entries
    chained = pp.highly_variable_pearson(pp.filter_genes(pp.filter_samples(a, 500)), n_top=150)
    assert list(chained.obs_names) == list(out.obs_names) and list(chained.var_names) == list(out.var_names)
    for s in steps:
        _same(dict(chained.uns["mssvae_prepare"][s]), dict(rep[s]))
    # the report survives a round trip through .h5ad, and prints
    text = pp.format_report(out)
    assert "filter_samples" in text and "kept 150" in text


def test_prepare_report_roundtrip(tmp_path):
    out = pp.prepare(_demo(), min_total=500, n_top=50)
    path = tmp_path / "p.h5ad"
    out.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert pp.format_report(back) == pp.format_report(out)


def test_prepare_verbose(capsys):
    pp.prepare(_demo(), min_total=500, n_top=50, verbose=True)
    text = capsys.readouterr().out
    assert "700 samples x 765 genes" in text and "highly_variable_pearson" in text


def test_prepare_with_layer():
    a = _demo()
    b = a.copy()
    b.layers["counts"] = b.X.copy()
    lognorm = b.X.multiply(1e4 / b.X.sum(axis=1)).tocsr()
    lognorm.data = np.log1p(lognorm.data)
    b.X = lognorm
    out = pp.prepare(b, layer="counts", min_total=500, n_top=100)
    ref = pp.prepare(a, min_total=500, n_top=100)
    assert list(out.var_names) == list(ref.var_names) and list(out.obs_names) == list(ref.obs_names)
    assert out.uns["mssvae_prepare"]["filter_samples"]["params"]["layer"] == "counts"


# ----------------------------------------------------------------- errors


def test_error_no_such_layer():
    a = _adata(np.ones((3, 2)))
    a.layers["counts"] = a.X.copy()
    with pytest.raises(ValueError, match=r"layer 'raw' not found; available layers: counts"):
        pp.prepare(a, layer="raw")
    with pytest.raises(ValueError, match="available layers: none"):
        pp.filter_samples(_adata(np.ones((3, 2))), layer="raw")


@pytest.mark.parametrize("fmt", FORMATS)
def test_error_not_counts(fmt):
    X = np.array([[1, 2, 0], [0, 1.5, 3], [4, 0, 2.25]])
    a = _adata(FORMATS[fmt](X))
    a.layers["counts"] = FORMATS[fmt](np.round(X))
    # two non-integers, the first (row-major) in sample s1, gene g1
    with pytest.raises(ValueError, match=r"2 non-integer entries \(e\.g\. 1\.5\) \(first at sample 's1' \(row 1\), feature 'g1' \(column 1\)\).*layer='counts'"):
        pp.filter_genes(a)
    X[0, 2] = -1
    with pytest.raises(ValueError, match=r"1 negative entries \(e\.g\. -1\) and 2 non-integer entries .*\(first at sample 's0' \(row 0\), feature 'g2' \(column 2\)\)"):
        pp.prepare(_adata(FORMATS[fmt](X)))
    X[:] = np.nan
    with pytest.raises(ValueError, match="9 non-integer entries"):
        pp.highly_variable_pearson(_adata(FORMATS[fmt](X)))


def test_error_every_sample_removed():
    a = _demo()
    # the paper's default suits bulk data: every cell here has < 1,654 counts
    with pytest.raises(ValueError, match=r"filter_samples: min_total=268,337 would remove all 700 samples "
                                         r"\(the largest sample total is 1,654\); lower min_total"):
        pp.prepare(a)


def test_error_every_gene_removed():
    a = _adata(GENES_X, var=GENES)
    with pytest.raises(ValueError, match=r"min_counts=1,000 would remove all 5 genes \(the largest gene total is 310\); lower min_counts"):
        pp.filter_genes(a, min_counts=1000)
    # CPM > 9e5 (90% of a sample) is reached only by 'fill' in s3 (100%): 1 of 4 samples < 2
    with pytest.raises(ValueError, match=r"CPM filter .* would remove all 4 genes left after min_counts "
                                         r"\(the best gene passes in 1 samples\); lower min_frac or min_cpm"):
        pp.prepare(a, min_total=0, min_counts=10, min_cpm=9e5, min_frac=0.5)


def test_error_bad_parameters():
    a = _adata(GENES_X, var=GENES)
    with pytest.raises(ValueError, match="n_top must be a positive integer"):
        pp.highly_variable_pearson(a, n_top=0)
    with pytest.raises(ValueError, match="theta must be > 0"):
        pp.highly_variable_pearson(a, theta=0)
    with pytest.raises(ValueError, match="min_frac must be between 0 and 1"):
        pp.filter_genes(a, min_frac=1.5)
    zero = _adata([[1, 2], [0, 0], [3, 1]])
    with pytest.raises(ValueError, match="1 samples have no counts.*filter_samples"):
        pp.highly_variable_pearson(zero)


def test_errors_are_package_input_errors():
    from mssvae import MSSVAEInputError

    with pytest.raises(MSSVAEInputError):
        pp.filter_samples(_adata([[1, 2]]), min_total=10)


# ----------------------------------------------------------------- command line


def test_cli_prepare(tmp_path):
    from click.testing import CliRunner

    from mssvae.cli.prepare import prepare_cmd

    src = tmp_path / "in.h5ad"
    _demo().write_h5ad(src)
    out = tmp_path / "out.h5ad"
    runner = CliRunner()
    res = runner.invoke(prepare_cmd, [str(src), "--out", str(out), "--min-total", "500", "--n-top", "60"])
    assert res.exit_code == 0, res.output
    assert "highly_variable_pearson" in res.output
    assert ad.read_h5ad(out).shape == (559, 60)
    # bad input: one clear line, no traceback
    for args, msg in [
        ([], "filter_samples: --min-total=268,337 would remove all 700 samples"),
        (["--layer", "raw"], "--layer 'raw' not found"),
        (["--min-total", "500", "--min-counts", "1e6"], "lower --min-counts"),
    ]:
        res = runner.invoke(prepare_cmd, [str(src), "--out", str(tmp_path / "x.h5ad"), *args])
        assert res.exit_code == 1
        assert res.output.startswith("Error: ") and msg in res.output
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    # normalised values in .X, counts in a layer: the message names the option to use
    b = _demo()
    b.layers["counts"] = b.X.copy()
    b.X = b.X * 0.5
    b.write_h5ad(src)
    res = runner.invoke(prepare_cmd, [str(src), "--out", str(tmp_path / "x.h5ad")])
    assert res.exit_code == 1 and "non-integer entries" in res.output and "--layer='counts'" in res.output
    res = runner.invoke(prepare_cmd, [str(src), "--out", str(out), "--layer", "counts", "--min-total", "500"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(prepare_cmd, [str(src), "--out", str(tmp_path / "nodir" / "x.h5ad")])
    assert res.exit_code == 1 and "does not exist" in res.output


# ----------------------------------------------------------------- the shipped data


def test_shipped_demo_data():
    a = _demo()
    assert a.shape == (700, 765) and sp.issparse(a.X)
    assert np.all(a.X.data == np.round(a.X.data)) and a.X.data.min() >= 1
    assert a.obs["cell_type"].value_counts()["Dendritic"] == 240
    assert a.obs["lineage"].value_counts().to_dict() == {
        "myeloid": 369, "T cell": 192, "B cell": 95, "NK": 31, "progenitor": 13,
    }
    assert a.uns["provenance"]["scanpy_version"] == "1.11.5"
