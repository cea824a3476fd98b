"""Priors of the MSSVAE: spike-and-slab lasso on W with its EM step, λ0 annealing, and the
Inverse-Gamma prior on the Gaussian noise variances.

Paper: Moran & Krishnan, *Nonlinear multi-study factor analysis* — §2.2 (the priors),
App. B.2.1 (the E-step and the expected log prior), App. C.2.1 (λ1, λ0 annealing, a, b, α, β).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammainccinv

EPS = 1e-6


@dataclass(frozen=True)
class Lambda0Schedule:
    """Piecewise-constant annealing of the spike scale λ0 (App. C.2.1), in gradient steps.

    The paper uses λ0 = 1 for the first 5% of the epochs, 10 until 30%, then 15. The break
    points here are counts of gradient steps, so that they mean the same whether or not a fit
    stops early: λ0 = ``values[i]`` from step ``breaks[i - 1]`` on. ``values`` has one entry more
    than ``breaks``. :meth:`within` fits them into a shorter fit.
    """

    values: tuple[float, ...] = (1.0, 10.0, 15.0)
    breaks: tuple[int, ...] = (150, 900)

    def __post_init__(self):
        if len(self.values) != len(self.breaks) + 1:
            raise ValueError("lambda0 schedule: give one more value than break points")
        if list(self.breaks) != sorted(self.breaks) or any(b < 0 or b != int(b) for b in self.breaks):
            raise ValueError("lambda0 schedule: break points must be increasing whole numbers of steps")

    def __call__(self, step: int) -> float:
        """λ0 at the 0-based gradient ``step``."""
        for value, brk in zip(self.values, self.breaks):
            if step < brk:
                return float(value)
        return float(self.values[-1])

    @property
    def final_step(self) -> int:
        """The step from which λ0 keeps its last value."""
        return int(self.breaks[-1]) if self.breaks else 0

    @classmethod
    def constant(cls, value: float) -> "Lambda0Schedule":
        """No annealing: λ0 fixed (the original Sparse VAE code's choice)."""
        return cls(values=(float(value),), breaks=())

    def within(self, steps: int, last_share: float = 0.8) -> "Lambda0Schedule":
        """This schedule for a fit of at most ``steps`` gradient steps: unchanged when its last
        break falls within the first ``last_share`` of them, else every break scaled by the same
        factor so that the last one does, leaving the rest of the fit at the last value."""
        if not self.breaks or self.final_step <= last_share * steps:
            return self
        scale = last_share * steps / self.final_step
        return type(self)(self.values, tuple(int(round(b * scale)) for b in self.breaks))


def posterior_inclusion(w_abs: torch.Tensor, eta: torch.Tensor, lambda0: float, lambda1: float) -> torch.Tensor:
    """E[γ_jk | w_jk, η_k] of App. B.2.1, computed as a logistic of the log-odds for stability.

    p* = η λ1 e^{-λ1|w|} / (η λ1 e^{-λ1|w|} + (1-η) λ0 e^{-λ0|w|}).
    """
    log_odds = (
        torch.log(eta) - torch.log1p(-eta) + math.log(lambda1) - math.log(lambda0) - (lambda1 - lambda0) * w_abs
    )
    return torch.sigmoid(log_odds)


def update_eta(p_star: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """Closed-form M-step for η_k: the mode of its Beta posterior given Σ_j p*_jk (App. B.2.1).

    Maximising (Σ_j p* + a - 1) log η + (G - Σ_j p* + b - 1) log(1 - η) gives
    η = (Σ_j p* + a - 1) / (G + a + b - 2), clipped into (0, 1) so logs stay finite.
    """
    n_features = p_star.shape[0]
    eta = (p_star.sum(0) + a - 1.0) / (n_features + a + b - 2.0)
    return eta.clamp(EPS, 1.0 - EPS)


def expected_log_prior(
    w: torch.Tensor, p_star: torch.Tensor, eta: torch.Tensor, lambda0: float, lambda1: float, a: float, b: float
) -> torch.Tensor:
    """Negative expected log spike-and-slab lasso prior of W (App. B.2.1), up to constants.

    Σ_jk λ*_jk |w_jk| − Σ_k [(Σ_j p*_jk + a − 1) log η_k + (G − Σ_j p*_jk + b − 1) log(1 − η_k)],
    with λ* = λ1 p* + λ0 (1 − p*). p* and η come from the E-step and are held fixed, so only the
    first term carries a gradient (to W). Returned as a quantity to *minimise*.
    """
    lam_star = lambda1 * p_star + lambda0 * (1.0 - p_star)
    n_features = w.shape[0]
    s = p_star.sum(0)
    eta_term = (s + a - 1.0) * torch.log(eta) + (n_features - s + b - 1.0) * torch.log1p(-eta)
    return (lam_star * w.abs()).sum() - eta_term.sum()


def inverse_gamma_beta(variances: np.ndarray, alpha: float = 1.5, quantile: float = 0.05, prior_quantile: float = 0.9) -> float:
    """Data-dependent scale β of the Inverse-Gamma(α, β) prior on σ_j² (App. C.2.1).

    β is set so that the ``quantile`` (5%) of the feature variances is the ``prior_quantile`` (90%)
    of the prior. If Y ~ IG(α, β) then 1/Y ~ Gamma(α, rate β), so P(Y ≤ y) = Q(α, β/y) with Q the
    regularised upper incomplete gamma function, and β = y · Q⁻¹(α, 0.9).
    """
    y = float(np.quantile(variances, quantile))
    return y * float(gammainccinv(alpha, prior_quantile))


def inverse_gamma_nll(sigma2: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """−log IG(σ² | α, β) summed over features, up to constants: (α+1) log σ² + β/σ²."""
    return ((alpha + 1.0) * torch.log(sigma2) + beta / sigma2).sum()
