"""A fit's input read and checked once: the matrix, the group codes, the coded covariates, the
names, the features the network reads and the start statistics, in one object that the fit,
the results writer, ``transform`` and the rankings share.

:func:`prepare_input` is the one input path (:mod:`mssvae.io.inputs`): it unpacks an AnnData
or a matrix (float32, dense, CSR or rows on disk), resolves the group labels, checks the values
in one pass over the data and codes the covariates. A fit then adds the start statistics
(:func:`mssvae.model.start.start_statistics`: which features vary, their moments, the library
sizes) and hands the same object to the results writer, so nothing is read or checked again
after training. For data a fitted model meets later (``transform``, rankings),
:meth:`mssvae.MSSVAE.prepare_input` builds it against the fit: the model's features, groups
and covariate coding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import MSSVAEInputError
from ..io.covariates import CovariateEncoding, covariate_frame
from ..io.inputs import check_values, is_anndata, resolve_groups, select_columns, unpack
from .start import StartStatistics


@dataclass(frozen=True)
class PreparedInput:
    """Input read, checked and converted once.

    Attributes
    ----------
    X
        Samples × every input feature, float32: a dense array, a CSR matrix or rows on disk
        (:class:`mssvae.io.ondisk.H5Rows`).
    codes
        Each sample's group code (int64), in the order of ``groups``.
    groups
        The groups in block order (a fit's, or the fitted model's).
    obs_names, var_names
        Names of the samples and of every input feature.
    covariates
        The coded covariates (samples × coded columns, float32), or ``None`` without covariates.
    encoding
        How they were coded (:class:`mssvae.io.covariates.CovariateEncoding`), or ``None``.
    kept
        Mask over ``var_names`` of the features the network reads (constant ones are left out
        of a fit); all True until a fit's start statistics decide.
    features
        ``X`` on the ``kept`` features: what the network reads.
    start
        The start statistics of a fit (:class:`mssvae.model.start.StartStatistics`), or ``None``.
    """

    X: object
    codes: np.ndarray
    groups: list[str]
    obs_names: list[str]
    var_names: list[str]
    covariates: np.ndarray | None
    encoding: CovariateEncoding | None
    kept: np.ndarray
    features: object
    start: StartStatistics | None = None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def with_start(self, start: StartStatistics) -> "PreparedInput":
        """The same input with a fit's start statistics, reading the features they keep."""
        return replace(self, start=start, kept=start.kept, features=select_columns(self.X, start.kept))

    def with_kept(self, kept: np.ndarray) -> "PreparedInput":
        """The same input reading the features of ``kept`` (a fitted model's)."""
        kept = np.asarray(kept, dtype=bool)
        return self if np.array_equal(kept, self.kept) else replace(self, kept=kept, features=select_columns(self.X, kept))


def prepare_input(data, likelihood: str, group_key: str = "group", layer: str | None = None, groups=None,
                  covariate_keys=None, covariates=None, known_groups: list[str] | None = None,
                  known_features: list[str] | None = None, encoding: CovariateEncoding | None = None,
                  min_group_size: int = 0) -> PreparedInput:
    """Read, check and convert ``data`` once (module docstring).

    Parameters
    ----------
    data
        An AnnData (groups from ``obs[group_key]`` unless ``groups`` is given) or a samples ×
        features matrix with ``groups``.
    likelihood
        ``"nb"`` (the values must be counts) or ``"gaussian"``.
    group_key, layer, groups
        As :meth:`mssvae.MSSVAE.fit`.
    covariate_keys, covariates
        ``obs`` columns or a table of covariates (:func:`mssvae.io.covariates.covariate_frame`).
        With ``encoding`` (a fitted model's) they are coded as the fit coded them, from
        ``covariates`` if given, else from the ``obs`` columns of the encoding's names; without
        it the coding is made from these data.
    known_groups, known_features
        A fitted model's groups (other labels are an error) and features (the names must
        match, in order).
    min_group_size
        The least number of samples per group (a fit needs 2).
    """
    X, labels, obs_names, var_names = unpack(data, group_key, layer, groups)
    n = X.shape[0]
    var_names = [str(v) for v in var_names]
    if known_features is not None and var_names != list(known_features):
        raise MSSVAEInputError("the features differ from those the model was fitted on",
                               hint="subset and order them the same way")
    codes, order = resolve_groups(labels, n, known=known_groups, min_size=min_group_size)
    check_values(X, likelihood, obs_names, var_names)
    obs_names = [str(v) for v in obs_names]
    S = None
    if encoding is not None:
        S = coded_covariates(data, encoding, covariates, obs_names)
    else:
        frame = covariate_frame(data, covariate_keys, covariates, n, obs_names)
        if frame is not None:
            encoding = CovariateEncoding.fit(frame)
            S = encoding.transform(frame, obs_names)
    kept = np.ones(len(var_names), dtype=bool)
    return PreparedInput(X=X, codes=codes, groups=list(order), obs_names=obs_names, var_names=var_names,
                         covariates=S, encoding=encoding, kept=kept, features=X)


def coded_covariates(data, encoding: CovariateEncoding, covariates=None, obs_names=None) -> np.ndarray:
    """The covariates of ``data``'s samples coded by a fit's ``encoding`` (N × C, float32): from
    ``covariates`` (a DataFrame or dict) if given, else from the ``obs`` columns of the
    encoding's names. Errors name a missing covariate, a missing value or a level the fit did
    not see."""
    n = data.n_obs if is_anndata(data) else data.shape[0]
    if obs_names is None and is_anndata(data):
        obs_names = list(map(str, data.obs_names))
    if covariates is None:
        if not is_anndata(data):
            raise MSSVAEInputError(f"the model was fitted with covariates {encoding.names}; pass covariates= "
                                   "(one row per sample)", args_named=("covariates",))
        frame = covariate_frame(data, covariate_keys=encoding.names, n_samples=n, obs_names=obs_names)
    else:
        frame = covariate_frame(data, covariates=covariates, n_samples=n, obs_names=obs_names)
    return encoding.transform(frame, obs_names)
