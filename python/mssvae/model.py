"""The user-facing MSSVAE estimator: AnnData or arrays in, validation, training, results out,
save/load and ``transform``."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from . import _constants as C
from .data import (
    Batches,
    MSSVAEInputError,
    check_groups,
    check_values,
    column_moments,
    encode_groups,
    get_groups,
    get_matrix,
    library_sizes,
)
from .covariates import CovariateEncoding, covariate_frame, covariate_start
from .module import ENCODER_INPUTS, LIKELIHOODS, MSSVAEModule, encoder_transform
from .hardware import PRECISION_CHOICES, check_threads, default_threads, resolve_device, resolve_precision, torch_threads
from .priors import Lambda0Schedule, inverse_gamma_beta
from .stopping import StoppingRule
from .train import CHECKPOINT, Trainer, TrainSettings, default_batch_size, warn_short_schedule

MODEL_FILE = "model.pt"
SETTINGS_FILE = "settings.json"

# Table 2 of the paper, per likelihood, plus what the paper leaves implicit, chosen with the
# fidelity benchmark (README, "Penalty weight" and "Scale of W"; benchmarks/README.md): the weight
# of the sparsity prior, and whether the decoder is constrained so that W carries the scale.
#
# ``epochs`` is a maximum (the stopping rule ends most fits sooner), and ``max_steps`` bounds the
# gradient steps for large N. ``lambda0_breaks`` are Table 2's 5% and 30% of the epochs as
# gradient steps at the paper's sizes (§4.1: 3000 samples, batch 512, 6 steps per epoch × 500
# epochs; §4.2: 3200 samples, 7 × 800), so that they mean the same whether or not a fit stops
# early (``priors.Lambda0Schedule``).
PAPER_DEFAULTS = {
    "gaussian": dict(n_shared=30, n_specific=5, hidden=(50, 50), lr=0.01, lr_w=0.01, epochs=500,
                     sparsity_weight=20.0, lipschitz_decoder=False, encoder_input="raw", lambda0_breaks=(150, 900),
                     max_steps=6000),
    "nb": dict(n_shared=50, n_specific=10, hidden=(256, 128), lr=0.001, lr_w=0.01, epochs=800,
               sparsity_weight=10.0, lipschitz_decoder=True, encoder_input="standardized", lambda0_breaks=(280, 1680),
               max_steps=11200),
}


@dataclass
class Settings:
    """Hyperparameters of a fit (App. C.2.1 and Table 2). ``None`` means the paper's default for
    the likelihood."""

    likelihood: str = "nb"
    n_shared: int | None = None
    n_specific: int | dict | None = None
    hidden: tuple[int, int] | None = None
    lr: float | None = None
    lr_w: float | None = None
    lambda1: float = 0.1
    lambda0: tuple[float, ...] = (1.0, 10.0, 15.0)
    lambda0_breaks: tuple[int, ...] | None = None  # gradient steps
    a: float = 1.0
    b: float | None = None  # None: G, the number of features
    sparsity_weight: float | None = None
    balance_groups: bool = True
    precision: str = "auto"  # hardware.resolve_precision
    early_stopping: bool = True
    stopping_tol: float = 1e-3  # stopping.StoppingRule.tol
    stopping_patience: int = 10  # stopping.StoppingRule.patience and .window, in epochs
    max_steps: int | None = None
    covariates_in_encoder: bool = True  # README, "Covariates"
    lipschitz_decoder: bool | None = None  # module.constrain_decoder
    encoder_input: str | None = None  # module.ENCODER_INPUTS
    epochs: int | None = None
    batch_size: int | None = None

    def resolved(self) -> "Settings":
        if self.likelihood not in LIKELIHOODS:
            raise MSSVAEInputError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.encoder_input is not None and self.encoder_input not in ENCODER_INPUTS:
            raise MSSVAEInputError(f"encoder_input must be one of {ENCODER_INPUTS}, got {self.encoder_input!r}")
        if self.precision not in PRECISION_CHOICES:
            raise MSSVAEInputError(f"precision must be one of {PRECISION_CHOICES}, got {self.precision!r}")
        d = PAPER_DEFAULTS[self.likelihood]
        return replace(self, **{k: (d[k] if getattr(self, k) is None else getattr(self, k)) for k in d})

    def stopping_rule(self) -> StoppingRule | None:
        if not self.early_stopping:
            return None
        return StoppingRule(tol=float(self.stopping_tol), window=int(self.stopping_patience),
                            patience=int(self.stopping_patience))


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
        and spare shared columns on the §4.2 design); README, "Penalty weight".
    balance_groups
        Draw minibatches with weights ∝ 1/n_m (App. B.2.3).
    precision
        Arithmetic of the decoder's hidden layers: ``"auto"`` (bf16 on CUDA devices and on CPUs
        with native bf16 and hidden widths ≥ 64, fp32 elsewhere; :func:`mssvae.hardware.resolve_precision`),
        ``"fp32"``, or ``"bf16"``/``"fp16"`` (mixed precision with fp32 master weights,
        likelihood and priors). The choice made is recorded in ``.uns["mssvae"]["runtime"]``.
    early_stopping, stopping_tol, stopping_patience, max_steps
        ``epochs`` is a maximum: with ``early_stopping`` the fit ends once λ0 has reached its
        last value, the supports of W (|W| > 0.03) have held for ``stopping_patience`` epochs and
        the loss averaged over that many epochs improved by less than ``stopping_tol``
        (relative) on the window before, but never while a column of W holds more than half
        of the features (:mod:`mssvae.stopping`). ``max_steps`` bounds the gradient steps
        (large N; default twice the paper's step count).
    covariates_in_encoder
        With covariates (``fit(..., covariate_keys=...)``), also feed them to every encoder
        (scVI's choice: the encoders see [x, s]) besides the decoder's per-feature offset
        f_ij + β_jᵀ s_i. Default True: on the planted-batch design both variants removed the
        batch from the shared latents (R² ≈ 0.001), and with the encoders seeing s the shared
        supports were recovered exactly in every seed, against 0.875 in most seeds with the
        offset alone (README, "Covariates"; ``benchmarks/README.md``, "Covariates").
    lipschitz_decoder
        Constrain the decoder to be 2-Lipschitz in w̃_j ⊙ z̃_i (spectral-normalised layers, unit
        head rows) so that W carries the scale and thresholds on |W| mean something; False gives
        App. B.1's free weights. Default: True for NB, where the free decoder lets W shrink
        towards 0; False for Gaussian, where the free decoder recovers the §4.1 supports better
        (README, "Scale of W").
    encoder_input
        What the encoders see: ``"raw"`` (App. B.1: x, or log1p(x) for NB) or ``"standardized"``
        (log1p of library-normalised counts for NB, x for Gaussian; each feature centred and
        scaled by its training-data moments). Default: standardized for NB, where on the
        Splatter design the raw input left the shared latents blind to the cell types within the
        fit (README, "Encoder input"); raw for Gaussian.
    """

    def __init__(self, likelihood: str = "nb", **kwargs):
        self.settings = Settings(likelihood=likelihood, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}).resolved()
        self.module: MSSVAEModule | None = None
        self.history: list[dict] = []
        self._meta: dict = {}

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
        progress: bool = True,
        model_dir: str | Path | None = None,
        resume: bool = False,
        covariate_keys=None,
        covariates=None,
        threads: int | None = None,
    ) -> "MSSVAE":
        """Fit to an AnnData (groups from ``obs[group_key]``) or to a matrix with ``groups``.

        Results are written into the AnnData (see ``write_results``). With ``model_dir``,
        checkpoints are saved there during training; ``resume=True`` continues from one.
        Ctrl-C raises :class:`mssvae.train.FitInterrupted` after keeping the work done.

        Covariates (optional; :mod:`mssvae.covariates`): ``covariate_keys`` names ``obs``
        columns (e.g. ``["batch", "donor"]``), or ``covariates`` gives them as a DataFrame or a
        dict name → values, one per sample (for matrix input). Categorical ones (strings,
        categories, bools) are one-hot coded without their first level, numeric ones
        standardised; the decoder adds a per-feature effect β_jᵀ s_i to its output, so nuisance
        variation need not occupy shared factors. The encoding is kept for ``transform``.

        ``threads``: PyTorch's CPU threads during the fit (default: the cores other processes
        leave idle, :func:`mssvae.hardware.default_threads`). ``batch_size`` defaults to
        :func:`default_batch_size` of the number of samples.
        """
        X, labels, obs_names, var_names = _unpack(data, group_key, layer, groups)
        s = self.settings = replace(self.settings, epochs=epochs or self.settings.epochs,
                                    batch_size=batch_size or self.settings.batch_size or default_batch_size(X.shape[0]))
        codes, group_names = encode_groups(labels, X.shape[0])
        check_groups(codes, group_names)
        check_values(X, s.likelihood, obs_names, var_names)
        cov = covariate_frame(data, covariate_keys, covariates, X.shape[0], obs_names)
        encoding = None if cov is None else CovariateEncoding.fit(cov)
        S = None if encoding is None else encoding.transform(cov, obs_names)
        kept = _nonconstant(X, var_names)
        n_spec = _specific_sizes(s.n_specific, group_names)
        if s.n_shared + max(n_spec, default=0) > int(kept.sum()):
            raise MSSVAEInputError(
                f"more factors than features: K_S + K_m = {s.n_shared + max(n_spec)} but only {int(kept.sum())} "
                "usable features; lower n_shared / n_specific"
            )
        Xk = X if kept.all() else X[:, kept]
        dev = resolve_device(device)
        precision, why = resolve_precision(s.precision, dev, tuple(s.hidden))
        n_threads = _threads(threads) if threads is not None else (default_threads() if dev.type == "cpu" else None)
        self._meta = dict(groups=group_names, group_key=group_key if groups is None else None, var_names=list(map(str, var_names)),
                          kept=kept, n_specific=n_spec, seed=seed,
                          runtime=dict(device=str(dev), precision=precision, precision_reason=why,
                                       threads=n_threads, batch_size=int(s.batch_size)))
        if encoding is not None:
            self._meta["covariates"] = encoding.to_dict()
        if progress:
            _say(f"mssvae: {s.likelihood} fit of {X.shape[0]} samples × {int(kept.sum())} features on {dev}, "
                 f"decoder in {precision} ({why}), {n_threads or 'default'} CPU thread(s), batch {s.batch_size}, "
                 f"at most {s.epochs} epochs" + ("" if s.early_stopping else " (early stopping off)"))
        warn_short_schedule(_train_settings(s), X.shape[0])
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch_threads(n_threads):
            torch.manual_seed(seed)
            kwargs = _module_kwargs(Xk, s, n_spec, S, precision=precision)
            self._meta["module_kwargs"] = {k: v for k, v in kwargs.items() if not torch.is_tensor(v)}
            self.module = MSSVAEModule(**kwargs).to(dev)
            trainer = Trainer(self.module, _train_settings(s), seed)
            ckpt_dir = Path(model_dir) if model_dir is not None else None
            if resume:
                self._resume(trainer, ckpt_dir, dev)
            try:
                trainer.run(Batches(Xk, codes, dev, S), ckpt_dir, extra=self._payload(include_state=False), progress=progress)
            finally:
                self.history = trainer.history
                self._meta["stopping"] = trainer.summary()
        if progress:
            _say(f"mssvae: {self._meta['stopping']['message']}")
        if _is_anndata(data):
            self.write_results(data, layer=layer, groups=groups, covariates=covariates)
        return self

    def _resume(self, trainer: Trainer, ckpt_dir: Path | None, dev: torch.device) -> None:
        if ckpt_dir is None or not (ckpt_dir / CHECKPOINT).exists():
            raise MSSVAEInputError(f"resume=True needs a checkpoint: none found in {ckpt_dir}; fit once with model_dir= first")
        state = torch.load(ckpt_dir / CHECKPOINT, map_location=dev, weights_only=False)
        if state["meta"]["var_names"] != self._meta["var_names"] or state["meta"]["groups"] != self._meta["groups"]:
            raise MSSVAEInputError(f"the checkpoint in {ckpt_dir} was made on other data (features or groups differ)")
        if state["meta"].get("covariates") != self._meta.get("covariates"):
            raise MSSVAEInputError(f"the checkpoint in {ckpt_dir} was made with other covariates (or their levels differ)")
        trainer.load_state(state)

    # ----- results ----------------------------------------------------------------------------
    def _require_fit(self) -> MSSVAEModule:
        if self.module is None:
            raise RuntimeError("the model is not fitted yet; call .fit(...) or MSSVAE.load(dir) first")
        return self.module

    @property
    def groups(self) -> list[str]:
        return list(self._meta["groups"])

    def factor_names(self) -> dict[str, list[str]]:
        """Factor names per block: ``shared`` → shared_1.., each group → <group>_1.."""
        out = {"shared": [f"shared_{k + 1}" for k in range(self.settings.n_shared)]}
        for g, k in zip(self.groups, self._meta["n_specific"]):
            out[g] = [f"{g}_{i + 1}" for i in range(k)]
        return out

    def _full_rows(self, a: np.ndarray, fill=0.0) -> np.ndarray:
        """Rows for all input features: those dropped as constant get ``fill``."""
        kept = self._meta["kept"]
        out = np.full((len(kept),) + a.shape[1:], fill, dtype=np.float64)
        out[kept] = a
        return out

    def _w(self) -> np.ndarray:
        return self._full_rows(self._require_fit().W.detach().cpu().double().numpy())

    @property
    def W_shared(self) -> pd.DataFrame:
        """W^(S): features × shared factors."""
        names = self.factor_names()
        return pd.DataFrame(self._w()[:, : self.settings.n_shared], index=self._meta["var_names"], columns=names["shared"])

    @property
    def W_specific(self) -> dict[str, pd.DataFrame]:
        """W^(m) for each group: features × that group's factors."""
        W, names, out, start = self._w(), self.factor_names(), {}, self.settings.n_shared
        for g, k in zip(self.groups, self._meta["n_specific"]):
            out[g] = pd.DataFrame(W[:, start : start + k], index=self._meta["var_names"], columns=names[g])
            start += k
        return out

    @property
    def eta(self) -> pd.Series:
        """η_k, the estimated share of features in each factor's slab."""
        names = sum(self.factor_names().values(), [])
        return pd.Series(self._require_fit().eta.cpu().double().numpy(), index=names, name="eta")

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch loss and its components."""
        return pd.DataFrame(self.history).set_index("epoch") if self.history else pd.DataFrame()

    def active_factors(self, threshold: float = 0.5) -> pd.DataFrame:
        """One row per factor with some |W| above ``threshold``: block, number of features, max
        |W|, η and the top features."""
        rows = []
        blocks = {"shared": self.W_shared, **self.W_specific}
        eta = self.eta
        for block, W in blocks.items():
            for col in W.columns:
                w = W[col].abs()
                n = int((w > threshold).sum())
                if n == 0:
                    continue
                top = w.sort_values(ascending=False).index[: min(n, 10)]
                rows.append(dict(factor=col, block=block, n_features=n, max_abs_w=float(w.max()), eta=float(eta[col]),
                                 top_features=", ".join(map(str, top))))
        return pd.DataFrame(rows, columns=["factor", "block", "n_features", "max_abs_w", "eta", "top_features"])

    @property
    def covariate_encoding(self) -> CovariateEncoding | None:
        """How the fit coded its covariates (levels, means, sds), or None without covariates."""
        d = self._meta.get("covariates")
        return None if d is None else CovariateEncoding.from_dict(d)

    def covariate_matrix(self, data, covariates=None, obs_names=None) -> np.ndarray | None:
        """The covariates of ``data``'s samples coded as at fit time (N × C, float32), or None
        when the model has none: from ``covariates`` (a DataFrame or dict) if given, else from
        the ``obs`` columns of the fitted covariates' names. Errors name a missing covariate, a
        missing value or a level the fit did not see."""
        enc = self.covariate_encoding
        if enc is None:
            return None
        n = data.shape[0] if not _is_anndata(data) else data.n_obs
        if obs_names is None and _is_anndata(data):
            obs_names = list(map(str, data.obs_names))
        if covariates is None:
            if not _is_anndata(data):
                raise MSSVAEInputError(f"the model was fitted with covariates {enc.names}; pass covariates= (one row per sample)")
            frame = covariate_frame(data, covariate_keys=enc.names, n_samples=n, obs_names=obs_names)
        else:
            frame = covariate_frame(data, covariates=covariates, n_samples=n, obs_names=obs_names)
        return enc.transform(frame, obs_names)

    def transform(self, data, group_key: str | None = None, layer: str | None = None, groups=None, batch_size: int = 1024,
                  covariates=None) -> dict[str, pd.DataFrame]:
        """Posterior means of the latents for samples of known groups.

        Returns ``shared`` (N × K_S) and ``specific`` (N × max K_m, the sample's own group's
        factors, zero-padded where groups have fewer), as DataFrames indexed by sample. A model
        fitted with covariates needs them here too (``covariates=``, or the same ``obs``
        columns), coded as at fit time; a level the fit did not see is an error.
        """
        module = self._require_fit()
        X, labels, obs_names, var_names = _unpack(data, group_key or self._meta.get("group_key") or "group", layer, groups)
        if list(map(str, var_names)) != self._meta["var_names"]:
            raise MSSVAEInputError("the features differ from those the model was fitted on; subset and order them the same way")
        codes, _ = encode_groups(labels, X.shape[0], known=self.groups)
        check_values(X, self.settings.likelihood, obs_names, var_names)
        S = self.covariate_matrix(data, covariates, obs_names=list(map(str, obs_names)))
        X = X[:, self._meta["kept"]]
        dev = next(module.parameters()).device
        module.eval()
        mus = []
        with torch.no_grad():
            for x, g, cov in Batches(X, codes, dev, S).sequential(batch_size):
                mus.append(module.encode(x, g, cov)["mu"].cpu().double().numpy())
        mu = np.concatenate(mus)
        ks, n_spec = self.settings.n_shared, self._meta["n_specific"]
        kmax = max(n_spec, default=0)
        specific = np.zeros((len(mu), kmax))
        offsets = np.cumsum([ks] + n_spec)
        for m, k in enumerate(n_spec):
            rows = codes == m
            specific[rows, :k] = mu[rows, offsets[m] : offsets[m] + k]
        index = pd.Index(list(map(str, obs_names)))
        return {
            "shared": pd.DataFrame(mu[:, :ks], index=index, columns=self.factor_names()["shared"]),
            "specific": pd.DataFrame(specific, index=index, columns=[f"specific_{i + 1}" for i in range(kmax)]),
        }

    def rank_group_genes(self, data, group: str, group_key: str | None = None, layer: str | None = None, groups=None,
                         batch_size: int = 512, covariates=None) -> pd.DataFrame:
        """Genes ranked by the log-likelihood ratio of ``group``'s data under the full versus the
        shared-only decoding (multiGroupVI's Bayes factor); see :func:`mssvae.ranking.rank_group_genes`."""
        from .ranking import rank_group_genes

        return rank_group_genes(self, data, group, group_key=group_key, layer=layer, groups=groups, batch_size=batch_size,
                                covariates=covariates)

    def rank_group_factors(self, data, group: str, group_key: str | None = None, layer: str | None = None, groups=None,
                           threshold: float = 0.5, n_top: int = 10, batch_size: int = 512, covariates=None) -> pd.DataFrame:
        """``group``'s factors ranked by the log-likelihood lost when each alone is zeroed, with
        their top genes by |W|; see :func:`mssvae.ranking.rank_group_factors`."""
        from .ranking import rank_group_factors

        return rank_group_factors(self, data, group, group_key=group_key, layer=layer, groups=groups,
                                  threshold=threshold, n_top=n_top, batch_size=batch_size, covariates=covariates)

    def write_results(self, adata, layer: str | None = None, groups=None, covariates=None) -> None:
        """Write the results contract (README, "Results contract") into ``adata``."""
        from .results import write_results

        write_results(self, adata, layer=layer, groups=groups, covariates=covariates)

    # ----- persistence ------------------------------------------------------------------------
    def _payload(self, include_state: bool = True) -> dict:
        meta = {**self._meta, "kept": np.asarray(self._meta["kept"]).tolist()}
        out = {"settings": asdict(self.settings), "meta": meta, "version": __version__}
        if include_state:
            out["state_dict"] = self._require_fit().state_dict()
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
        settings = dict(payload["settings"])
        if any(not float(b).is_integer() for b in settings.get("lambda0_breaks") or ()):
            settings["lambda0_breaks"] = None  # saves that give the breaks as fractions of the epochs
        # Saves from before the standardised encoder input fed the encoders App. B.1's raw input.
        self = cls(**{"encoder_input": "raw", **settings})
        meta = dict(payload["meta"])
        meta["kept"] = np.asarray(meta["kept"], dtype=bool)
        self._meta = meta
        kwargs = dict(meta["module_kwargs"])
        G = kwargs["n_features"]
        placeholders = dict(output_bias=torch.zeros(G), sigma2_init=torch.ones(G), phi_init=torch.ones(G))
        self.module = MSSVAEModule(**kwargs, **placeholders)
        self.module.load_state_dict(state)
        self.module.to(resolve_device(device)).eval()
        self.history = list(payload.get("history", []))
        return self


# ----- helpers ----------------------------------------------------------------------------------
def _is_anndata(data) -> bool:
    return hasattr(data, "obs") and hasattr(data, "var") and hasattr(data, "layers")


def _unpack(data, group_key, layer, groups):
    """(matrix, group labels, sample names, feature names) from an AnnData or a matrix."""
    if _is_anndata(data):
        X = get_matrix(data, layer)
        labels = get_groups(data, group_key) if groups is None else groups
        return X, labels, data.obs_names, data.var_names
    if groups is None:
        raise MSSVAEInputError("a matrix needs groups=: one group label per row (sample)")
    X = get_matrix(_Wrap(data), None)
    n, g = X.shape
    return X, groups, [f"sample_{i + 1}" for i in range(n)], [f"feature_{j + 1}" for j in range(g)]


class _Wrap:
    def __init__(self, X):
        self.X, self.layers = X, {}


def _nonconstant(X, var_names) -> np.ndarray:
    """Mask of features that vary; constant ones are dropped with a warning (their W rows are 0)."""
    _, var = column_moments(X)
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
    return kept


def _specific_sizes(n_specific, group_names) -> list[int]:
    if isinstance(n_specific, dict):
        missing = [g for g in group_names if g not in n_specific]
        if missing:
            raise MSSVAEInputError(f"n_specific has no entry for groups {missing}")
        return [int(n_specific[g]) for g in group_names]
    return [int(n_specific)] * len(group_names)


def _module_kwargs(X, s: Settings, n_spec: list[int], S: np.ndarray | None = None, precision: str = "fp32") -> dict:
    """Constructor arguments of the module, with the data-dependent starts of App. C.2;
    ``S``: the encoded covariates (samples × C), if any; ``precision``: the decoder's resolved
    arithmetic (``hardware.resolve_precision``)."""
    mean, var = column_moments(X)
    lib = None
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
        lib = library_sizes(X)
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
        kw.update(_input_standardization(X, s.likelihood, mean, var, lib))  # NB recomputes the moments
    kw.update(output_bias=torch.as_tensor(bias, dtype=torch.float32))
    if S.shape[1]:
        kw.update(n_covariates=S.shape[1], covariates_in_encoder=bool(s.covariates_in_encoder),
                  covariate_init=torch.as_tensor(beta, dtype=torch.float32))
    return kw


def _input_standardization(X, likelihood: str, mean: np.ndarray, var: np.ndarray, lib: np.ndarray | None) -> dict:
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


def _train_settings(s: Settings) -> TrainSettings:
    return TrainSettings(epochs=int(s.epochs), batch_size=int(s.batch_size), lr=float(s.lr), lr_w=float(s.lr_w),
                         sparsity_weight=float(s.sparsity_weight),
                         schedule=Lambda0Schedule(tuple(s.lambda0), tuple(int(b) for b in s.lambda0_breaks)),
                         balance_groups=bool(s.balance_groups), max_steps=None if s.max_steps is None else int(s.max_steps),
                         stopping=s.stopping_rule())


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()



def _threads(n) -> int:
    try:
        return check_threads(n)
    except ValueError as e:
        raise MSSVAEInputError(str(e)) from None
