"""The post-processing the paper proposes for information switching (App. C.3, Fig. 6).

"One of the shared blocks has instead been estimated as part of each of the study-specific blocks.
This could be resolved through post-processing." A set of group-specific columns, one in every
group, with agreeing supports is Theorem 2's construction of a shared column (§3.2): the program
is present in every group, so it belongs to W^(S). :func:`fold_switched` moves such sets there.
"""

from __future__ import annotations

import numpy as np

from . import _constants as C
from .diagnostics import support_overlaps
from .metrics import DEFAULT_THRESHOLD

FOLDED = "folded"


def _positions(uns) -> dict[str, tuple[str, int, int]]:
    """Factor name (``<group>_<i>``) → (group, column in W^(1..M), column in the own-group latents)."""
    out, offset = {}, 0
    for g, k in zip(np.atleast_1d(uns[C.GROUPS]), np.atleast_1d(uns[C.N_SPECIFIC]).tolist()):
        for i in range(int(k)):
            out[f"{g}_{i + 1}"] = (str(g), offset + i, i)
        offset += int(k)
    return out


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
    pos = _positions(uns)
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
    new_w, new_z, new_eta, new_p, lines = [], [], [], [], []
    for members in sets:
        ref = W_m[:, pos[members[0]][1]].copy()
        col_w, col_z, etas, ps = np.zeros(W_m.shape[0]), None, [], []
        if has_z:
            col_z = np.zeros(Z_m.shape[0])
        for name in members:
            g, w_col, z_col = pos[name]
            sign = -1.0 if float(ref @ W_m[:, w_col]) < 0 else 1.0
            col_w += sign * W_m[:, w_col] / len(members)
            W_m[:, w_col] = 0.0
            if has_z:
                rows = labels == g
                col_z[rows] = sign * Z_m[rows, z_col]
                Z_m[rows, z_col] = 0.0
            if eta_m.size:
                etas.append(eta_m[w_col])
            if p_star is not None:
                ps.append(p_star[:, W_s.shape[1] + w_col].copy())
                p_star[:, W_s.shape[1] + w_col] = 0.0
        new_w.append(col_w)
        new_z.append(col_z)
        new_eta.append(np.mean(etas) if etas else np.nan)
        new_p.append(np.mean(ps, axis=0) if ps else None)
        lines.append(" + ".join(members) + f" -> shared_{W_s.shape[1] + len(new_w)}")

    adata.varm[C.W_SHARED] = np.hstack([W_s, np.column_stack(new_w)])
    adata.varm[C.W_SPECIFIC] = W_m
    if has_z:
        adata.obsm[C.Z_SHARED] = np.hstack([Z_s, np.column_stack(new_z)])
        adata.obsm[C.Z_SPECIFIC] = Z_m
    if eta_s.size:
        uns[C.ETA_SHARED] = np.concatenate([eta_s, new_eta])
    if p_star is not None:
        k_s = W_s.shape[1]
        uns["p_star"] = np.hstack([p_star[:, :k_s], np.column_stack(new_p), p_star[:, k_s:]])
    uns[FOLDED] = [*list(np.atleast_1d(uns.get(FOLDED, []))), *lines]
    return lines
