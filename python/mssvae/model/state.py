"""What a fit learns about its data besides the network weights: the typed fitted state that
the estimator saves, and that rankings and results read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.train import CHECKPOINT, Trainer
from ..errors import MSSVAEInputError


@dataclass
class FittedState:
    """The data-dependent state of a fitted :class:`mssvae.MSSVAE`.

    Attributes
    ----------
    groups
        Group labels in block order.
    var_names
        Every input feature's name, fitted or not.
    kept
        Mask over ``var_names`` of the features fitted (constant ones are left out).
    n_specific
        K_m per group, in the order of ``groups``.
    seed
        The fit's random seed.
    group_key
        The ``obs`` column the groups came from, or ``None`` (labels passed directly).
    runtime
        Device, resolved precision and why, CPU threads, batch size.
    module_kwargs
        The network's constructor arguments that are not tensors (to rebuild it on load).
    covariates
        The covariates' encoding (``io.covariates.CovariateEncoding.to_dict``), or ``None``.
    stopping
        How the fit ended (``core.train.Trainer.summary``), or ``None`` before it ends.
    distributed
        The processes that trained it: ``world_size`` and ``backend`` (1 and ``"none"`` for an
        ordinary fit; :mod:`mssvae.core.distributed`).
    stability
        With several starts: each factor's ``stability`` and ``median_jaccard`` across them and
        the ``min_jaccard`` of a match (:func:`mssvae.analysis.stability.stability_record`), or ``None``.
    starts
        With several starts: every start's ``seed`` and final loss (``objective``) and the seed of
        the start kept (``chosen``), or ``None``.
    """

    groups: list[str]
    var_names: list[str]
    kept: np.ndarray
    n_specific: list[int]
    seed: int = 0
    group_key: str | None = None
    runtime: dict = field(default_factory=dict)
    module_kwargs: dict = field(default_factory=dict)
    covariates: dict | None = None
    stopping: dict | None = None
    distributed: dict = field(default_factory=lambda: {"world_size": 1, "backend": "none"})
    stability: dict | None = None
    starts: dict | None = None

    def __post_init__(self):
        self.kept = np.asarray(self.kept, dtype=bool)
        self.groups = [str(g) for g in self.groups]
        self.n_specific = [int(k) for k in self.n_specific]

    @property
    def fitted_features(self) -> np.ndarray:
        """Names of the fitted features (``var_names[kept]``)."""
        return np.asarray(self.var_names, dtype=object)[self.kept]

    def full_rows(self, a: np.ndarray, fill=0.0) -> np.ndarray:
        """Rows for every input feature from rows for the fitted ones: the others get ``fill``."""
        out = np.full((len(self.kept),) + a.shape[1:], fill, dtype=np.float64)
        out[self.kept] = a
        return out

    def to_dict(self) -> dict:
        """Plain values (``kept`` as a list), as saved with the model."""
        return {**asdict(self), "kept": self.kept.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "FittedState":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def resume_from(trainer: Trainer, ckpt_dir: Path | None, dev: torch.device, state: FittedState) -> None:
    """Load the checkpoint in ``ckpt_dir`` into ``trainer``, after checking that it was made on
    the data of ``state`` (features, groups, covariates). Every process of a data-parallel fit
    loads the same file."""
    if ckpt_dir is None or not (ckpt_dir / CHECKPOINT).exists():
        raise MSSVAEInputError(f"resume=True needs a checkpoint: none found in {ckpt_dir}; fit once with model_dir= first")
    saved_all = torch.load(ckpt_dir / CHECKPOINT, map_location=dev, weights_only=False)
    check_same_data(FittedState.from_dict(saved_all["meta"]), state, ckpt_dir)
    trainer.load_state(saved_all)


def check_same_data(saved: FittedState, state: FittedState, where) -> None:
    """An error unless the model or checkpoint ``saved`` in ``where`` was made on the data of
    ``state`` (the same features, groups and covariates)."""
    if saved.var_names != state.var_names or saved.groups != state.groups:
        raise MSSVAEInputError(f"the checkpoint in {where} was made on other data (features or groups differ)")
    if saved.covariates != state.covariates:
        raise MSSVAEInputError(f"the checkpoint in {where} was made with other covariates (or their levels differ)")
