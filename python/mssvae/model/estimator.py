"""The user-facing MSSVAE estimator: AnnData or arrays in, validation, training, results out,
save/load and ``transform``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._version import __version__
from ..contract import ACTIVE_FACTOR_COLUMNS, STABILITY_COLUMNS
from ..core.batches import Batches
from ..core.distributed import check_same_input, check_share, launch
from ..core.hardware import default_threads, resolve_device, resolve_precision, torch_threads
from ..core.module import MSSVAEModule
from ..core.train import CHECKPOINT, Progress, Trainer, warn_short_schedule
from ..errors import FitInterrupted, MSSVAEInputError
from ..io.covariates import CovariateEncoding
from ..io.inputs import is_anndata
from .parallel import run_starts, start_workers, threads_per_start
from .prepared import PreparedInput, coded_covariates, prepare_input
from .settings import Settings, checked_fit_options, checked_settings
from .start import module_kwargs, specific_sizes, start_statistics
from .state import FittedState, check_same_data, resume_from
from ..analysis.ranking import rank_group_factors, rank_group_genes
from ..analysis.stability import stability_record
from ..io.results import gene_set_threshold, warn_inactive, write_results

MODEL_FILE = "model.pt"
SETTINGS_FILE = "settings.json"

class MSSVAE:
    """Multi-study sparse VAE (Moran & Krishnan 2026): shared and group-specific factors with
    sparse feature-to-factor masks W.

    Parameters
    ----------
    likelihood
        ``"nb"`` for counts (Eq. 2.5) or ``"gaussian"`` (Eq. 2.2).
    n_shared, n_specific
        Initial K_S and K_m (an int for every group, or a dict group → K_m); the spike-and-slab
        prior switches off the columns the data do not need. Default: Table 2.
    hidden
        Widths of the two hidden layers of every network. Default: Table 2.
    lr, lr_w
        Adam learning rates for the networks and for W. Default: Table 2.
    lambda1, lambda0, lambda0_breaks, a, b
        Spike-and-slab lasso: slab scale, the annealed spike scales and the gradient steps
        where they change (default: Table 2's 5% and 30% of the epochs at the paper's sizes),
        and the Beta(a, b) prior of η (b=None means G).
    sparsity_weight
        Multiplier of the SSL prior relative to the whole-data likelihood (1 = exact MAP, Eq. 2.4).
        Default 20 for Gaussian (at 1, W stays dense on the paper's §4.1 design) and 10 for NB
        (with the Lipschitz decoder and hidden widths of 128 or more, weight 2 leaves rotated
        and spare shared columns on the §4.2 design); docs/design.md, "Penalty weight".
    balance_groups
        Draw minibatches with weights ∝ 1/n_m (App. B.2.3).
    precision
        Arithmetic of the decoder's hidden layers: ``"auto"`` (bf16 on CUDA devices of compute
        capability ≥ 8.0, fp16 below, and bf16 on CPUs
        with native bf16 and hidden widths ≥ 64, fp32 elsewhere; :func:`mssvae.core.hardware.resolve_precision`),
        ``"fp32"``, or ``"bf16"``/``"fp16"`` (mixed precision with fp32 master weights,
        likelihood and priors). The choice made is recorded in ``.uns["mssvae"]["runtime"]``.
    early_stopping, stopping_tol, stopping_patience, max_steps
        ``epochs`` is a maximum: with ``early_stopping`` the fit ends once λ0 has reached its
        last value, the supports of W (|W| > 0.03) have held for ``stopping_patience`` epochs and
        the loss averaged over that many epochs improved by less than ``stopping_tol``
        (relative) on the window before, but never while a column of W holds more than half
        of the features (:mod:`mssvae.core.stopping`). ``max_steps`` bounds the gradient steps
        (large N; default twice the paper's step count).
    covariates_in_encoder
        With covariates (``fit(..., covariate_keys=...)``), also feed them to every encoder
        (scVI's choice: the encoders see [x, s]) besides the decoder's per-feature offset
        f_ij + β_jᵀ s_i. Default True: on the planted-batch design the shared supports were
        recovered exactly in every seed, against 0.875 in most seeds with the offset alone
        (docs/design.md, "Covariates").
    lipschitz_decoder
        Constrain the decoder to be 2-Lipschitz in w̃_j ⊙ z̃_i (spectral-normalised layers, unit
        head rows) so that W carries the scale and thresholds on |W| mean something; False gives
        App. B.1's free weights. Default: True for NB, where the free decoder lets W shrink
        towards 0; False for Gaussian, where the free decoder recovers the §4.1 supports better
        (docs/design.md, "Scale of W").
    encoder_input
        What the encoders see: ``"raw"`` (App. B.1: x, or log1p(x) for NB) or ``"standardized"``
        (log1p of library-normalised counts for NB, x for Gaussian; each feature centred and
        scaled by its training-data moments). Default: standardized for NB, where on the
        Splatter design the raw input left the shared latents blind to the cell types within the
        fit (docs/design.md, "Encoder input"); raw for Gaussian.
    """

    def __init__(self, likelihood: str = "nb", **kwargs):
        self.settings = Settings(**checked_settings({"likelihood": likelihood, **kwargs})).resolved()
        #: The settings of the fit that made the current state: the constructor's, with the
        #: fit's ``epochs`` and ``batch_size`` resolved; None before a fit or load.
        self.fitted_settings: Settings | None = None
        self.module: MSSVAEModule | None = None
        self.history: list[dict] = []
        self.state: FittedState | None = None

    # ----- fitting ----------------------------------------------------------------------------
    def fit(
        self,
        data,
        group_key: str = "group",
        layer: str | None = None,
        groups=None,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        device: str = "auto",
        progress: Progress = True,
        model_dir: str | Path | None = None,
        resume: bool = False,
        covariate_keys=None,
        covariates=None,
        threads: int | None = None,
        starts: int = 1,
        parallel_starts: int | None = None,
    ) -> "MSSVAE":
        """Fit to an AnnData (groups from ``obs[group_key]``) or to a matrix with ``groups``.

        Results are written into the AnnData (see ``write_results``). With ``model_dir``,
        checkpoints are saved there during training; ``resume=True`` continues from one.
        Ctrl-C raises :class:`mssvae.FitInterrupted` after keeping the work done.

        ``progress``: True draws a bar on standard error with a line at the start and one at the
        end; False is silent; a callable ``f(epoch, max_epochs, record, final)`` is called after
        every epoch instead (R's progress bar), and may return :data:`mssvae.core.train.STOP` to
        stop the fit as Ctrl-C would.

        Covariates (optional; :mod:`mssvae.io.covariates`): ``covariate_keys`` names ``obs``
        columns (e.g. ``["batch", "donor"]``), or ``covariates`` gives them as a DataFrame or a
        dict name → values, one per sample (for matrix input). Categorical ones (strings,
        categories, bools) are one-hot coded without their first level, numeric ones
        standardised; the decoder adds a per-feature effect β_jᵀ s_i to its output, so nuisance
        variation need not occupy shared factors. The encoding is kept for ``transform``.

        ``threads``: PyTorch's CPU threads during the fit (default: the cores other processes
        leave idle, :func:`mssvae.core.hardware.default_threads`, shared by the processes of a
        machine). ``batch_size`` defaults to :func:`mssvae.core.train.default_batch_size` of N.

        ``starts``: the number of fits, from seeds ``seed``, ``seed + 1``, ..., on the same
        prepared input (``parallel_starts`` of them at once). The model (and the results) become those of the start with
        the lowest final loss (the last epoch's, as MOFA2's ``select_model`` keeps the best
        ELBO), and record every start's seed and final loss (``.uns["mssvae"]["starts"]``) and
        the stability of each factor across the starts (``.uns["mssvae"]["stability"]``,
        :func:`mssvae.analysis.stability.factor_stability`; shown by :meth:`active_factors`, drawn
        by :func:`mssvae.analysis.plotting.plot_stability`; NaN when the kept start ended with W still dense).
        With ``model_dir``, start i checkpoints to ``model_dir/start_i``; ``resume=True``
        reloads the finished starts and continues the interrupted ones. ``parallel_starts``: how
        many starts run at once, each in its own process with its share of ``threads`` and its
        own copy of the input (:mod:`mssvae.model.parallel`; default: one per thread on a CPU,
        one on a GPU or for input on disk).

        Under ``torchrun`` with several processes the fit is data-parallel (:mod:`mssvae.core.distributed`):
        ``batch_size`` is the global minibatch; only rank 0 writes checkpoints and results into its ``data``.
        """
        s = self.settings
        options = checked_fit_options(epochs, batch_size, seed, device, threads, model_dir, resume, starts,
                                      parallel_starts)
        epochs, batch_size, seed, device, threads = (options[k] for k in ("epochs", "batch_size", "seed", "device", "threads"))
        model_dir, resume = options["model_dir"], options["resume"]
        ranks = launch(device)
        if options["starts"] > 1 and ranks.active:
            raise MSSVAEInputError(f"starts={options['starts']}: several starts are separate fits, "
                                   "not run under a data-parallel torchrun launch", hint="launch it without torchrun",
                                   args_named=("starts",))
        inp = prepare_input(data, s.likelihood, group_key, layer, groups, covariate_keys=covariate_keys,
                            covariates=covariates, min_group_size=2)
        n = inp.n_samples
        # the settings of this fit; the constructor's stay as they were for the next fit
        s = self.fitted_settings = s.for_fit(n, epochs, batch_size)
        check_share(ranks, s.batch_size, n)
        check_same_input(ranks, {"data shape": list(inp.X.shape), "feature names": inp.var_names,
                                 "groups": inp.groups, "group labels": inp.codes,
                                 "covariates": None if inp.encoding is None else inp.encoding.to_dict(),
                                 "settings": [asdict(s), seed, layer, group_key, resume]})
        inp = inp.with_start(start_statistics(inp.X, inp.var_names, s.likelihood))
        n_kept = int(inp.kept.sum())
        n_spec = specific_sizes(s.n_specific, inp.groups)
        if s.n_shared + max(n_spec, default=0) > n_kept:
            raise MSSVAEInputError(
                f"more factors than features: K_S + K_m = {s.n_shared + max(n_spec)} but only {n_kept} "
                "usable features", hint="lower n_shared / n_specific", args_named=("n_shared", "n_specific"))
        dev = ranks.device or resolve_device(device)
        precision, why = resolve_precision(s.precision, dev, tuple(s.hidden))
        n_threads = (threads if threads is not None else
                     max(1, default_threads() // ranks.local_world_size) if dev.type == "cpu" else None)
        state = self.state = FittedState(
            groups=inp.groups, var_names=inp.var_names, kept=inp.kept, n_specific=n_spec, seed=seed,
            group_key=group_key if groups is None else None,
            runtime=dict(device=str(dev), precision=precision, precision_reason=why, threads=n_threads,
                         batch_size=int(s.batch_size)),
            covariates=None if inp.encoding is None else inp.encoding.to_dict(), distributed=ranks.record())
        progress = progress if ranks.is_main else False
        if progress is True:
            _say(f"mssvae: {s.likelihood} fit of {n} samples × {n_kept} features on {dev}"
                 + (f" in each of {ranks.world_size} processes ({ranks.backend})" if ranks.active else "") + ", "
                 f"decoder in {precision} ({why}), {n_threads or 'default'} CPU thread(s), batch {s.batch_size}, "
                 f"sparsity weight {s.sparsity_weight:.3g}, at most {s.epochs} epochs"
                 + ("" if s.early_stopping else " (early stopping off)"))
        if ranks.is_main:
            warn_short_schedule(s.train_settings(n), n)
        with torch_threads(n_threads):  # the data-dependent starts are the same for every seed
            kwargs = module_kwargs(inp.features, s, n_spec, inp.covariates, precision=precision, start=inp.start)
        run = dict(inp=inp, kwargs=kwargs, ranks=ranks, dev=dev, n_threads=n_threads, progress=progress)
        if options["starts"] == 1:
            self._train(state, seed, model_dir, resume, **run)
        else:
            self._train_starts(state, options["starts"], seed, model_dir, resume,
                               start_workers(options["parallel_starts"], options["starts"], dev, n_threads, inp), **run)
        if ranks.is_main:
            warn_inactive(self.W, s.likelihood)
        if is_anndata(data) and ranks.is_main:
            with torch_threads(n_threads):  # the latents too are computed on the fit's threads
                write_results(self, data, inp, layer=layer)
        return self

    def _train(self, state: FittedState, seed: int, model_dir, resume: bool, inp: PreparedInput, kwargs: dict, ranks,
               dev, n_threads, progress) -> None:
        """One training run from ``seed`` on the prepared ``inp``: a network built from the
        constructor arguments ``kwargs`` (copied: training changes tensors in place), trained
        with checkpoints in ``model_dir`` (resumed from there with ``resume``)."""
        s, n = self.fitted_settings, inp.n_samples
        self.state = state
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch_threads(n_threads):
            torch.manual_seed(seed)
            state.module_kwargs = {k: v for k, v in kwargs.items() if not torch.is_tensor(v)}
            self.module = MSSVAEModule(**{k: v.clone() if torch.is_tensor(v) else v
                                          for k, v in kwargs.items()}).to(dev)
            trainer = Trainer(self.module, s.train_settings(n), seed, ranks)
            ckpt_dir = Path(model_dir) if model_dir is not None else None
            if resume:
                resume_from(trainer, ckpt_dir, dev, state)
            state.runtime["lambda0_breaks"] = list(trainer.settings.schedule.breaks)
            try:
                trainer.run(Batches(inp.features, inp.codes, dev, inp.covariates), ckpt_dir,
                            extra=self._payload(include_state=False), progress=progress)
            finally:
                self.history = trainer.history
                state.stopping = trainer.summary()
        if progress is True:
            _say(f"mssvae: {state.stopping['message']}")

    def _train_starts(self, state: FittedState, starts: int, seed: int, model_dir, resume: bool, workers: int,
                      **run) -> None:
        """``starts`` training runs from seeds ``seed``, ``seed + 1``, ..., ``workers`` at a time
        (each in its own process, :mod:`mssvae.model.parallel`; 1: one after another here); this
        model becomes the start of the lowest final loss (MOFA2's choice), with every start's
        seed and loss and the stability of its factors across the starts
        (:func:`mssvae.analysis.stability.factor_stability`) in its state. With ``model_dir``,
        start i's checkpoints go to ``model_dir/start_i`` and its finished model is saved there,
        so that ``resume`` loads the finished starts and continues the interrupted ones."""
        top = None if model_dir is None else Path(model_dir)
        dirs = [None if top is None else top / f"start_{i + 1}" for i in range(starts)]
        if resume and not any((d / MODEL_FILE).exists() or (d / CHECKPOINT).exists() for d in dirs):
            raise MSSVAEInputError(f"resume=True needs the checkpoints of a fit with starts={starts}: none found in "
                                   f"{top}/start_1..{starts}", hint="fit once with model_dir= first",
                                   args_named=("resume", "starts"))
        seeds, finished = [seed + i for i in range(starts)], {}
        for i, d in enumerate(dirs):
            if resume and (d / MODEL_FILE).exists():
                finished[i] = MSSVAE.load(d, device=str(run["dev"]))
                check_same_data(finished[i].state, state, d)
        todo = [i for i in range(starts) if i not in finished]
        workers = min(workers, len(todo))
        say = _say if run["progress"] is True else None
        if workers > 1:
            if say is not None:
                _say(f"mssvae: {len(todo)} starts, {workers} at a time in their own processes, "
                     f"{threads_per_start(run['n_threads'], workers) or 'default'} CPU thread(s) each")
            finished.update(run_starts(self, state, todo, seeds, dirs, resume, workers, run, say))
        for i in todo if workers <= 1 else []:
            start_seed, d = seeds[i], dirs[i]
            if say is not None:
                _say(f"mssvae: start {i + 1} of {starts} (seed {start_seed})")
            done = finished[i] = MSSVAE(**asdict(self.settings))
            done.fitted_settings = self.fitted_settings
            try:
                done._train(replace(state, seed=start_seed, runtime=dict(state.runtime)), start_seed, d,
                            resume and (d / CHECKPOINT).exists(), **run)
            except FitInterrupted as e:
                self.module, self.state, self.history = done.module, done.state, done.history
                again = "" if top is None else (f"; the finished starts are saved in {top} — resume all with the "
                                                "same model_dir and resume=True (CLI: --resume)")
                raise FitInterrupted(f"start {i + 1} of {starts} (seed {start_seed}): {e}{again}", e.epochs_done,
                                     e.max_epochs, None if top is None else str(top)) from None
            if d is not None:
                done.save(d)
        models = [finished[i] for i in range(starts)]
        objectives = [float(m.history[-1]["loss"]) if m.history else float("inf") for m in models]
        blocks = [{"shared": m.W_shared.to_numpy(), **{g: w.to_numpy() for g, w in m.W_specific.items()}}
                  for m in models]
        best = int(np.argmin(objectives))
        chosen = models[best]
        record = stability_record(blocks, reference=best)
        dense = bool(chosen.state.stopping and chosen.state.stopping.get("dense"))
        if dense:  # a dense W matches itself in every start: the scores would all read 1
            record["stability"] = np.full_like(record["stability"], np.nan)
            record["median_jaccard"] = np.full_like(record["median_jaccard"], np.nan)
        self.module, self.history, self.fitted_settings = chosen.module, chosen.history, chosen.fitted_settings
        self.state = chosen.state
        self.state.stability = {k: np.asarray(v).tolist() if np.ndim(v) else v for k, v in record.items()}
        self.state.starts = {"seed": seeds, "objective": objectives, "chosen": seeds[best]}
        if run["progress"] is True:
            _say(f"mssvae: kept start {best + 1} (seed {seeds[best]}), the lowest final loss of {starts} starts; "
                 + ("its W is still dense, so no factor is scored for stability (NaN): fit longer" if dense else
                    f"{int((record['stability'] >= 0.5).sum())} factors matched in at least half of the other starts"))

    # ----- results ----------------------------------------------------------------------------
    def fitted_module(self) -> MSSVAEModule:
        """The fitted network (:class:`mssvae.core.module.MSSVAEModule`); a ``RuntimeError``
        before ``fit`` or ``load``."""
        if self.module is None or self.state is None:
            raise RuntimeError("the model is not fitted yet; call .fit(...) or MSSVAE.load(dir) first")
        return self.module

    def _fitted(self) -> FittedState:
        if self.state is None:
            raise RuntimeError("the model is not fitted yet; call .fit(...) or MSSVAE.load(dir) first")
        return self.state

    @property
    def groups(self) -> list[str]:
        return list(self._fitted().groups)

    def factor_names(self) -> dict[str, list[str]]:
        """Factor names per block: ``shared`` → shared_1.., each group → <group>_1.."""
        out = {"shared": [f"shared_{k + 1}" for k in range(self.settings.n_shared)]}
        for g, k in zip(self.groups, self._fitted().n_specific):
            out[g] = [f"{g}_{i + 1}" for i in range(k)]
        return out

    @property
    def W(self) -> np.ndarray:
        """The fitted loadings, every input feature × every factor (shared, then each group's),
        float64; the features left out of the fit (constant ones) have rows of 0."""
        return self._fitted().full_rows(self.fitted_module().W.detach().cpu().double().numpy())

    @property
    def W_shared(self) -> pd.DataFrame:
        """W^(S): features × shared factors."""
        names = self.factor_names()
        return pd.DataFrame(self.W[:, : self.settings.n_shared], index=self._fitted().var_names, columns=names["shared"])

    @property
    def W_specific(self) -> dict[str, pd.DataFrame]:
        """W^(m) for each group: features × that group's factors."""
        W, names, out, start = self.W, self.factor_names(), {}, self.settings.n_shared
        for g, k in zip(self.groups, self._fitted().n_specific):
            out[g] = pd.DataFrame(W[:, start : start + k], index=self._fitted().var_names, columns=names[g])
            start += k
        return out

    @property
    def eta(self) -> pd.Series:
        """η_k, the estimated share of features in each factor's slab."""
        names = sum(self.factor_names().values(), [])
        return pd.Series(self.fitted_module().eta.cpu().double().numpy(), index=names, name="eta")

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch loss and its components."""
        return pd.DataFrame(self.history).set_index("epoch") if self.history else pd.DataFrame()

    def active_factors(self, threshold: float | None = None) -> pd.DataFrame:
        """One row per factor with some |W| above ``threshold`` (None: each factor's threshold,
        :func:`mssvae.io.results.gene_set_threshold`): block, number of features (``n_genes``),
        max |W|, η and the top features (``top_genes``); after a fit of several starts also
        ``stability`` (the fraction of the other starts that hold the factor) and
        ``median_jaccard`` (:func:`mssvae.analysis.stability.factor_stability`)."""
        names = sum(self.factor_names().values(), [])
        limit = dict(zip(names, gene_set_threshold(self.W, threshold)))
        table = self._active_rows(limit)
        stability = self._fitted().stability
        if stability:
            for col in STABILITY_COLUMNS:
                table[col] = table["factor"].map(dict(zip(names, stability[col]))).astype(float)
        return table

    def _active_rows(self, limit: dict) -> pd.DataFrame:
        rows, eta = [], self.eta
        for block, W in {"shared": self.W_shared, **self.W_specific}.items():
            for col in W.columns:
                w = W[col].abs()
                if (n := int((w > limit[col]).sum())) == 0:
                    continue
                top = w.sort_values(ascending=False).index[: min(n, 10)]
                rows.append(dict(factor=col, block=block, n_genes=n, max_abs_w=float(w.max()), eta=float(eta[col]),
                                 top_genes=", ".join(map(str, top))))
        return pd.DataFrame(rows, columns=ACTIVE_FACTOR_COLUMNS)

    @property
    def covariate_encoding(self) -> CovariateEncoding | None:
        """How the fit coded its covariates (levels, means, sds), or None without covariates."""
        d = self._fitted().covariates
        return None if d is None else CovariateEncoding.from_dict(d)

    def covariate_matrix(self, data, covariates=None, obs_names=None) -> np.ndarray | None:
        """The covariates of ``data``'s samples coded as at fit time (N × C, float32), or None
        when the model has none: from ``covariates`` (a DataFrame or dict) if given, else from
        the ``obs`` columns of the fitted covariates' names. Errors name a missing covariate, a
        missing value or a level the fit did not see."""
        enc = self.covariate_encoding
        return None if enc is None else coded_covariates(data, enc, covariates, obs_names)

    def prepare_input(self, data, group_key: str | None = None, layer: str | None = None, groups=None,
                      covariates=None) -> PreparedInput:
        """``data`` read and checked once as the fitted network reads it
        (:class:`mssvae.model.prepared.PreparedInput`): the fitted features of every sample, the
        group codes in the model's order and the covariates coded as at fit time, with the
        checks of the fit (same features, known groups, valid values). ``transform`` and the
        rankings take it in place of ``data``; an input already prepared is returned as it is,
        once its features and groups are found to be the model's."""
        state = self._fitted()
        if isinstance(data, PreparedInput):
            if data.var_names != state.var_names or not np.array_equal(data.kept, state.kept) or \
                    data.groups != state.groups:
                raise MSSVAEInputError("the prepared input was not made for this model (features or groups differ)",
                                       hint="make it with model.prepare_input(data)")
            return data
        inp = prepare_input(data, self.settings.likelihood, group_key or state.group_key or "group", layer, groups,
                            covariates=covariates, known_groups=state.groups, known_features=state.var_names,
                            encoding=self.covariate_encoding)
        return inp.with_kept(state.kept)

    def transform(self, data, group_key: str | None = None, layer: str | None = None, groups=None, batch_size: int = 1024,
                  covariates=None) -> dict[str, pd.DataFrame]:
        """Posterior means of the latents for samples of known groups.

        ``data``: an AnnData or a matrix with ``groups=``, or the input prepared for this model
        (:meth:`prepare_input`; the fit passes its own), which is read without further checks.
        Returns ``shared`` (N × K_S) and ``specific`` (N × max K_m, the sample's own group's
        factors, zero-padded where groups have fewer), as DataFrames indexed by sample. A model
        fitted with covariates needs them here too (``covariates=``, or the same ``obs``
        columns), coded as at fit time; a level the fit did not see is an error.
        """
        module = self.fitted_module()
        inp = self.prepare_input(data, group_key, layer, groups, covariates)
        X, codes, S, obs_names = inp.features, inp.codes, inp.covariates, inp.obs_names
        dev = next(module.parameters()).device
        module.eval()
        mu, start = None, 0  # filled in place: one N × K array, however many batches
        with torch.no_grad():
            for x, g, cov in Batches(X, codes, dev, S).sequential(batch_size):
                batch = module.encode(x, g, cov)["mu"].cpu().double().numpy()
                mu = np.empty((X.shape[0], batch.shape[1])) if mu is None else mu
                mu[start:start + len(batch)] = batch
                start += len(batch)
        ks, n_spec = self.settings.n_shared, self.state.n_specific
        kmax = max(n_spec, default=0)
        specific = np.zeros((len(mu), kmax))
        offsets = np.cumsum([ks] + n_spec)
        for m, k in enumerate(n_spec):
            rows = codes == m
            specific[rows, :k] = mu[rows, offsets[m] : offsets[m] + k]
        index = pd.Index(obs_names)
        return {
            "shared": pd.DataFrame(mu[:, :ks], index=index, columns=self.factor_names()["shared"]),
            "specific": pd.DataFrame(specific, index=index, columns=[f"specific_{i + 1}" for i in range(kmax)]),
        }

    def rank_group_genes(self, data, group: str, group_key: str | None = None, layer: str | None = None, groups=None,
                         batch_size: int = 512, covariates=None) -> pd.DataFrame:
        """Genes ranked by the log-likelihood ratio of ``group``'s data under the full versus the
        shared-only decoding (multiGroupVI's Bayes factor); see :func:`mssvae.analysis.ranking.rank_group_genes`."""
        return rank_group_genes(self, data, group, group_key=group_key, layer=layer, groups=groups, batch_size=batch_size,
                                covariates=covariates)

    def rank_group_factors(self, data, group: str, group_key: str | None = None, layer: str | None = None, groups=None,
                           threshold: float | None = None, n_top: int = 10, batch_size: int = 512, covariates=None) -> pd.DataFrame:
        """``group``'s factors ranked by the log-likelihood lost when each alone is zeroed, with
        their top genes by |W|; see :func:`mssvae.analysis.ranking.rank_group_factors`."""
        return rank_group_factors(self, data, group, group_key=group_key, layer=layer, groups=groups,
                                  threshold=threshold, n_top=n_top, batch_size=batch_size, covariates=covariates)

    def write_results(self, adata, layer: str | None = None, groups=None, covariates=None) -> None:
        """Write the results contract (README, "Results contract") into ``adata``."""
        write_results(self, adata, self.prepare_input(adata, layer=layer, groups=groups, covariates=covariates),
                      layer=layer)

    # ----- persistence ------------------------------------------------------------------------
    def _payload(self, include_state: bool = True) -> dict:
        out = {"settings": asdict(self.fitted_settings or self.settings), "constructor_settings": asdict(self.settings),
               "meta": self._fitted().to_dict(), "version": __version__}
        if include_state:
            out["state_dict"] = self.fitted_module().state_dict()
            out["history"] = self.history
        return out

    def save(self, directory: str | Path) -> Path:
        """Save to ``directory`` (model.pt and a readable settings.json); ``MSSVAE.load`` restores it exactly."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = self._payload()
        torch.save(payload, directory / MODEL_FILE)
        readable = {"settings": payload["settings"], "groups": self.groups, "version": __version__}
        (directory / SETTINGS_FILE).write_text(json.dumps(readable, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> "MSSVAE":
        """Load a model saved by ``save`` (or the last checkpoint of a fit in ``model_dir``)."""
        directory = Path(directory)
        path = directory / MODEL_FILE if (directory / MODEL_FILE).exists() else directory / CHECKPOINT
        if not path.exists():
            raise FileNotFoundError(f"no {MODEL_FILE} or {CHECKPOINT} in {directory}")
        payload = torch.load(path, map_location="cpu", weights_only=False)
        state = payload.get("state_dict", payload.get("module"))
        if "constructor_settings" not in payload:
            raise MSSVAEInputError(f"{path} was saved by a development version of mssvae before 2026-12-06, which "
                                   "this version does not read", hint="fit the model again")
        self = cls(**payload["constructor_settings"])
        self.fitted_settings = cls(**payload["settings"]).settings
        self.state = FittedState.from_dict(payload["meta"])
        kwargs = dict(self.state.module_kwargs)
        G = kwargs["n_features"]
        placeholders = dict(output_bias=torch.zeros(G), sigma2_init=torch.ones(G), phi_init=torch.ones(G))
        self.module = MSSVAEModule(**kwargs, **placeholders)
        self.module.load_state_dict(state)
        self.module.to(resolve_device(device)).eval()
        self.history = list(payload.get("history", []))
        return self


# ----- helpers ----------------------------------------------------------------------------------
def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
