"""Figures from a fitted AnnData (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
