"""Checks on a fitted W for the failure modes the paper reports (App. C.3, Fig. 6).

A shared program can be estimated as one group-specific column in *every* group ("information
switching", §3.2: Theorem 2 builds W^(S) from exactly such columns), and one program can be split
over two columns of the same block, or two programs mixed into two columns with the same union
support (a rotation). A small column can also hold part of a program that another column of its
block already holds (on the §4.1 design: the quadratic features of a factor, a "satellite",
benchmarks/FINDINGS.md, "Gaussian design: what the group-block failures are"). None of these shows in the likelihood, so they are found from the
supports of W, the way Theorem 2's construction does it.
"""

from __future__ import annotations

import itertools

import pandas as pd

from ..core.nested import MIN_CONTAINED
from ..io.results import factor_names, fit_threshold, loadings


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def support_overlaps(adata, threshold: float | None = None, min_jaccard: float = 0.5, min_contained: float = MIN_CONTAINED) -> pd.DataFrame:
    """Pairs and sets of factors whose supports (|W| > ``threshold``) overlap strongly.

    Returns a table with one row per finding: ``kind`` is ``"shared in every group"`` (one column
    per group, every pair with Jaccard ≥ ``min_jaccard``: likely a shared program estimated in
    the group blocks), ``"split"`` (two columns of one block with Jaccard ≥ ``min_jaccard``: one
    program split, or two mixed) or ``"nested"`` (a smaller column of one block with at least
    ``min_contained`` of its support inside a larger one's, below the Jaccard cut: a satellite).
    ``jaccard`` is the Jaccard index, or for ``"nested"`` the contained fraction. ``threshold``
    None: each factor's gene-set threshold (:func:`mssvae.io.results.fit_threshold`).
    """
    W = loadings(adata)
    threshold = fit_threshold(adata, threshold)
    blocks = factor_names(adata)
    support = {c: set(W.index[W[c].abs() > threshold[c]]) for c in W.columns}
    active = {b: [c for c in cols if support[c]] for b, cols in blocks.items()}
    rows = []
    for block, cols in active.items():
        for a, b in itertools.combinations(cols, 2):
            j = _jaccard(support[a], support[b])
            small, large = sorted((a, b), key=lambda c: (len(support[c]), cols.index(c)))
            inside = len(support[small] & support[large]) / len(support[small])
            if j >= min_jaccard:
                rows.append(dict(kind="split", factors=f"{a}, {b}", jaccard=round(j, 3)))
            elif inside >= min_contained:
                rows.append(dict(kind="nested", factors=f"{small}, {large}", jaccard=round(inside, 3)))
    groups = [b for b in active if b != "shared"]
    if len(groups) > 1:
        first, rest = groups[0], groups[1:]
        for a in active[first]:
            # Only columns that already match ``a`` can complete a set: keeps the search small.
            candidates = [[c for c in active[g] if _jaccard(support[a], support[c]) >= min_jaccard] for g in rest]
            for combo in itertools.product(*candidates):
                members = (a, *combo)
                js = [_jaccard(support[x], support[y]) for x, y in itertools.combinations(members, 2)]
                if min(js) >= min_jaccard:
                    rows.append(dict(kind="shared in every group", factors=", ".join(members), jaccard=round(min(js), 3)))
    return pd.DataFrame(rows, columns=["kind", "factors", "jaccard"])


def overlap_notes(adata, threshold: float | None = None, max_per_kind: int = 3) -> list[str]:
    """Readable lines for the findings of :func:`support_overlaps`: one per finding, at most
    ``max_per_kind`` of each kind, then one line counting the rest (a W that is still dense
    gives thousands of pairs)."""
    table = support_overlaps(adata, threshold=threshold)
    notes = []
    for kind, rows in table.groupby("kind", sort=False):
        shown = rows.iloc[: max_per_kind - 1] if len(rows) > max_per_kind else rows
        notes += [_note(row) for row in shown.itertuples()]
        if len(rows) > len(shown):
            notes.append(f"note: ... and {len(rows) - len(shown)} more findings of the kind {kind!r} "
                         f"(mssvae.support_overlaps(adata) lists them all)")
    return notes


def _note(row) -> str:
    if row.kind == "nested":
        a, b = row.factors.split(", ")
        return (f"note: {row.jaccard:.0%} of factor {a}'s genes are also factor {b}'s: likely part of one "
                f"program (e.g. its nonlinear features) in a column of its own; longer fits often merge it")
    hint = ("a shared program estimated in every group's block (App. C.3; mssvae.fold_switched, "
            "or `mssvae fit --fold-switched`, moves it into the shared block)" if row.kind.startswith("shared")
            else "one program split over two columns, or two programs mixed into both")
    return f"note: factors {row.factors} share most genes (Jaccard {row.jaccard}): likely {hint}"
