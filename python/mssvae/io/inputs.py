"""The one input path of every fit, transform and ranking: the matrix, the group labels and
their checks.

Every check names the problem, where it is, and what to do (:class:`mssvae.errors.MSSVAEInputError`
carries those as fields). Sparse matrices stay sparse.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import MSSVAEInputError
from .ondisk import backed_rows, on_disk


def _as_matrix(X):
    if on_disk(X):
        return X
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float32)
    return np.asarray(X, dtype=np.float32)


def layer_matrix(adata, layer: str | None, prefix: str = ""):
    """The matrix of ``adata`` as stored (``.X`` or ``.layers[layer]``), with a clear error when
    it is absent; ``prefix`` starts the message (e.g. the preprocessing step)."""
    rows = backed_rows(adata, layer)
    if rows is not None:
        return rows
    layers = ", ".join(map(str, adata.layers.keys()))
    if layer is None:
        if adata.X is None:
            raise MSSVAEInputError(f"{prefix}the AnnData has no .X", hint=f"pass layer= with one of: {layers or '(no layers)'}",
                                   args_named=("layer",))
        return adata.X
    if layer not in adata.layers:
        raise MSSVAEInputError(f"{prefix}layer {layer!r} not found",
                               hint=f"available layers: {layers or 'none'} (leave out layer for .X)", args_named=("layer",))
    return adata.layers[layer]


def get_matrix(adata, layer: str | None):
    """The samples × features matrix of ``adata`` (``.X`` or a layer) in float32, dense or CSR."""
    return _as_matrix(layer_matrix(adata, layer))


def get_groups(adata, group_key: str) -> pd.Series:
    """The group label of each sample, from ``adata.obs[group_key]``."""
    if group_key not in adata.obs.columns:
        raise MSSVAEInputError(f"group key {group_key!r} is not a column of obs",
                               hint="available columns: " + (", ".join(map(str, adata.obs.columns)) or "(none)"))
    return adata.obs[group_key].reset_index(drop=True)  # a Series keeps a categorical's order


def resolve_groups(groups, n_samples: int, known: list[str] | None = None, levels=None,
                   min_size: int = 0, sample_names=None) -> tuple[np.ndarray, list[str]]:
    """Integer codes of the group labels and the groups in block order: the one place labels
    are checked, for fits, ``transform``, rankings and the R door.

    Parameters
    ----------
    groups
        One label per sample (a sequence, Series or Categorical; missing labels are an error).
    n_samples
        The number of samples the labels must match.
    known
        The groups of a fitted model, in its order (``transform``): other labels are an error.
    levels
        The order of the groups for a new fit (R factor levels); default: a categorical's
        categories, else sorted labels. Levels without samples are dropped.
    min_size
        The least number of samples per group (a fit needs 2).
    sample_names
        Names of the samples, for the error that locates a missing label.
    """
    groups = groups if isinstance(groups, pd.Series) else pd.Series(groups, dtype=object if levels is not None else None)
    if len(groups) != n_samples:
        raise MSSVAEInputError(f"got {len(groups)} group labels for {n_samples} samples", hint="give one label per sample")
    if groups.isna().any():
        first = int(np.flatnonzero(groups.isna().to_numpy())[0])
        raise MSSVAEInputError(f"{int(groups.isna().sum())} samples have no group label",
                               where=dict(sample=None if sample_names is None else str(sample_names[first]), row=first),
                               hint="drop them or give them a group")
    labels = groups.astype(str)
    present = set(labels)
    if known is not None:
        order = list(known)
        unknown = sorted(present - set(order))
        if unknown:
            raise MSSVAEInputError(f"groups {unknown} were not seen in training", hint=f"the model knows: {order}")
    else:
        if levels is not None:
            order = [str(g) for g in levels]
        elif isinstance(groups.dtype, pd.CategoricalDtype):
            order = list(groups.cat.categories.astype(str))
        else:
            order = sorted(present)
        missing = sorted(present - set(order))
        if missing:
            raise MSSVAEInputError(f"group labels {missing} are not among the group levels {order}")
        order = [g for g in order if g in present]
        if "shared" in order:
            raise MSSVAEInputError("a group is named 'shared', the name of the shared block of factors (shared_1, ...)",
                                   hint="rename that group")
    codes = pd.Categorical(labels, categories=order).codes.astype(np.int64)
    sizes = np.bincount(codes, minlength=len(order))
    small = [f"{order[m]!r} ({n})" for m, n in enumerate(sizes) if n < min_size]
    if small:
        raise MSSVAEInputError(f"every group needs at least {min_size} samples; too small: " + ", ".join(small),
                               hint="merge or drop these groups")
    return codes, order


def first_bad(X, bad_fn) -> tuple[int, int, int, float]:
    """The number of entries where ``bad_fn(values)`` holds, and the row, column and value of the
    first (row-major); sparse matrices are searched in their stored entries only, matrices on
    disk one block of rows at a time."""
    return first_bads(X, (bad_fn,))[0]


def first_bads(X, bad_fns) -> list[tuple[int, int, int, float]]:
    """:func:`first_bad` of each of ``bad_fns``, in one pass over the data (a matrix on disk is
    read once, however many tests)."""
    if on_disk(X):
        found = [[0, -1, -1, 0.0] for _ in bad_fns]
        for start, block in row_blocks(X):
            for acc, (n, i, j, v) in zip(found, first_bads(block, bad_fns)):
                if n and not acc[0]:
                    acc[1:] = [start + i, j, v]
                acc[0] += n
        return [tuple(acc) for acc in found]
    if sp.issparse(X):
        C = X.tocsr() if X.format != "csr" else X
        if not C.has_sorted_indices:
            C = C.sorted_indices()
        out = []
        for bad_fn in bad_fns:
            bad = bad_fn(C.data)
            n_bad = int(np.count_nonzero(bad))
            if n_bad == 0:
                out.append((0, -1, -1, 0.0))
                continue
            k = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(C.indptr, k, side="right") - 1)
            out.append((n_bad, row, int(C.indices[k]), float(C.data[k])))
        return out
    A = np.asarray(X)
    out = []
    for bad_fn in bad_fns:
        bad = bad_fn(A)
        n_bad = int(np.count_nonzero(bad))
        if n_bad == 0:
            out.append((0, -1, -1, 0.0))
            continue
        row, col = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), A.shape)
        out.append((n_bad, int(row), int(col), float(A[row, col])))
    return out


def location(i: int, j: int, obs_names, var_names) -> dict:
    """The ``where`` fields of entry (i, j): sample and feature names and their positions."""
    return dict(sample=str(obs_names[i]), row=int(i), feature=str(var_names[j]), column=int(j))


def check_values(X, likelihood: str, obs_names, var_names) -> None:
    """Refuse NaN/inf anywhere, and negative or non-integer values for the NB model; one pass
    over the data."""
    tests = [lambda v: ~np.isfinite(v)]
    if likelihood == "nb":
        tests += [lambda v: v < 0, lambda v: v != np.round(v)]
    found = first_bads(X, tests)
    n_bad, i, j, _ = found[0]
    if n_bad:
        raise MSSVAEInputError(f"the data hold {n_bad} NaN or infinite values", where=location(i, j, obs_names, var_names),
                               hint="remove or impute them before fitting")
    for name, (n_bad, i, j, _) in zip(("negative", "non-integer"), found[1:]):
        if n_bad:
            raise MSSVAEInputError(
                f"the negative binomial model needs counts, but the data hold {n_bad} {name} values",
                where=location(i, j, obs_names, var_names),
                hint="pass the raw counts (layer=...) or use likelihood='gaussian'", args_named=("layer", "likelihood"))


def select_columns(X, mask: np.ndarray):
    """The columns of ``mask`` (a boolean mask) of a dense, CSR or on-disk matrix."""
    if np.all(mask):
        return X
    return X.with_columns(mask) if on_disk(X) else X[:, mask]


BLOCK_ROWS = 2048  # rows per block of every pass over the data


def row_blocks(X, rows: int | None = None):
    """``(start, block)`` over blocks of rows of a dense or CSR matrix, each block dense float64.

    Every start statistic is computed from these blocks, so a sparse matrix and its dense copy
    give bit-identical starts (and fits), in float64, with memory bounded by one block.
    """
    rows = rows or BLOCK_ROWS
    for start in range(0, X.shape[0], rows):
        block = X[start:start + rows]
        yield start, (block.toarray() if sp.issparse(block) else np.asarray(block)).astype(np.float64)


def column_moments(X, transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and (population) variance in float64, two passes over row blocks;
    ``transform``: a function applied to each dense float64 block first (row-wise only)."""
    n = X.shape[0]
    transform = transform or (lambda b: b)
    mean = sum(transform(b).sum(0) for _, b in row_blocks(X)) / n
    var = sum(((transform(b) - mean) ** 2).sum(0) for _, b in row_blocks(X)) / n
    return mean, var


def library_sizes(X) -> np.ndarray:
    """Per-sample totals (Σ_j x_ij) in float64."""
    return np.concatenate([b.sum(1) for _, b in row_blocks(X)]) if X.shape[0] else np.zeros(0)


def is_anndata(data) -> bool:
    return hasattr(data, "obs") and hasattr(data, "var") and hasattr(data, "layers")


def unpack(data, group_key, layer, groups):
    """(matrix, group labels, sample names, feature names) from an AnnData or a matrix."""
    if is_anndata(data):
        X = get_matrix(data, layer)
        labels = get_groups(data, group_key) if groups is None else groups
        return X, labels, data.obs_names, data.var_names
    if groups is None:
        raise MSSVAEInputError("a matrix needs groups=: one group label per row (sample)")
    X = get_matrix(_Matrix(data), None)
    n, g = X.shape
    return X, groups, [f"sample_{i + 1}" for i in range(n)], [f"feature_{j + 1}" for j in range(g)]


class _Matrix:
    """A bare matrix with the attributes :func:`get_matrix` reads."""

    def __init__(self, X):
        self.X, self.layers = X, {}
