"""Columns of W that repeat part of a larger column of their own block ("satellites"), and
their folding during a fit.

On the §4.2 count design the NB model finds every planted program at N = 3200, G = 600, but
spare columns take a second copy of 2–35 genes of a found program, mostly its nonlinear genes (the
sin(3πu/4) ones) and the genes it shares with a neighbouring program (benchmarks/FINDINGS.md,
"§4.2 with N and G apart"). The copies grow with N and G together, and pull the consensus of
App. C.1 down to 0.5 at 3200 × 600 (one seed) with every program found. A likely reading, not
measured: a second latent that repeats a program's signal with its own posterior noise lets the
decoder average the two, a gain that grows with G, while the penalty enters the objective
divided by N. Nothing in Eq. 2.4 prices a column as a whole, so the spike-and-slab lasso keeps
each entry of a copy that pays for itself.

Folding (a deviation from the paper's fit, documented in docs/design.md, "Folding nested
columns") removes such a column once the supports have settled: its column of W is set to zero
and held there, and the fit goes on until the stopping rule holds again, so the larger column
takes the copied genes back and the fit returns what it has actually trained. MOFA2 drops
factors below a share of the variance during training in the same way.
"""

from __future__ import annotations

import numpy as np
import torch

from ..io.results import gene_set_threshold

#: The share of a column's gene set inside a larger column of its block above which it is folded
#: (and above which ``analysis.diagnostics.support_overlaps`` calls the pair "nested").
MIN_CONTAINED = 0.7


def containment(support: np.ndarray) -> np.ndarray:
    """K × K: the share of column a's support (G × K booleans) that column b's also holds,
    |S_a ∩ S_b| / |S_a| (0 for an empty column a)."""
    s = support.astype(np.float64)
    return (s.T @ s) / np.maximum(s.sum(0), 1.0)[:, None]


def nested_columns(w_abs: torch.Tensor, block_group: torch.Tensor, skip=(), min_contained: float = MIN_CONTAINED) -> dict[int, int]:
    """The columns whose gene set lies, for at least ``min_contained`` of it, inside the gene set
    of a larger column of the same block: ``{column: that larger column}``.

    Gene sets are read as users read them (``io.results.gene_set_threshold`` of ``w_abs``);
    columns in ``skip`` (folded already) are neither folded nor hosts. A column can host only
    while it is not folded itself, so a chain A ⊂ B ⊂ C folds A and B into C. A larger column
    whose genes outside A lie mostly inside a third, smaller column of the block is two programs
    merged (A and that column), not A's program, and does not host A.
    """
    A = w_abs.detach().float().cpu().numpy()
    support = A > gene_set_threshold(A)[None, :]
    support[:, list(skip)] = False
    size = support.sum(0)
    inside = containment(support)
    blocks = block_group.cpu().numpy()
    out: dict[int, int] = {}
    for a in np.argsort(-size, kind="stable"):  # largest first (ties by position), so hosts are decided first
        if not size[a]:
            continue
        block = [c for c in range(len(size)) if blocks[c] == blocks[a] and c != a and c not in out and size[c]]
        hosts = [b for b in block if (size[b], -b) > (size[a], -a) and inside[a, b] >= min_contained
                 and not _union(support, a, b, [c for c in block if size[c] < size[b]], min_contained)]
        if hosts:
            out[int(a)] = int(max(hosts, key=lambda b: inside[a, b]))
    return out


def _union(support: np.ndarray, a: int, b: int, others: list[int], min_contained: float) -> bool:
    """Whether column ``b``'s gene set is column ``a``'s and, for at least ``min_contained`` of
    the rest, one of the columns ``others``'."""
    rest = support[:, b] & ~support[:, a]
    n = int(rest.sum())
    return bool(n) and any((rest & support[:, c]).sum() >= min_contained * n for c in others)
