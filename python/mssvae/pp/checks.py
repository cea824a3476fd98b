"""What every preprocessing step of :mod:`mssvae.pp` shares: reading and checking the count
matrix, and recording in ``.uns`` what a step removed."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from ..errors import MSSVAEInputError
from ..io.inputs import first_bad, layer_matrix, location

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
    X = layer_matrix(adata, layer, prefix=f"{step}: ")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise MSSVAEInputError(f"{step}: the data are empty ({adata.n_obs} samples x {adata.n_vars} genes)")
    if isinstance(X, np.matrix) or not (sp.issparse(X) or isinstance(X, np.ndarray)):
        # e.g. np.matrix or array-likes; backed or dask arrays are not supported
        X = np.asarray(X)
    return X


def _check_counts(X, adata: AnnData, layer: str | None, step: str) -> None:
    """Raise an input error unless ``X`` holds non-negative integers (raw counts)."""
    dtype = X.dtype
    if dtype == bool:
        return
    problems = []
    if not np.issubdtype(dtype, np.unsignedinteger):
        n, i, j, v = first_bad(X, lambda a: a < 0)
        if n:
            problems.append((n, "negative", i, j, v))
    if not np.issubdtype(dtype, np.integer):
        # NaN and inf are caught too: NaN != NaN and inf is not finite
        n, i, j, v = first_bad(X, lambda a: ~np.isfinite(a) | (a != np.round(a)))
        if n:
            problems.append((n, "non-integer", i, j, v))
    if not problems:
        return
    parts = [f"{_fmt(n)} {kind} entries (e.g. {v:.6g})" for n, kind, _, _, v in problems]
    _, _, i, j, _ = min(problems, key=lambda p: (p[2], p[3]))
    layers = list(adata.layers.keys())
    hint = (
        f"it looks normalised or log-transformed: pass the layer that holds the counts, e.g. layer={layers[0]!r} "
        f"(available layers: {layers})"
        if layers
        else "it looks normalised or log-transformed, and this AnnData has no layers: load the raw counts into .X"
    )
    raise MSSVAEInputError(f"{step} needs raw counts (non-negative integers) in {_where(layer)}, but it holds "
                           + " and ".join(parts), where=location(i, j, adata.obs_names, adata.var_names), hint=hint,
                           args_named=("layer",))


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
