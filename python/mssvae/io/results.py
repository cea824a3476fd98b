"""The results contract in AnnData (README, "Results contract") and what is read back from it:
gene sets per factor (paper §5) at the fit's gene-set threshold."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from importlib.metadata import version

import numpy as np
import pandas as pd

from .._version import __version__
from .. import contract as C
from ..errors import MSSVAEInputError


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
#: A factor's gene-set threshold as a share of its own largest |W|.
RELATIVE_GENE_SET_THRESHOLD = 0.025


def gene_set_threshold(W, threshold: float | None = None) -> np.ndarray:
    """The |W| above which a gene joins each factor's gene set, from the fitted W (G × K).

    Per factor k: ``min(0.5, max(0.03, max_j |w_jk| / 40))``. The scale of each column of W is
    not identified on its own under the free Gaussian decoder (c = w̃ ⊙ z̃ feeds a bias-free
    first layer, whose input weights for factor k can grow while column k shrinks;
    docs/design.md, "Scale of W and the Lipschitz decoder"), so a rule free of that scale is
    relative to each column's own peak. On wide data W shrinks (largest |W| 0.04–1.2) while its
    supports at 0.03 stay right, and the paper's fixed 0.5 (§5) returned nothing. One threshold
    for all columns does not serve either: taken from the weakest column it swelled the strong
    ones' sets elsewhere (the PBMC demo's grew from 2–55 to 12–255 genes). Within a column the
    loadings of one planted program spread widely (wide fits: 5 % quantile at 4–8 % of the
    column's peak, median at 8–19 %), so a twentieth of the peak cut programs to Jaccard 0.70
    and a fortieth keeps them. A factor peaking at 20 or more keeps §5's 0.5; the floor is the
    support threshold 0.03, clear of W's noise floor (``contract.DEFAULT_THRESHOLD``).
    Measured in benchmarks/FINDINGS.md, "Gene sets on wide data" (2026-12-06).

    Parameters
    ----------
    W
        Fitted loadings, features × factors (NaN rows, features left out of the fit, are ignored).
    threshold
        One number for every column instead of the rule (a user's ``threshold=``).

    Returns
    -------
    numpy.ndarray
        One threshold per column of ``W``.
    """
    A = np.abs(np.nan_to_num(np.asarray(W, dtype=np.float64)))
    if threshold is not None:
        return np.full(A.shape[1], float(threshold))
    peaks = A.max(axis=0) if A.shape[0] else np.zeros(A.shape[1])
    return np.clip(RELATIVE_GENE_SET_THRESHOLD * peaks, C.DEFAULT_THRESHOLD, PAPER_GENE_SET_THRESHOLD)


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


def write_results(model, adata, prepared, layer: str | None = None) -> None:
    """Write W, latents, η, p*, noise parameters, history, settings and versions into ``adata``.

    ``prepared`` is ``adata``'s input as the model reads it (``model.prepare_input(adata)``; a
    fit passes the input it trained on), from which the latents are computed without reading or
    checking the data again; ``layer`` is recorded in the settings. A model with covariates also
    writes ``.uns["mssvae"]["covariates"]`` (the encoding: names, kinds, design columns, levels,
    center, scale) and ``["covariate_effects"]`` (β, G × C)."""
    module, state = model.fitted_module(), model.state
    settings = model.fitted_settings or model.settings
    ks = settings.n_shared
    W = model.W
    adata.varm[C.W_SHARED] = W[:, :ks]
    adata.varm[C.W_SPECIFIC] = W[:, ks:]
    latents = model.transform(prepared)
    adata.obsm[C.Z_SHARED] = latents["shared"].to_numpy()
    adata.obsm[C.Z_SPECIFIC] = latents["specific"].to_numpy()
    eta = module.eta.cpu().double().numpy()
    if settings.likelihood == "gaussian":
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
        C.SETTINGS: _h5ad_safe({**asdict(settings), "seed": state.seed, "layer": layer}),
        C.VERSIONS: {"mssvae": __version__, **{p: version(p) for p in ("torch", "numpy", "anndata")}},
        C.GENE_SET_THRESHOLD: gene_set_threshold(W),
    }
    stopping = dict(state.stopping or {})
    if stopping.get("folded") is not None:  # column positions -> factor names: {folded factor: the factor it joined}
        names = sum(block_names(ks, model.groups, state.n_specific).values(), [])
        stopping["folded"] = {names[k]: names[host] for k, host in stopping["folded"]}
    for key, value in ((C.RUNTIME, state.runtime), (C.STOPPING, stopping), (C.DISTRIBUTED, state.distributed)):
        if value:
            adata.uns[C.UNS][key] = _h5ad_safe(value)
    if state.stability:
        adata.uns[C.UNS][C.STABILITY] = {k: np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v)
                                         for k, v in state.stability.items()}
    if state.starts:
        adata.uns[C.UNS][C.STARTS] = {"seed": np.asarray(state.starts["seed"], dtype=np.int64),
                                      "objective": np.asarray(state.starts["objective"], dtype=np.float64),
                                      "chosen": int(state.starts["chosen"])}
    if model.covariate_encoding is not None:
        adata.uns[C.UNS][C.COVARIATES] = model.covariate_encoding.to_dict()
        adata.uns[C.UNS][C.COVARIATE_EFFECTS] = state.full_rows(module.covariate_effect.detach().cpu().double().numpy())


def factor_names(adata) -> dict[str, list[str]]:
    """Factor names per block (``shared`` and each group) from a fitted AnnData."""
    uns = _uns(adata)
    return block_names(adata.varm[C.W_SHARED].shape[1], uns[C.GROUPS], np.asarray(uns[C.N_SPECIFIC]).tolist())


def block_names(n_shared: int, groups, n_specific) -> dict[str, list[str]]:
    """Factor names per block: ``shared_1``, ... and ``<group>_1``, ... in W's column order."""
    out = {"shared": [f"shared_{k + 1}" for k in range(n_shared)]}
    for g, k in zip(groups, n_specific):
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


def fit_threshold(adata, threshold: float | None = None) -> pd.Series:
    """The gene-set threshold of each factor (a Series over the columns of :func:`loadings`):
    ``threshold`` for all if given, else the fit's, recorded in
    ``.uns["mssvae"]["gene_set_threshold"]`` (:func:`gene_set_threshold`); results written
    without it (before 2026-12-06) are read at the paper's 0.5, as R's ``factorGeneSets()``
    reads them."""
    columns = sum(factor_names(adata).values(), [])
    recorded = None if threshold is not None else _uns(adata).get(C.GENE_SET_THRESHOLD)
    if recorded is not None and np.size(recorded) == len(columns):
        return pd.Series(np.asarray(recorded, dtype=np.float64).ravel(), index=columns)
    value = PAPER_GENE_SET_THRESHOLD if threshold is None else float(threshold)
    return pd.Series(value, index=columns, dtype=np.float64)


def factor_stability_of(adata) -> pd.Series | None:
    """Each factor's stability across the starts of a fit with several (a Series over the columns
    of :func:`loadings`), or None for a fit of one start."""
    record = _uns(adata).get(C.STABILITY)
    if record is None:
        return None
    return pd.Series(np.asarray(record["stability"], dtype=np.float64).ravel(), index=sum(factor_names(adata).values(), []))


def factor_gene_sets(adata, threshold: float | None = None, which: str = "all",
                     min_size: int = 1, min_stability: float | None = None) -> dict[str, list[str]]:
    """Features with |W| > ``threshold`` per factor (the gene sets C_k of paper §5).

    Parameters
    ----------
    adata
        An AnnData holding MSSVAE results.
    threshold
        None (default): each factor's threshold, recorded in
        ``.uns["mssvae"]["gene_set_threshold"]`` (:func:`gene_set_threshold`: the paper's 0.5
        for a factor whose W is on its scale, a fortieth of its largest |W| where the fit shrank it).
        A number: that threshold for every factor; the paper's §5 uses 0.5.
    which
        ``"all"``, ``"shared"`` or a group label.
    min_size
        Leave out factors with fewer features (inactive factors have none).
    min_stability
        Leave out factors matched in fewer than this fraction of the other starts
        (``.uns["mssvae"]["stability"]``; a fit with ``starts`` of 2 or more).

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
    stability = factor_stability_of(adata)
    if min_stability is not None and stability is None:
        raise MSSVAEInputError("min_stability needs the stability of each factor, which a fit of several starts "
                               "records", hint="fit with starts=5 (CLI: --starts 5), or leave out min_stability",
                               args_named=("min_stability",))
    if min_stability is not None and not 0 <= min_stability <= 1:
        raise MSSVAEInputError(f"min_stability is a fraction of the starts, in [0, 1]; got {min_stability}",
                               args_named=("min_stability",))
    if which != "all" and which not in names:
        raise KeyError(f"which={which!r} is not 'all', 'shared' or a group; groups: {list(names)[1:]}")
    W = loadings(adata)
    blocks = names if which == "all" else {which: names[which]}
    out = {}
    for cols in blocks.values():
        for col in cols:
            w = W[col].abs()
            genes = w[w > threshold[col]].sort_values(ascending=False).index.astype(str).tolist()
            if len(genes) >= min_size and (min_stability is None or stability[col] >= min_stability):
                out[col] = genes
    n_fitted = int(W.notna().any(axis=1).sum())
    dense = [k for k, g in out.items() if len(g) > n_fitted / 2]
    if dense:
        warnings.warn(
            f"the gene sets of {', '.join(dense)} hold more than half of the {n_fitted} fitted features "
            f"(|W| above each factor's threshold): W is not sparse yet, so these sets say little; fit longer (more "
            "epochs) or raise `threshold`",
            stacklevel=2,
        )
    return out
