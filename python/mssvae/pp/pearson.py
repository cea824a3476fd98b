"""Step 4 of App. C.4: the genes with the largest variance of analytic Pearson residuals of a
negative-binomial offset model (Lause, Berens & Kobak 2021), as the paper computed them with scanpy.
Public through :mod:`mssvae.pp`."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from ..errors import MSSVAEInputError
from .checks import _CHUNK_ELEMENTS, _check_counts, _entry, _fmt, _get_matrix, _layer_name, _record, _sums


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
            "their counts all lie in genes the gene filters removed, so raise min_total)", args_named=("min_total",))
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
        raise MSSVAEInputError(f"highly_variable_pearson: n_top must be a positive integer, got {n_top}",
                               args_named=("n_top",))
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
