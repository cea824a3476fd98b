"""The results contract in AnnData (README, "Results contract") and what is read back from it:
gene sets per factor (paper §5) at the fit's gene-set threshold."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from importlib.metadata import version

import numpy as np
import pandas as pd

from .. import __version__
from .. import contract as C


def _h5ad_safe(value):
    """Settings as values h5ad can store: no None, tuples as lists, dicts recursively."""
    if value is None:
        return "none"
    if isinstance(value, dict):
        return {str(k): _h5ad_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_h5ad_safe(v) for v in value]
    return value


#: The paper's gene-set threshold (§5): |W| > 0.5 on a fit whose W is on the scale of its start (1).
PAPER_GENE_SET_THRESHOLD = 0.5
#: The gene-set threshold as a share of the fit's scale (the smallest peak |W| of an active factor).
RELATIVE_GENE_SET_THRESHOLD = 0.1


def gene_set_threshold(W) -> float:
    """The |W| above which a gene joins a factor's gene set, from the fitted W (G × K).

    ``min(0.5, max(0.03, 0.1 × s))``, with ``s`` the smallest over the active factors (some
    |W| > 0.03, the support threshold) of each factor's largest |W|. The smallest, because each
    column's scale is free on its own: in one wide fit the shared columns peaked at 1.1-1.2 and
    the group columns at 0.17-1.1, and a threshold from the median (0.115) cut the weakest
    group's program (Jaccard 0.18 against 1.00 at 0.03). The scale of W is not
    identified under the free Gaussian decoder (docs/design.md, "Scale of W and the Lipschitz
    decoder"): on wide data W shrinks (largest |W| 0.04-0.15) while its supports at 0.03 stay
    right, so the paper's fixed 0.5 (§5) returns nothing. Where every active factor peaks at 5 or
    more the rule is §5's 0.5; below, it follows the fit's scale down to the support threshold,
    which rests on W's noise floor
    (``contract.DEFAULT_THRESHOLD``). Measured in benchmarks/FINDINGS.md, "Gene sets on wide
    data" (2026-12-06). A W with no active factor gives 0.03.

    Parameters
    ----------
    W
        Fitted loadings, features × factors (NaN rows, features left out of the fit, are ignored).

    Returns
    -------
    float
    """
    A = np.abs(np.nan_to_num(np.asarray(W, dtype=np.float64)))
    peaks = A.max(axis=0) if A.size else np.zeros(0)
    peaks = peaks[peaks > C.DEFAULT_THRESHOLD]
    if not len(peaks):
        return float(C.DEFAULT_THRESHOLD)
    scale = float(peaks.min())
    return float(min(PAPER_GENE_SET_THRESHOLD, max(C.DEFAULT_THRESHOLD, RELATIVE_GENE_SET_THRESHOLD * scale)))


def warn_inactive(W, likelihood: str) -> bool:
    """Warn once (``UserWarning``) when no factor of the fitted W (G × K) has an entry above the
    support threshold 0.03, so that every gene set is empty, with what to try. Returns whether
    it warned."""
    A = np.abs(np.nan_to_num(np.asarray(W, dtype=np.float64)))
    if A.size and (A > C.DEFAULT_THRESHOLD).any():
        return False
    try_ = ("lipschitz_decoder=True (W then carries the effects' scale), " if likelihood == "gaussian" else "")
    warnings.warn(
        f"no factor has a loading |W| > {C.DEFAULT_THRESHOLD:g} (largest {A.max() if A.size else 0:.3g}), so every gene "
        f"set is empty: the penalty shrank W to its noise floor. Try a smaller sparsity_weight, {try_}more epochs, or "
        "fewer features (the most variable genes)", stacklevel=3)
    return True


def write_results(model, adata, layer: str | None = None, groups=None, covariates=None) -> None:
    """Write W, latents, η, p*, noise parameters, history, settings and versions into ``adata``.

    ``groups`` are the per-sample labels when the model was fitted with ``groups=`` rather than
    a ``group_key``; ``covariates`` the covariate table when it was fitted with ``covariates=``.
    A model with covariates also writes ``.uns["mssvae"]["covariates"]`` (the encoding: names,
    kinds, design columns, levels, center, scale) and ``["covariate_effects"]`` (β, G × C)."""
    module, state = model._require_fit(), model.state
    ks = model.settings.n_shared
    W = model._w()
    adata.varm[C.W_SHARED] = W[:, :ks]
    adata.varm[C.W_SPECIFIC] = W[:, ks:]
    latents = model.transform(adata, layer=layer, groups=groups, covariates=covariates)
    adata.obsm[C.Z_SHARED] = latents["shared"].to_numpy()
    adata.obsm[C.Z_SPECIFIC] = latents["specific"].to_numpy()
    eta = module.eta.cpu().double().numpy()
    if model.settings.likelihood == "gaussian":
        noise = {"sigma2": state.full_rows(module.log_sigma2.detach().exp().cpu().double().numpy(), np.nan)}
    else:
        noise = {"phi": state.full_rows(module.log_phi.detach().exp().cpu().double().numpy(), np.nan)}
    history = model.history_frame().reset_index()
    adata.uns[C.UNS] = {
        C.GROUPS: list(model.groups),
        C.GROUP_KEY: state.group_key or "none",
        C.N_SPECIFIC: np.asarray(state.n_specific, dtype=np.int64),
        C.ETA_SHARED: eta[:ks],
        C.ETA_SPECIFIC: eta[ks:],
        "p_star": state.full_rows(module.p_star.cpu().double().numpy()),
        "features_used": state.kept.copy(),
        **noise,
        C.HISTORY: {c: history[c].to_numpy() for c in history.columns},
        C.SETTINGS: _h5ad_safe({**asdict(model.settings), "seed": state.seed, "layer": layer}),
        C.VERSIONS: {"mssvae": __version__, **{p: version(p) for p in ("torch", "numpy", "anndata")}},
        C.GENE_SET_THRESHOLD: gene_set_threshold(W),
    }
    for key, value in ((C.RUNTIME, state.runtime), (C.STOPPING, state.stopping), (C.DISTRIBUTED, state.distributed)):
        if value:
            adata.uns[C.UNS][key] = _h5ad_safe(value)
    if model.covariate_encoding is not None:
        adata.uns[C.UNS][C.COVARIATES] = model.covariate_encoding.to_dict()
        adata.uns[C.UNS][C.COVARIATE_EFFECTS] = state.full_rows(module.covariate_effect.detach().cpu().double().numpy())


def factor_names(adata) -> dict[str, list[str]]:
    """Factor names per block (``shared`` and each group) from a fitted AnnData."""
    uns = _uns(adata)
    out = {"shared": [f"shared_{k + 1}" for k in range(adata.varm[C.W_SHARED].shape[1])]}
    for g, k in zip(uns[C.GROUPS], np.asarray(uns[C.N_SPECIFIC]).tolist()):
        out[str(g)] = [f"{g}_{i + 1}" for i in range(int(k))]
    return out


def _uns(adata) -> dict:
    if C.UNS not in adata.uns or C.W_SHARED not in adata.varm:
        raise KeyError(f"no MSSVAE results in this AnnData (.uns[{C.UNS!r}]); fit first with mssvae.fit(adata, group_key=...)")
    return adata.uns[C.UNS]


def loadings(adata) -> pd.DataFrame:
    """All W columns side by side (features × factors), named as in ``factor_names``."""
    names = factor_names(adata)
    W = np.hstack([adata.varm[C.W_SHARED], adata.varm[C.W_SPECIFIC]])
    return pd.DataFrame(W, index=adata.var_names, columns=sum(names.values(), []))


def fit_threshold(adata, threshold: float | None = None) -> float:
    """``threshold`` if given, else the fit's gene-set threshold recorded in
    ``.uns["mssvae"]["gene_set_threshold"]``; results written without it (before 2026-12-06)
    are read at the paper's 0.5, as R's ``factorGeneSets()`` reads them."""
    if threshold is not None:
        return float(threshold)
    recorded = _uns(adata).get(C.GENE_SET_THRESHOLD)
    return float(recorded) if recorded is not None else PAPER_GENE_SET_THRESHOLD


def factor_gene_sets(adata, threshold: float | None = None, which: str = "all",
                     min_size: int = 1) -> dict[str, list[str]]:
    """Features with |W| > ``threshold`` per factor (the gene sets C_k of paper §5).

    Parameters
    ----------
    adata
        An AnnData holding MSSVAE results.
    threshold
        None (default): the fit's threshold, recorded in ``.uns["mssvae"]["gene_set_threshold"]``
        (:func:`gene_set_threshold`: the paper's 0.5 where W is on its scale, less where the fit
        shrank W). The paper's §5 uses 0.5.
    which
        ``"all"``, ``"shared"`` or a group label.
    min_size
        Leave out factors with fewer features (inactive factors have none).

    Warns (``UserWarning``) when a set holds more than half of the fitted features: W is not
    sparse yet (the fit was too short), and such a set says little. R's ``factorGeneSets()``
    warns the same way.

    Returns
    -------
    dict
        Factor name (``shared_3``, ``<group>_2``) → list of feature names, ordered by |W|.
    """
    names = factor_names(adata)
    threshold = fit_threshold(adata, threshold)
    if which != "all" and which not in names:
        raise KeyError(f"which={which!r} is not 'all', 'shared' or a group; groups: {list(names)[1:]}")
    W = loadings(adata)
    blocks = names if which == "all" else {which: names[which]}
    out = {}
    for cols in blocks.values():
        for col in cols:
            w = W[col].abs()
            genes = w[w > threshold].sort_values(ascending=False).index.astype(str).tolist()
            if len(genes) >= min_size:
                out[col] = genes
    n_fitted = int(W.notna().any(axis=1).sum())
    dense = [k for k, g in out.items() if len(g) > n_fitted / 2]
    if dense:
        warnings.warn(
            f"the gene sets of {', '.join(dense)} hold more than half of the {n_fitted} fitted features "
            f"(|W| > {threshold:g}): W is not sparse yet, so these sets say little; fit longer (more "
            "epochs) or raise `threshold`",
            stacklevel=2,
        )
    return out
