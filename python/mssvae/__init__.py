"""mssvae: the multi-study sparse variational autoencoder (Moran & Krishnan, 2026).

Shared and group-specific latent factors for data measured on the same features in several
groups, with sparse feature-to-factor masks W that say which features belong to which factor.
"""

import importlib
import inspect

from . import blas as _blas
from ._version import __version__

# Before anything imports torch: inside R, torch's products would otherwise run on R's BLAS.
_BLAS_LOADING = _blas.isolate_torch_blas()

from .analysis.diagnostics import support_overlaps  # noqa: E402
from .analysis.postprocess import fold_switched  # noqa: E402
from .errors import FitInterrupted, MSSVAEInputError  # noqa: E402
from .io.results import factor_gene_sets, loadings  # noqa: E402
from .model import MSSVAE  # noqa: E402

if _BLAS_LOADING == "too late":
    _blas.warn_if_foreign()


def fit(adata, group_key: str = "group", layer: str | None = None, likelihood: str = "nb", **kwargs) -> MSSVAE:
    """Fit an MSSVAE to ``adata`` and write the results into it; returns the fitted model.

    Keyword arguments of :meth:`MSSVAE.fit` (epochs, batch_size, seed, device, progress,
    model_dir, resume, groups, covariate_keys, covariates, threads) go to the fit; the rest to the :class:`MSSVAE` constructor.
    """
    fit_keys = set(inspect.signature(MSSVAE.fit).parameters) - {"self", "data", "group_key", "layer"}
    fit_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in fit_keys}
    return MSSVAE(likelihood=likelihood, **kwargs).fit(adata, group_key=group_key, layer=layer, **fit_kwargs)


#: Names that live in the R door (:mod:`mssvae.bridge`), imported on first use: ``import mssvae``
#: leaves the door, and what it imports, alone.
_FROM_THE_R_DOOR = {"read_sce": "mssvae.bridge.sce", "write_sce": "mssvae.bridge.sce"}


def __getattr__(name: str):
    """``mssvae.read_sce`` and ``mssvae.write_sce``, imported from the R door when first asked for."""
    if name in _FROM_THE_R_DOOR:
        value = getattr(importlib.import_module(_FROM_THE_R_DOOR[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mssvae' has no attribute {name!r}")


__all__ = ["MSSVAE", "MSSVAEInputError", "FitInterrupted", "fit", "factor_gene_sets", "fold_switched", "loadings",
           "support_overlaps",
           "read_sce", "write_sce",
           "__version__"]
