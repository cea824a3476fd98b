"""What every preprocessing step of :mod:`mssvae.pp` shares: reading and checking the count
matrix, and recording in ``.uns`` what a step removed."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from ..errors import MSSVAEInputError

REPORT_KEY = "mssvae_prepare"
# Elements of the dense block that a step materialises at a time (float64: 2**21 elements =
# 16 MiB per temporary).
_CHUNK_ELEMENTS = 2**21


def _fmt(x: float) -> str:
    """A number for messages: integers without decimals, others with 6 significant digits."""
    x = float(x)
    return f"{int(x):,}" if x == int(x) and abs(x) < 1e15 else f"{x:,.6g}"


def _layer_name(layer: str | None) -> str:
    return "X" if layer is None else str(layer)


def _where(layer: str | None) -> str:
    return ".X" if layer is None else f".layers[{layer!r}]"


def _get_matrix(adata: AnnData, layer: str | None, step: str):
    """The count matrix of ``adata`` (``.X`` or ``.layers[layer]``), with a clear error if absent."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"{step}: expected an AnnData, got {type(adata).__name__}")
    if layer is None:
        X = adata.X
        if X is None:
            layers = list(adata.layers.keys())
            raise MSSVAEInputError(
                f"{step}: adata.X is empty; pass the layer that holds the raw counts "
                f"(available layers: {layers if layers else 'none'})"
            )
    else:
        if layer not in adata.layers:
            layers = list(adata.layers.keys())
            raise MSSVAEInputError(
                f"{step}: {layer!r} is not among the layers of the data",
                hint=f"available layers: {layers if layers else 'none'} (leave out layer for .X)", args_named=("layer",))
        X = adata.layers[layer]
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise MSSVAEInputError(f"{step}: the data are empty ({adata.n_obs} samples x {adata.n_vars} genes)")
    if isinstance(X, np.matrix) or not (sp.issparse(X) or isinstance(X, np.ndarray)):
        # e.g. np.matrix or array-likes; backed or dask arrays are not supported
        X = np.asarray(X)
    return X


def _first_bad(X, bad_fn) -> tuple[int, int, int, float]:
    """Count entries where ``bad_fn(values)`` holds and locate the first (row-major)."""
    if sp.issparse(X):
        C = X.tocsr() if X.format != "csr" else X
        if not C.has_sorted_indices:
            C = C.sorted_indices()
        bad = bad_fn(C.data)
        n_bad = int(np.count_nonzero(bad))
        if n_bad == 0:
            return 0, -1, -1, 0.0
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(C.indptr, k, side="right") - 1)
        return n_bad, row, int(C.indices[k]), float(C.data[k])
    A = np.asarray(X)
    bad = bad_fn(A)
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return 0, -1, -1, 0.0
    row, col = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), A.shape)
    return n_bad, int(row), int(col), float(A[row, col])


def _check_counts(X, adata: AnnData, layer: str | None, step: str) -> None:
    """Raise a ValueError unless ``X`` holds non-negative integers (raw counts)."""
    dtype = X.dtype
    if dtype == bool:
        return
    problems = []
    if not np.issubdtype(dtype, np.unsignedinteger):
        n, i, j, v = _first_bad(X, lambda a: a < 0)
        if n:
            problems.append((n, "negative", i, j, v))
    if not np.issubdtype(dtype, np.integer):
        # NaN and inf are caught too: NaN != NaN and inf is not finite
        n, i, j, v = _first_bad(X, lambda a: ~np.isfinite(a) | (a != np.round(a)))
        if n:
            problems.append((n, "non-integer", i, j, v))
    if not problems:
        return
    parts = [
        f"{_fmt(n)} {kind} entries (first: sample {adata.obs_names[i]!r}, gene {adata.var_names[j]!r}, value {v:.6g})"
        for n, kind, i, j, v in problems
    ]
    layers = list(adata.layers.keys())
    hint = (
        f"pass the layer that holds them, e.g. layer={layers[0]!r} (available layers: {layers})"
        if layers
        else "this AnnData has no layers; load the raw (unnormalised) counts into .X"
    )
    raise MSSVAEInputError(
        f"{step} needs raw counts (non-negative integers) in {_where(layer)}, but it holds "
        + " and ".join(parts)
        + f"; it looks normalised or log-transformed: {hint}", args_named=("layer",))


def _sums(X, axis: int) -> np.ndarray:
    """Sums along ``axis`` in float64 (so that float32 or int16 counts cannot overflow or round)."""
    if sp.issparse(X):
        return np.asarray(X.sum(axis=axis, dtype=np.float64)).ravel()
    return np.asarray(X).sum(axis=axis, dtype=np.float64)


def _names(index, mask: np.ndarray) -> np.ndarray:
    return np.asarray(index[mask], dtype=object).astype(str).astype(object)


def _record(out: AnnData, step: str, entry: dict[str, Any]) -> None:
    """Append one step to ``out.uns[REPORT_KEY]`` (creating it), keeping the order of steps."""
    report = dict(out.uns.get(REPORT_KEY, {}))
    order = [str(s) for s in np.atleast_1d(report.get("steps", []))]
    key, i = step, 2
    while key in report:  # a step run twice keeps both entries
        key, i = f"{step}_{i}", i + 1
    report[key] = entry
    report["steps"] = np.array(order + [key], dtype=object)
    out.uns[REPORT_KEY] = report


def _entry(axis: str, keep: np.ndarray, index, params: dict[str, Any], rule: str) -> dict[str, Any]:
    removed = ~keep
    return {
        "axis": axis,
        "rule": rule,
        "n_before": int(keep.size),
        "n_removed": int(removed.sum()),
        "n_kept": int(keep.sum()),
        "removed": _names(index, removed),
        "params": params,
    }
