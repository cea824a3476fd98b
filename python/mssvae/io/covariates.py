"""Per-sample covariates (donor, batch, library protocol, ...) that the decoder conditions on.

Model (an extension, not in the MSSVAE paper; the idea of conditioning the generative model on
known nuisance covariates is that of scVI and of inVAE, Aliee et al. 2023, §3/App. A).
For sample i with encoded covariates s_i (a row of the design matrix below) and feature j, the
decoder output of App. B.1 gets a per-feature linear effect added *before* the likelihood link::

    f_ij = f_j(w̃_j ⊙ z̃_i) + β_jᵀ s_i
    Gaussian (Eq. 2.2):  x_ij ~ N(f_ij, σ_j²)
    NB (Eq. 2.5):        x_ij ~ NB(ℓ_i softplus(f_ij), φ_j)     (the offset is inside the softplus)

This is a GLM-style offset, as limma's design matrices or ComBat's additive batch term: a
covariate shifts every feature's mean by its own amount, so a batch effect does not have to be
carried by a shared factor (whose loadings would then be dense). β is an ordinary parameter
(no sparsity prior), trained with the network learning rate; it starts at a least-squares fit of
the data on the covariates (:func:`covariate_start`), so the offset explains the bulk of the
nuisance shift from the first step instead of after hundreds of small Adam steps.

Choices, with reasons:

* **Additive offset only, no injection into the first hidden layer.** scVI also feeds the
  covariates into the first decoder layer (h1 = ReLU(V1 c_ij + U s_i)), which can model
  covariate × latent interactions. That changes the masked per-feature decoder's hot path
  (``nets.MaskedDecoder``), and the offset is the cheapest form that keeps the decoder as the
  paper defines it; interactions are not modelled.
* **Categorical covariates are one-hot encoded with the first level dropped** (the reference):
  the per-feature output bias b_j is already the intercept, so a full one-hot coding would not be
  identified. The first level is the first category of a pandas Categorical (R: the first factor
  level), else the first in sorted order. **Numeric covariates are standardised** (mean 0, sd 1
  at fit time), so β is on the scale of one sd and s = 0 is the average sample.
* **The encoders also see s** (input [x, s], as scVI), by default; ``covariates_in_encoder=False``
  of :class:`mssvae.MSSVAE` keeps them on x alone. Measured on the planted-batch design
  (``benchmarks/covariates.py``): both remove the batch from the shared latents; with s in the
  encoders the shared supports were recovered better (``benchmarks/FINDINGS.md``, "Covariates: a planted batch").
  The encoders can subtract a known shift directly instead of learning to ignore its direction.
  Either way ``transform`` needs the covariates of new samples (the same coding, checked).

The encoding (levels, means, sds) is kept in the fitted model, so that ``transform``, save/load
and anything that decodes new samples code them exactly as at fit time; a level unseen at fit
time is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import torch

from ..core.module import inverse_softplus
from ..errors import MSSVAEInputError
from .inputs import library_sizes, row_blocks

CATEGORICAL, NUMERIC = "categorical", "numeric"


def _sample_name(obs_names, i: int) -> str:
    return f"{obs_names[i]!r} (row {i})" if obs_names is not None else f"row {i}"


def covariate_frame(data, covariate_keys=None, covariates=None, n_samples: int | None = None, obs_names=None) -> pd.DataFrame | None:
    """The covariates as a DataFrame with one row per sample, or ``None`` when there are none.

    Parameters
    ----------
    data
        The AnnData (or matrix) being fitted; ``covariate_keys`` are looked up in ``data.obs``.
    covariate_keys
        Names of ``obs`` columns (a string or a list of strings).
    covariates
        The covariates themselves: a DataFrame, a dict name → values, or a Series, with one
        row per sample (used for matrix input, or instead of ``obs``).
    n_samples, obs_names
        Number and names of the samples, for the checks and the messages.
    """
    if covariate_keys is not None and covariates is not None:
        raise MSSVAEInputError("give covariate_keys= (columns of obs) or covariates= (a table), not both")
    if covariate_keys is not None:
        keys = [covariate_keys] if isinstance(covariate_keys, str) else [str(k) for k in covariate_keys]
        if not keys:
            return None
        if not hasattr(data, "obs"):
            raise MSSVAEInputError("covariate_keys= names obs columns of an AnnData; for a matrix pass covariates= (a table)")
        missing = [k for k in keys if k not in data.obs.columns]
        if missing:
            raise MSSVAEInputError(
                f"covariate key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                f"{'are not columns' if len(missing) > 1 else 'is not a column'} of obs; available columns: "
                + (", ".join(map(str, data.obs.columns)) or "(none)")
            )
        if len(set(keys)) != len(keys):
            raise MSSVAEInputError(f"covariate_keys names a column more than once: {keys}")
        frame = data.obs[keys].reset_index(drop=True)
    elif covariates is not None:
        if isinstance(covariates, pd.Series):
            frame = covariates.to_frame(name=str(covariates.name or "covariate"))
        elif isinstance(covariates, pd.DataFrame):
            frame = covariates
        elif isinstance(covariates, dict):
            frame = pd.DataFrame({str(k): (v if isinstance(v, (pd.Series, pd.Categorical)) else list(np.asarray(v).ravel()))
                                  for k, v in covariates.items()})
        else:
            raise MSSVAEInputError(
                f"covariates= must be a pandas DataFrame or a dict name -> values (one per sample); got {type(covariates).__name__}"
            )
        frame = frame.reset_index(drop=True)
        if frame.shape[1] == 0:
            return None
        frame.columns = [str(c) for c in frame.columns]
    else:
        return None
    if n_samples is not None and len(frame) != n_samples:
        raise MSSVAEInputError(f"the covariates have {len(frame)} rows for {n_samples} samples; give one row per sample")
    for name in frame.columns:
        col = frame[name]
        bad = col.isna().to_numpy()
        if not isinstance(col.dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            bad = bad | ~np.isfinite(col.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise MSSVAEInputError(
                f"covariate {name!r} has {int(bad.sum())} missing (NaN/NA/infinite) values (first at sample "
                f"{_sample_name(obs_names, first)}); impute them, drop those samples, or leave the covariate out"
            )
    return frame


def _is_categorical(col: pd.Series) -> bool:
    return (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col.dtype)
            or not pd.api.types.is_numeric_dtype(col.dtype))


@dataclass
class CovariateEncoding:
    """How covariates become the design matrix s (one row per sample).

    ``names`` in order; ``kinds[name]`` is ``"categorical"`` or ``"numeric"``; ``levels[name]``
    the levels of a categorical one (the first is the dropped reference); ``center``/``scale``
    the mean and sd of a numeric one at fit time.
    """

    names: list[str]
    kinds: dict[str, str]
    levels: dict[str, list[str]] = field(default_factory=dict)
    center: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> "CovariateEncoding":
        """Learn the encoding from the fit's covariates (checked by :func:`covariate_frame`)."""
        import warnings

        names, kinds, levels, center, scale = [], {}, {}, {}, {}
        for name in frame.columns:
            col = frame[name]
            names.append(str(name))
            if _is_categorical(col):
                labels = col.astype(str)
                if isinstance(col.dtype, pd.CategoricalDtype):
                    order = [str(c) for c in col.cat.categories if str(c) in set(labels)]
                else:
                    order = sorted(labels.unique())
                if len(order) < 2:
                    raise MSSVAEInputError(
                        f"covariate {name!r} has a single level ({order[0]!r}) in every sample; it cannot explain anything, leave it out"
                    )
                kinds[name], levels[name] = CATEGORICAL, order
            else:
                v = col.to_numpy(dtype=np.float64)
                sd = float(v.std())
                if not sd > 0:
                    raise MSSVAEInputError(f"covariate {name!r} is constant ({v[0]:g}) in every sample; leave it out")
                if pd.api.types.is_integer_dtype(col.dtype) and len(np.unique(v)) <= 10:
                    warnings.warn(
                        f"covariate {name!r} holds integers with {len(np.unique(v))} distinct values and is treated as "
                        "numeric (one standardised column); if it labels batches or donors, make it categorical "
                        "(e.g. obs[...].astype('category'))",
                        stacklevel=3,
                    )
                kinds[name], center[name], scale[name] = NUMERIC, float(v.mean()), sd
        return cls(names, kinds, levels, center, scale)

    def columns(self) -> list[str]:
        """Names of the design-matrix columns: ``name[level]`` for each non-reference level of
        a categorical covariate, ``name`` for a numeric one."""
        out = []
        for name in self.names:
            if self.kinds[name] == CATEGORICAL:
                out += [f"{name}[{lv}]" for lv in self.levels[name][1:]]
            else:
                out.append(name)
        return out

    @property
    def n_columns(self) -> int:
        return len(self.columns())

    def transform(self, frame: pd.DataFrame, obs_names=None) -> np.ndarray:
        """The design matrix (samples × ``n_columns``, float32) of covariates coded as at fit time.

        Raises :class:`MSSVAEInputError` for a missing covariate or a level not seen in the fit.
        """
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise MSSVAEInputError(
                f"the model was fitted with covariates {self.names}; missing here: {missing} (available: "
                + (", ".join(map(str, frame.columns)) or "none") + ")"
            )
        blocks = []
        for name in self.names:
            col = frame[name]
            if self.kinds[name] == CATEGORICAL:
                labels = col.astype(str).to_numpy()
                known = self.levels[name]
                unseen = sorted(set(labels) - set(known))
                if unseen:
                    first = int(np.flatnonzero(~np.isin(labels, known))[0])
                    raise MSSVAEInputError(
                        f"covariate {name!r} has level{'s' if len(unseen) > 1 else ''} {unseen} not seen when the model "
                        f"was fitted (first at sample {_sample_name(obs_names, first)}); the model knows: {known}"
                    )
                codes = pd.Categorical(labels, categories=known).codes
                blocks.append((codes[:, None] == np.arange(1, len(known))[None, :]).astype(np.float32))
            else:
                if _is_categorical(col):
                    raise MSSVAEInputError(f"covariate {name!r} was numeric when the model was fitted but is not numeric here")
                v = col.to_numpy(dtype=np.float64)
                blocks.append(((v - self.center[name]) / self.scale[name]).astype(np.float32)[:, None])
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0), dtype=np.float32)

    def to_dict(self) -> dict:
        """Plain, h5ad-safe form (also how the model saves it)."""
        return {"names": list(self.names), "kinds": [self.kinds[n] for n in self.names], "columns": self.columns(),
                "levels": {n: list(v) for n, v in self.levels.items()},
                "center": dict(self.center), "scale": dict(self.scale)}

    @classmethod
    def from_dict(cls, d: dict) -> "CovariateEncoding":
        names = [str(n) for n in d["names"]]
        return cls(names, dict(zip(names, [str(k) for k in d["kinds"]])),
                   {str(k): [str(x) for x in v] for k, v in d.get("levels", {}).items()},
                   {str(k): float(v) for k, v in d.get("center", {}).items()},
                   {str(k): float(v) for k, v in d.get("scale", {}).items()})


def covariate_start(X, S: np.ndarray, likelihood: str, lib: np.ndarray | None = None,
                    eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares start of the output bias b and the covariate effects β (G and G × C).

    Gaussian: the ordinary least-squares fit of each feature on [1, s] (exact for the offset
    model without latents). NB: the least-squares fit of each gene's library share x_ij / ℓ_i on
    [1, s], mapped to the softplus scale: b_j = softplus⁻¹(share at s = 0) and
    β_jc = softplus⁻¹(share at s = e_c) − b_j (exact for one categorical covariate: the shares of
    its levels). With C = 0 it is the start of every fit (``model.start.module_kwargs``). ``lib``: the
    library sizes (NB), when the caller has them already.
    """
    n = X.shape[0]
    D = np.hstack([np.ones((n, 1)), np.asarray(S, dtype=np.float64)])
    if likelihood != "nb":
        lib = np.ones(n)
    elif lib is None:
        lib = library_sizes(X)
    # D^T Y with Y = X (Gaussian) or X / library (NB: each gene's share of the library)
    DtY = sum(D[i:i + len(b)].T @ (b / lib[i:i + len(b), None]) for i, b in row_blocks(X))
    coef = np.linalg.lstsq(D.T @ D, DtY, rcond=None)[0]  # (1 + C) × G
    if likelihood != "nb":
        return coef[0], coef[1:].T
    to_f = lambda share: inverse_softplus(torch.as_tensor(np.maximum(share, eps), dtype=torch.float64)).numpy()  # noqa: E731
    bias = to_f(coef[0])
    # A least-squares share can be ≤ 0 (numeric covariates, rare genes): floor it at a tenth of
    # the share at s = 0, a start of at most softplus⁻¹ ratio ≈ log(10) down.
    beta = np.stack([to_f(np.maximum(coef[0] + coef[c], coef[0] / 10)) - bias for c in range(1, coef.shape[0])], axis=1) \
        if coef.shape[0] > 1 else np.zeros((X.shape[1], 0))
    return bias, beta
