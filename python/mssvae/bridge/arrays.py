"""Plain arrays and R values to and from the core's objects, for :mod:`mssvae.bridge`: the
matrix in samples × features orientation, unique names, group labels and covariates into an
AnnData, R's numbers into settings, and any result into types reticulate converts faithfully."""

from __future__ import annotations

from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import MSSVAEInputError
from ..io.inputs import resolve_groups
from ..io.ondisk import H5Rows, on_disk

GROUP_COLUMN = "mssvae_group"  # the obs column the door puts the group labels in


def samples_by_features(x, transpose: bool):
    """The matrix as samples × features, dense C-ordered or CSR, without densifying or copying
    more than the core would anyway; an HDF5 dataset on disk (:func:`is_h5_source`) as its rows,
    read on demand."""
    if is_h5_source(x):
        return H5Rows(str(x["h5_path"]), str(x["h5_name"]))  # R's G × N is stored N × G: rows are samples
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


def names_of(names, n: int, prefix: str, what: str) -> list[str]:
    if names is None:
        return [f"{prefix}_{i + 1}" for i in range(n)]
    names = [str(v) for v in (names if isinstance(names, (list, tuple, np.ndarray, pd.Index)) else [names])]
    if len(names) != n:
        raise MSSVAEInputError(f"got {len(names)} {what} names for {n} {what}s")
    return names


def unique(names: list[str]) -> list[str]:
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


def _group_labels(groups, n: int, group_levels, sample_names) -> pd.Categorical:
    labels = pd.Series(list(groups) if not isinstance(groups, pd.Series) else groups, dtype=object)
    levels = None if group_levels is None else _as_list(group_levels)
    codes, order = resolve_groups(labels, n, levels=levels, min_size=2, sample_names=sample_names)
    return pd.Categorical.from_codes(codes, categories=order)

def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, (str, int, float)):
        return [v]
    return list(v)


def as_anndata(x, groups, feature_names, sample_names, transpose, group_levels):
    """An AnnData of the matrix (features × samples when ``transpose``), the groups in
    ``obs[GROUP_COLUMN]`` as a categorical in the order of ``group_levels``."""
    X = samples_by_features(x, transpose)
    n, g = X.shape
    obs_names = unique(names_of(sample_names, n, "sample", "sample"))
    var_names = unique(names_of(feature_names, g, "feature", "feature"))
    labels = _group_labels(groups, n, group_levels, obs_names)
    obs = pd.DataFrame({GROUP_COLUMN: labels}, index=pd.Index(obs_names, dtype=object))
    var = pd.DataFrame(index=pd.Index(var_names, dtype=object))
    return anndata.AnnData(X=None if on_disk(X) else X, obs=obs, var=var)


def is_h5_source(x) -> bool:
    """Whether ``x`` names an HDF5 dataset on disk (R's HDF5Array): a dict ``h5_path``, ``h5_name``."""
    return isinstance(x, dict) and "h5_path" in x and "h5_name" in x


def linked_backed(adata, source: dict, directory) -> anndata.AnnData:
    """``adata`` (obs and var; no X) as a backed AnnData whose X is the HDF5 dataset ``source``:
    an .h5ad in ``directory`` links to it, so the fit reads its rows in blocks and never loads it."""
    path = Path(directory) / "linked.h5ad"
    adata.write_h5ad(path)
    with h5py.File(path, "r+") as f:
        if "X" in f:
            del f["X"]
        f["X"] = h5py.ExternalLink(str(source["h5_path"]), str(source["h5_name"]))
    return anndata.read_h5ad(path, backed="r")


def add_covariates(adata, covariates, levels) -> list[str] | None:
    """Put the covariates (dict name → values) into ``adata.obs``; returns their names."""
    if covariates is None or len(covariates) == 0:
        return None
    if not isinstance(covariates, dict):
        raise MSSVAEInputError("covariates must be a named list / dict: covariate name -> one value per sample")
    levels = dict(levels or {})
    for name, values in covariates.items():
        name = str(name)
        if name == GROUP_COLUMN:
            raise MSSVAEInputError(f"a covariate may not be called {GROUP_COLUMN!r}; rename it")
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


