"""Two small designs from the seed papers, in the layout of :mod:`mssvae.sim.designs`.

``toy``
    The Sparse VAE's seven-feature example (Moran et al. 2022, §5 "Synthetic data", Eq. 10): one
    group, two correlated factors; with one group the MSSVAE is the Sparse VAE.
``leakage``
    A stress test after Märtens & Yau (§4.1): a fixed set of features driven by shared factors
    (which also separate cell types) beside a growing number of features driven only by
    group-specific factors, to see whether dominant private variation leaks into the shared part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import assemble, group_labels

TOY_SUPPORT = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 1]], dtype=float)
"""Which of the two factors each of x1..x7 depends on (Eq. 10 of the Sparse VAE paper)."""


def toy_signal(z: np.ndarray) -> np.ndarray:
    """The noiseless features of Eq. 10: x1 = z1, x2 = 2 z1, x3 = 3 z1², x4 = 4 z2, x5 = 5 z2,
    x6 = 6 sin z2, x7 = 7 z1 z2."""
    z1, z2 = z[:, 0], z[:, 1]
    return np.stack([z1, 2 * z1, 3 * z1**2, 4 * z2, 5 * z2, 6 * np.sin(z2), 7 * z1 * z2], axis=1)


def toy(n_samples: int = 1000, rho: float = 0.0, noise_sd: float = 0.5, seed: int = 0):
    """The Sparse VAE's synthetic data (Moran et al. 2022, Eq. 10), as an AnnData with one group.

    ``z_i ~ N(0, [[1, ρ], [ρ, 1]])`` (unit variances, correlation ρ; the paper varies
    ρ ∈ {0, 0.2, 0.4, 0.6, 0.8}), ``x_i = toy_signal(z_i) + ε_i`` with ``ε ~ N(0, noise_sd² I)``
    (paper: N = 1000, noise N(0, 0.5²)). The unit factor variance is our reading: the slides
    print only the correlation.

    Ground truth: ``true_W_shared`` is :data:`TOY_SUPPORT` (G × 2; the non-zero pattern is what
    matters, the functions differ per feature), ``true_z_shared`` the factors; no group-specific
    factors (``true_W_specific`` is G × 0).

    Parameters
    ----------
    n_samples, rho, noise_sd
        N, the factor correlation ρ (in (-1, 1)) and the noise sd.
    seed
        Seed of ``numpy.random.default_rng``.
    """
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (-1, 1); got {rho}")
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, rho], [rho, 1.0]])
    z = rng.multivariate_normal(np.zeros(2), cov, size=n_samples)
    x = toy_signal(z) + rng.normal(0.0, noise_sd, size=(n_samples, 7))
    uns = {"design": "toy", "seed": int(seed), "params": {"rho": float(rho), "noise_sd": float(noise_sd)}}
    return assemble(x, np.zeros(n_samples, dtype=np.int64), group_labels(1), z, np.zeros((n_samples, 0)),
                    TOY_SUPPORT.copy(), np.zeros((7, 0)), [0], uns)


def leakage(
    n_per_group: int = 400,
    n_groups: int = 2,
    n_shared_features: int = 20,
    n_private_features: int = 100,
    n_cell_types: int = 4,
    n_private_factors: int = 2,
    noise_sd: float = 0.5,
    seed: int = 0,
):
    """Shared cell-type signal on a few features beside many group-only features (after Märtens & Yau 2024, §4.1).

    Every sample has a cell type c_i (uniform over ``n_cell_types``) and two shared factors
    ``z_i = μ_{c_i} + 0.3 ε_i``, with the cell-type centres μ_c evenly on a circle of radius 1.5
    (so cell types separate in the shared space, as in multiGroupVI's benchmark). The
    ``n_shared_features`` shared features load on one shared factor each (first half on z1,
    second half on z2), weight ~ N(2, 0.1²), with ``sin`` on every third feature:
    ``x_ij = w_j g_j(z_ik)``. Each group owns ``n_private_features / n_groups`` private features,
    split over its ``n_private_factors`` factors ξ ~ N(0, 1) in the same way (weight ~ N(2, 0.1²));
    on other groups' samples they are noise only. Noise ``N(0, noise_sd²)`` everywhere.

    Märtens & Yau fix P = 10 shared features per modality and raise the private ones
    Q ∈ {20, 50, 100, …, 1000}; here the sweep is over ``n_private_features``.

    Returns
    -------
    anndata.AnnData
        Layout of :mod:`mssvae.sim.designs`; ``obs["cell_type"]``, ``var["feature_set"]``
        ("shared" or the owning group's label).
    """
    if n_private_features < n_groups * n_private_factors:
        raise ValueError(f"need at least {n_groups * n_private_factors} private features (one per group factor)")
    if n_shared_features < 2:
        raise ValueError("need at least 2 shared features (one per shared factor)")
    rng = np.random.default_rng(seed)
    n = n_per_group * n_groups
    group_index = np.repeat(np.arange(n_groups), n_per_group)
    cell_type = rng.integers(n_cell_types, size=n)
    angles = 2 * np.pi * np.arange(n_cell_types) / n_cell_types
    centres = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    z = centres[cell_type] + 0.3 * rng.normal(size=(n, 2))
    xi = rng.normal(size=(n, n_private_factors))

    G = n_shared_features + n_private_features
    w_shared = np.zeros((G, 2))
    owner_shared = np.minimum(np.arange(n_shared_features) * 2 // n_shared_features, 1)
    w_shared[np.arange(n_shared_features), owner_shared] = rng.normal(2.0, 0.1, size=n_shared_features)
    w_specific = np.zeros((G, n_groups * n_private_factors))
    owner_group = np.minimum(np.arange(n_private_features) * n_groups // n_private_features, n_groups - 1)
    feature_set = ["shared"] * n_shared_features
    for m in range(n_groups):
        cols = np.flatnonzero(owner_group == m)
        k = np.minimum(np.arange(len(cols)) * n_private_factors // len(cols), n_private_factors - 1)
        w_specific[n_shared_features + cols, m * n_private_factors + k] = rng.normal(2.0, 0.1, size=len(cols))
    feature_set += [group_labels(n_groups)[m] for m in owner_group]

    nonlinear = np.zeros(G, dtype=bool)
    nonlinear[2::3] = True
    z_tilde = np.zeros((n, 2 + n_groups * n_private_factors))
    z_tilde[:, :2] = z
    for m in range(n_groups):
        rows = group_index == m
        z_tilde[rows, 2 + m * n_private_factors : 2 + (m + 1) * n_private_factors] = xi[rows]
    w_full = np.hstack([w_shared, w_specific])
    x = z_tilde @ w_full.T
    x[:, nonlinear] = np.sin(z_tilde) @ w_full[nonlinear].T  # sin(0) = 0: other groups' blocks stay inert
    x += rng.normal(0.0, noise_sd, size=x.shape)

    groups = group_labels(n_groups)
    obs = pd.DataFrame({"cell_type": pd.Categorical.from_codes(cell_type, [f"type{c + 1}" for c in range(n_cell_types)])},
                       index=[f"sample_{i + 1}" for i in range(n)])
    uns = {"design": "leakage", "seed": int(seed),
           "params": {"n_shared_features": int(n_shared_features), "n_private_features": int(n_private_features),
                      "n_cell_types": int(n_cell_types), "noise_sd": float(noise_sd), "centre_radius": 1.5,
                      "within_type_sd": 0.3, "w_mean": 2.0, "w_sd": 0.1, "nonlinearity": "sin on every third feature"}}
    adata = assemble(x, group_index, groups, z, xi, w_shared, w_specific, [n_private_factors] * n_groups, uns, obs=obs)
    adata.var["feature_set"] = pd.Categorical(feature_set, categories=["shared", *groups])
    return adata
