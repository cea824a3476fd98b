"""The door the R package walks through: plain arrays in, a dict of plain arrays out.

The R package (``r-package/R/worker.R``) makes every reticulate call it needs to these
functions and nothing else, so R never handles an AnnData or a torch object:

- :func:`fit_arrays` — fit an MSSVAE to a matrix with one group label per sample;
- :func:`prepare_arrays` — the preprocessing of App. C.4 (:mod:`mssvae.pp`) as keep-masks;
- :func:`example_arrays` — the shipped PBMC example as arrays;
- :func:`version` — versions of the Python side, for the R package's version check;
- :func:`results_dict` — the results contract of a fitted AnnData as the same dict that
  :func:`fit_arrays` returns (also used by :func:`mssvae.sce.write_sce`).

Orientation: the matrix arrives **features × samples**, as R stores it (``transpose=True``,
the default), and is transposed here. For a dense R matrix reticulate hands over a
Fortran-ordered array and for a ``dgCMatrix`` a scipy CSC matrix, whose transposes are a
C-ordered array and a CSR matrix: views, no copies, and the sparse matrix is never densified
(the core densifies one minibatch at a time). Python callers with samples × features data pass
``transpose=False``.

Every value returned is a numpy array of a numeric or bool dtype, a list of ``str``, a Python
scalar, ``None`` or a dict of these: no pandas objects (reticulate 1.28 converts a DataFrame
through the deprecated ``Index.format`` and cannot convert pyarrow-backed strings) and no scipy
matrices (its ``csc_matrix`` conversion fails with current scipy); tables travel as dicts of
columns. Input errors raise
:class:`mssvae.MSSVAEInputError` with a one-line message that R shows unchanged.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import __version__
from . import _constants as C
from . import postprocess
from .data import MSSVAEInputError

# Keys of the dict that fit_arrays / results_dict return (read by r-package/R/worker.R and
# mssvae.sce): change them there too.
GROUPS = "groups"  # group labels, in block order
GROUP_KEY = "group_key"  # the column the groups came from, or "none"
FACTOR_NAMES = "factor_names"  # block ("shared", then each group) -> factor names
W_SHARED = "W_shared"  # G x K_S
W_SPECIFIC = "W_specific"  # group -> G x K_m, in the order of GROUPS
Z_SHARED = "Z_shared"  # N x K_S
Z_SPECIFIC = "Z_specific"  # N x max K_m, own group's factors, zero-padded
SAMPLE_GROUPS = "sample_groups"  # the group label of each sample (list of str, or None)
METADATA = "metadata"  # .uns["mssvae"] in plain types (eta, p*, noise, history, settings, versions)
WARNINGS = "warnings"  # messages of warnings raised during the fit
MODEL_DIR = "model_dir"  # where the fitted model was saved, or None

_GROUP_COLUMN = "mssvae_group"


def version() -> dict:
    """Versions of the Python side: ``mssvae``, ``python``, ``numpy``, ``torch``, ``anndata``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    out = {"mssvae": __version__, "python": sys.version.split()[0], "executable": sys.executable}
    for pkg in ("numpy", "scipy", "pandas", "torch", "anndata"):
        try:
            out[pkg] = pkg_version(pkg)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[pkg] = "not installed"
    return out


# ----- arrays -> AnnData ----------------------------------------------------------------------
def _samples_by_features(x, transpose: bool):
    """The matrix as samples × features, dense C-ordered or CSR, without densifying or copying
    more than the core would anyway."""
    if sp.issparse(x):
        x = x.T if transpose else x
        return x.tocsr() if x.format != "csr" else x
    x = np.asarray(x)
    if x.ndim != 2:
        raise MSSVAEInputError(f"the data must be a 2-dimensional matrix, got {x.ndim} dimensions")
    if x.dtype == bool:
        x = x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.number):
        raise MSSVAEInputError(f"the data must be numeric, got values of type {x.dtype}")
    return x.T if transpose else x


def _names(names, n: int, prefix: str, what: str) -> list[str]:
    if names is None:
        return [f"{prefix}_{i + 1}" for i in range(n)]
    names = [str(v) for v in (names if isinstance(names, (list, tuple, np.ndarray, pd.Index)) else [names])]
    if len(names) != n:
        raise MSSVAEInputError(f"got {len(names)} {what} names for {n} {what}s")
    return names


def _unique(names: list[str]) -> list[str]:
    """Names made unique (AnnData warns on duplicates): repeats get ``-1``, ``-2``... suffixes."""
    if len(set(names)) == len(names):
        return names
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}-{k}")
        seen[n] = k + 1
    return out


def _group_labels(groups, n: int, group_levels) -> pd.Categorical:
    labels = pd.Series(groups, dtype=object) if not isinstance(groups, pd.Series) else groups.astype(object)
    if len(labels) != n:
        raise MSSVAEInputError(f"got {len(labels)} group labels for {n} samples; give one label per sample")
    if labels.isna().any():
        first = int(np.flatnonzero(labels.isna().to_numpy())[0])
        raise MSSVAEInputError(f"{int(labels.isna().sum())} samples have no group label (first: sample {first + 1})")
    labels = labels.astype(str)
    levels = sorted(labels.unique()) if group_levels is None else [str(g) for g in _as_list(group_levels)]
    levels = [g for g in levels if g in set(labels)]
    missing = sorted(set(labels) - set(levels))
    if missing:
        raise MSSVAEInputError(f"group labels {missing} are not among group_levels {levels}")
    if "shared" in levels:
        raise MSSVAEInputError(
            "a group is named 'shared', which is the name of the shared block of factors (shared_1, ...); rename that group"
        )
    return pd.Categorical(labels.to_numpy(), categories=levels)


def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, (str, int, float)):
        return [v]
    return list(v)


def _as_anndata(x, groups, feature_names, sample_names, transpose, group_levels):
    import anndata

    X = _samples_by_features(x, transpose)
    n, g = X.shape
    obs_names = _unique(_names(sample_names, n, "sample", "sample"))
    var_names = _unique(_names(feature_names, g, "feature", "feature"))
    labels = _group_labels(groups, n, group_levels)
    obs = pd.DataFrame({_GROUP_COLUMN: labels}, index=pd.Index(obs_names, dtype=object))
    var = pd.DataFrame(index=pd.Index(var_names, dtype=object))
    return anndata.AnnData(X=X, obs=obs, var=var)


# ----- fit ------------------------------------------------------------------------------------
def _settings(n_shared, n_specific, hidden, sparsity_weight, extra: dict) -> dict:
    """MSSVAE constructor arguments with R's numbers made ints/tuples; None (the paper's
    default) left out."""
    kw = dict(n_shared=n_shared, n_specific=n_specific, hidden=hidden, sparsity_weight=sparsity_weight, **extra)
    kw = {k: v for k, v in kw.items() if v is not None}
    if "n_shared" in kw:
        kw["n_shared"] = int(kw["n_shared"])
    if "n_specific" in kw:
        v = kw["n_specific"]
        kw["n_specific"] = {str(k): int(x) for k, x in v.items()} if isinstance(v, dict) else int(_scalar(v, "n_specific"))
    if "hidden" in kw:
        h = [int(v) for v in _as_list(kw["hidden"])]
        if len(h) != 2:
            raise MSSVAEInputError(f"hidden must give the widths of the two hidden layers, e.g. (128, 64); got {h}")
        kw["hidden"] = tuple(h)
    if "lambda0" in kw:
        kw["lambda0"] = tuple(float(v) for v in _as_list(kw["lambda0"]))
    if "lambda0_breaks" in kw:
        kw["lambda0_breaks"] = tuple(int(v) for v in _as_list(kw["lambda0_breaks"]))
    for k in ("max_steps", "stopping_patience"):
        if k in kw:
            kw[k] = int(_scalar(kw[k], k))
    return kw


def _scalar(v, what: str):
    vals = _as_list(v)
    if len(vals) != 1:
        raise MSSVAEInputError(f"{what} must be a single number (or one per group, named), got {vals}")
    return vals[0]


def _model(likelihood: str, settings: dict):
    from dataclasses import fields

    from .model import MSSVAE, Settings

    known = {f.name for f in fields(Settings)} - {"likelihood", "epochs", "batch_size"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise MSSVAEInputError(f"unknown settings {unknown}; the model takes: {', '.join(sorted(known))}")
    return MSSVAE(likelihood=likelihood, **settings)


def fit_arrays(
    x,
    groups,
    feature_names=None,
    sample_names=None,
    likelihood: str = "nb",
    n_shared=None,
    n_specific=None,
    epochs=None,
    batch_size=None,
    seed=0,
    hidden=None,
    sparsity_weight=None,
    model_dir=None,
    progress: bool = False,
    group_levels=None,
    group_key=None,
    transpose: bool = True,
    device: str = "auto",
    threads=None,
    covariates=None,
    covariate_levels=None,
    fold_switched: bool = False,
    **settings,
) -> dict:
    """Fit an MSSVAE to a matrix and return the results contract as plain arrays.

    Parameters
    ----------
    x
        Numeric matrix, **features × samples** (R's orientation) unless ``transpose=False``:
        a numpy array or a scipy sparse matrix (a CSC matrix, as reticulate makes of a
        ``dgCMatrix``, transposes to CSR without a copy and is never densified).
    groups
        One group label per sample (strings; missing labels are an error).
    feature_names, sample_names
        Names of the features and samples (default ``feature_1..``, ``sample_1..``).
    likelihood
        ``"nb"`` (counts) or ``"gaussian"``.
    n_shared, n_specific, hidden, sparsity_weight
        As :class:`mssvae.MSSVAE`; ``None`` means the paper's default. ``n_specific`` may be
        a dict group → K_m.
    epochs, batch_size, seed, progress, device
        As :meth:`mssvae.MSSVAE.fit` (``None`` epochs/batch size: Table 2).
    model_dir
        If given, checkpoints go there during the fit and the fitted model is saved there
        (``mssvae.MSSVAE.load(model_dir)`` restores it).
    group_levels
        The order of the groups (R factor levels); default sorted labels.
    group_key
        The name of the column the labels came from, recorded in the metadata.
    transpose
        ``True`` (default) when ``x`` is features × samples.
    covariates
        Per-sample nuisance covariates the decoder conditions on (``mssvae.covariates``): a dict
        name → one value per sample (strings or bools: categorical; numbers: numeric).
    covariate_levels
        Dict name → levels for the categorical covariates that have an order (R factors): the
        first level is the reference. Others are sorted.
    threads
        CPU threads for PyTorch during this fit (``None``: the cores other processes leave
        idle, :func:`mssvae.hardware.default_threads`). Restored afterwards.
    fold_switched
        Apply :func:`mssvae.fold_switched` to the results (a program estimated once in every
        group's block moves into the shared block; App. C.3). The saved model is not changed.
    **settings
        Further :class:`mssvae.MSSVAE` settings (``lr``, ``lr_w``, ``lambda1``, ``lambda0``,
        ``lambda0_breaks``, ``a``, ``b``, ``balance_groups``, ``precision``, ``early_stopping``,
        ``stopping_tol``, ``stopping_patience``, ``max_steps``).

    Returns
    -------
    dict
        See :func:`results_dict`; also ``model_dir`` and ``warnings`` (messages of the
        warnings the fit raised, e.g. constant features left out).
    """
    if likelihood not in ("nb", "gaussian"):
        raise MSSVAEInputError(f"likelihood must be 'nb' or 'gaussian', got {likelihood!r}")
    adata = _as_anndata(x, groups, feature_names, sample_names, transpose, group_levels)
    covariate_keys = _add_covariates(adata, covariates, covariate_levels)
    model = _model(likelihood, _settings(n_shared, n_specific, hidden, sparsity_weight, settings))
    fit_kw = dict(epochs=None if epochs is None else int(epochs), batch_size=None if batch_size is None else int(batch_size),
                  seed=int(seed), progress=bool(progress), device=device, threads=threads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # groups= (not group_key=): the core reads an obs column with np.asarray, which drops
        # the categorical order; a Categorical passed directly keeps it (R's factor levels).
        model.fit(adata, groups=adata.obs[_GROUP_COLUMN], model_dir=model_dir, covariate_keys=covariate_keys, **fit_kw)
    if model_dir is not None:
        model.save(model_dir)
    adata.uns[C.UNS][C.GROUP_KEY] = "none" if group_key is None else str(group_key)
    if fold_switched:
        postprocess.fold_switched(adata, groups=adata.obs[_GROUP_COLUMN])
    out = results_dict(adata, group_column=_GROUP_COLUMN)
    out[WARNINGS] = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, FutureWarning))]
    out[MODEL_DIR] = None if model_dir is None else str(Path(model_dir).resolve())
    return out


def _add_covariates(adata, covariates, levels) -> list[str] | None:
    """Put the covariates (dict name → values) into ``adata.obs``; returns their names."""
    if covariates is None or len(covariates) == 0:
        return None
    if not isinstance(covariates, dict):
        raise MSSVAEInputError("covariates must be a named list / dict: covariate name -> one value per sample")
    levels = dict(levels or {})
    for name, values in covariates.items():
        name = str(name)
        if name == _GROUP_COLUMN:
            raise MSSVAEInputError(f"a covariate may not be called {_GROUP_COLUMN!r}; rename it")
        v = np.asarray(values).ravel() if not isinstance(values, (list, tuple)) else np.asarray(list(values), dtype=object)
        if len(v) != adata.n_obs:
            raise MSSVAEInputError(f"covariate {name!r} has {len(v)} values for {adata.n_obs} samples; give one per sample")
        if name in levels:
            lv = [str(x) for x in _as_list(levels[name])]
            v = pd.Categorical([str(x) for x in v], categories=lv)
        elif v.dtype == object and all(isinstance(x, (bool, np.bool_)) for x in v):
            v = v.astype(bool)
        elif v.dtype == object and not any(isinstance(x, str) for x in v):
            v = v.astype(np.float64)  # numbers (None/NaN become NaN and are reported by the core)
        adata.obs[name] = v
    return [str(k) for k in covariates]


# ----- AnnData results -> plain dict -----------------------------------------------------------
def plain(value):
    """``value`` in types reticulate and rpy2 convert faithfully: numpy arrays of numbers or
    bools, lists of str, Python scalars, dicts of these."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return {str(c): plain(value[c].to_numpy()) for c in value.columns}
    if isinstance(value, (pd.Series, pd.Index, pd.Categorical)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return value
        return [str(v) for v in value.ravel().tolist()]
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (str, np.str_)) for v in value):
            return [str(v) for v in value]
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def results_dict(adata, group_column: str | None = None) -> dict:
    """The MSSVAE results held by ``adata`` (the Python results contract) as a plain dict.

    Keys: ``groups``, ``group_key``, ``factor_names`` (block → names), ``W_shared``
    (G × K_S), ``W_specific`` (group → G × K_m), ``Z_shared`` (N × K_S), ``Z_specific``
    (N × max K_m), ``sample_groups`` (per-sample labels from ``obs[group_column]``, or from
    ``obs[group_key]`` when that column exists; else ``None``) and ``metadata`` (all of
    ``.uns["mssvae"]``).
    """
    from .results import factor_names

    if C.UNS not in adata.uns or C.W_SHARED not in adata.varm:
        raise MSSVAEInputError("no MSSVAE results in this AnnData; fit first with mssvae.fit(adata, group_key=...)")
    uns = adata.uns[C.UNS]
    names = factor_names(adata)
    groups = [str(g) for g in uns[C.GROUPS]]
    W_spec = np.asarray(adata.varm[C.W_SPECIFIC], dtype=np.float64)
    blocks, start = {}, 0
    for g in groups:
        k = len(names[g])
        blocks[g] = W_spec[:, start : start + k]
        start += k
    key = str(uns.get(C.GROUP_KEY, "none"))
    column = group_column if group_column is not None else (key if key in adata.obs.columns else None)
    return {
        GROUPS: groups,
        GROUP_KEY: key,
        FACTOR_NAMES: {b: list(v) for b, v in names.items()},
        W_SHARED: np.asarray(adata.varm[C.W_SHARED], dtype=np.float64),
        W_SPECIFIC: blocks,
        Z_SHARED: np.asarray(adata.obsm[C.Z_SHARED], dtype=np.float64),
        Z_SPECIFIC: np.asarray(adata.obsm[C.Z_SPECIFIC], dtype=np.float64),
        SAMPLE_GROUPS: None if column is None else [str(v) for v in adata.obs[column].astype(object)],
        METADATA: plain(dict(uns)),
    }


# ----- preprocessing ---------------------------------------------------------------------------
def prepare_arrays(x, feature_names=None, sample_names=None, transpose: bool = True, verbose: bool = False, **params) -> dict:
    """The preprocessing of App. C.4 (:func:`mssvae.pp.prepare`) on a matrix, as keep-masks.

    ``x`` is features × samples unless ``transpose=False``; ``params`` go to
    :func:`mssvae.pp.prepare` (``min_total``, ``min_counts``, ``min_cpm``, ``min_frac``,
    ``n_top``, ``theta``, ``clip``). Returns ``keep_samples`` and ``keep_features`` (bool
    arrays over the input), ``pearson_residual_variance`` and ``pearson_residual_rank`` of the
    kept features, ``report`` (``.uns["mssvae_prepare"]`` in plain types) and ``report_text``.
    """
    import anndata

    from . import pp

    X = _samples_by_features(x, transpose)
    n, g = X.shape
    obs_names = _unique(_names(sample_names, n, "sample", "sample"))
    var_names = _unique(_names(feature_names, g, "feature", "feature"))
    adata = anndata.AnnData(X=X, obs=pd.DataFrame(index=pd.Index(obs_names, dtype=object)),
                            var=pd.DataFrame(index=pd.Index(var_names, dtype=object)))
    for k in ("n_top",):
        if params.get(k) is not None:
            params[k] = int(params[k])
    params = {k: v for k, v in params.items() if v is not None or k == "clip"}
    out = pp.prepare(adata, **params)
    keep_s = np.isin(np.asarray(obs_names, dtype=object), np.asarray(out.obs_names, dtype=object))
    keep_f = np.isin(np.asarray(var_names, dtype=object), np.asarray(out.var_names, dtype=object))
    report = out.uns[pp.REPORT_KEY]
    text = pp.format_report(report)
    if verbose:
        print(text)
    return {
        "keep_samples": keep_s,
        "keep_features": keep_f,
        "pearson_residual_variance": np.asarray(out.var["pearson_residual_variance"], dtype=np.float64),
        "pearson_residual_rank": np.asarray(out.var["pearson_residual_rank"], dtype=np.int64),
        "report": plain(dict(report)),
        "report_text": text,
    }


# ----- the shipped example --------------------------------------------------------------------
def example_arrays() -> dict:
    """The shipped PBMC example in plain arrays: ``counts`` (genes × cells as the CSC parts
    ``data``, ``indices``, ``indptr``, ``shape``, for a ``dgCMatrix`` in R), ``genes``,
    ``cells``, ``obs`` (column → values: str lists or float arrays), ``levels`` (categorical
    column → its categories) and ``provenance``."""
    from .demo import example_data

    adata = example_data()
    counts = sp.csr_matrix(adata.X, dtype=np.float64).T.tocsc()  # genes x cells
    counts.sort_indices()
    obs, levels = {}, {}
    for col in adata.obs.columns:
        s = adata.obs[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels[str(col)] = [str(v) for v in s.cat.categories]
        obs[str(col)] = s.to_numpy(dtype=np.float64) if s.dtype.kind in "biuf" else [str(v) for v in s.astype(object)]
    return {
        "counts": {"data": counts.data, "indices": counts.indices.astype(np.int64), "indptr": counts.indptr.astype(np.int64),
                   "shape": [int(v) for v in counts.shape]},
        "genes": [str(v) for v in adata.var_names],
        "cells": [str(v) for v in adata.obs_names],
        "obs": obs,
        "levels": levels,
        "provenance": plain(dict(adata.uns.get("provenance", {}))),
    }
