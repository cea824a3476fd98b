"""One fit job for every door: the settings and options checked before any data are read, then
fit, save, ``fold_switched`` and export, in that order. The command line (``mssvae fit``) and
the R door (:func:`mssvae.bridge.fit_arrays`) run it; each gives its own export (a file; a dict
of arrays for R)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..analysis import postprocess
from ..core.distributed import launch
from ..core.train import Progress
from .estimator import MSSVAE
from .settings import checked_fit_options


@dataclass
class FitOutcome:
    """What a fit job leaves: the fitted ``model``, whether this process is the one that saved
    and exported (``is_main``: False on the other processes of a data-parallel fit), the
    programs ``fold_switched`` moved (one line each) and what ``export`` returned."""

    model: MSSVAE
    is_main: bool = True
    folded: list[str] = field(default_factory=list)
    exported: Any = None


class FitJob:
    """A fit of an AnnData, checked when made and run by :meth:`run`.

    Parameters
    ----------
    likelihood, settings
        The model (:class:`mssvae.MSSVAE`): ``settings`` are the constructor's other arguments.
    epochs, batch_size, seed, device, threads, model_dir, resume, starts, parallel_starts
        As :meth:`mssvae.MSSVAE.fit`, checked here (:func:`mssvae.model.settings.checked_fit_options`)
        so that a bad value stops the job before the data are read.
    fold_switched
        Apply :func:`mssvae.fold_switched` to the results after saving the model (App. C.3).
    """

    def __init__(self, likelihood: str = "nb", settings: dict | None = None, epochs=None, batch_size=None, seed=0,
                 device="auto", threads=None, model_dir=None, resume=False, fold_switched: bool = False, starts=1,
                 parallel_starts=None):
        self.model = MSSVAE(likelihood, **(settings or {}))
        self.options = checked_fit_options(epochs, batch_size, seed, device, threads, model_dir, resume, starts,
                                           parallel_starts)
        self.fold_switched = bool(fold_switched)

    @property
    def model_dir(self):
        return self.options["model_dir"]

    def run(self, adata, group_key: str = "group", layer: str | None = None, groups=None, covariate_keys=None,
            progress: Progress = False, export: Callable[[Any], Any] | None = None) -> FitOutcome:
        """Fit ``adata`` (results written into it), save the model to ``model_dir`` (when given),
        fold switched programs (when asked) and return ``export(adata)``. On the other processes of
        a data-parallel fit only the fit runs: rank 0 saves and exports."""
        model = self.model.fit(adata, group_key=group_key, layer=layer, groups=groups, covariate_keys=covariate_keys,
                               progress=progress, **self.options)
        if not launch(self.options["device"]).is_main:
            return FitOutcome(model, is_main=False)
        if self.model_dir is not None:
            model.save(self.model_dir)
        folded = postprocess.fold_switched(adata, groups=groups) if self.fold_switched else []
        return FitOutcome(model, folded=folded, exported=None if export is None else export(adata))
