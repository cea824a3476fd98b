"""Factors matched across several starts of a fit, and a stability score for each.

A start is one fit from its own seed. The W of a start is given as its blocks, ``"shared"`` and
then each group's (features × factors, in the results contract's block order). Each factor's
support is the set of features with |W| above the factor's gene-set threshold
(:func:`mssvae.io.results.gene_set_threshold`), so the scale and sign of a column, which flip and
drift with its latent, do not matter. Within each block, the factors of one start are matched to
those of another one to one (the assignment that maximises the summed Jaccard index of the
supports), so the order of the factors does not matter either.

App. C.3's failure mode, a shared program estimated once in every group's block, is allowed for
by folding every start first (:func:`mssvae.fold_switched`): such a set is compared as the
shared column it stands for, and each of its group columns in the reference start gets that
column's score.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import anndata
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .. import contract as C
from ..errors import MSSVAEInputError
from ..io.results import factor_names, gene_set_threshold
from .postprocess import fold_switched

#: The least Jaccard index of two supports for the factors to count as one program: Theorem 2's
#: and :func:`mssvae.fold_switched`'s cut, a majority of the union's features in common.
DEFAULT_MIN_JACCARD = 0.5

Blocks = Mapping[str, np.ndarray]


def blocks_of(adata) -> dict[str, np.ndarray]:
    """The W of a fitted AnnData as blocks: ``"shared"`` → G × K_S, then each group → G × K_m."""
    names = factor_names(adata)
    W_spec = np.asarray(adata.varm[C.W_SPECIFIC], dtype=np.float64)
    out, start = {"shared": np.asarray(adata.varm[C.W_SHARED], dtype=np.float64)}, 0
    for g, cols in list(names.items())[1:]:
        out[g] = W_spec[:, start:start + len(cols)]
        start += len(cols)
    return out


def _checked(blocks: Blocks, where: str) -> dict[str, np.ndarray]:
    out = {str(b): np.asarray(w, dtype=np.float64) for b, w in blocks.items()}
    if not out or next(iter(out)) != "shared":
        raise MSSVAEInputError(f"{where}: the blocks of W must start with 'shared', then each group's; got {list(out)}")
    shapes = {w.shape[0] for w in out.values()}
    if len(shapes) != 1 or any(w.ndim != 2 for w in out.values()):
        raise MSSVAEInputError(f"{where}: every block of W must be features × factors with the same features; "
                               f"got shapes {[w.shape for w in out.values()]}")
    return out


def _as_results(blocks: dict[str, np.ndarray]) -> anndata.AnnData:
    """A results AnnData holding only W (what :func:`fold_switched` needs)."""
    groups = list(blocks)[1:]
    G = blocks["shared"].shape[0]
    a = anndata.AnnData(obs=pd.DataFrame(index=pd.Index([], dtype=object)),
                        var=pd.DataFrame(index=pd.Index([f"f{j}" for j in range(G)], dtype=object)))
    a.varm[C.W_SHARED] = blocks["shared"]
    a.varm[C.W_SPECIFIC] = np.hstack([blocks[g] for g in groups]) if groups else np.zeros((G, 0))
    a.uns[C.UNS] = {C.GROUPS: groups, C.N_SPECIFIC: np.array([blocks[g].shape[1] for g in groups], dtype=np.int64)}
    return a


def folded(blocks: Blocks) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``blocks`` with every shared program estimated once in each group's block moved into the
    shared block (:func:`mssvae.fold_switched`, on a copy), and the folded group factors'
    names → the name of the shared column that now stands for them."""
    a = _as_results(_checked(blocks, "folded"))
    into = {}
    for line in fold_switched(a):  # "g1_4 + g2_9 -> shared_21"
        members, new = line.split(" -> ")
        into.update({m: new for m in members.split(" + ")})
    return blocks_of(a), into


def supports(W: np.ndarray) -> list[frozenset]:
    """The support of each column of ``W`` at its gene-set threshold (row indices)."""
    A = np.abs(np.nan_to_num(np.asarray(W, dtype=np.float64)))
    limit = gene_set_threshold(A)
    return [frozenset(np.flatnonzero(A[:, k] > limit[k]).tolist()) for k in range(A.shape[1])]


def jaccard_matrix(a: Sequence[frozenset], b: Sequence[frozenset]) -> np.ndarray:
    """Jaccard index of every support in ``a`` with every one in ``b``; 0 where either is empty
    (an inactive column matches nothing)."""
    out = np.zeros((len(a), len(b)))
    for i, s in enumerate(a):
        for j, t in enumerate(b):
            if s and t:
                out[i, j] = len(s & t) / len(s | t)
    return out


def match_block(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column of ``reference`` matched one to one to a column of ``other`` (G × K each) by
    the Jaccard index of their supports. Returns the matched column of ``other`` (-1: none, an
    empty column or more columns than ``other`` has) and the Jaccard index (0 without a match)."""
    jac = jaccard_matrix(supports(reference), supports(other))
    match, best = np.full(jac.shape[0], -1), np.zeros(jac.shape[0])
    if jac.size:
        rows, cols = linear_sum_assignment(jac, maximize=True)
        hit = jac[rows, cols] > 0
        match[rows[hit]], best[rows[hit]] = cols[hit], jac[rows, cols][hit]
    return match, best


def match_starts(starts: Sequence[Blocks], reference: int = 0, fold: bool = True) -> pd.DataFrame:
    """The factors of start ``reference`` matched within each block to those of every other start.

    Parameters
    ----------
    starts
        Each start's W as blocks (``"shared"``, then each group's; :func:`blocks_of`), with the
        same blocks and features in every start.
    reference
        The start whose factors are matched (its factor names as in the results contract).
    fold
        Fold each start first (:func:`folded`): a shared program estimated in every group's block
        is matched as a shared column, and the reference's group columns of such a set take
        that column's matches.

    Returns
    -------
    pandas.DataFrame
        One row per factor of the reference and other start: ``factor``, ``block``, ``start``
        (its index in ``starts``), ``match`` (the matched factor's name in that start after
        folding, or "" for none) and ``jaccard`` (0 without a match).
    """
    checked = [_checked(s, f"start {i}") for i, s in enumerate(starts)]
    if len(checked) < 2:
        raise MSSVAEInputError(f"matching factors needs at least 2 starts, got {len(checked)}", args_named=("starts",))
    if not 0 <= reference < len(checked):
        raise MSSVAEInputError(f"reference={reference} is not a start (0 to {len(checked) - 1})")
    layout = {b: w.shape for b, w in checked[reference].items()}
    for i, s in enumerate(checked):
        if {b: w.shape for b, w in s.items()} != layout:
            raise MSSVAEInputError(f"start {i} has other blocks or sizes than start {reference}: "
                                   f"{ {b: w.shape for b, w in s.items()} } against {layout}")
    ref_names = {b: _names(b, w.shape[1]) for b, w in checked[reference].items()}
    ready = [folded(s) if fold else (s, {}) for s in checked]
    ref_blocks, into = ready[reference]
    rows = []
    for i, (blocks, _) in enumerate(ready):
        if i == reference:
            continue
        found = {}
        for block, W in ref_blocks.items():
            match, best = match_block(W, blocks[block])
            names, other_names = _names(block, W.shape[1]), _names(block, blocks[block].shape[1])
            found.update({n: (other_names[m] if m >= 0 else "", j) for n, m, j in zip(names, match, best)})
        for block, names in ref_names.items():
            for name in names:
                m, j = found[into.get(name, name)]
                rows.append(dict(factor=name, block=block, start=i, match=m, jaccard=float(j)))
    return pd.DataFrame(rows, columns=["factor", "block", "start", "match", "jaccard"])


def factor_stability(starts: Sequence[Blocks], reference: int = 0, min_jaccard: float = DEFAULT_MIN_JACCARD,
                     fold: bool = True) -> pd.DataFrame:
    """A stability score for every factor of start ``reference`` from its matches in the others
    (:func:`match_starts`).

    Returns
    -------
    pandas.DataFrame
        One row per factor of the reference, in the results contract's order (shared, then each
        group's): ``factor``, ``block``, ``stability`` (the fraction of the other starts holding
        a matching factor, Jaccard ≥ ``min_jaccard``) and ``median_jaccard`` (the median over
        the other starts of the matched factor's Jaccard index, 0 where none matched). An empty
        column matches nothing: stability 0.
    """
    return stability_scores(match_starts(starts, reference, fold), min_jaccard)


def stability_scores(matches: pd.DataFrame, min_jaccard: float = DEFAULT_MIN_JACCARD) -> pd.DataFrame:
    """:func:`factor_stability`'s table from the rows of :func:`match_starts`."""
    if not 0 < min_jaccard <= 1:
        raise MSSVAEInputError(f"min_jaccard must be in (0, 1], got {min_jaccard}", args_named=("min_jaccard",))
    by = matches.groupby(["factor", "block"], sort=False)["jaccard"]
    out = by.agg(stability=lambda j: float((j >= min_jaccard).mean()), median_jaccard="median").reset_index()
    return out[["factor", "block", "stability", "median_jaccard"]]


def stability_record(starts: Sequence[Blocks], reference: int, min_jaccard: float = DEFAULT_MIN_JACCARD) -> dict:
    """The stability of the factors of start ``reference`` as the results contract keeps it in
    ``.uns["mssvae"]["stability"]``, rows in W's column order: ``stability`` and
    ``median_jaccard`` (:func:`factor_stability`), ``jaccard`` (factors × starts, the Jaccard
    index of the factor's match in each start: what :func:`mssvae.analysis.plotting.plot_stability` draws; in the
    reference's own column 1 for an active factor and 0 for an empty one) and ``min_jaccard``."""
    matches = match_starts(starts, reference)
    table = stability_scores(matches, min_jaccard)
    jaccard = matches.pivot(index="factor", columns="start", values="jaccard").reindex(table["factor"])
    own = [float(bool(s)) for w in _checked(starts[reference], "start").values() for s in supports(w)]
    jaccard.insert(reference, reference, own)
    return {"stability": table["stability"].to_numpy(dtype=np.float64),
            "median_jaccard": table["median_jaccard"].to_numpy(dtype=np.float64),
            "jaccard": jaccard.to_numpy(dtype=np.float64),
            "min_jaccard": float(min_jaccard)}


def _names(block: str, k: int) -> list[str]:
    return [f"{block}_{i + 1}" for i in range(k)]
