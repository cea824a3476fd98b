"""Preprocessing of count data as in Moran & Krishnan, Appendix C.4.

The paper prepares the platelet RNA-seq data in four steps (App. C.4):

1. remove samples whose total count is below :math:`e^{12.5}`
   (:func:`filter_samples`);
2. keep genes with at least 25 counts over all samples, and
3. keep genes with counts-per-million above 1 in at least 20% of the samples
   (both in :func:`filter_genes`);
4. keep the 5000 genes with the largest variance of analytic Pearson residuals
   of a negative-binomial offset model (Lause, Berens & Kobak 2021,
   :func:`highly_variable_pearson`), which the paper computed with scanpy.

:func:`prepare` runs the four steps in order.  Every function takes an
:class:`~anndata.AnnData` with raw counts in ``.X`` or in a named ``layer``
(dense or scipy sparse), never modifies it, and returns a filtered copy (or,
with ``return_mask=True``, the boolean mask of what it keeps).  The copy
records what each step removed in ``.uns["mssvae_prepare"]``.

The defaults are the paper's, chosen for bulk RNA-seq.  Droplet single-cell
data have a few thousand counts per cell, so ``min_total`` must be lowered for
them (the cells of the shipped PBMC demo have 342 to 1,654 counts over its
765 genes).

References
----------
Moran, G. & Krishnan, A. (2026). Nonlinear multi-study factor analysis.
Appendix C.4 (platelet data processing).

Lause, J., Berens, P. & Kobak, D. (2021). Analytic Pearson residuals for
normalization of single-cell RNA-seq UMI data. Genome Biology 22, 258.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

# the package's input error (a ValueError): callers can catch either
from .data import MSSVAEInputError

__all__ = [
    "filter_samples",
    "filter_genes",
    "highly_variable_pearson",
    "pearson_residual_variances",
    "prepare",
    "format_report",
    "REPORT_KEY",
    "DEFAULT_MIN_TOTAL",
]

REPORT_KEY = "mssvae_prepare"
DEFAULT_MIN_TOTAL = float(np.exp(12.5))  # App. C.4: about 268,337 transcripts
# Elements of the dense block that the Pearson-residual step materialises at a
# time (float64: 2**21 elements = 16 MiB per temporary).
_CHUNK_ELEMENTS = 2**21


# --------------------------------------------------------------------------- helpers


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
                f"{step}: no layer {layer!r} in the data; available layers: "
                f"{layers if layers else 'none'} (use layer=None for .X)"
            )
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
        + f"; it looks normalised or log-transformed: {hint}"
    )


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


# --------------------------------------------------------------------------- step 1


def _samples_mask(X, min_total: float, step: str = "filter_samples") -> tuple[np.ndarray, np.ndarray]:
    totals = _sums(X, axis=1)
    keep = totals >= min_total
    if not keep.any():
        raise MSSVAEInputError(
            f"{step}: min_total={_fmt(min_total)} would remove all {_fmt(keep.size)} samples "
            f"(the largest sample total is {_fmt(totals.max())}); lower min_total below that "
            f"(the default e^12.5 suits bulk RNA-seq, not single-cell data)"
        )
    return keep, totals


def filter_samples(
    adata: AnnData,
    min_total: float = DEFAULT_MIN_TOTAL,
    layer: str | None = None,
    *,
    return_mask: bool = False,
) -> AnnData | np.ndarray:
    """Remove samples whose total count is below ``min_total`` (App. C.4, step 1).

    Parameters
    ----------
    adata
        Samples (cells) x genes, raw counts in ``.X`` or ``.layers[layer]``.
    min_total
        Keep samples with ``total >= min_total``.  The paper's value is
        :math:`e^{12.5} \\approx 268{,}337` transcripts, set for bulk platelet
        RNA-seq; single-cell data need a far smaller value.
    layer
        Layer holding the counts; ``None`` for ``.X``.
    return_mask
        Return the boolean mask of kept samples instead of a filtered copy.

    Returns
    -------
    AnnData or numpy.ndarray
        A filtered copy, with the step recorded in ``.uns["mssvae_prepare"]``
        (numbers removed and kept, names removed, parameters), or the mask.

    Raises
    ------
    MSSVAEInputError (a ValueError)
        If the layer does not exist, the values are not raw counts, or every
        sample would be removed.
    """
    step = "filter_samples"
    X = _get_matrix(adata, layer, step)
    _check_counts(X, adata, layer, step)
    keep, _ = _samples_mask(X, float(min_total), step)
    if return_mask:
        return keep
    out = adata[keep].copy()
    _record(
        out,
        step,
        _entry(
            "obs",
            keep,
            adata.obs_names,
            {"min_total": float(min_total), "layer": _layer_name(layer)},
            f"total count >= {_fmt(min_total)}",
        ),
    )
    return out


# --------------------------------------------------------------------------- steps 2 and 3


def _n_required(min_frac: float, n_obs: int) -> int:
    # "at least 20% of samples": the smallest integer >= min_frac * n.  The
    # 1e-9 guards against 0.2 * 15 = 3.0000000000000004 asking for 4 samples.
    return int(math.ceil(min_frac * n_obs - 1e-9))


def _cpm_counts(X, lib: np.ndarray, min_cpm: float) -> np.ndarray:
    """Per gene, the number of samples with ``1e6 * x / lib > min_cpm``."""
    n, g = X.shape
    if sp.issparse(X):
        # zeros never pass (0 > min_cpm is false for min_cpm >= 0), so only
        # stored entries matter
        C = X.tocsr() if X.format != "csr" else X
        rows = np.repeat(np.arange(n), np.diff(C.indptr))
        with np.errstate(divide="ignore", invalid="ignore"):
            cpm = 1e6 * C.data.astype(np.float64) / lib[rows]
        hit = cpm > min_cpm  # NaN (zero library) compares False
        return np.bincount(C.indices[hit], minlength=g)
    A = np.asarray(X)
    counts = np.zeros(g, dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // max(g, 1))
    for start in range(0, n, step):  # rows in chunks to bound the float64 temporary
        block = A[start : start + step].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            cpm = 1e6 * block / lib[start : start + step, None]
        counts += np.count_nonzero(cpm > min_cpm, axis=0)
    return counts


def _genes_masks(X, min_counts: float, min_cpm: float, min_frac: float, step: str = "filter_genes"):
    if min_cpm < 0:
        raise MSSVAEInputError(f"{step}: min_cpm must be >= 0, got {min_cpm}")
    if not 0 <= min_frac <= 1:
        raise MSSVAEInputError(f"{step}: min_frac must be between 0 and 1, got {min_frac}")
    n, g = X.shape
    gene_totals = _sums(X, axis=0)
    keep_counts = gene_totals >= min_counts
    if not keep_counts.any():
        raise MSSVAEInputError(
            f"{step}: min_counts={_fmt(min_counts)} would remove all {_fmt(g)} genes "
            f"(the largest gene total is {_fmt(gene_totals.max())}); lower min_counts"
        )
    # CPM relative to each sample's total over all genes of the input, i.e. its
    # sequencing depth; with fixed library sizes both criteria are per gene, so
    # applying them one after the other equals applying them together.
    lib = _sums(X, axis=1)
    n_pass = _cpm_counts(X, lib, min_cpm)
    need = _n_required(min_frac, n)
    keep_cpm = n_pass >= need
    keep = keep_counts & keep_cpm
    if not keep.any():
        best = n_pass[keep_counts].max()
        raise MSSVAEInputError(
            f"{step}: the CPM filter (CPM > {_fmt(min_cpm)} in at least {_fmt(100 * min_frac)}% of "
            f"samples, i.e. {_fmt(need)} of {_fmt(n)}) would remove all {_fmt(keep_counts.sum())} genes "
            f"left after min_counts (the best gene passes in {_fmt(best)} samples); lower min_frac or min_cpm"
        )
    return keep_counts, keep, need


def filter_genes(
    adata: AnnData,
    min_counts: float = 25,
    min_cpm: float = 1.0,
    min_frac: float = 0.2,
    layer: str | None = None,
    *,
    return_mask: bool = False,
) -> AnnData | np.ndarray:
    """Keep well-measured genes (App. C.4, steps 2 and 3).

    Step 2 keeps genes with at least ``min_counts`` counts over all samples.
    Step 3 keeps genes whose counts-per-million exceed ``min_cpm`` in at least
    a fraction ``min_frac`` of the samples, i.e. in at least
    ``ceil(min_frac * n_obs)`` samples.  The CPM of gene :math:`g` in sample
    :math:`i` is :math:`10^6 x_{ig} / L_i`, with :math:`L_i` the sample's total
    over all genes of the input (its sequencing depth).

    Parameters
    ----------
    adata
        Samples x genes, raw counts in ``.X`` or ``.layers[layer]``.
    min_counts
        Keep genes with ``total >= min_counts`` (paper: 25).
    min_cpm
        CPM threshold, strict: ``CPM > min_cpm`` (paper: 1); must be >= 0.
    min_frac
        Fraction of samples that must pass the CPM threshold (paper: 0.2).
    layer
        Layer holding the counts; ``None`` for ``.X``.
    return_mask
        Return the boolean mask of kept genes instead of a filtered copy.

    Returns
    -------
    AnnData or numpy.ndarray
        A filtered copy, with both steps recorded in ``.uns["mssvae_prepare"]``
        (as ``filter_genes_min_counts`` and ``filter_genes_min_cpm``), or the mask.

    Raises
    ------
    MSSVAEInputError (a ValueError)
        If the layer does not exist, the values are not raw counts, a
        parameter is out of range, or a step would remove every gene.
    """
    step = "filter_genes"
    X = _get_matrix(adata, layer, step)
    _check_counts(X, adata, layer, step)
    keep_counts, keep, need = _genes_masks(X, float(min_counts), float(min_cpm), float(min_frac), step)
    if return_mask:
        return keep
    out = adata[:, keep].copy()
    _record_genes(out, adata, keep_counts, keep, need, min_counts, min_cpm, min_frac, layer)
    return out


def _record_genes(out, adata, keep_counts, keep, need, min_counts, min_cpm, min_frac, layer) -> None:
    name = _layer_name(layer)
    _record(
        out,
        "filter_genes_min_counts",
        _entry(
            "var",
            keep_counts,
            adata.var_names,
            {"min_counts": float(min_counts), "layer": name},
            f"total count >= {_fmt(min_counts)}",
        ),
    )
    # the CPM step is reported relative to the genes left by the first one
    entry = _entry(
        "var",
        keep[keep_counts],
        adata.var_names[keep_counts],
        {"min_cpm": float(min_cpm), "min_frac": float(min_frac), "min_samples": int(need), "layer": name},
        f"CPM > {_fmt(min_cpm)} in >= {_fmt(need)} samples ({_fmt(100 * min_frac)}%)",
    )
    _record(out, "filter_genes_min_cpm", entry)


# --------------------------------------------------------------------------- step 4


def pearson_residual_variances(
    X, theta: float = 100.0, clip: float | None = None, chunk_size: int | None = None
) -> np.ndarray:
    """Variance over samples of the clipped analytic Pearson residuals, per gene.

    For counts :math:`x_{ig}` with sample totals :math:`n_i`, gene totals
    :math:`n_g` and grand total :math:`n`, the NB offset model has mean
    :math:`\\mu_{ig} = n_i n_g / n` and the residuals are

    .. math:: r_{ig} = \\frac{x_{ig} - \\mu_{ig}}{\\sqrt{\\mu_{ig} + \\mu_{ig}^2/\\theta}},

    clipped to :math:`[-c, c]` with :math:`c = \\sqrt{N}` by default (Lause et
    al. 2021).  The result is the population variance (``ddof=0``) of
    :math:`r_{\\cdot g}`.  Genes with no counts get 0, as in scanpy.

    Parameters
    ----------
    X
        Samples x genes counts, dense or scipy sparse.  Sparse input is read
        column block by column block; at most ``N x chunk_size`` values are
        dense at a time.
    theta
        NB overdispersion shared by all genes, > 0 (scanpy and Lause et al.: 100).
    clip
        Clip residuals to ``[-clip, clip]``; ``None`` for ``sqrt(N)``.
    chunk_size
        Genes per block; ``None`` picks blocks of about 2 million values.

    Returns
    -------
    numpy.ndarray
        float64, one value per gene.
    """
    n, g = X.shape
    if theta <= 0:
        raise MSSVAEInputError(f"highly_variable_pearson: theta must be > 0, got {theta}")
    if clip is None:
        clip = math.sqrt(n)
    if clip < 0:
        raise MSSVAEInputError(f"highly_variable_pearson: clip must be >= 0 or None, got {clip}")
    sums_genes = _sums(X, axis=0)
    sums_cells = _sums(X, axis=1)
    total = sums_genes.sum()
    if np.any(sums_cells == 0):
        # mu = 0 there: the residual is 0/0, and scanpy returns NaN for every gene
        raise MSSVAEInputError(
            f"highly_variable_pearson: {_fmt(np.sum(sums_cells == 0))} samples have no counts, "
            "for which the NB offset model is undefined; remove them first with filter_samples (in prepare: "
            "their counts all lie in genes the gene filters removed, so raise min_total)"
        )
    # scanpy sums float32 counts into float32 totals and multiplies them in
    # float32 before dividing by the (float64) grand total.  Below 2**24 the
    # totals are exact either way, but the product rounds; doing the same keeps
    # residual variances equal to scanpy's to ~1e-15 (the order of summation
    # differs) rather than ~1e-9, so the ranking matches even for near-ties.
    # Above 2**24 (e.g. bulk data) scanpy's float32 totals themselves round; we
    # keep the exact float64 totals, and the two can then differ by ~1e-7.
    prec = np.float32 if np.issubdtype(X.dtype, np.floating) and X.dtype.itemsize <= 4 else np.float64
    sums_cells_p = sums_cells.astype(prec)
    sums_genes_p = sums_genes.astype(prec)
    out = np.zeros(g, dtype=np.float64)
    # scanpy drops all-zero genes before computing and reports 0 for them
    genes = np.flatnonzero(sums_genes != 0)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // max(n, 1))
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise MSSVAEInputError(f"highly_variable_pearson: chunk_size must be >= 1, got {chunk_size}")
    if sp.issparse(X):
        Xc = X.tocsc() if X.format != "csc" else X  # column slices of CSC are cheap
    else:
        Xc = np.asarray(X)
    for start in range(0, genes.size, chunk_size):
        idx = genes[start : start + chunk_size]
        # genes x samples, C-contiguous: each gene's residuals are one contiguous
        # row, so numpy sums every gene the same way whatever the block width,
        # and the result does not depend on chunk_size
        block = Xc[:, idx].T
        block = block.toarray() if sp.issparse(block) else np.ascontiguousarray(block)
        block = block.astype(np.float64, copy=False)
        # same operations as scanpy's kernel: (n_g * n_i) / n, with the product
        # in the precision of the totals (float32 for float32 counts)
        mu = np.outer(sums_genes_p[idx], sums_cells_p).astype(np.float64)
        mu /= total
        # r = (x - mu) / sqrt(mu + mu * mu / theta), in place to spare temporaries
        # (block is a fresh copy: fancy indexing and toarray copy)
        den = mu * mu
        den /= theta
        den += mu
        np.sqrt(den, out=den)
        block -= mu
        block /= den
        np.clip(block, -clip, clip, out=block)
        out[idx] = block.var(axis=1)  # population variance, as scanpy (sum of squares / N)
    return out


def _hvg_mask(X, n_top: int, theta: float, clip: float | None, chunk_size: int | None):
    if isinstance(n_top, bool) or int(n_top) != n_top or n_top < 1:
        raise MSSVAEInputError(f"highly_variable_pearson: n_top must be a positive integer, got {n_top}")
    n_top = int(n_top)
    n = X.shape[0]
    clip_used = math.sqrt(n) if clip is None else float(clip)
    var = pearson_residual_variances(X, theta=float(theta), clip=clip_used, chunk_size=chunk_size)
    # rank 0 = largest residual variance.  A stable sort breaks exact ties by
    # gene order; scanpy's default (unstable) argsort may order exact ties
    # differently, which only matters for ties at the n_top boundary.
    order = np.argsort(-var, kind="stable")
    rank = np.empty(var.size, dtype=np.int64)
    rank[order] = np.arange(var.size)
    keep = rank < n_top
    return keep, var, rank, clip_used


def highly_variable_pearson(
    adata: AnnData,
    n_top: int = 5000,
    theta: float = 100,
    clip: float | None = None,
    layer: str | None = None,
    *,
    chunk_size: int | None = None,
    return_mask: bool = False,
) -> AnnData | np.ndarray:
    """Keep the ``n_top`` genes with the largest Pearson-residual variance (App. C.4, step 4).

    Computes analytic Pearson residuals of the negative-binomial offset model
    of Lause et al. (2021), clipped at ``sqrt(N)``, and ranks genes by their
    residual variance, as ``scanpy.experimental.pp.highly_variable_genes(
    flavor="pearson_residuals", batch_key=None)`` does (the paper used
    scanpy): one batch of all samples, ``theta=100``, all-zero genes scored 0,
    population variance.  Works on sparse input without densifying it (genes
    are processed in blocks).

    Parameters
    ----------
    adata
        Samples x genes, raw counts in ``.X`` or ``.layers[layer]``.
    n_top
        Number of genes to keep (paper: 5000).  If the data have fewer genes,
        all are kept.
    theta
        NB overdispersion, > 0.
    clip
        Residual clipping threshold; ``None`` for ``sqrt(n_obs)``.
    layer
        Layer holding the counts; ``None`` for ``.X``.
    chunk_size
        Genes per dense block (memory ``n_obs x chunk_size`` float64 values);
        ``None`` for blocks of about 2 million values.
    return_mask
        Return the boolean mask of kept genes instead of a filtered copy.

    Returns
    -------
    AnnData or numpy.ndarray
        A copy with the selected genes in their original order, with
        ``.var["pearson_residual_variance"]`` and ``.var["pearson_residual_rank"]``
        (0 = most variable) and the step recorded in ``.uns["mssvae_prepare"]``;
        or the mask.

    Raises
    ------
    MSSVAEInputError (a ValueError)
        If the layer does not exist, the values are not raw counts, a
        parameter is out of range, or a sample has no counts.
    """
    step = "highly_variable_pearson"
    X = _get_matrix(adata, layer, step)
    _check_counts(X, adata, layer, step)
    keep, var, rank, clip_used = _hvg_mask(X, n_top, theta, clip, chunk_size)
    if return_mask:
        return keep
    return _subset_hvg(adata, keep, var, rank, n_top, theta, clip_used, layer)


def _subset_hvg(adata, keep, var, rank, n_top, theta, clip_used, layer) -> AnnData:
    out = adata[:, keep].copy()
    out.var["pearson_residual_variance"] = var[keep]
    out.var["pearson_residual_rank"] = rank[keep]
    _record(
        out,
        "highly_variable_pearson",
        _entry(
            "var",
            keep,
            adata.var_names,
            {"n_top": int(n_top), "theta": float(theta), "clip": float(clip_used), "layer": _layer_name(layer)},
            f"top {_fmt(n_top)} Pearson-residual variance (theta={_fmt(theta)}, clip={clip_used:.4g})",
        ),
    )
    return out


# --------------------------------------------------------------------------- all four


def prepare(
    adata: AnnData,
    layer: str | None = None,
    min_total: float = DEFAULT_MIN_TOTAL,
    min_counts: float = 25,
    min_cpm: float = 1.0,
    min_frac: float = 0.2,
    n_top: int = 5000,
    theta: float = 100,
    clip: float | None = None,
    *,
    chunk_size: int | None = None,
    verbose: bool = False,
) -> AnnData:
    """Run the preprocessing of App. C.4: sample filter, two gene filters, Pearson-residual HVGs.

    Equivalent to :func:`filter_samples`, then :func:`filter_genes`, then
    :func:`highly_variable_pearson`, each on the output of the previous one.

    Parameters
    ----------
    adata
        Samples x genes, raw counts in ``.X`` or ``.layers[layer]``; not modified.
    layer
        Layer holding the counts; ``None`` for ``.X``.  Other layers, ``.obs``
        and ``.obsm`` are carried along and subset.
    min_total, min_counts, min_cpm, min_frac, n_top, theta, clip
        See :func:`filter_samples`, :func:`filter_genes` and
        :func:`highly_variable_pearson`.  Defaults are the paper's.
    chunk_size
        Genes per dense block in the Pearson-residual step.
    verbose
        Print the report (see :func:`format_report`).

    Returns
    -------
    AnnData
        The filtered copy.  ``.uns["mssvae_prepare"]`` holds the report:
        ``steps`` (names in order), one entry per step (``rule``, ``axis``,
        ``n_before``, ``n_removed``, ``n_kept``, ``removed`` names and
        ``params``), and ``input_shape``/``output_shape``.

    Raises
    ------
    MSSVAEInputError (a ValueError)
        If the layer does not exist, the values are not raw counts, a
        parameter is out of range, or a step would remove every sample or
        gene (the message names the step and the parameter to relax).
    """
    X = _get_matrix(adata, layer, "prepare")
    _check_counts(X, adata, layer, "prepare")  # once: later steps see subsets of the same values

    keep_s, _ = _samples_mask(X, float(min_total))
    a1 = adata[keep_s].copy()
    a1.uns.pop(REPORT_KEY, None)  # a new run starts a new report
    _record(
        a1,
        "filter_samples",
        _entry(
            "obs",
            keep_s,
            adata.obs_names,
            {"min_total": float(min_total), "layer": _layer_name(layer)},
            f"total count >= {_fmt(min_total)}",
        ),
    )

    X1 = _get_matrix(a1, layer, "prepare")
    keep_counts, keep_g, need = _genes_masks(X1, float(min_counts), float(min_cpm), float(min_frac))
    a2 = a1[:, keep_g].copy()
    _record_genes(a2, a1, keep_counts, keep_g, need, min_counts, min_cpm, min_frac, layer)

    X2 = _get_matrix(a2, layer, "prepare")
    keep_h, var, rank, clip_used = _hvg_mask(X2, n_top, theta, clip, chunk_size)
    out = _subset_hvg(a2, keep_h, var, rank, n_top, theta, clip_used, layer)

    report = dict(out.uns[REPORT_KEY])
    report["input_shape"] = np.array(adata.shape, dtype=np.int64)
    report["output_shape"] = np.array(out.shape, dtype=np.int64)
    report["reference"] = "Moran & Krishnan, App. C.4; Lause, Berens & Kobak (2021), Genome Biol. 22:258"
    out.uns[REPORT_KEY] = report
    if verbose:
        print(format_report(report))
    return out


def format_report(report: dict[str, Any] | AnnData) -> str:
    """Render ``.uns["mssvae_prepare"]`` (or an AnnData holding it) as text, one line per step."""
    if isinstance(report, AnnData):
        report = report.uns[REPORT_KEY]
    lines = []
    if "input_shape" in report:
        n, g = (int(v) for v in report["input_shape"])
        lines.append(f"mssvae prepare (App. C.4): {n:,} samples x {g:,} genes in")
    steps = [str(k) for k in np.atleast_1d(report["steps"])]
    w_key = max(len(k) for k in steps)
    w_rule = max(len(str(report[k]["rule"])) for k in steps)
    for i, key in enumerate(steps, 1):
        e = report[key]
        what = "samples" if e["axis"] == "obs" else "genes"
        lines.append(
            f"  {i}. {key:<{w_key}}  {str(e['rule']):<{w_rule}}  removed {int(e['n_removed']):>6,} {what}, "
            f"kept {int(e['n_kept']):,}"
        )
        if str(key).startswith("highly_variable_pearson") and int(e["n_before"]) <= int(e["params"]["n_top"]):
            lines.append(f"     (only {int(e['n_before']):,} genes were left, so n_top kept them all)")
    if "output_shape" in report:
        n, g = (int(v) for v in report["output_shape"])
        lines.append(f"  out: {n:,} samples x {g:,} genes")
    return "\n".join(lines)
