"""The MSSVAE as a torch module: generative model, variational posteriors, ELBO and SSL prior
terms, and the EM step for p* and η. Tensors only: no AnnData, files or device choice here.

Paper sections: §2.2 model, §2.3 estimation (Eq. 2.4), §2.4 negative binomial, App. B.1
architecture, App. B.2 objective and E-step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .distributed import BatchShare
from .nets import Encoder, MaskedDecoder
from .priors import expected_log_prior, inverse_gamma_nll, posterior_inclusion, update_eta

LIKELIHOODS = ("gaussian", "nb")
ENCODER_INPUTS = ("raw", "standardized")
INPUT_CLIP = 10.0  # standardised encoder inputs are clipped to ±10, as scanpy's pp.scale(max_value=10)


def encoder_transform(x: torch.Tensor, likelihood: str, library_scale: float) -> torch.Tensor:
    """The per-sample transform under the standardised encoder input: counts → log1p of the
    counts per ``library_scale`` (x_ij / Σ_j x_ij × L, the usual log-normalisation); Gaussian
    data unchanged. Used for training and, in float64, for the start statistics (``model/start.py``).
    """
    if likelihood == "nb":
        return torch.log1p(x / x.sum(-1, keepdim=True).clamp_min(1.0) * library_scale)
    return x


@dataclass
class LossTerms:
    """Loss of one minibatch and its parts, all on the per-sample scale (divided by N)."""

    loss: torch.Tensor  # what the optimiser minimises
    reconstruction: torch.Tensor  # −E_q log p(x | ·), mean over the batch
    kl: torch.Tensor  # KL of the latents (and of the library size), mean over the batch
    prior_w: torch.Tensor  # negative expected SSL log prior of W (App. B.2.1), unweighted
    prior_noise: torch.Tensor  # −log IG(σ²) (Gaussian) or 0

    def detached(self) -> dict[str, float]:
        return dict(zip(self.names(), self.stacked().tolist()))

    def stacked(self) -> torch.Tensor:
        """The terms as one detached tensor on their device, in the order of :meth:`names`
        (summed over steps without reading them back to the host)."""
        return torch.stack([getattr(self, f.name).detach().float() for f in fields(self)])

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def log_nb(x: torch.Tensor, mu: torch.Tensor, phi: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """log NB(x; mean μ, inverse dispersion φ), the parameterisation of §2.4 (Lopez et al. 2018)."""
    log_phi_mu = torch.log(phi + mu + eps)
    return (
        phi * (torch.log(phi + eps) - log_phi_mu)
        + x * (torch.log(mu + eps) - log_phi_mu)
        + torch.lgamma(x + phi)
        - torch.lgamma(phi)
        - torch.lgamma(x + 1.0)
    )


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over the last axis: ½ Σ (μ² + σ² − 1 − log σ²).

    App. B.2.1 prints a misplaced parenthesis; this is the standard closed form it means.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


class SpectralNormalized(nn.Module):
    """Parametrisation V ↦ V / σ_max(V): a linear map with operator norm 1.

    On a CPU σ_max is exact (an SVD; the matrices are at most hidden × hidden). On CUDA an SVD
    reads its status back to the host at every step, so σ_max comes from power iteration
    instead (``POWER_STEPS`` steps per call from the last call's vector, as in spectral
    normalisation, Miyato et al. 2018): the weights move little per step, so the warm-started
    estimate tracks σ_max.
    """

    POWER_STEPS = 4

    def __init__(self):
        super().__init__()
        self.register_buffer("u", torch.empty(0), persistent=False)

    def forward(self, V: torch.Tensor) -> torch.Tensor:
        if V.device.type != "cuda":
            return V / torch.linalg.matrix_norm(V, ord=2).clamp_min(1e-12)
        with torch.no_grad():
            u = self.u if self.u.shape == (V.shape[0],) else F.normalize(torch.ones(V.shape[0], device=V.device), dim=0)
            for _ in range(self.POWER_STEPS):
                v = F.normalize(V.t() @ u, dim=0)
                u = F.normalize(V @ v, dim=0)
            self.u = u
        return V / torch.dot(u, V @ v).abs().clamp_min(1e-12)


class UnitRows(nn.Module):
    """Parametrisation V ↦ V with every row scaled to unit Euclidean norm."""

    def forward(self, V: torch.Tensor) -> torch.Tensor:
        return V / V.norm(dim=1, keepdim=True).clamp_min(1e-12)


def constrain_decoder(decoder: MaskedDecoder) -> None:
    """Make the decoder 2-Lipschitz in its input c = w̃_j ⊙ z̃_i, so that W carries the scale.

    c enters through the bias-free first layer and the skip connection, and ReLU is positively
    homogeneous, so the paper's model is unchanged if W shrinks by s and V1 (and the head's skip
    weights) grow by 1/s: the scale of W is not identified (docs/design.md, "Scale of W and the Lipschitz decoder"), and under the SSL penalty
    a fit drifts towards W → 0 with a growing network, where no threshold on |W| means anything.
    With σ_max(V1) = σ_max(V2) = 1 and unit-norm head rows v_j, |f_j(c) − f_j(c')| ≤ 2‖c − c'‖,
    so a factor can only move feature j through |w_jk|: w_jk bounds the effect of factor k on
    feature j per unit of the latent. A deviation from App. B.1 (there the weights are free);
    it restricts the functions f_j only up to a rescaling that W absorbs.
    """
    parametrize.register_parametrization(decoder.V1, "weight", SpectralNormalized())
    parametrize.register_parametrization(decoder.V2, "weight", SpectralNormalized())
    parametrize.register_parametrization(decoder, "head", UnitRows())


class MSSVAEModule(nn.Module):
    """Multi-study sparse VAE (Gaussian or negative binomial).

    Parameters
    ----------
    n_features
        G, the number of features.
    n_shared
        K_S, the shared latent dimension.
    n_specific
        K_m for each group m (a 0 gives a group no specific factors).
    hidden
        Widths of the two hidden layers, used by every encoder and by the decoder (Table 2).
    likelihood
        ``"gaussian"`` (Eq. 2.2) or ``"nb"`` (Eq. 2.5).
    lambda1, a, b
        Slab scale and Beta(a, b) hyperparameters of η (App. C.2.1: 0.1, 1, G).
    output_bias
        Initial output bias per feature (a data-dependent start; see ``model/start.py``).
    sigma2_init, ig_alpha, ig_beta
        Gaussian noise: initial σ_j² and the Inverse-Gamma(α, β) prior (App. C.2).
    phi_init, library_prior
        NB: initial inverse dispersions φ_j and the (mean, variance) of log library sizes (§2.4).
    precision
        Arithmetic of the decoder's hidden layers (``"fp32"``, ``"bf16"``, ``"fp16"``); master
        weights, likelihood and priors stay fp32.
    encoder_input, input_center, input_scale, library_scale
        What the encoders see. ``"raw"``: App. B.1's input, x (Gaussian) or log1p(x) (NB).
        ``"standardized"``: :func:`encoder_transform` of x, centred by ``input_center`` and
        divided by ``input_scale`` per feature (their values over the training data), clipped
        to ±``INPUT_CLIP``. Only the amortised posterior changes, not the generative model.
    n_covariates, covariates_in_encoder, covariate_init
        Columns C of the encoded per-sample covariates s (``mssvae.io.covariates``): the decoder
        output becomes f_ij + β_jᵀ s_i before the likelihood link, with β (G × C) started at
        ``covariate_init`` (zeros if None); with ``covariates_in_encoder`` every encoder sees
        [x, s]. C = 0 is the paper's model.
    """

    def __init__(
        self,
        n_features: int,
        n_shared: int,
        n_specific: list[int],
        hidden: tuple[int, int],
        likelihood: str,
        output_bias: torch.Tensor,
        lambda1: float = 0.1,
        a: float = 1.0,
        b: float | None = None,
        sigma2_init: torch.Tensor | None = None,
        ig_alpha: float = 1.5,
        ig_beta: float = 1.0,
        phi_init: torch.Tensor | None = None,
        library_prior: tuple[float, float] = (0.0, 1.0),
        precision: str = "fp32",
        n_covariates: int = 0,
        covariates_in_encoder: bool = False,
        covariate_init: torch.Tensor | None = None,
        lipschitz_decoder: bool = True,
        encoder_input: str = "raw",
        input_center: torch.Tensor | None = None,
        input_scale: torch.Tensor | None = None,
        library_scale: float = 1.0,
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if encoder_input not in ENCODER_INPUTS:
            raise ValueError(f"encoder_input must be one of {ENCODER_INPUTS}, got {encoder_input!r}")
        self.encoder_input = encoder_input
        self.library_scale = float(library_scale)
        # Saved only when used, so that saves of raw-input models (and those from before the
        # option) load without them.
        keep = encoder_input == "standardized"
        self.register_buffer("input_center", torch.zeros(n_features) if input_center is None else input_center.detach().float().clone(),
                             persistent=keep)
        self.register_buffer("input_scale", torch.ones(n_features) if input_scale is None else input_scale.detach().float().clone(),
                             persistent=keep)
        self.likelihood = likelihood
        self.n_features, self.n_shared = n_features, n_shared
        self.n_specific = list(n_specific)
        self.n_latent = n_shared + sum(self.n_specific)
        self.lambda1, self.a = lambda1, a
        self.b = float(n_features if b is None else b)
        hidden = tuple(hidden)
        self.n_covariates = int(n_covariates)
        self.covariates_in_encoder = bool(covariates_in_encoder) and self.n_covariates > 0
        n_in = n_features + (self.n_covariates if self.covariates_in_encoder else 0)

        self.encoder_shared = Encoder(n_in, hidden, n_shared)
        self.encoders_specific = nn.ModuleList(
            [Encoder(n_in, hidden, k) if k > 0 else nn.Identity() for k in self.n_specific]
        )
        self.decoder = MaskedDecoder(n_features, self.n_latent, hidden, precision=precision)
        self.decoder.head_bias.data.copy_(output_bias)
        self.lipschitz_decoder = bool(lipschitz_decoder)
        if self.lipschitz_decoder:
            constrain_decoder(self.decoder)
        # W initialised to 1 (App. C.2.2); one G × K matrix whose column blocks are W^(S), W^(1..M).
        self.W = nn.Parameter(torch.ones(n_features, self.n_latent))
        if self.n_covariates:
            # β: per-feature covariate effects, a GLM-style offset outside the masked decoder.
            init = torch.zeros(n_features, self.n_covariates) if covariate_init is None else covariate_init
            self.covariate_effect = nn.Parameter(init.detach().clone().float())

        # Column k of the specific block belongs to group block_group[k]; shared columns to −1.
        block_group = torch.cat(
            [torch.full((n_shared,), -1)] + [torch.full((k,), m) for m, k in enumerate(self.n_specific)]
        )
        self.register_buffer("block_group", block_group, persistent=False)
        self.register_buffer("p_star", torch.full((n_features, self.n_latent), 0.5))
        self.register_buffer("eta", torch.full((self.n_latent,), 0.5))

        if likelihood == "gaussian":
            self.log_sigma2 = nn.Parameter(torch.log(sigma2_init))
            self.ig_alpha, self.ig_beta = float(ig_alpha), float(ig_beta)
        else:
            self.log_phi = nn.Parameter(torch.log(phi_init))
            self.encoder_library = Encoder(n_in, hidden, 1)
            # q(ℓ|x) starts narrow (sd 0.05 on the log scale): the observed library size is
            # already a good estimate, and a unit-variance draw would scale every gene's mean by
            # e^{N(0,1)} in the first steps.
            nn.init.constant_(self.encoder_library.logvar.bias, -6.0)
            self.library_prior = (float(library_prior[0]), float(library_prior[1]))

    # ----- parameters by role -----------------------------------------------------------------
    def w_parameters(self) -> list[nn.Parameter]:
        return [self.W]

    def other_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "W"]

    # ----- inference --------------------------------------------------------------------------
    def _encoder_input(self, x: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        if self.encoder_input == "standardized":
            h = encoder_transform(x, self.likelihood, self.library_scale)
            h = ((h - self.input_center) / self.input_scale).clamp(-INPUT_CLIP, INPUT_CLIP)
        else:  # counts span orders of magnitude; log1p is scVI's input transform
            h = torch.log1p(x) if self.likelihood == "nb" else x
        return torch.cat([h, s], 1) if self.covariates_in_encoder else h

    def covariate_offset(self, s: torch.Tensor | None) -> torch.Tensor | float:
        """β s_iᵀ (B × G), the covariate term added to the decoder output; 0 without covariates."""
        if not self.n_covariates:
            return 0.0
        if s is None or s.shape[-1] != self.n_covariates:
            raise ValueError(f"this model conditions on {self.n_covariates} covariate columns; pass s (B × {self.n_covariates})")
        return s @ self.covariate_effect.t()

    def encode(self, x: torch.Tensor, g: torch.Tensor, s: torch.Tensor | None = None,
               group_sizes: list[int] | None = None, share: BatchShare | None = None) -> dict[str, torch.Tensor]:
        """Posterior means and log-variances in block layout (B × K, zeros outside own blocks).

        ``group_sizes``: the number of samples of each group when the rows are sorted by group
        (the trainer's minibatches); each group's encoder then reads a contiguous block, found
        without reading ``g`` back from the device. ``share``: ``x`` is one process's share of a
        global batch; every group's encoder then runs, on no rows where this share has none, so
        that every process joins its batch norm's statistics and uses every parameter.
        """
        if self.covariates_in_encoder and s is None:
            raise ValueError(f"the encoders of this model see {self.n_covariates} covariate columns; pass s")
        h = self._encoder_input(x, s)
        n_all = None if share is None else share.total
        mu_s, lv_s = self.encoder_shared(h, n_all)
        n_spec = self.n_latent - self.n_shared
        mu_m = h.new_zeros(h.shape[0], n_spec)
        lv_m = h.new_zeros(h.shape[0], n_spec)
        start = 0
        for m, (k, rows) in enumerate(zip(self.n_specific, _group_rows(g, group_sizes, len(self.n_specific)))):
            n_m = None if share is None else share.group_sizes[m]
            rows = slice(0, 0) if rows is None and share is not None else rows  # no rows here: run on none
            if k > 0 and rows is not None:
                mu, lv = self.encoders_specific[m](h[rows], n_m)
                mu_m[rows, start : start + k] = mu
                lv_m[rows, start : start + k] = lv
            start += k
        out = {"mu": torch.cat([mu_s, mu_m], 1), "logvar": torch.cat([lv_s, lv_m], 1)}
        if self.likelihood == "nb":
            # μ_ℓ(x) = log Σ_j x_j + NN(x): still a network of x (§2.4), but it starts at the
            # observed library size. With the network alone μ_ℓ starts near 0 (ℓ ≈ 1), and the
            # first epochs' enormous NB gradients make every column of W dense (benchmarks/FINDINGS.md, "Count designs: the NB model's W was dense").
            lib_mu, out["lib_logvar"] = self.encoder_library(h, n_all)
            out["lib_mu"] = lib_mu + torch.log(x.sum(-1, keepdim=True).clamp_min(1.0))
        return out

    def decode(self, z: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output before the link (B × G): f(w̃_j ⊙ z̃_i) plus the covariate offset β s_i.

        The only way to evaluate the decoder: it computes the constrained weights once per call
        (``parametrize.cached``), however many feature chunks the decoder splits the work into.
        """
        with parametrize.cached():
            return self.decoder(z, self.W) + self.covariate_offset(s)

    def own_block_mask(self, g: torch.Tensor) -> torch.Tensor:
        """B × K mask: shared columns and the sample's own group's columns (z̃ of §2.2)."""
        return (self.block_group.unsqueeze(0) == -1) | (self.block_group.unsqueeze(0) == g.unsqueeze(1))

    # ----- the objective -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, g: torch.Tensor, n_total: int, sparsity_weight: float, lambda0: float,
                s: torch.Tensor | None = None, group_sizes: list[int] | None = None,
                share: BatchShare | None = None) -> LossTerms:
        """Minibatch estimate of −Eq. 2.4 / N.

        The likelihood and KL are averaged over the batch (an unbiased estimate of the full-data
        sum divided by N); the SSL prior is a whole-data term, so it enters divided by N and
        multiplied by ``sparsity_weight`` (1 is the exact MAP weight; see docs/design.md,
        "Penalty weight", for why the default is larger). ``s``: the encoded covariates (B × C), if any;
        ``group_sizes``: as in :meth:`encode`.

        ``share``: ``x`` is one process's share of a global batch; the terms are then its part of
        the whole batch's, scaled as :mod:`mssvae.core.distributed` explains (data-parallel training).
        """
        post = self.encode(x, g, s, group_sizes, share)
        mask = self.own_block_mask(g)
        std = torch.exp(0.5 * post["logvar"])
        noise = torch.randn_like(std) if share is None else share.noise(std)
        z = (post["mu"] + std * noise) * mask  # one Monte Carlo draw (L = 1)
        f = self.decode(z, s)
        kl = gaussian_kl(post["mu"], post["logvar"])  # zero on the masked-out (μ=0, log σ²=0) blocks

        if self.likelihood == "gaussian":
            sigma2 = self.log_sigma2.exp()
            # Full Gaussian log density, so that σ² is learnable (docs/design.md, "Where the paper's text is corrected"; App. B.2.1).
            logp = -0.5 * (math.log(2 * math.pi) + self.log_sigma2 + (x - f).pow(2) / sigma2)
            prior_noise = inverse_gamma_nll(sigma2, self.ig_alpha, self.ig_beta)
        else:
            lib_std = torch.exp(0.5 * post["lib_logvar"])
            lib_noise = torch.randn_like(lib_std) if share is None else share.noise(lib_std)
            log_lib = post["lib_mu"] + lib_std * lib_noise
            mu = torch.exp(log_lib) * F.softplus(f)
            logp = log_nb(x, mu, self.log_phi.exp())
            prior_mean, prior_var = self.library_prior
            kl = kl + _normal_kl(post["lib_mu"], post["lib_logvar"], prior_mean, prior_var).squeeze(-1)
            prior_noise = x.new_zeros(())

        if share is None:
            reconstruction, kl, replicas = -logp.sum(-1).mean(), kl.mean(), 1
        else:
            reconstruction, kl, replicas = -logp.sum() / share.total, kl.sum() / share.total, share.ranks
        prior_w = expected_log_prior(self.W, self.p_star, self.eta, lambda0, self.lambda1, self.a, self.b)
        loss = replicas * (reconstruction + kl) + (sparsity_weight * prior_w + prior_noise) / n_total
        return LossTerms(loss, reconstruction, kl, prior_w, prior_noise)

    @torch.no_grad()
    def em_step(self, lambda0: float) -> None:
        """E-step for γ (p*) and closed-form update of η (App. B.2.1), at the current W."""
        self.p_star.copy_(posterior_inclusion(self.W.abs(), self.eta, lambda0, self.lambda1))
        self.eta.copy_(update_eta(self.p_star, self.a, self.b))


def _group_rows(g: torch.Tensor, sizes: list[int] | None, n_groups: int):
    """For each group, its rows (a slice for rows sorted by group with known ``sizes``, else
    an index tensor), or None when the group has no rows."""
    if sizes is not None:
        ends = np.cumsum(sizes)
        return [slice(int(e - n), int(e)) if n else None for n, e in zip(sizes, ends)]
    rows = [(g == m).nonzero(as_tuple=True)[0] for m in range(n_groups)]
    return [r if r.numel() else None for r in rows]


def _normal_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_mean: float, prior_var: float) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(m, v)) per row: the KL of q(ℓ|x) to the LogNormal prior on log scale (§2.4)."""
    return 0.5 * ((logvar.exp() + (mu - prior_mean) ** 2) / prior_var - 1.0 - logvar + math.log(prior_var)).sum(-1)
