"""A wide Gaussian design: a few hundred samples, thousands of genes, a few gene programs.

The shape of a bulk RNA-seq or microarray study (docs/design.md, "Gene-set threshold"): most
genes belong to no program, each program moves a set of genes linearly, as log-expression data
would. Not a design of the paper (§4.1 tiles every feature with overlapping blocks at loadings
8-12); it is the shape on which a free decoder shrinks W (benchmarks/FINDINGS.md, 2026-12-06).
"""

from __future__ import annotations

import numpy as np

from .base import assemble, group_labels, per_group

__all__ = ["wide"]


def wide(
    n_per_group: int = 84,
    n_groups: int = 3,
    n_features: int = 4000,
    n_shared: int = 4,
    n_specific=1,
    shared_size: int = 150,
    specific_size: int = 100,
    effect: float = 2.0,
    noise_sd: float = 0.5,
    seed: int = 0,
) -> "anndata.AnnData":  # noqa: F821
    """Gaussian programs on disjoint gene sets, linear, with gene means::

        x_ij = b_j + sum_k W^S_jk z_ik + sum_k W^m_jk xi_ik + eps_ij

    with ``z, xi ~ N(0, I)``, ``eps ~ N(0, noise_sd^2)``, ``b_j ~ N(0, 1)``. Each shared program
    owns ``shared_size`` genes and each group program ``specific_size`` genes, drawn without
    replacement from a random permutation of the genes (no gene is in two programs), with
    loadings ``effect x U(0.5, 1.5)`` of random sign; the other genes are noise only.

    Parameters
    ----------
    n_per_group, n_groups, n_features
        N_m, M and G.
    n_shared, n_specific
        Programs: K_S shared, K_m per group (an int or one per group).
    shared_size, specific_size
        Genes per shared and per group program.
    effect, noise_sd
        Median loading and noise standard deviation.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    anndata.AnnData
        ``X`` float32 (N x G) with the ground truth of :mod:`mssvae.sim.designs`.
    """
    rng = np.random.default_rng(seed)
    n_specific = per_group(n_specific, n_groups, "n_specific")
    sizes = [shared_size] * n_shared + [specific_size] * sum(n_specific)
    if sum(sizes) > n_features:
        raise ValueError(f"the programs need {sum(sizes)} genes but n_features is {n_features}")
    genes = np.split(rng.permutation(n_features)[: sum(sizes)], np.cumsum(sizes)[:-1])
    w_full = np.zeros((n_features, len(sizes)))
    for k, idx in enumerate(genes):
        w_full[idx, k] = effect * rng.choice([-1.0, 1.0], size=len(idx)) * rng.uniform(0.5, 1.5, size=len(idx))
    group_index = np.repeat(np.arange(n_groups), n_per_group)
    n = len(group_index)
    z = rng.normal(size=(n, n_shared))
    xi = np.zeros((n, max(n_specific, default=0)))
    x = z @ w_full[:, :n_shared].T
    start = n_shared
    for m, k in enumerate(n_specific):
        rows = group_index == m
        xi[rows, :k] = rng.normal(size=(int(rows.sum()), k))
        x[rows] += xi[rows, :k] @ w_full[:, start : start + k].T
        start += k
    x += rng.normal(0.0, noise_sd, size=x.shape) + rng.normal(0.0, 1.0, size=n_features)
    uns = {"design": "wide", "seed": int(seed),
           "params": {"shared_size": int(shared_size), "specific_size": int(specific_size), "effect": float(effect),
                      "noise_sd": float(noise_sd)}}
    return assemble(x, group_index, group_labels(n_groups), z, xi, w_full[:, :n_shared], w_full[:, n_shared:],
                    n_specific, uns)
