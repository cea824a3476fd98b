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
from ..errors import MSSVAEInputError
from .pearson import _hvg_mask, _subset_hvg, highly_variable_pearson, pearson_residual_variances
from .checks import (
    _CHUNK_ELEMENTS,
    REPORT_KEY,
    _check_counts,
    _entry,
    _fmt,
    _get_matrix,
    _layer_name,
    _record,
    _sums,
)

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

DEFAULT_MIN_TOTAL = float(np.exp(12.5))  # App. C.4: about 268,337 transcripts


# --------------------------------------------------------------------------- step 1


def _samples_mask(X, min_total: float, step: str = "filter_samples") -> tuple[np.ndarray, np.ndarray]:
    totals = _sums(X, axis=1)
    keep = totals >= min_total
    if not keep.any():
        raise MSSVAEInputError(
            f"{step}: min_total={_fmt(min_total)} would remove all {_fmt(keep.size)} samples "
            f"(the largest sample total is {_fmt(totals.max())}); lower min_total below that "
            f"(the default e^12.5 suits bulk RNA-seq, not single-cell data)", args_named=("min_total",))
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
        raise MSSVAEInputError(f"{step}: min_cpm must be >= 0, got {min_cpm}", args_named=("min_cpm",))
    if not 0 <= min_frac <= 1:
        raise MSSVAEInputError(f"{step}: min_frac must be between 0 and 1, got {min_frac}", args_named=("min_frac",))
    n, g = X.shape
    gene_totals = _sums(X, axis=0)
    keep_counts = gene_totals >= min_counts
    if not keep_counts.any():
        raise MSSVAEInputError(
            f"{step}: min_counts={_fmt(min_counts)} would remove all {_fmt(g)} genes "
            f"(the largest gene total is {_fmt(gene_totals.max())}); lower min_counts", args_named=("min_counts",))
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
            f"left after min_counts (the best gene passes in {_fmt(best)} samples); lower min_frac or min_cpm",
            args_named=("min_counts", "min_frac", "min_cpm"))
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
