"""mssvae: the multi-study sparse variational autoencoder (Moran & Krishnan, 2026).

Shared and group-specific latent factors for data measured on the same features in several
groups, with sparse feature-to-factor masks W that say which features belong to which factor.
"""

import inspect

from . import blas as _blas

# Before anything imports torch: inside R, torch's products would otherwise run on R's BLAS.
_BLAS_LOADING = _blas.isolate_torch_blas()

__version__ = "0.99.0"

from .analysis.diagnostics import support_overlaps  # noqa: E402
from .analysis.postprocess import fold_switched  # noqa: E402
from .bridge.sce import read_sce, write_sce  # noqa: E402  (rpy2 is imported only when called)
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


__all__ = ["MSSVAE", "MSSVAEInputError", "FitInterrupted", "fit", "factor_gene_sets", "fold_switched", "loadings",
           "support_overlaps",
           "read_sce", "write_sce",
           "__version__"]
