"""The settings of a fit: one list of names, defaults and docs that the estimator, the command
line and the R package all read (``settings_table``), and the paper's defaults per likelihood."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace

from ..core.hardware import PRECISION_CHOICES
from ..core.module import ENCODER_INPUTS, LIKELIHOODS
from ..core.priors import Lambda0Schedule
from ..core.stopping import StoppingRule
from ..core.train import TrainSettings, steps_per_epoch
from ..errors import MSSVAEInputError

# Table 2 of the paper, per likelihood, plus what the paper leaves implicit, chosen with the
# fidelity benchmark (docs/design.md, "Penalty weight" and "Scale of W"): the weight of the
# sparsity prior, and whether the decoder is constrained so that W carries the scale.
#
# ``epochs`` is a maximum (the stopping rule ends most fits sooner), and ``max_steps`` bounds the
# gradient steps for large N.
PAPER_DEFAULTS = {
    "gaussian": dict(n_shared=30, n_specific=5, hidden=(50, 50), lr=0.01, lr_w=0.01, epochs=500,
                     sparsity_weight=20.0, lipschitz_decoder=False, encoder_input="raw", max_steps=6000),
    "nb": dict(n_shared=50, n_specific=10, hidden=(256, 128), lr=0.001, lr_w=0.01, epochs=800,
               sparsity_weight=10.0, lipschitz_decoder=True, encoder_input="standardized", max_steps=11200),
}

# λ0's default breaks are Table 2's 5 % and 30 % of the fit's step budget (epochs × steps per
# epoch, at most max_steps), but never later than these steps: the same fractions at the paper's
# sizes (§4.1: 3000 samples, batch 512, 6 steps per epoch × 500 epochs; §4.2: 3200 samples,
# 7 × 800), so a large data set anneals as the paper's did however many epochs it may run, and
# a small one reaches the last λ0 within the epochs it is given (docs/design.md, "λ0 annealing").
LATEST_LAMBDA0_BREAKS = {"gaussian": (150, 900), "nb": (280, 1680)}


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
        "gradient steps at which lambda0 moves to its next value (None: 5% and 30% of the fit's steps, "
        "at most 150 and 900 (Gaussian) or 280 and 1680 (NB))")
    a: float = _doc("Beta(a, b) prior of eta: a", 1.0)
    b: float | None = _doc("Beta(a, b) prior of eta: b (None: the number of features)")
    sparsity_weight: float | None = _doc("weight of the sparsity prior against the whole-data likelihood")
    balance_groups: bool = _doc("draw minibatches with weights proportional to 1/n_m (App. B.2.3)", True)
    precision: str = _doc("decoder arithmetic: 'auto', 'fp32', 'bf16' or 'fp16'", "auto")
    early_stopping: bool = _doc("end the fit when the stopping rule holds (epochs is then a maximum)", True)
    stopping_tol: float = _doc("relative loss improvement below which the loss counts as flat", 1e-3)
    stopping_patience: int = _doc("epochs the supports of W must hold (and the loss window)", 10)
    max_steps: int | None = _doc("the most gradient steps")
    covariates_in_encoder: bool = _doc("feed the covariates to the encoders too, besides the decoder", True)
    lipschitz_decoder: bool | None = _doc("constrain the decoder so that W carries the scale")
    encoder_input: str | None = _doc("what the encoders see: 'raw' or 'standardized'")
    epochs: int | None = _doc("the most epochs")
    batch_size: int | None = _doc("minibatch size (default from the number of samples)")

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

    def schedule(self, n_samples: int) -> Lambda0Schedule:
        """λ0's annealing for a fit of ``n_samples`` from resolved settings: the given breaks, or
        Table 2's fractions of the step budget (``LATEST_LAMBDA0_BREAKS``)."""
        if self.lambda0_breaks is not None:
            return Lambda0Schedule(tuple(self.lambda0), tuple(int(b) for b in self.lambda0_breaks))
        if len(self.lambda0) not in (1, 3):
            raise MSSVAEInputError(f"lambda0 has {len(self.lambda0)} values and lambda0_breaks is unset; the default "
                                   "breaks are for one or three values",
                                   hint="give lambda0_breaks, one gradient step fewer than lambda0 has values",
                                   args_named=("lambda0", "lambda0_breaks"))
        if len(self.lambda0) == 1:
            return Lambda0Schedule.constant(self.lambda0[0])
        steps = int(self.epochs) * steps_per_epoch(n_samples, int(self.batch_size))
        if self.max_steps is not None:
            steps = min(steps, int(self.max_steps))
        return Lambda0Schedule.from_paper(steps, LATEST_LAMBDA0_BREAKS[self.likelihood], values=tuple(self.lambda0))

    def train_settings(self, n_samples: int) -> TrainSettings:
        """What the trainer needs for a fit of ``n_samples``, from resolved settings."""
        return TrainSettings(epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
                             lr_w=float(self.lr_w), sparsity_weight=float(self.sparsity_weight),
                             schedule=self.schedule(n_samples),
                             balance_groups=bool(self.balance_groups),
                             max_steps=None if self.max_steps is None else int(self.max_steps),
                             stopping=self.stopping_rule())


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
