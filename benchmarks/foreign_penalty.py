"""multiGroupVI's penalty on other groups' latents, as a measurement variant of the MSSVAE.

Why the MSSVAE does not have it (docs/design.md, "Other groups' latents"). In the MSSVAE a sample of
group m has no latents of the other groups at all: z̃_i = [z_i, 0, …, ζ_i^(m), …, 0] (§2.2),
and the variational family is q(z|x) q(ζ^(m)|x) with the other groups' blocks *exactly* 0
(``MSSVAEModule.encode`` runs encoder m only on group m's samples; ``own_block_mask`` zeroes the
other blocks before decoding). multiGroupVI (Weinberger et al. 2022, Eq. 9-11) instead evaluates every group
encoder γ' on every cell and replaces the KL of q_γ'(t^γ'|x^γ) to the Dirac prior δ_0, which is
undefined, by the squared 2-Wasserstein distance ‖μ_γ'(x)‖² + ‖σ_γ'(x)‖². In the MSSVAE that
q is the Dirac itself, so the term is identically 0: there is nothing in the *objective* for it to
act on.

What the penalty does do in multiGroupVI is regularise the *encoder functions*: encoder γ' must
output ≈ 0 (and σ ≈ 0) on other groups' cells, which it can do only if what it encodes is absent
there, so shared variation (present in every group) is pushed out of t^γ'. multiGroupVI also
masks the decoder input (its code zeroes the foreign blocks), so the penalty acts through the
encoders only, exactly as it would here. Whether the MSSVAE needs that push is an empirical
question, because it has a different guard: the spike-and-slab W, under which shared signal in a
group block would have to be duplicated in every group's block (information switching, §3.2).
:class:`ForeignPenaltyModule` adds the penalty so the two can be compared
(``benchmarks/seed_systems.py``); it is not part of the model.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from mssvae.core.module import MSSVAEModule
from mssvae.model import estimator as _model


class ForeignPenaltyModule(MSSVAEModule):
    """The MSSVAE module plus ``foreign_weight`` × (1/B) Σ_i Σ_{m' ≠ g_i} ‖μ_m'(x_i)‖² + ‖σ_m'(x_i)‖²
    (Weinberger et al. 2022, Eq. 11) added to the minibatch loss.

    The parent's ``forward`` is untouched (own-group encoding, masking, ELBO, SSL prior); the
    penalty comes from a second pass of each group encoder over the *other* groups' samples of
    the minibatch, with batch norm on its running statistics (so the foreign samples neither
    enter nor disturb the statistics the encoder uses on its own group). Deviation from multiGroupVI,
    written down: multiGroupVI runs each encoder once over all cells, so its batch statistics
    mix own and foreign cells.
    """

    foreign_weight: float = 1.0

    def foreign_penalty_term(self, x: torch.Tensor, g: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        h = self._encoder_input(x, s)
        penalty = h.new_zeros(())
        for m, k in enumerate(self.n_specific):
            foreign = g != m
            if k == 0 or not bool(foreign.any()):
                continue
            enc = self.encoders_specific[m]
            was = enc.body.training
            enc.body.eval()
            try:
                mu, lv = enc(h[foreign])
            finally:
                enc.body.train(was)
            penalty = penalty + (mu.pow(2).sum() + lv.exp().sum()) / h.shape[0]
        return penalty

    def forward(self, x, g, *args, **kwargs):
        terms = super().forward(x, g, *args, **kwargs)
        terms.loss = terms.loss + self.foreign_weight * self.foreign_penalty_term(x, g, kwargs.get("s"))
        return terms


@contextmanager
def foreign_penalty(weight: float = 1.0):
    """Within this block, :meth:`mssvae.MSSVAE.fit` trains with the penalty of weight ``weight``.

    The fitted module has the parent's parameters, so the model saves and loads as usual.
    """
    cls = type("ForeignPenaltyModuleW", (ForeignPenaltyModule,), {"foreign_weight": float(weight)})
    saved = _model.MSSVAEModule
    _model.MSSVAEModule = cls
    try:
        yield
    finally:
        _model.MSSVAEModule = saved


@torch.no_grad()
def foreign_latents(module: MSSVAEModule, x: torch.Tensor, m: int) -> torch.Tensor:
    """Posterior means of group ``m``'s encoder on samples ``x`` (of any group), in eval mode:
    what that encoder would say about samples it never had to encode."""
    was = module.training
    module.eval()
    try:
        mu, _ = module.encoders_specific[m](module._encoder_input(x))
    finally:
        module.train(was)
    return mu
