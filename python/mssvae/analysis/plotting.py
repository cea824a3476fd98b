"""Figures from a fitted AnnData (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import contract as C
from ..io.results import factor_names, fit_threshold, loadings


def plot_loadings(adata, path: str | Path, threshold: float | None = None, max_features: int = 60):
    """Heatmap of the active factors' W, shared and each group side by side (as paper Fig. 2c).

    Active: some |W| > ``threshold`` (None: each factor's gene-set threshold, :func:`mssvae.io.results.fit_threshold`).

    Shows the features with the largest |W| in any active factor; saves a PNG at ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    W = loadings(adata)
    threshold = fit_threshold(adata, threshold)
    blocks = factor_names(adata)
    active = {b: [c for c in cols if (W[c].abs() > threshold[c]).any()] for b, cols in blocks.items()}
    active = {b: cols for b, cols in active.items() if cols}
    if not active:
        raise ValueError("no factor has |W| above its gene-set threshold; pass a lower threshold= to plot")
    cols = sum(active.values(), [])
    top = W[cols].abs().max(1).sort_values(ascending=False).index[:max_features]
    sub = W.loc[top, cols]
    order = np.lexsort((-sub.abs().max(1).to_numpy(), sub.abs().to_numpy().argmax(1)))
    sub = sub.iloc[order]
    widths = [len(c) for c in active.values()]
    fig, axes = plt.subplots(1, len(active), figsize=(2 + 0.35 * len(cols) + len(active), 2 + 0.14 * len(sub)),
                             gridspec_kw={"width_ratios": widths}, sharey=True, squeeze=False)
    vmax = float(np.abs(sub.to_numpy()).max())
    for ax, (block, bcols) in zip(axes[0], active.items()):
        im = ax.imshow(sub[bcols].to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(block, fontsize=9)
        ax.set_xticks(range(len(bcols)), [c.rsplit("_", 1)[1] for c in bcols], fontsize=7)
    axes[0][0].set_yticks(range(len(sub)), sub.index, fontsize=6)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.6, label="W")
    fig.suptitle("MSSVAE loadings of active factors (shared | group-specific)", fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def plot_stability(adata, path: str | Path, active_only: bool = True):
    """Heatmap of each factor's match in every start of a fit with several (``starts=``).

    Rows are the kept start's factors (``active_only``: those with a gene set), grouped by block
    and labelled with their stability; columns are the starts, by seed. A cell is the Jaccard
    index of the factor's gene set with its match in that start (0: none), so a robust program is
    a full row and a seed-dependent one a row that is mostly empty. Saves a PNG at ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    uns = adata.uns.get(C.UNS, {})
    record, starts = uns.get(C.STABILITY), uns.get(C.STARTS)
    if record is None or starts is None or "jaccard" not in record:
        raise ValueError("no per-start matches in this fit: plot_stability needs a fit with starts >= 2")
    names = sum(factor_names(adata).values(), [])
    blocks = [b for b, cols in factor_names(adata).items() for _ in cols]
    seeds = [int(s) for s in np.atleast_1d(starts["seed"])]
    jac = np.asarray(record["jaccard"], dtype=float).reshape(len(names), len(seeds))
    stability = np.asarray(record["stability"], dtype=float).ravel()
    keep = jac[:, seeds.index(int(starts["chosen"]))] > 0 if active_only else np.ones(len(names), dtype=bool)
    if not keep.any():
        raise ValueError("the kept start has no factor with a gene set; pass active_only=False to plot every factor")
    rows = np.flatnonzero(keep)
    fig, ax = plt.subplots(figsize=(2.5 + 0.5 * len(seeds), 1 + 0.22 * len(rows)))
    im = ax.imshow(jac[rows], aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(seeds)), [f"{s}{' (kept)' if s == int(starts['chosen']) else ''}" for s in seeds],
                  fontsize=7, rotation=90)
    ax.set_xlabel("start (seed)", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{names[r]}  {stability[r]:.2f}" for r in rows], fontsize=7)
    for i in range(1, len(rows)):  # a line between blocks
        if blocks[rows[i]] != blocks[rows[i - 1]]:
            ax.axhline(i - 0.5, color="white", lw=2)
    fig.colorbar(im, ax=ax, shrink=0.6, label="Jaccard of the match")
    ax.set_title("Factors across starts (label: stability)", fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
