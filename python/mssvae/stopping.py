"""When a fit is done: a stopping rule a reader can check from the history.

``epochs`` is a maximum. After every epoch the rule looks at three things, all recorded in the
history, and the fit stops at the first epoch where all hold:

1. λ0 has reached its last value (the annealing of App. C.2.1 is over), and the two counts
   below start only then;
2. the supports of W (|w_jk| > ``threshold``) have changed in at most ``support_tol`` of their
   entries over the last ``patience`` epochs;
3. the objective, averaged over the last ``window`` epochs, improved on the ``window`` epochs
   before by less than ``tol`` (relative).

So a fit runs at least ``2 · window`` epochs at the final λ0. On the full-size §4.2 design
(H200, seeds 0–2) a rule that counted the epochs before the last λ0 stopped 5 of 9 fits at the
very step λ0 reached 15 (``benchmarks/README.md``, "Stopping").

It never stops while W is dense: while some column holds more than ``max_density`` of the
features, the fit goes on (and, at the maximum, says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .metrics import DEFAULT_THRESHOLD

#: Why a fit ended, as written in the history's summary (``.uns["mssvae"]["stopping"]``).
CONVERGED = "converged"
MAX_EPOCHS = "max_epochs"
MAX_STEPS = "max_steps"


@dataclass
class StoppingRule:
    """The rule's settings (defaults measured in ``benchmarks/README.md``, "Stopping")."""

    tol: float = 1e-3
    window: int = 10
    patience: int = 10
    threshold: float = DEFAULT_THRESHOLD
    support_tol: float = 1e-3
    max_density: float = 0.5


@dataclass
class StoppingState:
    """What the rule carries between epochs (saved in checkpoints with the trainer)."""

    reference: torch.Tensor | None = None  # the supports last seen to change
    stable_epochs: int = 0
    losses: list[float] = field(default_factory=list)

    def state_dict(self) -> dict:
        return {"reference": self.reference, "stable_epochs": self.stable_epochs, "losses": list(self.losses)}

    def load_state_dict(self, d: dict) -> None:
        self.reference, self.stable_epochs, self.losses = d["reference"], int(d["stable_epochs"]), list(d["losses"])


def observe(rule: StoppingRule, state: StoppingState, W: torch.Tensor, loss: float, annealed: bool) -> dict:
    """Update ``state`` with one epoch's W and mean loss; return the epoch's record of the rule:
    ``support_changes`` (entries that left or joined the supports since the reference),
    ``stable_epochs``, ``improvement`` (relative; NaN until two windows exist), ``densest``
    (the largest share of features in one column's support) and ``done``."""
    support = W.detach().abs() > rule.threshold
    if state.reference is None:
        changes = support.numel()
    else:
        changes = int((support != state.reference.to(support.device)).sum())
    if not annealed:
        # Only epochs at the last λ0 count: a fit settled under a weaker spike must show that
        # it stays settled once λ0 has its final value.
        state.reference, state.stable_epochs, state.losses = support.cpu(), 0, []
    elif state.reference is None or changes > rule.support_tol * support.numel():
        state.reference, state.stable_epochs = support.cpu(), 0
    else:
        state.stable_epochs += 1
    if annealed:
        state.losses.append(float(loss))
    state.losses = state.losses[-2 * rule.window:]
    improvement = float("nan")
    if len(state.losses) == 2 * rule.window:
        before = sum(state.losses[: rule.window]) / rule.window
        after = sum(state.losses[rule.window:]) / rule.window
        improvement = (before - after) / max(abs(before), 1e-12)
    densest = float(support.float().mean(0).max()) if support.numel() else 0.0
    done = (annealed and state.stable_epochs >= rule.patience and improvement == improvement
            and improvement < rule.tol and densest <= rule.max_density)
    return dict(support_changes=changes, stable_epochs=state.stable_epochs, improvement=improvement,
                densest=densest, done=bool(done))
