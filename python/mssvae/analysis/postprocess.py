"""The post-processing the paper proposes for information switching (App. C.3, Fig. 6).

"One of the shared blocks has instead been estimated as part of each of the study-specific blocks.
This could be resolved through post-processing." A set of group-specific columns, one in every
group, with agreeing supports is Theorem 2's construction of a shared column (§3.2): the program
is present in every group, so it belongs to W^(S). :func:`fold_switched` moves such sets there.
"""

from __future__ import annotations

import numpy as np

from .. import contract as C
from .diagnostics import support_overlaps
from ..contract import DEFAULT_THRESHOLD
from ..io.results import factor_names, gene_set_threshold, loadings

FOLDED = "folded"


def _positions(adata) -> dict[str, tuple[str, int, int]]:
    """Group factor name → (group, column in W^(1..M), column in the own-group latents)."""
    specific = [(g, i, name) for g, cols in list(factor_names(adata).items())[1:] for i, name in enumerate(cols)]
    return {name: (g, col, i) for col, (g, i, name) in enumerate(specific)}


def fold_switched(adata, threshold: float = DEFAULT_THRESHOLD, min_jaccard: float = 0.5, groups=None) -> list[str]:
    """Move every shared program estimated once in each group's block into W^(S) (in place).

    The sets are :func:`mssvae.support_overlaps`'s ``"shared in every group"`` findings at
    ``threshold`` and ``min_jaccard``, taken best-first so that each column moves at most once.
    The new shared column of W is the mean of the set's columns, each signed to agree with the
    first group's (a factor flips sign with its latent); a sample's new shared latent is its own
    group's column of the set, signed the same way. The set's columns are zeroed in W^(1..M), in
    the group latents and in ``p_star``; K_m and the block layout are kept, so the folded columns
    read as inactive. η of the new column is the mean of the set's.

    Parameters
    ----------
    adata
        An AnnData holding MSSVAE results (README, "Results contract").
    threshold, min_jaccard
        Support cut-off on |W| and the least pairwise Jaccard index of a set.
    groups
        Per-sample group labels when they are not in ``obs[uns["mssvae"]["group_key"]]``; needed
        only when the latents are present.

    Returns
    -------
    list of str
        One line per fold (``"g1_4 + g2_9 -> shared_21"``), also appended to
        ``adata.uns["mssvae"]["folded"]``.
    """
    uns = adata.uns[C.UNS]
    found = support_overlaps(adata, threshold=threshold, min_jaccard=min_jaccard)
    found = found[found["kind"] == "shared in every group"].sort_values("jaccard", ascending=False, kind="stable")
    pos = _positions(adata)
    used: set[str] = set()
    sets = []
    for factors in found["factors"]:
        members = factors.split(", ")
        if used.isdisjoint(members):
            used.update(members)
            sets.append(members)
    if not sets:
        return []

    W_s, W_m = np.asarray(adata.varm[C.W_SHARED], dtype=float), np.array(adata.varm[C.W_SPECIFIC], dtype=float)
    has_z = C.Z_SHARED in adata.obsm and C.Z_SPECIFIC in adata.obsm
    if has_z:
        labels = np.asarray(groups if groups is not None else adata.obs[str(uns[C.GROUP_KEY])]).astype(str)
        Z_s, Z_m = np.asarray(adata.obsm[C.Z_SHARED], dtype=float), np.array(adata.obsm[C.Z_SPECIFIC], dtype=float)
    p_star = np.array(uns["p_star"], dtype=float) if "p_star" in uns else None
    eta_s = np.asarray(uns.get(C.ETA_SHARED, []), dtype=float)
    eta_m = np.array(uns.get(C.ETA_SPECIFIC, []), dtype=float)
    k_s = W_s.shape[1]
    new_w, new_z, new_eta, new_p, lines = [], [], [], [], []
    for members in sets:
        member_groups, cols, z_cols = zip(*(pos[name] for name in members))
        cols = np.array(cols)
        signs = np.where(W_m[:, cols].T @ W_m[:, cols[0]] < 0, -1.0, 1.0)  # agree with the first group's
        new_w.append(W_m[:, cols] @ signs / len(cols))
        W_m[:, cols] = 0.0
        if has_z:
            z = np.zeros(Z_m.shape[0])
            for g, z_col, sign in zip(member_groups, z_cols, signs):
                rows = labels == g
                z[rows], Z_m[rows, z_col] = sign * Z_m[rows, z_col], 0.0
            new_z.append(z)
        if eta_m.size:
            new_eta.append(eta_m[cols].mean())
        if p_star is not None:
            new_p.append(p_star[:, k_s + cols].mean(1))
            p_star[:, k_s + cols] = 0.0
        lines.append(" + ".join(members) + f" -> shared_{k_s + len(new_w)}")

    adata.varm[C.W_SHARED] = np.hstack([W_s, np.column_stack(new_w)])
    adata.varm[C.W_SPECIFIC] = W_m
    if has_z:
        adata.obsm[C.Z_SHARED] = np.hstack([Z_s, np.column_stack(new_z)])
        adata.obsm[C.Z_SPECIFIC] = Z_m
    if eta_s.size and eta_m.size:
        uns[C.ETA_SHARED] = np.concatenate([eta_s, new_eta])
    if p_star is not None:
        uns["p_star"] = np.hstack([p_star[:, :k_s], np.column_stack(new_p), p_star[:, k_s:]])
    uns[FOLDED] = [*list(np.atleast_1d(uns.get(FOLDED, []))), *lines]
    if C.STABILITY in uns:  # one per column of the edited W, as for the thresholds below
        uns[C.STABILITY] = _folded_stability(uns[C.STABILITY], k_s, sets, pos)
    if C.GENE_SET_THRESHOLD in uns:  # one per column of the edited W
        uns[C.GENE_SET_THRESHOLD] = gene_set_threshold(loadings(adata))
    return lines


def _folded_stability(record: dict, k_s: int, sets: list[list[str]], pos) -> dict:
    """The per-factor stability entries for W after folding ``sets``: a new shared column takes
    its members' score (:func:`mssvae.analysis.stability.factor_stability` scores every member of
    a switched set as the shared column it stands for, so they agree) and the zeroed members
    score 0, as every empty column does."""
    out = dict(record)
    cols = [[k_s + pos[name][1] for name in members] for members in sets]
    for key in ("stability", "median_jaccard", "jaccard"):  # one row per factor; "jaccard" has a column per start
        if key not in record:
            continue
        old = np.array(record[key], dtype=float)
        new = np.stack([old[c].min(axis=0) for c in cols])
        old[sum(cols, [])] = 0.0
        out[key] = np.concatenate([old[:k_s], new, old[k_s:]])
    return out
