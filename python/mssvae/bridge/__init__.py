"""The door the R package walks through: plain arrays in, a dict of plain arrays out.

The R package (``r-package/R/worker.R``, through its one helper ``.py_call``) makes every
reticulate call it needs to these functions and nothing else, so R never handles an AnnData or
a torch object:

- :func:`fit_arrays` — fit an MSSVAE to a matrix with one group label per sample;
- :func:`rank_arrays` — a group's genes or factors ranked (:mod:`mssvae.analysis.ranking`);
- :func:`contract` and :func:`settings` — the names of the results contract and the list of
  settings, which the R package's tests check its own copies against;
- :func:`prepare_arrays` — the preprocessing of App. C.4 (:mod:`mssvae.pp`) as keep-masks;
- :func:`example_arrays` — the shipped PBMC example as arrays;
- :func:`version` — versions of the Python side, for the R package's version check;
- :func:`call` — the one entry point R uses: it runs one of these by name and keeps an input
  error's fields for :func:`last_error`;
- :func:`results_dict` — the results contract of a fitted AnnData as the same dict that
  :func:`fit_arrays` returns (also used by :func:`mssvae.bridge.sce.write_sce`).

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
columns. Input errors raise :class:`mssvae.errors.MSSVAEInputError`, whose fields (what,
where, hint) R words in its own terms.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._version import __version__
from .. import contract as C
from ..blas import torch_blas
from .. import pp
from ..analysis.ranking import rank_group_factors, rank_group_genes
from ..core.hardware import torch_threads
from ..errors import FitInterrupted, MSSVAEInputError
from ..io.example import example_data
from ..io.results import factor_names
from ..model import MSSVAE, settings_table
from ..model.job import FitJob
from .arrays import (GROUP_COLUMN, add_covariates, as_anndata, is_h5_source, linked_backed, names_of, plain,
                     samples_by_features, unique)

# Keys of the dict that fit_arrays / results_dict return (read by r-package/R/worker.R and
# mssvae.bridge.sce; contract() publishes them to the R package's tests).
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


_LAST_ERROR: dict = {}


def call(name: str, *args, **kwargs):
    """The door itself: run the door function ``name``. An input error or an interrupted fit is
    raised as it is, and its fields (what, where, hint, args_named; or epochs_done, max_epochs,
    checkpoint_dir) are kept for :func:`last_error`, so that R words the message in its own
    terms without parsing it."""
    if name not in DOOR:
        raise MSSVAEInputError(f"no door function {name!r}", hint=f"the door has: {', '.join(DOOR)}")
    _LAST_ERROR.clear()
    try:
        return DOOR[name](*args, **kwargs)
    except (MSSVAEInputError, FitInterrupted) as err:
        _LAST_ERROR.update(err.fields())
        raise


def last_error() -> dict:
    """The fields of the input error or interruption the last :func:`call` raised (empty if it
    raised neither)."""
    return dict(_LAST_ERROR)


def version() -> dict:
    """Versions of the Python side (``mssvae``, ``python``, ``numpy``, ``scipy``, ``pandas``,
    ``torch``, ``anndata``), the interpreter, and ``torch_blas``: the library torch's matrix
    products run on (:func:`mssvae.blas.torch_blas`; torch's own unless something loaded torch
    before mssvae inside R)."""
    out = {"mssvae": __version__, "python": sys.version.split()[0], "executable": sys.executable}
    for pkg in ("numpy", "scipy", "pandas", "torch", "anndata"):
        try:
            out[pkg] = pkg_version(pkg)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[pkg] = "not installed"
    out["torch_blas"] = torch_blas()["library"] or "unknown"
    return out


def contract() -> dict:
    """The names both languages use: the AnnData keys of the results contract
    (:mod:`mssvae.contract`), the keys of the dict :func:`fit_arrays` returns, and the columns
    of the tables of active factors (and of their stability, after several starts) and of rankings."""
    keys = {k: getattr(C, k) for k in dir(C) if k.isupper() and isinstance(getattr(C, k), str)}
    return {"anndata": keys,
            "results": [GROUPS, GROUP_KEY, FACTOR_NAMES, W_SHARED, W_SPECIFIC, Z_SHARED, Z_SPECIFIC, SAMPLE_GROUPS,
                        METADATA, WARNINGS, MODEL_DIR],
            "active_factor_columns": list(C.ACTIVE_FACTOR_COLUMNS), "stability_columns": list(C.STABILITY_COLUMNS),
            "gene_columns": list(C.GENE_COLUMNS),
            "factor_columns": list(C.FACTOR_COLUMNS)}


def settings() -> dict:
    """Every setting of :class:`mssvae.MSSVAE` as columns ``name``, ``default`` (as text;
    "None" means the paper's, per likelihood) and ``doc``."""
    rows = settings_table()
    return {"name": [r["name"] for r in rows], "default": [repr(r["default"]) for r in rows],
            "doc": [r["doc"] for r in rows]}


# ----- fit ------------------------------------------------------------------------------------
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
    resume: bool = False,
    progress=False,
    group_levels=None,
    group_key=None,
    transpose: bool = True,
    device: str = "auto",
    threads=None,
    covariates=None,
    covariate_levels=None,
    fold_switched: bool = False,
    starts=1,
    parallel_starts=None,
    **settings,
) -> dict:
    """Fit an MSSVAE to a matrix and return the results contract as plain arrays.

    Parameters
    ----------
    x
        Numeric matrix, **features × samples** (R's orientation) unless ``transpose=False``:
        a numpy array or a scipy sparse matrix (a CSC matrix, as reticulate makes of a
        ``dgCMatrix``, transposes to CSR without a copy and is never densified); or a dict
        ``h5_path``, ``h5_name`` naming an HDF5 dataset (R's HDF5Array, stored samples ×
        features), whose rows the fit reads in blocks without loading it.
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
        As :meth:`mssvae.MSSVAE.fit` (``None`` epochs/batch size: Table 2); ``progress`` may be
        an R function, called after every epoch (``r-package/R/progress.R``).
    model_dir
        If given, checkpoints go there during the fit and the fitted model is saved there
        (``mssvae.MSSVAE.load(model_dir)`` restores it).
    resume
        Continue the interrupted fit whose checkpoint is in ``model_dir`` (the same data and
        settings).
    group_levels
        The order of the groups (R factor levels); default sorted labels.
    group_key
        The name of the column the labels came from, recorded in the metadata.
    transpose
        ``True`` (default) when ``x`` is features × samples.
    covariates
        Per-sample nuisance covariates the decoder conditions on (``mssvae.io.covariates``): a dict
        name → one value per sample (strings or bools: categorical; numbers: numeric).
    covariate_levels
        Dict name → levels for the categorical covariates that have an order (R factors): the
        first level is the reference. Others are sorted.
    threads
        CPU threads for PyTorch during this fit (``None``: the cores other processes leave
        idle, :func:`mssvae.core.hardware.default_threads`). Restored afterwards.
    fold_switched
        Apply :func:`mssvae.fold_switched` to the results (a program estimated once in every
        group's block moves into the shared block; App. C.3). The saved model is not changed.
    starts
        The number of fits, from seeds ``seed``, ``seed + 1``, ...: the one of lowest final loss
        is kept and each factor's stability across them recorded (:meth:`mssvae.MSSVAE.fit`).
    parallel_starts
        How many starts run at once, each in its own Python process (``None``: one per thread on
        a CPU; :mod:`mssvae.model.parallel`).
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
    model_settings = dict(n_shared=n_shared, n_specific=n_specific, hidden=hidden, sparsity_weight=sparsity_weight,
                          **settings)
    job = FitJob(likelihood, {k: v for k, v in model_settings.items() if v is not None}, epochs=epochs,
                 batch_size=batch_size, seed=seed, device=device, threads=threads, model_dir=model_dir, resume=resume,
                 fold_switched=fold_switched, starts=starts,
                 parallel_starts=parallel_starts)  # every setting checked before the data are touched

    def export(adata) -> dict:
        adata.uns[C.UNS][C.GROUP_KEY] = "none" if group_key is None else str(group_key)
        return results_dict(adata, group_column=GROUP_COLUMN)

    with tempfile.TemporaryDirectory(prefix="mssvae-") as tmp:
        adata = as_anndata(x, groups, feature_names, sample_names, transpose, group_levels)
        covariate_keys = add_covariates(adata, covariates, covariate_levels)
        if is_h5_source(x):
            adata = linked_backed(adata, x, tmp)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # groups= (not group_key=): the core reads an obs column with np.asarray, which drops
            # the categorical order; a Categorical passed directly keeps it (R's factor levels).
            out = job.run(adata, groups=adata.obs[GROUP_COLUMN], covariate_keys=covariate_keys,
                          progress=progress if callable(progress) else bool(progress), export=export).exported
    out[WARNINGS] = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, FutureWarning))]
    out[MODEL_DIR] = None if job.model_dir is None else str(job.model_dir.resolve())
    return out


# ----- AnnData results -> plain dict -----------------------------------------------------------
def results_dict(adata, group_column: str | None = None) -> dict:
    """The MSSVAE results held by ``adata`` (the Python results contract) as a plain dict.

    Keys: ``groups``, ``group_key``, ``factor_names`` (block → names), ``W_shared``
    (G × K_S), ``W_specific`` (group → G × K_m), ``Z_shared`` (N × K_S), ``Z_specific``
    (N × max K_m), ``sample_groups`` (per-sample labels from ``obs[group_column]``, or from
    ``obs[group_key]`` when that column exists; else ``None``) and ``metadata`` (all of
    ``.uns["mssvae"]``).
    """
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


# ----- rankings ----------------------------------------------------------------------------------
def rank_arrays(x, groups, model_dir, group, feature_names=None, sample_names=None, level: str = "gene",
                threshold=None, n_top: int = 10, transpose: bool = True, threads=None,
                covariates=None, covariate_levels=None) -> dict:
    """:func:`rank_group_genes` or :func:`rank_group_factors` on arrays, for the R package.

    ``x`` is features × samples (R's orientation) unless ``transpose=False``, restricted to the
    features the model in ``model_dir`` was fitted on; ``groups`` one label per sample;
    ``covariates``/``covariate_levels`` as :func:`fit_arrays` (a model fitted with
    covariates needs them). Returns
    the table as a dict of columns (numpy arrays and lists of str; see :mod:`mssvae.bridge`).
    """
    if level not in ("gene", "factor"):
        raise MSSVAEInputError(f"level must be 'gene' or 'factor', got {level!r}")
    if model_dir is None or not Path(str(model_dir)).exists():
        raise MSSVAEInputError(f"no saved model at {model_dir!r}; fit with model_dir= (R: model.dir =) to rank genes")
    model = MSSVAE.load(str(model_dir))
    X = samples_by_features(x, transpose)
    n, g = X.shape
    fitted = model.state.var_names
    names = unique([str(v) for v in (feature_names if feature_names is not None else fitted)])
    if names != fitted:
        raise MSSVAEInputError(f"the {g} features differ from the {len(fitted)} the model in "
                               f"{model_dir} was fitted on; use the same features in the same order")
    labels = [str(v) for v in (groups if isinstance(groups, (list, tuple, np.ndarray)) else [groups])]
    adata = anndata.AnnData(X=None if is_h5_source(x) else X,
                            obs=pd.DataFrame(index=[f"sample_{i + 1}" for i in range(n)]),
                            var=pd.DataFrame(index=pd.Index(names, dtype=object)))
    add_covariates(adata, covariates, covariate_levels)
    with tempfile.TemporaryDirectory(prefix="mssvae-") as tmp, torch_threads(threads):
        if is_h5_source(x):
            adata = linked_backed(adata, x, tmp)
        # the labels are checked (their number, the model's groups) where the input is prepared
        if level == "gene":
            table = rank_group_genes(model, adata, str(group), groups=labels)
        else:
            table = rank_group_factors(model, adata, str(group), groups=labels, threshold=threshold, n_top=int(n_top))
    return plain(table)


# ----- preprocessing ---------------------------------------------------------------------------
def prepare_arrays(x, feature_names=None, sample_names=None, transpose: bool = True, verbose: bool = False, **params) -> dict:
    """The preprocessing of App. C.4 (:func:`mssvae.pp.prepare`) on a matrix, as keep-masks.

    ``x`` is features × samples unless ``transpose=False``; ``params`` go to
    :func:`mssvae.pp.prepare` (``min_total``, ``min_counts``, ``min_cpm``, ``min_frac``,
    ``n_top``, ``theta``, ``clip``). Returns ``keep_samples`` and ``keep_features`` (bool
    arrays over the input), ``pearson_residual_variance`` and ``pearson_residual_rank`` of the
    kept features, ``report`` (``.uns["mssvae_prepare"]`` in plain types) and ``report_text``.
    """
    X = samples_by_features(x, transpose)
    n, g = X.shape
    obs_names = unique(names_of(sample_names, n, "sample", "sample"))
    var_names = unique(names_of(feature_names, g, "feature", "feature"))
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


DOOR = {f.__name__: f for f in (fit_arrays, rank_arrays, prepare_arrays, example_arrays, results_dict, version, contract,
                                settings)}
