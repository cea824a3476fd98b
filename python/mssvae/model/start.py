"""The data-dependent starts of a fit (App. C.2): which features vary, K_m per group, and the
network's constructor arguments with the starting noise, dispersion, output bias and encoder
input standardisation computed from the data in row blocks.

The feature moments and the library sizes are computed once (:func:`start_statistics`) and
serve both the choice of the features and the starts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..core.module import encoder_transform
from ..core.priors import inverse_gamma_beta
from ..errors import MSSVAEInputError
from ..io.covariates import covariate_start
from ..io.inputs import column_moments, library_sizes, select_columns
from .settings import Settings


@dataclass(frozen=True)
class StartStatistics:
    """What a fit's starts need from its data, computed once.

    Attributes
    ----------
    kept
        Mask over every input feature of those that vary (the others are left out of the fit).
    mean, var
        Mean and population variance (float64) of each kept feature.
    library
        Each sample's total over the kept features (NB), or ``None`` (Gaussian).
    """

    kept: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    library: np.ndarray | None = None


def start_statistics(X, var_names, likelihood: str) -> StartStatistics:
    """The moments of every feature of ``X`` (two passes over the data), the features that vary
    and, for NB, the library sizes over those (one more pass). Constant features are dropped with
    a warning (their W rows are 0); an error when all are."""
    mean, var = column_moments(X)
    kept = var > 0
    if not kept.any():
        raise MSSVAEInputError("every feature is constant across samples; nothing to fit")
    n_drop = int((~kept).sum())
    if n_drop:
        names = ", ".join(map(str, np.asarray(var_names)[~kept][:5]))
        warnings.warn(
            f"{n_drop} features are constant in every sample (e.g. {names}); they are left out of the fit "
            "and get all-zero rows of W",
            stacklevel=3,
        )
    lib = library_sizes(select_columns(X, kept)) if likelihood == "nb" else None
    return StartStatistics(kept=kept, mean=mean[kept], var=var[kept], library=lib)


def specific_sizes(n_specific, group_names) -> list[int]:
    if isinstance(n_specific, dict):
        missing = [g for g in group_names if g not in n_specific]
        if missing:
            raise MSSVAEInputError(f"n_specific has no entry for groups {missing}")
        return [int(n_specific[g]) for g in group_names]
    return [int(n_specific)] * len(group_names)


def module_kwargs(X, s: Settings, n_spec: list[int], S: np.ndarray | None = None, precision: str = "fp32",
                  start: StartStatistics | None = None) -> dict:
    """Constructor arguments of the module, with the data-dependent starts of App. C.2;
    ``X``: the fitted features; ``S``: the encoded covariates (samples × C), if any;
    ``precision``: the decoder's resolved arithmetic (``hardware.resolve_precision``);
    ``start``: the fit's :func:`start_statistics` (computed here over every column of ``X``
    when not given)."""
    if start is None:
        mean, var = column_moments(X)
        start = StartStatistics(np.ones(X.shape[1], dtype=bool), mean, var,
                                library_sizes(X) if s.likelihood == "nb" else None)
    mean, var, lib = start.mean, start.var, start.library
    kw = dict(n_features=X.shape[1], n_shared=s.n_shared, n_specific=n_spec, hidden=tuple(s.hidden), likelihood=s.likelihood,
              lambda1=s.lambda1, a=s.a, b=s.b, precision=precision, lipschitz_decoder=s.lipschitz_decoder,
              encoder_input=s.encoder_input)
    if s.likelihood == "gaussian":
        # σ² starts at the 5% quantile of the feature variances; β puts that quantile at the
        # prior's 90% quantile (App. C.2.1–C.2.2).
        q05 = float(np.quantile(var, 0.05))
        kw.update(sigma2_init=torch.full((X.shape[1],), q05), ig_alpha=1.5, ig_beta=inverse_gamma_beta(var, 1.5))
    else:
        # Inverse dispersion by moments, φ = μ²/(σ² − μ) (App. C.2.2 prints μ/(σ² − μ), a
        # misprint: Var = μ + μ²/φ), clipped into [1e-2, 1e3] where σ² ≤ μ or the estimate explodes.
        phi = np.where(var > mean, mean**2 / np.maximum(var - mean, 1e-12), 1e3)
        if (lib <= 0).any():
            raise MSSVAEInputError(f"{int((lib <= 0).sum())} samples have no counts at all; remove them before fitting")
        log_lib = np.log(lib)
        kw.update(phi_init=torch.as_tensor(np.clip(phi, 1e-2, 1e3), dtype=torch.float32),
                  library_prior=(float(log_lib.mean()), float(max(log_lib.var(), 1e-4))))
    # Output bias (and covariate effects) by least squares on [1, s]: without covariates the
    # feature means (Gaussian) or softplus⁻¹ of each gene's mean share of the library (NB), so the
    # first NB means are on the data's scale (PyTorch's default 0 would predict 0.69 × library).
    S = np.zeros((X.shape[0], 0)) if S is None else S
    bias, beta = covariate_start(X, S, s.likelihood, lib=lib)
    if s.encoder_input == "standardized":
        kw.update(input_standardization(X, s.likelihood, mean, var, lib))  # NB recomputes the moments
    kw.update(output_bias=torch.as_tensor(bias, dtype=torch.float32))
    if S.shape[1]:
        kw.update(n_covariates=S.shape[1], covariates_in_encoder=bool(s.covariates_in_encoder),
                  covariate_init=torch.as_tensor(beta, dtype=torch.float32))
    return kw


def input_standardization(X, likelihood: str, mean: np.ndarray, var: np.ndarray, lib: np.ndarray | None) -> dict:
    """Centre and scale of each feature under the encoders' input transform (float64 moments).

    Gaussian: the raw moments ``mean``, ``var``. NB: the moments of log1p of the counts per
    median library size (``module.encoder_transform``), one more pair of passes over the data.
    A scale floor of 1e-3 guards features that are nearly constant after the transform.
    """
    if likelihood == "nb":
        library_scale = float(np.median(lib))
        to_input = lambda b: encoder_transform(torch.from_numpy(b), likelihood, library_scale).numpy()  # noqa: E731
        mean, var = column_moments(X, transform=to_input)
    else:
        library_scale = 1.0
    return dict(library_scale=library_scale, input_center=torch.as_tensor(mean, dtype=torch.float32),
                input_scale=torch.as_tensor(np.maximum(np.sqrt(var), 1e-3), dtype=torch.float32))
