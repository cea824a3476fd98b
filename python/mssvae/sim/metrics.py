"""Support and disentanglement metrics of Moran & Krishnan (2026), Appendix C.1.

Support metrics compare the column supports ``C_k`` (sets of non-zero rows) of a true and an
estimated loading matrix through the Jaccard index (Eq. C.1): relevance (Eq. C.2, precision-like),
recovery (Eq. C.3, recall-like) and consensus (Eq. C.4, Hungarian matching). Disentanglement is
the score of Eastwood & Williams (2018), Eq. C.5, with gradient-boosted-tree importances.

Conventions for empty inputs (the paper does not need them; fitted models can produce them):

* ``jaccard(set(), set()) = 1`` (equal sets); ``supports`` never returns empty sets.
* No estimated set and at least one true set: every score is 0 (nothing was recovered).
* No true set (e.g. a group without specific factors): every score is 1 if the estimate is empty
  too (the model correctly found nothing), else 0 (everything estimated is spurious).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..contract import (
    GROUP_KEY, GROUPS, N_SPECIFIC, SIM, TRUE_W_SHARED, TRUE_W_SPECIFIC, TRUE_Z_SHARED, TRUE_Z_SPECIFIC, UNS, W_SHARED,
    W_SPECIFIC, Z_SHARED, Z_SPECIFIC,
)
from .base import GROUP_COLUMN
from ..contract import DEFAULT_THRESHOLD

SCORES = ("consensus", "relevance", "recovery")


class MissingKeyError(ValueError):
    """An AnnData lacks an entry :func:`evaluate` needs; the message names it and its producer."""


def jaccard(a, b) -> float:
    """Jaccard index ``|A & B| / |A | B|`` (Eq. C.1); 1 for two empty sets."""
    a, b = set(a), set(b)
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union


def jaccard_matrix(true_sets, est_sets) -> np.ndarray:
    """``J[k, k'] = J(C_k, C^_k')`` for all true ``k`` and estimated ``k'``."""
    true_sets = [set(s) for s in true_sets]
    est_sets = [set(s) for s in est_sets]
    return np.array([[jaccard(t, e) for e in est_sets] for t in true_sets], dtype=float).reshape(
        len(true_sets), len(est_sets)
    )


def _empty_case(n_true: int, n_est: int):
    """Score for degenerate inputs (module docstring), or ``None`` when both are non-empty."""
    if n_true == 0:
        return 1.0 if n_est == 0 else 0.0
    if n_est == 0:
        return 0.0
    return None


def relevance(true_sets, est_sets) -> float:
    """Mean over estimated sets of the best Jaccard with any true set (Eq. C.2)."""
    jac = jaccard_matrix(true_sets, est_sets)
    special = _empty_case(*jac.shape)
    return special if special is not None else float(jac.max(axis=0).mean())


def recovery(true_sets, est_sets) -> float:
    """Mean over true sets of the best Jaccard with any estimated set (Eq. C.3)."""
    jac = jaccard_matrix(true_sets, est_sets)
    special = _empty_case(*jac.shape)
    return special if special is not None else float(jac.max(axis=1).mean())


def consensus(true_sets, est_sets) -> float:
    """Sum of Jaccards of the optimal one-to-one matching over ``max(|C_t|, |C_f|)`` (Eq. C.4).

    The matching maximises the total Jaccard (Hungarian algorithm, ``linear_sum_assignment``);
    with unequal numbers of sets the unmatched ones contribute 0 but still count in the divisor,
    which is how over- or under-estimating the number of factors is penalised.
    """
    jac = jaccard_matrix(true_sets, est_sets)
    special = _empty_case(*jac.shape)
    if special is not None:
        return special
    rows, cols = linear_sum_assignment(jac, maximize=True)
    return float(jac[rows, cols].sum() / max(jac.shape))


def supports(W, threshold: float = DEFAULT_THRESHOLD, max_density: float | None = None) -> list[frozenset]:
    """Column supports ``{j : |W_jk| > threshold}`` of a loading matrix.

    Columns with an empty support are dropped (pruned factors, §4.1 "after removing columns of
    all zeros"); with ``max_density``, so are columns whose support covers more than that
    fraction of the rows (§4.2 drops columns with more than 25 % non-zeros).

    Parameters
    ----------
    W : array_like
        ``G x K`` loadings.
    threshold : float
        Entries with ``|W| > threshold`` are non-zero; use 0 for exact non-zeros.
    max_density : float, optional
        Maximal fraction of non-zero rows of a kept column.

    Returns
    -------
    list of frozenset
        One set of 0-based row indices per kept column, in column order.
    """
    nonzero = np.abs(np.asarray(W, dtype=float)) > threshold
    if nonzero.ndim != 2:
        raise ValueError(f"W must be 2-dimensional; got shape {nonzero.shape}")
    out = []
    for k in range(nonzero.shape[1]):
        rows = np.flatnonzero(nonzero[:, k])
        if len(rows) == 0 or (max_density is not None and len(rows) > max_density * nonzero.shape[0]):
            continue
        out.append(frozenset(rows.tolist()))
    return out


def support_scores(W_true, W_hat, threshold: float = DEFAULT_THRESHOLD, max_density: float | None = None) -> dict:
    """Consensus, relevance and recovery of ``W_hat``'s supports against ``W_true``'s.

    The truth's support is its exact non-zeros; ``threshold`` and ``max_density`` apply to the
    estimate only (the density filter of §4.2 removes dense *estimated* columns).

    Returns
    -------
    dict
        ``{"consensus": ..., "relevance": ..., "recovery": ...}``, each in [0, 1].
    """
    true_sets = supports(W_true, threshold=0.0)
    est_sets = supports(W_hat, threshold=threshold, max_density=max_density)
    return {
        "consensus": consensus(true_sets, est_sets),
        "relevance": relevance(true_sets, est_sets),
        "recovery": recovery(true_sets, est_sets),
    }


def importance_matrix(z_true, z_hat, seed: int = 0, n_estimators: int = 50, max_rows: int = 2000) -> np.ndarray:
    """``R[k', k]``: importance of ``z_hat[:, k']`` for predicting ``z_true[:, k]`` (App. C.1, steps 1-2).

    One ``sklearn.ensemble.GradientBoostingRegressor`` per true factor; ``R`` holds its
    ``feature_importances_`` (each column sums to 1, or 0 when no split was useful). For speed
    the trees use ``n_estimators = 50`` (half sklearn's default; the ranking of importances is
    settled well before) and at most ``max_rows`` rows drawn without replacement with ``seed``.
    """
    from sklearn.ensemble import GradientBoostingRegressor

    z_true = np.asarray(z_true, dtype=float)
    z_hat = np.asarray(z_hat, dtype=float)
    if z_true.shape[0] != z_hat.shape[0]:
        raise ValueError(f"z_true and z_hat have {z_true.shape[0]} and {z_hat.shape[0]} rows")
    rng = np.random.default_rng(seed)
    if z_true.shape[0] > max_rows:
        rows = np.sort(rng.choice(z_true.shape[0], size=max_rows, replace=False))
        z_true, z_hat = z_true[rows], z_hat[rows]
    importance = np.zeros((z_hat.shape[1], z_true.shape[1]))
    for k in range(z_true.shape[1]):
        if z_hat.shape[1] == 0 or np.ptp(z_true[:, k]) == 0:
            continue  # nothing to learn: a constant target has no informative input
        model = GradientBoostingRegressor(n_estimators=n_estimators, random_state=seed)
        importance[:, k] = model.fit(z_hat, z_true[:, k]).feature_importances_
    return importance


def disentanglement_from_importance(importance) -> float:
    """Eastwood & Williams disentanglement (App. C.1, steps 3-4) from ``R`` (K_hat x K).

    ``P[k', k] = R[k', k] / sum_k R[k', k]``, ``D_k' = 1 - H_K(P[k'])`` with the entropy in
    log base K, and ``D = sum_k' rho_k' D_k'`` with ``rho_k' = sum_k R[k', k] / sum R``.
    With a single true factor ``H_K`` is 0 and D = 1; with no importance at all, D = 0.
    """
    r = np.asarray(importance, dtype=float)
    total = r.sum()
    if total <= 0:
        return 0.0
    n_true = r.shape[1]
    row_sums = r.sum(axis=1)
    if n_true == 1:
        return 1.0
    p = r / np.where(row_sums > 0, row_sums, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    entropy = -plogp.sum(axis=1) / np.log(n_true)
    rho = row_sums / total
    return float(np.sum(rho * (1.0 - entropy)))


def dci_disentanglement(z_true, z_hat, seed: int = 0, n_estimators: int = 50, max_rows: int = 2000) -> float:
    """Disentanglement score of Eastwood & Williams (2018) as in App. C.1 (Eq. C.5).

    Parameters
    ----------
    z_true : array_like
        ``N x K`` true factors.
    z_hat : array_like
        ``N x K_hat`` estimated factors (all-zero or irrelevant columns get weight ~0).
    seed, n_estimators, max_rows
        See :func:`importance_matrix`.

    Returns
    -------
    float
        In [0, 1]; 1 when each estimated factor predicts a single true factor.
    """
    return disentanglement_from_importance(importance_matrix(z_true, z_hat, seed, n_estimators, max_rows))


def block_latents(z_shared, z_specific, cell_groups, groups, n_specific) -> np.ndarray:
    """All factors in the block layout of §2.2: ``[z, 0, .., xi^(m), .., 0]`` per sample.

    Parameters
    ----------
    z_shared : array_like
        ``N x K_S``.
    z_specific : array_like
        ``N x K`` own-group factors; group m's samples use the first ``n_specific[m]`` columns.
    cell_groups : array_like
        Each sample's group label.
    groups, n_specific
        Group labels in block order and their K_m.

    Returns
    -------
    numpy.ndarray
        ``N x (K_S + sum K_m)``: shared factors, then one block per group holding the factors of
        that group's samples and zeros for the other samples.
    """
    z_shared = np.asarray(z_shared, dtype=float)
    z_specific = np.asarray(z_specific, dtype=float)
    cell_groups = np.asarray(cell_groups).astype(str)
    blocks = [z_shared]
    for label, k_m in zip(groups, n_specific):
        block = np.zeros((len(cell_groups), k_m))
        rows = cell_groups == str(label)
        block[rows] = z_specific[rows, :k_m]
        blocks.append(block)
    return np.hstack(blocks)


def group_blocks(W, groups, n_specific) -> dict[str, np.ndarray]:
    """Each group's columns of a G × Σ K_m matrix (W^(1), …, W^(M) side by side), by label."""
    W = np.asarray(W)
    ends = np.cumsum([int(k) for k in n_specific])
    return {str(g): W[:, end - int(k):end] for g, k, end in zip(groups, n_specific, ends)}


def _listed(value) -> list:
    """A list from a value read back from h5ad (lists come back as numpy arrays)."""
    return list(np.atleast_1d(np.asarray(value)).tolist())


def _check_keys(adata, dci: bool) -> None:
    """Raise :class:`MissingKeyError` naming every missing entry and what writes it."""
    fitted = "a fitted MSSVAE (`mssvae fit`, or MSSVAE.fit on the AnnData)"
    truth = "`mssvae simulate` (mssvae.sim.simulate)"
    wanted = [("varm", W_SHARED, fitted), ("varm", W_SPECIFIC, fitted), ("uns", UNS, fitted),
              ("varm", TRUE_W_SHARED, truth), ("varm", TRUE_W_SPECIFIC, truth), ("uns", SIM, truth)]
    if dci:
        wanted += [("obsm", Z_SHARED, fitted), ("obsm", Z_SPECIFIC, fitted),
                   ("obsm", TRUE_Z_SHARED, truth), ("obsm", TRUE_Z_SPECIFIC, truth)]
    missing = [f"{slot}[{key!r}] (written by {who})" for slot, key, who in wanted if key not in getattr(adata, slot)]
    for key, who in ((UNS, fitted), (SIM, truth)):
        if key in adata.uns:
            missing += [f"uns[{key!r}][{entry!r}] (written by {who})"
                        for entry in (GROUPS, N_SPECIFIC) if entry not in adata.uns[key]]
    if missing:
        raise MissingKeyError("cannot evaluate: missing " + "; ".join(missing))


def evaluate(adata, threshold: float = DEFAULT_THRESHOLD, max_density: float | None = None, dci: bool = True,
             seed: int = 0) -> dict:
    """All simulation metrics of §4 for a fitted AnnData that also carries the ground truth.

    Parameters
    ----------
    adata : anndata.AnnData
        Output of a fit on data from :mod:`mssvae.sim.designs`: the estimates (``varm[W_SHARED]``,
        ``varm[W_SPECIFIC]``, ``obsm[Z_SHARED]``, ``obsm[Z_SPECIFIC]``, ``uns[UNS]`` with the
        groups and their K_m) and the truths (``TRUE_*`` keys, ``uns[SIM]``).
    threshold, max_density
        See :func:`support_scores`.
    dci : bool
        Also compute the disentanglement score (the slow part).
    seed : int
        Seed of the tree ensembles and the row subsample of :func:`importance_matrix`.

    Returns
    -------
    dict
        ``shared``: scores of W_SHARED against TRUE_W_SHARED. ``group``: ``per_group`` scores of
        each group's block of W_SPECIFIC against the same group's true block, and their ``mean``.
        Scoring per group is deliberate: pooling the blocks would let an estimated column of group
        1 match a true column of group 2, rewarding specific signal put in the wrong group.
        Groups are matched by label, so the fitted and the true group orders may differ.
        ``disentanglement``: Eq. C.5 over all factors in the block layout (:func:`block_latents`),
        or None without ``dci``. ``settings``: the arguments.

    Raises
    ------
    MissingKeyError
        If an estimate or a truth is missing (the message names it and what produces it).
    """
    _check_keys(adata, dci)
    est_groups = [str(g) for g in _listed(adata.uns[UNS][GROUPS])]
    est_k = [int(k) for k in _listed(adata.uns[UNS][N_SPECIFIC])]
    true_groups = [str(g) for g in _listed(adata.uns[SIM][GROUPS])]
    true_k = [int(k) for k in _listed(adata.uns[SIM][N_SPECIFIC])]
    absent = [g for g in true_groups if g not in est_groups]
    if absent:
        raise MissingKeyError(f"cannot evaluate: true groups {absent} are not among the fitted groups {est_groups}")
    w_hat = group_blocks(adata.varm[W_SPECIFIC], est_groups, est_k)
    w_true = group_blocks(adata.varm[TRUE_W_SPECIFIC], true_groups, true_k)
    per_group = {label: support_scores(w_true[label], w_hat[label], threshold=threshold, max_density=max_density)
                 for label in true_groups}
    result = {
        "shared": support_scores(adata.varm[TRUE_W_SHARED], adata.varm[W_SHARED], threshold, max_density),
        "group": {
            "per_group": per_group,
            "mean": {s: float(np.mean([v[s] for v in per_group.values()])) for s in SCORES},
        },
        "disentanglement": None,
        "settings": {"threshold": float(threshold), "max_density": max_density, "dci": bool(dci), "seed": int(seed)},
    }
    if dci:
        # the fit may record no usable obs column (groups passed as an array): use the simulator's
        group_key = str(adata.uns[UNS].get(GROUP_KEY, GROUP_COLUMN))
        if group_key not in adata.obs:
            group_key = GROUP_COLUMN
        if GROUP_COLUMN not in adata.obs:
            raise MissingKeyError(f"cannot evaluate: obs[{GROUP_COLUMN!r}] (written by `mssvae simulate`) is missing")
        true_column = GROUP_COLUMN
        z_true = block_latents(adata.obsm[TRUE_Z_SHARED], adata.obsm[TRUE_Z_SPECIFIC], adata.obs[true_column],
                               true_groups, true_k)
        z_hat = block_latents(adata.obsm[Z_SHARED], adata.obsm[Z_SPECIFIC], adata.obs[group_key], est_groups, est_k)
        result["disentanglement"] = dci_disentanglement(z_true, z_hat, seed=seed)
    return result


def label_r2(z, labels) -> float:
    """Share of the latents' variance explained by a labelling (e.g. a batch): R² of the
    one-way ANOVA, pooled over dimensions, ``sum_k SS_between,k / sum_k SS_total,k``.

    Pooling weights each latent dimension by its variance, so switched-off factors (posterior
    means near 0) barely count. 0: the label means coincide; 1: the latents are the label.
    """
    z = np.asarray(z, dtype=float)
    z = z - z.mean(axis=0)
    total = float((z**2).sum())
    if total <= 0:
        return 0.0
    labels = np.asarray(labels).astype(str)
    between = sum(float((labels == lv).sum()) * float((z[labels == lv].mean(axis=0) ** 2).sum()) for lv in np.unique(labels))
    return between / total


__all__ = [
    "DEFAULT_THRESHOLD", "MissingKeyError", "block_latents", "consensus", "dci_disentanglement", "label_r2",
    "disentanglement_from_importance", "evaluate", "importance_matrix", "jaccard", "jaccard_matrix",
    "recovery", "relevance", "support_scores", "supports",
]
