"""Which genes, and which factors, carry a group's specific signal: likelihood-ratio rankings.

Gene level (multiGroupVI, Weinberger et al. 2022, §4, Eq. 12). For the samples i of group m,
take the posterior means of the shared latents z_i and of the group's own latents ζ_i^(m)
(§2.2), decode them twice through the fitted decoder,

* M1, the full decoding: c_ij = w̃_j ⊙ [z_i, ζ_i^(m)] (the model's own z̃_i of §2.2);
* M0, the shared-only decoding: the same with ζ_i^(m) set to 0,

and score gene j by the log-likelihood ratio of the group's data under the two,

    BF_j^(m) = Σ_{i in m} [ log p(x_ij | M1) − log p(x_ij | M0) ],

with the model's own likelihood: Gaussian (Eq. 2.2, the fitted σ_j²) or negative binomial
(Eq. 2.5, the fitted φ_j). The NB library size ℓ_i is at its posterior mean
E_q[ℓ_i] = exp(μ_ℓ + σ_ℓ²/2) (q(log ℓ | x) is Normal, §2.4); both decodings use the same ℓ_i,
so the choice only scales the means. A large BF says the group's factors change how the model
explains that gene in that group; a gene the shared factors explain alone scores ≈ 0.

Factor level (which multiGroupVI lacks: it ranks genes, not programs). For each of the group's
factors k, the same ratio with *only* ζ_ik zeroed, summed over the group's samples and all
genes, measures how much of the group's data that factor explains; it is reported beside the
factor's genes by |W_jk| (the sparse loadings, §5 uses |W| > 0.5) and by their per-gene ratio.

Deviation from multiGroupVI, written down: Weinberger et al. do not say how the library size enters M0 and M1; we
use one value for both (above). Posterior *means* are used, as in multiGroupVI, not samples.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..contract import FACTOR_COLUMNS, GENE_COLUMNS
from ..core.batches import Batches
from ..core.module import log_nb
from ..errors import MSSVAEInputError
from ..io.results import gene_set_threshold


# ----- the model's likelihood at posterior means --------------------------------------------------
def _posterior_means(module, x: torch.Tensor, g: torch.Tensor, s: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Posterior means of the latents in block layout (z̃ of §2.2) and, for NB, E_q[ℓ]."""
    post = module.encode(x, g, s)
    z = post["mu"] * module.own_block_mask(g)
    lib = None
    if module.likelihood == "nb":
        lib = torch.exp(post["lib_mu"] + 0.5 * post["lib_logvar"].exp())  # B × 1
    return z, lib


def _log_lik_and_mean(module, x: torch.Tensor, f: torch.Tensor, lib: torch.Tensor | None):
    """Per-entry log-likelihood (B × G) and the decoded mean, under the model's likelihood."""
    if module.likelihood == "gaussian":
        log_s2 = module.log_sigma2
        return -0.5 * (math.log(2 * math.pi) + log_s2 + (x - f).pow(2) / log_s2.exp()), f
    mu = lib * F.softplus(f)
    return log_nb(x, mu, module.log_phi.exp()), mu


def _group_rows(model, data, group, group_key, layer, groups, covariates):
    """The fitted-feature matrix of ``group``'s samples and their coded covariates (None without),
    with the checks of ``transform``."""
    module = model.fitted_module()
    known = model.groups
    group = str(group)
    if group not in known:
        raise MSSVAEInputError(f"unknown group {group!r}", hint=f"the model's groups are: {', '.join(map(repr, known))}")
    inp = model.prepare_input(data, group_key, layer, groups, covariates)
    X, codes, S = inp.features, inp.codes, inp.covariates
    m = known.index(group)
    rows = np.flatnonzero(codes == m)
    if len(rows) == 0:
        raise MSSVAEInputError(f"no samples of group {group!r} in the data",
                               hint=f"the groups present are: {', '.join(sorted({known[c] for c in np.unique(codes)}))}")
    if module.n_specific[m] == 0:
        raise MSSVAEInputError(f"group {group!r} has no specific factors (n_specific = 0): there is nothing to rank")
    return module, X[rows], m, None if S is None else S[rows]


@contextmanager
def _inference(module):
    """Evaluation mode (batch-norm running statistics) without gradients; restores the mode."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def _batches(module, X, m: int, S, batch_size: int):
    dev = next(module.parameters()).device
    codes = np.full(X.shape[0], m, dtype=np.int64)
    yield from Batches(X, codes, dev, S).sequential(batch_size)


# ----- gene level -------------------------------------------------------------------------------
def rank_group_genes(model, data, group, group_key: str | None = None, layer: str | None = None, groups=None,
                     batch_size: int = 512, covariates=None) -> pd.DataFrame:
    """Rank the features by how much ``group``'s own factors matter for them (module docstring).

    Parameters
    ----------
    model : mssvae.MSSVAE
        A fitted model.
    data
        An AnnData (groups from ``obs[group_key]``, default the key of the fit) or a matrix with
        ``groups=``, on the features the model was fitted on; only ``group``'s samples are used.
    group : str
        One of ``model.groups``.
    group_key, layer, groups, covariates
        As :meth:`mssvae.MSSVAE.transform`: a model fitted with covariates needs them here too
        (both decodings keep each sample's covariate offset, so the ratio isolates the group's
        factors).
    batch_size : int
        Samples per forward pass.

    Returns
    -------
    pandas.DataFrame
        One row per fitted feature (constant features, left out of the fit, are not ranked),
        sorted by ``score`` descending: ``gene``; ``score`` = BF_j^(m), the log-likelihood ratio
        summed over the group's samples (Weinberger et al. 2022, Eq. 12); ``mean_log_lr`` = score / n_m;
        ``frac_positive``, the share of the group's samples whose ratio is > 0; ``mean_full`` and
        ``mean_shared``, the decoded mean averaged over the samples under M1 and M0;
        ``log2_fold_change`` = log2(mean_full / mean_shared) (NB only; NaN for Gaussian data,
        whose means may be negative).

    Raises
    ------
    MSSVAEInputError
        For an unknown group (the message lists the model's groups), a group absent from the
        data or without specific factors, or data that do not match the fit.
    """
    module, X, m, S = _group_rows(model, data, group, group_key, layer, groups, covariates)
    cols = module.block_group == m
    G = int(model.state.kept.sum())
    total = torch.zeros(G, dtype=torch.float64)
    positive = torch.zeros(G, dtype=torch.float64)
    mean_full = torch.zeros(G, dtype=torch.float64)
    mean_shared = torch.zeros(G, dtype=torch.float64)
    with _inference(module):
        for x, g, s in _batches(module, X, m, S, batch_size):
            z, lib = _posterior_means(module, x, g, s)
            z0 = z.clone()
            z0[:, cols] = 0.0
            ll1, mu1 = _log_lik_and_mean(module, x, module.decode(z, s), lib)
            ll0, mu0 = _log_lik_and_mean(module, x, module.decode(z0, s), lib)
            lr = (ll1 - ll0).double()
            total += lr.sum(0).cpu()
            positive += (lr > 0).sum(0).cpu().double()
            mean_full += mu1.double().sum(0).cpu()
            mean_shared += mu0.double().sum(0).cpu()
    n = X.shape[0]
    mean_full, mean_shared = (mean_full / n).numpy(), (mean_shared / n).numpy()
    if module.likelihood == "nb":
        lfc = np.log2(np.maximum(mean_full, 1e-12) / np.maximum(mean_shared, 1e-12))
    else:
        lfc = np.full(G, np.nan)
    genes = model.state.fitted_features
    out = pd.DataFrame({"gene": genes, "score": total.numpy(), "mean_log_lr": total.numpy() / n,
                        "frac_positive": positive.numpy() / n, "mean_full": mean_full, "mean_shared": mean_shared,
                        "log2_fold_change": lfc}, columns=GENE_COLUMNS)
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


# ----- factor level -----------------------------------------------------------------------------
def rank_group_factors(model, data, group, group_key: str | None = None, layer: str | None = None, groups=None,
                       threshold: float | None = None, n_top: int = 10, batch_size: int = 512, covariates=None) -> pd.DataFrame:
    """Score each of ``group``'s specific factors by the log-likelihood its removal costs.

    For factor k of group m: score_k = Σ_{i in m} Σ_j [log p(x_ij | M1) − log p(x_ij | M1 with
    ζ_ik = 0)] (module docstring), the decrease in the group's log-likelihood when only that
    factor is switched off. Inactive factors (W column ≈ 0) score ≈ 0.

    Parameters
    ----------
    model, data, group, group_key, layer, groups, batch_size, covariates
        As :func:`rank_group_genes`.
    threshold : float or None
        |W| above which a gene counts as loading on the factor; None: the model's
        gene-set threshold of each factor (:func:`mssvae.io.results.gene_set_threshold`; §5's 0.5 where W is on its scale).
    n_top : int
        Genes listed per factor.

    Returns
    -------
    pandas.DataFrame
        One row per factor of the group, sorted by ``score`` descending: ``factor``; ``score``;
        ``mean_log_lr`` (score / n_m); ``n_genes`` (|W| > threshold); ``max_abs_w``; ``eta``;
        ``top_genes_w`` (up to ``n_top`` genes above the threshold, by |W|) and ``top_genes_lr``
        (the ``n_top`` genes with the largest per-gene ratio), comma-separated.
    """
    module, X, m, S = _group_rows(model, data, group, group_key, layer, groups, covariates)
    thresholds = gene_set_threshold(model.W, threshold)
    col_idx = torch.nonzero(module.block_group == m, as_tuple=True)[0].tolist()
    G = int(model.state.kept.sum())
    per_gene = torch.zeros(len(col_idx), G, dtype=torch.float64)
    with _inference(module):
        for x, g, s in _batches(module, X, m, S, batch_size):
            z, lib = _posterior_means(module, x, g, s)
            ll1, _ = _log_lik_and_mean(module, x, module.decode(z, s), lib)
            for r, k in enumerate(col_idx):
                zk = z.clone()
                zk[:, k] = 0.0
                llk, _ = _log_lik_and_mean(module, x, module.decode(zk, s), lib)
                per_gene[r] += (ll1 - llk).double().sum(0).cpu()
    n = X.shape[0]
    genes = model.state.fitted_features
    W = module.W.detach().cpu().double().numpy()
    eta = module.eta.detach().cpu().double().numpy()
    names = model.factor_names()[model.groups[m]]
    rows = []
    for r, k in enumerate(col_idx):
        w = np.abs(W[:, k])
        above = np.flatnonzero(w > thresholds[k])
        by_w = above[np.argsort(-w[above], kind="stable")][:n_top]
        lr = per_gene[r].numpy()
        by_lr = np.argsort(-lr, kind="stable")[:n_top]
        score = float(lr.sum())
        rows.append(dict(factor=names[r], score=score, mean_log_lr=score / n, n_genes=int(len(above)),
                         max_abs_w=float(w.max()), eta=float(eta[k]), top_genes_w=", ".join(map(str, genes[by_w])),
                         top_genes_lr=", ".join(map(str, genes[by_lr]))))
    out = pd.DataFrame(rows, columns=FACTOR_COLUMNS)
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
