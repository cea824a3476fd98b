"""Helpers shared by the simulation designs (:mod:`mssvae.sim.designs`, :mod:`mssvae.sim.splatter`)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from ..contract import GROUPS, N_SPECIFIC, SIM, TRUE_W_SHARED, TRUE_W_SPECIFIC, TRUE_Z_SHARED, TRUE_Z_SPECIFIC

GROUP_COLUMN = "group"  # obs column holding the group labels (the CLI's default group key)
TRUE_MEAN_LAYER = "true_mean"  # optional layer with the NB means, for checking the noise model


def group_labels(n_groups: int) -> list[str]:
    """Group labels ``["group1", ..., "groupM"]`` used by every design."""
    return [f"group{m + 1}" for m in range(n_groups)]


def per_group(value, n_groups: int, name: str) -> list[int]:
    """Broadcast an int (or check a sequence) to one non-negative int per group."""
    values = [int(value)] * n_groups if np.ndim(value) == 0 else [int(v) for v in value]
    if len(values) != n_groups or min(values, default=0) < 0:
        raise ValueError(f"{name} must be a non-negative int or one per group ({n_groups}); got {value!r}")
    return values


def assemble(
    x, group_index, groups, z_shared, xi, w_shared, w_specific, n_specific, uns, prefix="feature", obs=None
) -> ad.AnnData:
    """Wrap simulated data and ground truth in an AnnData (layout: :mod:`mssvae.sim.designs`).

    ``group_index`` holds each sample's 0-based group; ``xi`` its own-group factors padded to
    max K_m; ``uns`` design-specific entries merged into ``.uns[SIM]`` (h5ad-safe values only).
    """
    n, g = x.shape
    frame = pd.DataFrame(index=[f"sample_{i + 1}" for i in range(n)]) if obs is None else obs
    frame[GROUP_COLUMN] = pd.Categorical.from_codes(group_index, categories=groups)
    adata = ad.AnnData(
        X=np.asarray(x, dtype=np.float32), obs=frame, var=pd.DataFrame(index=[f"{prefix}_{j + 1}" for j in range(g)])
    )
    adata.varm[TRUE_W_SHARED] = np.asarray(w_shared, dtype=np.float64)
    adata.varm[TRUE_W_SPECIFIC] = np.asarray(w_specific, dtype=np.float64)
    adata.obsm[TRUE_Z_SHARED] = np.asarray(z_shared, dtype=np.float64)
    adata.obsm[TRUE_Z_SPECIFIC] = np.asarray(xi, dtype=np.float64)
    adata.uns[SIM] = {
        GROUPS: [str(label) for label in groups],
        N_SPECIFIC: [int(k) for k in n_specific],
        "n_shared": int(w_shared.shape[1]),
        "n_samples": int(n),
        "n_features": int(g),
        "group_sizes": [int(s) for s in np.bincount(group_index, minlength=len(groups))],
        **uns,
    }
    return adata


def nb_counts(rng, mean: np.ndarray, bcv: np.ndarray) -> np.ndarray:
    """NB(mean, inverse dispersion 1/BCV^2) draws as Poisson(Gamma(1/BCV^2, mean BCV^2)).

    The Gamma-Poisson mixture has mean ``mean`` and variance ``mean + mean^2 BCV^2``, the
    parameterisation of Eq. 2.5 with ``phi = 1/BCV^2`` (and of Splatter's ``splatSimBCVMeans``).
    """
    shape = 1.0 / np.square(bcv)
    return rng.poisson(rng.gamma(shape, mean / shape)).astype(np.float32)


