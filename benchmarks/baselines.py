"""Linear baselines for the fidelity benchmark: PCA (the floor) and MOFA+ (mofapy2).

Both write the MSSVAE results contract (``varm[W_SHARED]``, ``varm[W_SPECIFIC]``,
``obsm[Z_SHARED]``, ``obsm[Z_SPECIFIC]``, ``uns[UNS]`` with groups and K_m), so
``mssvae.sim.evaluate`` scores them exactly as it scores an MSSVAE fit.

Rules (also in ``benchmarks/README.md``):

* **Input.** Gaussian designs: ``X`` as is. Count designs: ``log1p(X / l_i * median(l))`` with
  ``l_i`` the library size of sample i (the usual log-normalisation a linear method is run on).
* **Dimensions: the truth's (oracle).** PCA gets the true K_S and K_m; MOFA+ the true total
  ``K_S + sum K_m`` (its ARD priors may switch factors off). MSSVAE must find the dimensions
  itself from an overcomplete start, so the baselines are given an advantage here.
* **Dense loadings to supports** (:func:`sparsify`): entry ``j`` of column ``k`` is in the
  support when ``|v_jk| > rel_threshold * max_j |v_jk|`` (default :data:`REL_THRESHOLD` = 0.3);
  the written W holds ``v_jk / max_j |v_jk|`` on the support and exact zeros elsewhere, so it
  is scored with ``threshold=0`` (the support is the rule's, whatever the MSSVAE threshold).
* **PCA, shared vs specific** (:func:`pca_baseline`): the top K_S principal axes of the pooled,
  centred data are the shared columns; the data minus their rank-K_S reconstruction is centred
  within each group and the top K_m axes of group m's residuals are group m's columns.
* **MOFA+, shared vs specific** (:func:`assign_factors`): R²_{m,k}, the variance of group m's
  (group-centred) data explained by factor k alone, as MOFA+ reports it. Factor k is *active*
  in group m when ``R²_{m,k} >= max(R2_ACTIVE, R2_RELATIVE * max_m' R²_{m',k})`` (1 % of the
  group's variance, and at least a tenth of the factor's largest R²). Active in exactly one
  group m: a group-m factor ("its variance is ~0 in the other groups"); in two or more: shared;
  in none: dropped.
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np

from mssvae.contract import GROUP_KEY, GROUPS, N_SPECIFIC, SIM, UNS, W_SHARED, W_SPECIFIC, Z_SHARED, Z_SPECIFIC
from mssvae.sim.designs import GROUP_COLUMN

REL_THRESHOLD = 0.3
R2_ACTIVE = 0.01
R2_RELATIVE = 0.1


# ----- shared helpers ------------------------------------------------------------------------------
def log_normalise(X, counts: bool) -> np.ndarray:
    """``X`` as float64 (Gaussian), or ``log1p`` of library-size-normalised counts."""
    X = np.array(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)  # a copy
    if not counts:
        return X
    lib = X.sum(axis=1, keepdims=True)
    lib = np.where(lib > 0, lib, 1.0)
    return np.log1p(X / lib * np.median(lib))


def sparsify(V, rel_threshold: float = REL_THRESHOLD) -> np.ndarray:
    """Dense loadings (G x K) to sparse ones by the relative rule of the module docstring.

    Each column is divided by its largest absolute entry and entries with
    ``|v| <= rel_threshold`` are set to exactly zero; all-zero columns stay zero.
    """
    V = np.asarray(V, dtype=np.float64)
    scale = np.abs(V).max(axis=0) if V.size else np.zeros(V.shape[1])
    out = np.zeros_like(V)
    live = scale > 0
    out[:, live] = V[:, live] / scale[live]
    out[np.abs(out) <= rel_threshold] = 0.0
    return out


def _top_axes(Y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N x k) and unit loadings (G x k) of the top ``k`` principal axes of centred ``Y``."""
    if k <= 0:
        return np.zeros((Y.shape[0], 0)), np.zeros((Y.shape[1], 0))
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    k = min(k, len(s))
    return U[:, :k] * s[:k], Vt[:k].T


def _truth_sizes(adata) -> tuple[list[str], int, list[int]]:
    sim = adata.uns[SIM]
    groups = [str(g) for g in np.atleast_1d(sim[GROUPS])]
    return groups, int(sim["n_shared"]), [int(k) for k in np.atleast_1d(sim[N_SPECIFIC])]


def write_contract(adata, W_shared, W_blocks, Z_shared, Z_blocks, groups, method: str, extra: dict | None = None):
    """Write a baseline's loadings and latents in the MSSVAE results contract.

    ``W_blocks[m]`` is G x K_m for ``groups[m]``; ``Z_blocks[m]`` its scores for the samples of
    that group (n_m x K_m, in the order those samples appear in ``adata``).
    """
    labels = adata.obs[GROUP_COLUMN].astype(str).to_numpy()
    n_spec = [int(w.shape[1]) for w in W_blocks]
    kmax = max(n_spec, default=0)
    Z_spec = np.zeros((adata.n_obs, kmax))
    for label, z in zip(groups, Z_blocks):
        rows = labels == label
        Z_spec[rows, : z.shape[1]] = z
    G = adata.n_vars
    adata.varm[W_SHARED] = np.asarray(W_shared, dtype=np.float64).reshape(G, -1)
    adata.varm[W_SPECIFIC] = np.hstack([np.zeros((G, 0)), *W_blocks]) if W_blocks else np.zeros((G, 0))
    adata.obsm[Z_SHARED] = np.asarray(Z_shared, dtype=np.float64).reshape(adata.n_obs, -1)
    adata.obsm[Z_SPECIFIC] = Z_spec
    adata.uns[UNS] = {GROUPS: list(groups), N_SPECIFIC: np.asarray(n_spec, dtype=np.int64), GROUP_KEY: GROUP_COLUMN,
                      "method": method, **(extra or {})}


# ----- PCA ------------------------------------------------------------------------------------------
def pca_baseline(adata, counts: bool, rel_threshold: float = REL_THRESHOLD) -> dict:
    """Pooled PCA for the shared columns, per-group PCA of the residuals for the group columns.

    Dimensions are the truth's (``adata.uns[SIM]``). Writes the contract into ``adata`` and
    returns ``{"seconds": ...}``.
    """
    t0 = time.perf_counter()
    groups, k_shared, k_spec = _truth_sizes(adata)
    Y = log_normalise(adata.X, counts)
    Yc = Y - Y.mean(axis=0)
    Z_s, V_s = _top_axes(Yc, k_shared)
    R = Yc - Z_s @ V_s.T
    labels = adata.obs[GROUP_COLUMN].astype(str).to_numpy()
    W_blocks, Z_blocks = [], []
    for label, k in zip(groups, k_spec):
        Rm = R[labels == label]
        z, v = _top_axes(Rm - Rm.mean(axis=0), k)
        W_blocks.append(sparsify(v, rel_threshold))
        Z_blocks.append(z)
    write_contract(adata, sparsify(V_s, rel_threshold), W_blocks, Z_s, Z_blocks, groups, "pca",
                   {"rel_threshold": float(rel_threshold)})
    return {"seconds": time.perf_counter() - t0}


# ----- MOFA+ ----------------------------------------------------------------------------------------
def mofa_available() -> str | None:
    """``None`` if mofapy2 imports, else the reason it cannot be used."""
    try:
        import mofapy2  # noqa: F401
    except Exception as err:  # ImportError, or a broken install
        return f"mofapy2 is not importable ({type(err).__name__}: {err}); `pip install mofapy2` (keeps numpy<2)"
    return None


def variance_explained(Y_groups: list[np.ndarray], Z_groups: list[np.ndarray], W: np.ndarray) -> np.ndarray:
    """R² (M x K) of each factor alone in each group: ``1 - |Y_m - z_mk w_k^T|² / |Y_m|²``.

    This is MOFA+'s per-factor variance explained (Argelaguet et al. 2020) for one view, with
    ``Y_m`` centred within its group.
    """
    out = np.zeros((len(Y_groups), W.shape[1]))
    for m, (Y, Z) in enumerate(zip(Y_groups, Z_groups)):
        total = float(np.sum(Y**2))
        for k in range(W.shape[1]):
            resid = Y - np.outer(Z[:, k], W[:, k])
            out[m, k] = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 0.0
    return out


def assign_factors(r2, active: float = R2_ACTIVE, relative: float = R2_RELATIVE) -> list:
    """``"shared"``, a 0-based group index, or ``None`` (inactive) for each column of ``r2`` (M x K).

    See the module docstring for the rule.
    """
    r2 = np.asarray(r2, dtype=float)
    out = []
    for k in range(r2.shape[1]):
        col = r2[:, k]
        on = np.flatnonzero(col >= max(active, relative * col.max()))
        out.append(None if len(on) == 0 else int(on[0]) if len(on) == 1 else "shared")
    return out


def mofa_baseline(adata, counts: bool, seed: int = 0, rel_threshold: float = REL_THRESHOLD, iters: int = 1000,
                  n_factors: int | None = None) -> dict:
    """MOFA+ with the studies as groups, one view; factors split by :func:`assign_factors`.

    ``n_factors`` defaults to the true ``K_S + sum K_m``. Writes the contract into ``adata``
    and returns ``{"seconds": ..., "assignment": [...], "r2": M x K list}``.
    """
    from mofapy2.run.entry_point import entry_point

    t0 = time.perf_counter()
    groups, k_shared, k_spec = _truth_sizes(adata)
    n_factors = int(n_factors or k_shared + sum(k_spec))
    Y = log_normalise(adata.X, counts)
    labels = adata.obs[GROUP_COLUMN].astype(str).to_numpy()
    rows = [np.flatnonzero(labels == g) for g in groups]
    # MOFA+ centres each group's features itself (center_groups=True); we do the same for R².
    Y_groups = [Y[r] - Y[r].mean(axis=0) for r in rows]
    keep = np.concatenate(Y_groups).std(axis=0) > 0
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        ent = entry_point()
        ent.set_data_options(scale_views=False, scale_groups=False, center_groups=True)
        ent.set_data_matrix([[Yg[:, keep] for Yg in Y_groups]], likelihoods=["gaussian"], views_names=["view"],
                            groups_names=list(groups))
        ent.set_model_options(factors=n_factors, spikeslab_weights=True, ard_weights=True, ard_factors=True)
        ent.set_train_options(iter=iters, convergence_mode="fast", seed=int(seed), verbose=False, quiet=True,
                              startELBO=1, freqELBO=5)
        ent.build()
        ent.run()
    W_kept = np.asarray(ent.model.nodes["W"].getExpectation()[0])  # features x K (kept features)
    W = np.zeros((adata.n_vars, W_kept.shape[1]))
    W[keep] = W_kept
    Z_all = np.asarray(ent.model.nodes["Z"].getExpectation())  # samples (group-stacked) x K
    offsets = np.cumsum([0, *[len(r) for r in rows]])
    Z_groups = [Z_all[offsets[m] : offsets[m + 1]] for m in range(len(groups))]
    r2 = variance_explained(Y_groups, Z_groups, W)
    assignment = assign_factors(r2)

    shared = [k for k, a in enumerate(assignment) if a == "shared"]
    Z_shared = np.zeros((adata.n_obs, len(shared)))
    for m, r in enumerate(rows):
        Z_shared[r] = Z_groups[m][:, shared]
    W_blocks, Z_blocks = [], []
    for m in range(len(groups)):
        cols = [k for k, a in enumerate(assignment) if a == m]
        W_blocks.append(sparsify(W[:, cols], rel_threshold))
        Z_blocks.append(Z_groups[m][:, cols])
    write_contract(adata, sparsify(W[:, shared], rel_threshold), W_blocks, Z_shared, Z_blocks, groups, "mofa",
                   {"rel_threshold": float(rel_threshold)})
    return {"seconds": time.perf_counter() - t0, "assignment": [str(a) for a in assignment],
            "r2": np.round(r2, 4).tolist()}


__all__ = [
    "R2_ACTIVE", "R2_RELATIVE", "REL_THRESHOLD", "assign_factors", "log_normalise", "mofa_available", "mofa_baseline",
    "pca_baseline", "sparsify", "variance_explained", "write_contract",
]
