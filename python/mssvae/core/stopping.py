"""When a fit is done: a stopping rule a reader can check from the history.

``epochs`` is a maximum. After every epoch the rule looks at three things, all recorded in the
history, and the fit stops at the first epoch where all hold:

1. λ0 has reached its last value (the annealing of App. C.2.1 is over), and the two counts
   below start only then: an epoch counts as annealed when every one of its steps ran at the
   last λ0, so the epoch that holds the last break, or ends at it, does not;
2. the supports of W have held for ``patience`` epochs: the supports are read from |W| averaged
   over epochs (an exponential average with weight ``smoothing`` on the newest epoch, so that
   entries hovering at the threshold under minibatch noise do not count as moves), and
   "held" means that at most ``support_tol`` of the support's entries joined or left it since
   the last epoch that moved it more;
3. the loss has stopped falling: its mean over the last ``window`` epochs is below the mean
   of the ``window`` before by less than ``tol`` (relative) or by less than twice the standard
   error of that difference (small data sets take a few noisy steps per epoch).

So a fit runs at least ``2 · window`` epochs wholly at the final λ0. On the full-size §4.2
design (H200, seeds 0–2, batch 512, λ0's last break at step 1680, the end of epoch 240) a rule
that counted the epochs before the last λ0 stopped 3 of 9 fits at step 1680, after an epoch run
wholly at λ0 = 10, and 5 of 9 within 200 steps of it
(``benchmarks/results/gpu_check_h200/time_to_result_rows.jsonl``); on a wide data set
(252 × 4000) a rule on the raw supports and a fixed tolerance never stopped, because 120–900
entries crossed the threshold every epoch and the epoch losses moved by ±4%
(``benchmarks/FINDINGS.md``, "Stopping rule and λ0 breaks in steps").

It never stops while W is dense: while some column of the averaged |W| holds more than
``max_density`` of the features, the fit goes on (and, at the maximum, says so, reading the
same averaged |W|: :func:`densest_column`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..contract import DEFAULT_THRESHOLD

#: Why a fit ended, as written in the history's summary (``.uns["mssvae"]["stopping"]``).
CONVERGED = "converged"
MAX_EPOCHS = "max_epochs"
MAX_STEPS = "max_steps"


@dataclass
class StoppingRule:
    """The rule's settings (defaults measured in ``benchmarks/FINDINGS.md``, "Stopping rule and λ0 breaks in steps")."""

    tol: float = 1e-3
    window: int = 10
    patience: int = 10
    threshold: float = DEFAULT_THRESHOLD
    support_tol: float = 0.01
    smoothing: float = 0.2
    max_density: float = 0.5


@dataclass
class StoppingState:
    """What the rule carries between epochs (saved in checkpoints with the trainer)."""

    w_average: torch.Tensor | None = None  # |W| averaged over the epochs at the final λ0
    reference: torch.Tensor | None = None  # the supports last seen to move
    stable_epochs: int = 0
    losses: list[float] = field(default_factory=list)

    def state_dict(self) -> dict:
        return {"w_average": self.w_average, "reference": self.reference, "stable_epochs": self.stable_epochs,
                "losses": list(self.losses)}

    def load_state_dict(self, d: dict) -> None:
        self.w_average, self.reference = d.get("w_average"), d["reference"]
        self.stable_epochs, self.losses = int(d["stable_epochs"]), list(d["losses"])


def observe(rule: StoppingRule, state: StoppingState, W: torch.Tensor, loss: float, annealed: bool) -> dict:
    """Update ``state`` with one epoch's W and mean loss; return the epoch's record of the rule:
    ``support_changes`` (entries that left or joined the smoothed supports since the
    reference), ``stable_epochs``, ``improvement`` (relative; NaN until two windows exist),
    ``densest`` (the largest share of features in one column's support) and ``done``."""
    w = W.detach().abs().cpu()
    if not annealed or state.w_average is None:
        state.w_average = w
    else:
        state.w_average = (1 - rule.smoothing) * state.w_average + rule.smoothing * w
    support = state.w_average > rule.threshold
    changes = support.numel() if state.reference is None else int((support != state.reference).sum())
    if not annealed:
        # Only epochs at the last λ0 count: a fit settled under a weaker spike must show that
        # it stays settled once λ0 has its final value.
        state.reference, state.stable_epochs, state.losses = support, 0, []
    elif state.reference is None or changes > rule.support_tol * max(int(support.sum()), 1):
        state.reference, state.stable_epochs = support, 0
    else:
        state.stable_epochs += 1
    if annealed:
        state.losses = (state.losses + [float(loss)])[-2 * rule.window:]
    improvement, flat = float("nan"), False
    if len(state.losses) == 2 * rule.window:
        before, after = torch.tensor(state.losses[: rule.window]), torch.tensor(state.losses[rule.window:])
        gain = float(before.mean() - after.mean())
        noise = float((before.var() / rule.window + after.var() / rule.window).sqrt())
        improvement = gain / max(abs(float(before.mean())), 1e-12)
        flat = improvement < rule.tol or gain < 2 * noise
    densest = column_density(state.w_average, rule.threshold)
    done = annealed and state.stable_epochs >= rule.patience and flat and densest <= rule.max_density
    return dict(support_changes=changes, stable_epochs=state.stable_epochs, improvement=improvement,
                densest=densest, done=bool(done))


def epoch_annealed(first_step: int, final_step: int) -> bool:
    """Whether an epoch whose first gradient step has index ``first_step`` (counted from 0) ran
    every step at the last λ0, which applies from step ``final_step`` on."""
    return first_step >= final_step


def densest_column(rule: StoppingRule, state: StoppingState | None, W: torch.Tensor) -> float:
    """The largest share of features in one column's support, read as the rule reads it: from
    |W| averaged over the epochs at the final λ0 (``state.w_average``) once the rule has seen an
    epoch, else (no rule, or no epoch yet) from ``W`` itself."""
    if state is not None and state.w_average is not None:
        return column_density(state.w_average, rule.threshold)
    return column_density(W, rule.threshold)


def column_density(W: torch.Tensor, threshold: float) -> float:
    """The largest share of features in one column's support (|W| > ``threshold``)."""
    return float((W.detach().abs() > threshold).float().mean(0).max()) if W.numel() else 0.0
