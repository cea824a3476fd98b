"""The settings of a fit: one list of names, defaults and docs that the estimator, the command
line and the R package all read (``settings_table``), and the paper's defaults per likelihood."""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from ..core.hardware import PRECISION_CHOICES
from ..core.module import ENCODER_INPUTS
from ..core.priors import Lambda0Schedule
from ..core.stopping import StoppingRule
from ..core.train import TrainSettings, default_batch_size, step_budget
from ..errors import MSSVAEInputError

# Table 2 of the paper, per likelihood, plus what the paper leaves implicit, chosen with the
# fidelity benchmark (docs/design.md, "Penalty weight" and "Scale of W"): the weight of the
# sparsity prior, and whether the decoder is constrained so that W carries the scale.
#
# ``epochs`` is a maximum (the stopping rule ends most fits sooner), and ``max_steps`` bounds the
# gradient steps for large N.
PAPER_DEFAULTS = {
    "gaussian": dict(n_shared=30, n_specific=5, hidden=(50, 50), lr=0.01, lr_w=0.01, epochs=500,
                     sparsity_weight=20.0, lipschitz_decoder=False, encoder_input="raw", max_steps=6000,
                     fold_nested=False),
    "nb": dict(n_shared=50, n_specific=10, hidden=(256, 128), lr=0.001, lr_w=0.01, epochs=800,
               sparsity_weight=10.0, lipschitz_decoder=True, encoder_input="standardized", max_steps=11200,
               fold_nested=True),
}

# The default weight of the NB sparsity prior (PAPER_DEFAULTS) holds at §4.2's N = 3200; a fit of
# fewer samples gets it scaled by N / 3200, so that the penalty's share of the per-sample loss
# (weight / N) stays the one measured at that N: at 600 × 300 weight 10 missed shared programs that
# 1.875 finds (docs/design.md, "Penalty weight"). Above 3200 it stays (weight 53 at 3200 × 300, a
# stronger share, lost programs), and the Gaussian weight does not scale (None).
WEIGHT_SAMPLES = {"gaussian": None, "nb": 3200}

# λ0's default breaks: Table 2's 5 % and 30 % of the epochs as gradient steps at the paper's sizes
# (§4.1: 3000 samples, batch 512, 6 steps per epoch × 500 epochs; §4.2: 3200 samples, 7 × 800),
# so that they mean the same whether or not a fit stops early; a fit whose step budget cannot
# hold them with a fifth of it left at the last λ0 gets them scaled down to fit
# (core.priors.Lambda0Schedule.within; docs/design.md, "λ0 annealing").
LAMBDA0_BREAKS = {"gaussian": (150, 900), "nb": (280, 1680)}


def _doc(text: str, default=None, factory=None):
    meta = {"doc": text}
    return field(default_factory=factory, metadata=meta) if factory is not None else field(default=default, metadata=meta)


@dataclass
class Settings:
    """Hyperparameters of a fit (App. C.2.1 and Table 2). ``None`` means the paper's default for
    the likelihood (``PAPER_DEFAULTS``)."""

    likelihood: str = _doc("'nb' for counts (Eq. 2.5) or 'gaussian' (Eq. 2.2)", "nb")
    n_shared: int | None = _doc("initial number of shared factors K_S")
    n_specific: int | dict | None = _doc("initial number of factors per group K_m (or a dict group -> K_m)")
    hidden: tuple[int, int] | None = _doc("widths of the two hidden layers of every network")
    lr: float | None = _doc("Adam learning rate of the networks")
    lr_w: float | None = _doc("Adam learning rate of W")
    lambda1: float = _doc("slab scale of the spike-and-slab lasso", 0.1)
    lambda0: tuple[float, ...] = _doc("the annealed spike scales", factory=lambda: (1.0, 10.0, 15.0))
    lambda0_breaks: tuple[int, ...] | None = _doc(
        "gradient steps at which lambda0 moves to its next value (None: 150 and 900 (Gaussian) or 280 and 1680 "
        "(NB), scaled down where the fit's steps cannot hold them with a fifth left)")
    a: float = _doc("Beta(a, b) prior of eta: a", 1.0)
    b: float | None = _doc("Beta(a, b) prior of eta: b (None: the number of features)")
    sparsity_weight: float | None = _doc(
        "weight of the sparsity prior against the whole-data likelihood (None: 20 (Gaussian); 10 (NB), times N / 3200 "
        "for a fit of fewer than 3200 samples)")
    balance_groups: bool = _doc("draw minibatches with weights proportional to 1/n_m (App. B.2.3)", True)
    precision: str = _doc("decoder arithmetic: 'auto', 'fp32', 'bf16' or 'fp16'", "auto")
    early_stopping: bool = _doc("end the fit when the stopping rule holds (epochs is then a maximum)", True)
    stopping_tol: float = _doc("relative loss improvement below which the loss counts as flat", 1e-3)
    stopping_patience: int = _doc("epochs the supports of W must hold (and the loss window)", 10)
    max_steps: int | None = _doc("the most gradient steps")
    fold_nested: bool | None = _doc(
        "once the supports have settled, fold a column of W whose gene set lies mostly inside a larger column of its "
        "block into that column, and fit on (needs early_stopping)")
    covariates_in_encoder: bool = _doc("feed the covariates to the encoders too, besides the decoder", True)
    lipschitz_decoder: bool | None = _doc("constrain the decoder so that W carries the scale")
    encoder_input: str | None = _doc("what the encoders see: 'raw' or 'standardized'")
    epochs: int | None = _doc("the most epochs")
    batch_size: int | None = _doc("minibatch size (default from the number of samples)")

    def resolved(self) -> "Settings":
        """Checked (:func:`checked_settings`), with the paper's defaults where ``None``; the
        sparsity weight, whose default depends on N, stays ``None`` until :meth:`for_fit`."""
        s = replace(self, **checked_settings({f.name: getattr(self, f.name) for f in fields(self)}))
        d = PAPER_DEFAULTS[s.likelihood]
        return replace(s, **{k: (d[k] if getattr(s, k) is None else getattr(s, k)) for k in d if k != "sparsity_weight"})

    def for_fit(self, n_samples: int, epochs: int | None = None, batch_size: int | None = None) -> "Settings":
        """The settings of a fit of ``n_samples`` from resolved ones: ``epochs`` and ``batch_size``
        where given, else the settings', else :func:`mssvae.core.train.default_batch_size`; and
        the sparsity weight, else :func:`default_sparsity_weight`."""
        return replace(self, epochs=epochs or self.epochs,
                       batch_size=batch_size or self.batch_size or default_batch_size(n_samples),
                       sparsity_weight=(self.sparsity_weight if self.sparsity_weight is not None
                                        else default_sparsity_weight(self.likelihood, n_samples)))

    def stopping_rule(self) -> StoppingRule | None:
        if not self.early_stopping:
            return None
        return StoppingRule(tol=float(self.stopping_tol), window=int(self.stopping_patience),
                            patience=int(self.stopping_patience))

    def schedule(self, n_samples: int) -> Lambda0Schedule:
        """λ0's annealing for a fit of ``n_samples`` from resolved settings: the given breaks, or
        ``LAMBDA0_BREAKS`` fitted into the fit's step budget."""
        if self.lambda0_breaks is not None:
            return Lambda0Schedule(tuple(self.lambda0), tuple(int(b) for b in self.lambda0_breaks))
        if len(self.lambda0) == 1:
            return Lambda0Schedule.constant(self.lambda0[0])
        steps = step_budget(n_samples, int(self.batch_size), int(self.epochs),
                            None if self.max_steps is None else int(self.max_steps))
        return Lambda0Schedule(tuple(self.lambda0), LAMBDA0_BREAKS[self.likelihood]).within(steps)

    def train_settings(self, n_samples: int) -> TrainSettings:
        """What the trainer needs for a fit of ``n_samples``, from resolved settings."""
        return TrainSettings(epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
                             lr_w=float(self.lr_w), sparsity_weight=float(self.sparsity_weight),
                             schedule=self.schedule(n_samples),
                             balance_groups=bool(self.balance_groups),
                             max_steps=None if self.max_steps is None else int(self.max_steps),
                             stopping=self.stopping_rule(), fold_nested=bool(self.fold_nested))


def default_sparsity_weight(likelihood: str, n_samples: int) -> float:
    """The likelihood's default weight (``PAPER_DEFAULTS``), scaled by N / ``WEIGHT_SAMPLES`` for a
    fit of fewer samples than the weight was chosen at."""
    weight, n0 = PAPER_DEFAULTS[likelihood]["sparsity_weight"], WEIGHT_SAMPLES[likelihood]
    return float(weight if n0 is None else weight * min(1.0, n_samples / n0))


def settings_table() -> list[dict]:
    """Every setting: ``name``, ``default`` (``None``: the paper's, per likelihood), the paper's
    ``gaussian`` and ``nb`` defaults where they differ by likelihood, and ``doc``. The command
    line and the R package are checked against this list (tests)."""
    rows = []
    for f in fields(Settings):
        default = f.default if f.default is not MISSING else f.default_factory()
        row = dict(name=f.name, default=default, doc=f.metadata["doc"])
        if f.name in PAPER_DEFAULTS["nb"]:
            row.update(gaussian=PAPER_DEFAULTS["gaussian"][f.name], nb=PAPER_DEFAULTS["nb"][f.name])
        rows.append(row)
    return rows


# ----- checking settings and fit options -------------------------------------------------------
# Every door (Python, the command line, R) hands its values here: each is coerced to its type
# (R's whole numbers arrive as floats, its vectors as lists) and range-checked, and a bad one
# raises an MSSVAEInputError that names the setting (args_named, which each door spells its own
# way: R's lr.w, the command line's --lr-w) and says what to give instead.

def _choices_text(choices) -> str:
    quoted = [repr(c) for c in choices]
    return " or ".join(quoted) if len(quoted) == 2 else "one of " + ", ".join(quoted)


def _bad(name: str, wanted: str, value, hint: str | None = None) -> MSSVAEInputError:
    shown = value if isinstance(value, str) else (list(value) if isinstance(value, (list, tuple)) else value)
    return MSSVAEInputError(f"{name} must be {wanted}; got {shown!r}", hint=hint, args_named=(name,))


def _one(value):
    """A length-one list or array (as R's vectors may arrive) as its element."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    if hasattr(value, "ndim") and getattr(value, "size", 0) == 1:
        return value.item() if hasattr(value, "item") else value
    return value


def _is_number(v) -> bool:
    return not isinstance(v, (bool, str)) and isinstance(v, (int, float)) or (
        hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iuf")


def whole_number(name: str, value, least: int, hint: str | None = None) -> int:
    """``value`` as an int ≥ ``least`` (a float that is whole counts), else an error naming ``name``."""
    v = _one(value)
    if not _is_number(v) or not float(v).is_integer() or int(v) < least:
        raise _bad(name, f"a whole number >= {least}", value, hint)
    return int(v)


def number(name: str, value, positive: bool = True, hint: str | None = None) -> float:
    """``value`` as a finite float, > 0 (``positive``) or ≥ 0, else an error naming ``name``."""
    v = _one(value)
    ok = _is_number(v) and np.isfinite(float(v)) and (float(v) > 0 if positive else float(v) >= 0)
    if not ok:
        raise _bad(name, "a positive number" if positive else "a number >= 0", value, hint)
    return float(v)


def flag(name: str, value) -> bool:
    """``value`` as a bool (True or False only), else an error naming ``name``."""
    v = _one(value)
    if not isinstance(v, (bool, np.bool_)):
        raise _bad(name, "True or False", value)
    return bool(v)


def choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else an error naming ``name`` and the choices."""
    v = _one(value)
    if not isinstance(v, str) or v not in choices:
        raise _bad(name, _choices_text(choices), value)
    return v


def _numbers(name: str, value, convert) -> tuple:
    items = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "ndim") else [value]
    return tuple(convert(name, v) for v in items)


def checked_settings(values: dict) -> dict:
    """The settings in ``values`` (names of :class:`Settings`) coerced and range-checked; ``None``
    (the paper's default) stays ``None`` where the setting has one. Unknown names are an error
    that lists the known ones."""
    known = [f.name for f in fields(Settings)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise MSSVAEInputError(f"unknown settings {unknown}; the model takes: {', '.join(known)}")
    out = {}
    for name, v in values.items():
        if v is None and name not in ("likelihood", "lambda1", "lambda0", "a", "balance_groups", "precision",
                                      "early_stopping", "stopping_tol", "stopping_patience", "covariates_in_encoder"):
            out[name] = None
            continue
        if name == "likelihood":
            out[name] = choice(name, v, ("nb", "gaussian"))
        elif name == "encoder_input":
            out[name] = choice(name, v, ENCODER_INPUTS)
        elif name == "precision":
            out[name] = choice(name, v, PRECISION_CHOICES)
        elif name == "n_specific" and isinstance(v, dict):
            out[name] = {str(g): whole_number(name, k, 0, hint=f"the entry of group {g!r} is not") for g, k in v.items()}
        elif name in ("n_shared", "n_specific", "stopping_patience", "max_steps", "epochs", "batch_size"):
            least = {"n_specific": 0, "batch_size": 2}.get(name, 1)
            out[name] = whole_number(name, v, least)
        elif name == "hidden":
            widths = list(v) if isinstance(v, (list, tuple)) or hasattr(v, "ndim") else [v]
            if len(widths) != 2 or not all(_is_number(w) and float(w).is_integer() and w >= 1 for w in widths):
                raise MSSVAEInputError(f"hidden must give the widths of the two hidden layers, e.g. (128, 64); got {v!r}",
                                       args_named=("hidden",))
            out[name] = tuple(int(w) for w in widths)
        elif name == "lambda0":
            out[name] = _numbers(name, v, number)
        elif name == "lambda0_breaks":
            out[name] = _numbers(name, v, lambda n, b: whole_number(n, b, 0))
            if list(out[name]) != sorted(out[name]):
                raise _bad(name, "gradient steps in increasing order", v)
        elif name in ("lr", "lr_w", "lambda1", "a", "b"):
            out[name] = number(name, v)
        elif name in ("sparsity_weight", "stopping_tol"):
            out[name] = number(name, v, positive=False)
        else:  # balance_groups, early_stopping, covariates_in_encoder, lipschitz_decoder, fold_nested
            out[name] = flag(name, v)
    check_schedule(out.get("lambda0"), out.get("lambda0_breaks"))
    return out


def check_schedule(lambda0, breaks) -> None:
    """One break (a gradient step) for each change of ``lambda0``, when both are known; unset
    breaks (``LAMBDA0_BREAKS``, two) need one or three values of ``lambda0``."""
    if lambda0 is not None and breaks is not None and len(breaks) != len(lambda0) - 1:
        raise MSSVAEInputError(f"lambda0_breaks must give {len(lambda0) - 1} steps, one for each change of lambda0 "
                               f"{list(lambda0)}; got {list(breaks)}", args_named=("lambda0_breaks", "lambda0"))
    if lambda0 is not None and breaks is None and len(lambda0) not in (1, 3):
        raise MSSVAEInputError(f"lambda0 has {len(lambda0)} values and lambda0_breaks is unset; the default breaks "
                               "are for one or three values",
                               hint="give lambda0_breaks, one gradient step fewer than lambda0 has values",
                               args_named=("lambda0", "lambda0_breaks"))


def check_device(device) -> str:
    """``device`` ("auto", "cpu", "cuda", "cuda:1", "mps", ...) if this machine has it, else an
    error that says what is missing and to use ``"cpu"`` or ``"auto"``."""
    name = _one(device)
    if not isinstance(name, str):
        raise _bad("device", "a device name such as 'auto', 'cpu' or 'cuda'", device)
    if name == "auto":
        return name
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise MSSVAEInputError(f"device {name!r} is not a device name", hint="give 'auto', 'cpu', 'cuda' or 'cuda:<index>'",
                               args_named=("device",)) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise MSSVAEInputError(f"device {name!r} is not available: this PyTorch sees no CUDA GPU",
                                   hint="use device='cpu', or 'auto' (a GPU when there is one)", args_named=("device",))
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise MSSVAEInputError(f"device {name!r} is not available: this machine has {torch.cuda.device_count()} "
                                   "CUDA GPU(s), numbered from 0", hint="give a device index below that, or 'cuda'",
                                   args_named=("device",))
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise MSSVAEInputError(f"device {name!r} is not available on this machine",
                               hint="use device='cpu', or 'auto'", args_named=("device",))
    return name


def check_model_dir(model_dir) -> Path | None:
    """``model_dir`` as a path if the fit can write there (the folder, or the nearest folder
    above it that exists, is writable), else an error naming the folder and the fix."""
    if model_dir is None:
        return None
    path = Path(_one(model_dir)).expanduser()
    if path.exists() and not path.is_dir():
        raise MSSVAEInputError(f"model_dir {str(path)!r} is a file, not a folder",
                               hint="give a folder for the model (it is made if absent)", args_named=("model_dir",))
    above = path
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise MSSVAEInputError(f"model_dir {str(path)!r} cannot be made: {str(above)!r} is a file",
                               hint="give a folder you can write to", args_named=("model_dir",))
    if not os.access(above, os.W_OK | os.X_OK):
        raise MSSVAEInputError(f"model_dir {str(path)!r} cannot be written: {str(above)!r} is not writable",
                               hint="give a folder you can write to", args_named=("model_dir",))
    return path


def checked_fit_options(epochs=None, batch_size=None, seed=0, device="auto", threads=None, model_dir=None,
                        resume=False, starts=1, parallel_starts=None) -> dict:
    """The options of one fit (:meth:`mssvae.MSSVAE.fit`) coerced and checked, before any data
    are read: ``epochs`` and ``batch_size`` (None: the settings'), ``seed``, ``device`` (present on
    this machine), ``threads``, ``model_dir`` (writable), ``resume`` (which needs ``model_dir``),
    ``starts`` (the number of fits from seeds ``seed``, ``seed + 1``, ...) and
    ``parallel_starts`` (how many run at once; None: as the machine allows)."""
    out = dict(epochs=None if epochs is None else whole_number("epochs", epochs, 1),
               batch_size=None if batch_size is None else whole_number("batch_size", batch_size, 2),
               seed=whole_number("seed", seed, 0), device=check_device(device),
               threads=None if threads is None else whole_number("threads", threads, 1),
               model_dir=check_model_dir(model_dir), resume=flag("resume", resume),
               starts=whole_number("starts", starts, 1),
               parallel_starts=None if parallel_starts is None else whole_number("parallel_starts", parallel_starts, 1))
    if out["resume"] and out["model_dir"] is None:
        raise MSSVAEInputError("resume=True continues from the checkpoint in model_dir: give the model_dir of the "
                               "interrupted fit", args_named=("resume", "model_dir"))
    return out
