"""Synthetic data with known shared and group-specific structure.

Three designs, each a pure function of its sizes and a ``seed`` (``np.random.default_rng``):

``gaussian``
    Moran & Krishnan (2026) §4.1: Gaussian nonlinear factor analysis.
``rnaseq``
    Moran & Krishnan (2026) §4.2: synthetic bulk RNA-seq counts with gene correlation.
``splatter2``
    Weinberger et al. (2022) §5 / App. D: the multiGroupVI two-group Splatter benchmark
    (implemented in :mod:`mssvae.sim.splatter`).
``wide``
    Gaussian gene programs at the shape of a bulk study, a few hundred samples x thousands of
    genes (:mod:`mssvae.sim.wide`; not a design of the paper).

Every design returns an :class:`anndata.AnnData` with the same layout:

* ``obs["group"]``: categorical, ``"group1"``, ``"group2"``, ...;
* ``.varm[TRUE_W_SHARED]`` (G x K_S) and ``.varm[TRUE_W_SPECIFIC]`` (G x sum K_m, blocks of K_m
  columns in group order): true loadings, exactly zero off the support;
* ``.obsm[TRUE_Z_SHARED]`` (N x K_S) and ``.obsm[TRUE_Z_SPECIFIC]`` (N x max K_m, each sample's
  own-group factors in the first K_m columns, zero padding; all zeros if no group has any);
* ``.uns[SIM]``: design, seed, groups, n_specific, sizes and parameters (h5ad-safe values only).
"""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np
import pandas as pd

from .base import GROUP_COLUMN, TRUE_MEAN_LAYER, assemble, group_labels, nb_counts, per_group
from .splatter import splatter2
from .toy import leakage, toy
from .wide import wide

BATCH_COLUMN = "batch"  # obs column of the planted batch (gaussian with n_batches > 1)
TRUE_BATCH_EFFECT = "true_batch_effect"  # varm, G x n_batches: the planted per-feature shifts

__all__ = [
    "DESIGNS", "GROUP_COLUMN", "TRUE_MEAN_LAYER", "anchor_counts", "block_layout", "block_support",
    "design_parameters", "gaussian", "nonlinear_features", "rnaseq", "simulate", "splatter2", "wide",
]


def block_layout(n_features: int, n_blocks: int, overlap: int) -> np.ndarray:
    """Contiguous, neighbour-overlapping feature blocks that tile ``range(n_features)``.

    Block ``k`` is ``[start_k, end_k)`` with ``start_k = round(k (G - o) / F)`` and
    ``end_k = start_{k+1} + o``, so consecutive blocks share exactly ``o`` features, every feature
    lies in at least one block, and the interior of each block (away from its neighbours) holds
    the anchor features of Assumption 1 (§3.1).

    Returns
    -------
    numpy.ndarray
        ``(n_blocks, 2)`` integer array of ``[start, end)``.

    Raises
    ------
    ValueError
        If some block would have fewer than two anchors (features in that block only).
    """
    if n_blocks <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    cuts = np.round(np.arange(n_blocks + 1) * (n_features - overlap) / n_blocks).astype(np.int64)
    blocks = np.stack([cuts[:-1], cuts[1:] + overlap], axis=1)
    blocks[-1, 1] = n_features
    anchors = anchor_counts(block_support(n_features, blocks))
    if anchors.min() < 2:
        raise ValueError(
            f"{n_features} features cannot hold {n_blocks} blocks with overlap {overlap} and >= 2 "
            "anchor features each; use more features, fewer factors or a smaller overlap"
        )
    return blocks


def block_support(n_features: int, blocks: np.ndarray) -> np.ndarray:
    """Boolean ``(n_features, n_blocks)`` support matrix of a :func:`block_layout`."""
    support = np.zeros((n_features, len(blocks)), dtype=bool)
    for k, (start, end) in enumerate(blocks):
        support[start:end, k] = True
    return support


def anchor_counts(support: np.ndarray) -> np.ndarray:
    """Number of anchor features per column: rows whose only non-zero is in that column (§3.1)."""
    support = np.asarray(support) != 0
    only = support & (support.sum(axis=1, keepdims=True) == 1)
    return only.sum(axis=0)


def _block_latents(rng, group_index: np.ndarray, n_shared: int, n_specific: list[int], sd: float):
    """Draw z ~ N(0, sd^2 I) and each sample's own xi ~ N(0, sd^2 I) (§4.1, §4.2).

    Returns the shared factors (N x K_S), own-group factors padded to max K_m, and the
    block-layout latent matrix ``z~`` of §2.2 (N x (K_S + sum K_m)): ``[z, 0, .., xi^(m), .., 0]``.
    """
    n = len(group_index)
    z = rng.normal(0.0, sd, size=(n, n_shared))
    k_max = max(n_specific, default=0)
    xi = np.zeros((n, k_max))
    z_tilde = np.zeros((n, n_shared + sum(n_specific)))
    z_tilde[:, :n_shared] = z
    offset = n_shared
    for m, k_m in enumerate(n_specific):
        rows = np.flatnonzero(group_index == m)
        xi[rows, :k_m] = rng.normal(0.0, sd, size=(len(rows), k_m))
        z_tilde[rows, offset : offset + k_m] = xi[rows, :k_m]
        offset += k_m
    return z, xi, z_tilde


def nonlinear_features(n_features: int) -> np.ndarray:
    """0-based indices of the nonlinear features: 1-based ``j ≡ 0 (mod 3)``, i.e. 2, 5, 8, ..."""
    return np.arange(2, n_features, 3)


def _signal(z_tilde: np.ndarray, w_full: np.ndarray, nonlinearity) -> np.ndarray:
    """``sum_k W_jk g_j(z~_ik)`` with g_j linear, or ``nonlinearity`` on every third feature."""
    out = z_tilde @ w_full.T
    nl = nonlinear_features(w_full.shape[0])
    # g(0) = 0 for both z^2 and sin, so the zero padding of other groups' factors stays inert.
    out[:, nl] = nonlinearity(z_tilde) @ w_full[nl].T
    return out


def gaussian(
    n_per_group: int = 1000,
    n_groups: int = 3,
    n_features: int = 100,
    n_shared: int = 8,
    n_specific=2,
    seed: int = 0,
    overlap: int = 2,
    n_batches: int = 1,
    batch_sd: float = 4.0,
) -> ad.AnnData:
    """Gaussian nonlinear factor analysis, Moran & Krishnan (2026) §4.1.

    For sample i of group m and feature j (1-based)::

        x_ij = sum_k W^S_jk z_ik   + sum_k W^m_jk xi_ik   + eps_ij   if j % 3 != 0
        x_ij = sum_k W^S_jk z_ik^2 + sum_k W^m_jk xi_ik^2 + eps_ij   if j % 3 == 0

    with ``z ~ N(0, 0.5^2 I)``, ``xi ~ N(0, 0.5^2 I)``, ``eps ~ N(0, 0.2)`` and non-zero
    ``W^S ~ N(8, 0.01)``, ``W^m ~ N(10, 0.01)``. The second argument of N(., .) is read as the
    *variance*, as printed (noise sd = sqrt(0.2) ~ 0.447, loading sd = 0.1), because the paper
    writes the latent law as N(0, 0.5^2) -- squared explicitly -- in the same paragraph.

    Support (Figure 2b is missing from the text, so this layout is ours). The
    ``F = K_S + sum K_m`` factors, in the order shared 1..K_S, group 1's, group 2's, ..., each own
    one contiguous feature block; the blocks tile all features and consecutive blocks overlap by
    ``overlap`` features (:func:`block_layout`). Hence every feature is loaded on one or two
    factors, and each block's interior features are anchors (loaded on that factor only, >= 2
    per factor; with the defaults F = 14 blocks of 9 features, 5 anchors inside each block).
    Each group's specific factors get their *own* rows, not rows shared with the other groups:
    specific blocks on the same rows with N(10, 0.01) weights would be (nearly) equal columns in
    every W^(m), i.e. a shared factor in disguise, the information-switching case of §3.2
    (Theorem 2 builds W^S from the columns common to all studies).

    Parameters
    ----------
    n_per_group, n_groups, n_features, n_shared
        N_m, M, G and K_S (paper: 1000, 3, 100, 8).
    n_specific
        K_m, an int for every group or one int per group (paper: 2).
    seed
        Seed of ``numpy.random.default_rng``.
    overlap
        Features shared by neighbouring blocks.
    n_batches, batch_sd
        A planted batch effect (not in the paper; for the covariates benchmark): with
        ``n_batches > 1`` each sample gets a batch uniformly at random, independently of its
        group (batches cross groups), and feature j of batch b is shifted by
        ``delta_bj ~ N(0, batch_sd^2)``, an additive effect on every feature. The default 4 is
        the size of one shared factor's contribution (loading 8 x latent sd 0.5). Drawn after
        everything else, so the rest of the data equals the design without batches.

    Returns
    -------
    anndata.AnnData
        ``X`` float32 (N x G), ground truth as described in the module docstring; ``uns[SIM]``
        also holds ``blocks`` (F x 2, 0-based ``[start, end)``) and the parameters. With
        batches: ``obs["batch"]`` (categorical ``batch1``, ...) and ``varm["true_batch_effect"]``
        (G x n_batches, the shifts delta).
    """
    rng = np.random.default_rng(seed)
    n_specific = per_group(n_specific, n_groups, "n_specific")
    blocks = block_layout(n_features, n_shared + sum(n_specific), overlap)
    support = block_support(n_features, blocks)
    w_full = np.zeros(support.shape)
    w_full[:, :n_shared] = rng.normal(8.0, np.sqrt(0.01), size=(n_features, n_shared))
    w_full[:, n_shared:] = rng.normal(10.0, np.sqrt(0.01), size=(n_features, sum(n_specific)))
    w_full *= support

    group_index = np.repeat(np.arange(n_groups), n_per_group)
    z, xi, z_tilde = _block_latents(rng, group_index, n_shared, n_specific, sd=0.5)
    x = _signal(z_tilde, w_full, np.square)
    x += rng.normal(0.0, np.sqrt(0.2), size=x.shape)
    batch = None
    if n_batches > 1:
        batch = rng.integers(n_batches, size=len(group_index))
        delta = rng.normal(0.0, batch_sd, size=(n_batches, n_features))
        x += delta[batch]
    uns = {
        "design": "gaussian",
        "seed": int(seed),
        "blocks": blocks,
        "params": {"latent_sd": 0.5, "noise_var": 0.2, "w_shared_mean": 8.0, "w_specific_mean": 10.0,
                   "w_var": 0.01, "overlap": int(overlap), "nonlinearity": "square on 1-based j % 3 == 0"},
    }
    if batch is not None:
        uns["params"].update(n_batches=int(n_batches), batch_sd=float(batch_sd))
    adata = assemble(x, group_index, group_labels(n_groups), z, xi, w_full[:, :n_shared], w_full[:, n_shared:],
                     n_specific, uns)
    if batch is not None:
        adata.obs[BATCH_COLUMN] = pd.Categorical.from_codes(batch, categories=[f"batch{b + 1}" for b in range(n_batches)])
        adata.varm[TRUE_BATCH_EFFECT] = delta.T
    return adata


def _add_offblock(rng, support: np.ndarray, frac: float, protect: np.ndarray) -> np.ndarray:
    """Add off-block non-zeros so that they are ``frac`` of each column's non-zeros (§4.2).

    ``protect`` marks features never given an extra loading, so two anchors per factor survive.
    """
    out = support.copy()
    for k in range(support.shape[1]):
        n_extra = int(round(frac / (1.0 - frac) * support[:, k].sum()))
        pool = np.flatnonzero(~support[:, k] & ~protect)
        out[rng.choice(pool, size=min(n_extra, len(pool)), replace=False), k] = True
    return out


def _sizes_from_props(n: int, props) -> np.ndarray:
    """Deterministic group sizes ``floor(p_m n)`` with the remainder given to the last group."""
    props = np.asarray(props, dtype=float)
    if np.any(props < 0) or not np.isclose(props.sum(), 1.0):
        raise ValueError(f"group_props must be non-negative and sum to 1; got {props.tolist()}")
    sizes = np.floor(props * n).astype(np.int64)
    sizes[-1] += n - sizes.sum()
    return sizes


def rnaseq(
    n_samples: int = 3200,
    n_features: int = 5000,
    n_shared: int = 10,
    n_specific=3,
    group_props=(0.3, 0.3, 0.4),
    seed: int = 0,
    overlap: int = 10,
    offblock_frac: float = 0.05,
    latent_sd: float = 0.5,
    keep_means: bool = False,
    library_log_mean: float = 12.0,
) -> ad.AnnData:
    """Synthetic bulk RNA-seq counts, Moran & Krishnan (2026) §4.2.

    For sample i of group m and gene j (1-based), with ``g(u) = sin(3 pi / 4 * u)``::

        mu_ij  = b_j + sum_k W^S_jk z_ik    + sum_k W^m_jk xi_ik        if j % 3 != 0
        mu_ij  = b_j + sum_k W^S_jk g(z_ik) + sum_k W^m_jk g(xi_ik)     if j % 3 == 0
        mu'_ij = softplus(mu_ij) / sum_j' softplus(mu_ij')
        mu~_ij = l_i mu'_ij,  l_i ~ LogNormal(12, 0.5^2)
        BCV_ij = (phi + 1 / sqrt(mu~_ij)) sqrt(nu / q_ij),  q_ij ~ chi^2_nu,  phi = 0.1, nu = 60
        X_ij   ~ NB(mean mu~_ij, inverse dispersion 1 / BCV_ij^2)

    with ``b_j ~ N(0, 0.5^2)``, non-zero ``W^S ~ N(10, 0.01)`` and ``W^m ~ N(12, 0.01)`` (variance
    0.01, as in §4.1). As printed, q is drawn per sample *and* gene (Splatter draws one per gene).

    Choices the paper leaves open (documented, all parameters):

    * True dimensions ``K_S = 10`` and ``K_m = 3`` per group: well below the fitted 50 and 10 of
      §4.2, so that pruning extra columns is tested, and 19 blocks of ~270 genes (5 % of G each),
      far from the 25 % density filter of §4.2.
    * Factors ``z, xi ~ N(0, latent_sd^2 I)`` with ``latent_sd = 0.5`` as in §4.1 (§4.2 does not
      say); it keeps most of the mass of ``sin(3 pi u / 4)`` on its monotone range |u| < 2/3.
    * Support: the block layout of :func:`gaussian` (distinct rows per group, see there), then
      "5 % non-block non-zeros" read as 5 % of each column's non-zeros lying off its block, at
      uniformly random genes; the first two anchors of every block never receive such an
      extra loading, so Assumption 1 keeps holding.
    * Group sizes are ``floor(p_m N)`` (remainder to the last group), not multinomial.

    Parameters
    ----------
    n_samples, n_features, n_shared, n_specific, group_props
        N, G, K_S, K_m (int or one per group) and group proportions (M = len(group_props)).
    seed
        Seed of ``numpy.random.default_rng``.
    overlap, offblock_frac, latent_sd
        Block overlap (genes), fraction of off-block non-zeros, sd of the factors. The default
        10 genes is 4 % of a block at G = 5000; it is a fixed count, so at smaller G adjacent
        programs share more of their genes (23 % at G = 600, 38 % at G = 300): keep the paper's
        share with ``overlap`` about ``G / 500``.
    keep_means
        Also store the NB means ``mu~`` as ``layers["true_mean"]`` (float32).
    library_log_mean
        The mean of log l_i (the paper's 12). The counts per gene fall as 1/G at a fixed library;
        ``12 + log(G / G0)`` holds them at G0's (benchmarks/nb_ladder.py).

    Returns
    -------
    anndata.AnnData
        ``X``: integer counts stored as float32 (exact below 2^24); ``obs["true_library_size"]``
        holds l_i; gene names ``gene_1`` ...; ``uns[SIM]`` holds ``blocks`` and the parameters.
    """
    rng = np.random.default_rng(seed)
    sizes = _sizes_from_props(n_samples, group_props)
    n_groups = len(sizes)
    n_specific = per_group(n_specific, n_groups, "n_specific")
    blocks = block_layout(n_features, n_shared + sum(n_specific), overlap)
    block = block_support(n_features, blocks)
    anchors = block & (block.sum(axis=1, keepdims=True) == 1)
    protect = np.zeros(n_features, dtype=bool)
    for k in range(block.shape[1]):
        protect[np.flatnonzero(anchors[:, k])[:2]] = True
    support = _add_offblock(rng, block, offblock_frac, protect)
    w_full = np.zeros(support.shape)
    w_full[:, :n_shared] = rng.normal(10.0, np.sqrt(0.01), size=(n_features, n_shared))
    w_full[:, n_shared:] = rng.normal(12.0, np.sqrt(0.01), size=(n_features, sum(n_specific)))
    w_full *= support
    intercept = rng.normal(0.0, 0.5, size=n_features)

    group_index = np.repeat(np.arange(n_groups), sizes)
    z, xi, z_tilde = _block_latents(rng, group_index, n_shared, n_specific, sd=latent_sd)
    base = np.logaddexp(0.0, intercept + _signal(z_tilde, w_full, lambda u: np.sin(0.75 * np.pi * u)))
    library = rng.lognormal(library_log_mean, 0.5, size=n_samples)
    mean = base * (library / base.sum(axis=1))[:, None]
    del base
    phi, nu = 0.1, 60
    bcv = (phi + 1.0 / np.sqrt(mean)) * np.sqrt(nu / rng.chisquare(nu, size=mean.shape))
    x = nb_counts(rng, mean, bcv)
    del bcv

    obs = pd.DataFrame({"true_library_size": library}, index=[f"sample_{i + 1}" for i in range(n_samples)])
    uns = {
        "design": "rnaseq",
        "seed": int(seed),
        "blocks": blocks,
        "params": {"latent_sd": float(latent_sd), "intercept_sd": 0.5, "w_shared_mean": 10.0,
                   "w_specific_mean": 12.0, "w_var": 0.01, "lib_meanlog": float(library_log_mean), "lib_sdlog": 0.5,
                   "bcv_phi": phi, "bcv_nu": nu, "overlap": int(overlap), "offblock_frac": float(offblock_frac),
                   "group_props": [float(p) for p in group_props],
                   "nonlinearity": "sin(3 pi / 4 u) on 1-based j % 3 == 0"},
    }
    adata = assemble(x, group_index, group_labels(n_groups), z, xi, w_full[:, :n_shared], w_full[:, n_shared:],
                     n_specific, uns, prefix="gene", obs=obs)
    if keep_means:
        adata.layers[TRUE_MEAN_LAYER] = mean.astype(np.float32)
    return adata


DESIGNS = {"gaussian": gaussian, "rnaseq": rnaseq, "splatter2": splatter2, "toy": toy, "leakage": leakage,
           "wide": wide}  # toy, leakage: simulate_toy


def design_parameters(design: str) -> list[str]:
    """Names of the keyword arguments a design accepts (its sizes and options, ``seed`` included)."""
    return list(inspect.signature(_resolve(design)).parameters)


def _resolve(design: str):
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose one of {sorted(DESIGNS)}")
    return DESIGNS[design]


def simulate(design: str, seed: int = 0, **sizes) -> ad.AnnData:
    """Simulate one of :data:`DESIGNS` by name, e.g. ``simulate("gaussian", seed=1, n_per_group=200)``."""
    return _resolve(design)(seed=seed, **sizes)
