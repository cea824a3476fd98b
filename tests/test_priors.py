import numpy as np
import pytest
import torch
from scipy import stats

from mssvae.core.priors import (
    Lambda0Schedule,
    expected_log_prior,
    inverse_gamma_beta,
    posterior_inclusion,
    update_eta,
)


def test_lambda0_schedule_counts_steps_and_matches_paper():
    s = Lambda0Schedule(breaks=(5, 30))
    # breaks at steps 5 and 30: first 5 steps at 1, next 25 at 10, the rest at 15 (App. C.2.1)
    values = [s(t) for t in range(100)]
    assert values[:5] == [1.0] * 5
    assert values[5:30] == [10.0] * 25
    assert values[30:] == [15.0] * 70
    assert s.final_step == 30
    assert Lambda0Schedule.constant(10)(99) == 10.0 and Lambda0Schedule.constant(10).final_step == 0
    # a fit that holds the breaks with a fifth of its steps left keeps them; a shorter one gets
    # them scaled so that the last falls at 80 % of its steps
    paper = Lambda0Schedule(breaks=(280, 1680))
    assert paper.within(800 * 7).breaks == (280, 1680) and paper.within(2100).breaks == (280, 1680)
    assert paper.within(900).breaks == (120, 720)
    assert Lambda0Schedule.constant(3.0).within(10).breaks == ()


def test_lambda0_schedule_rejects_bad_breaks():
    with pytest.raises(ValueError):
        Lambda0Schedule(values=(1.0, 2.0), breaks=(5, 7))
    with pytest.raises(ValueError):
        Lambda0Schedule(values=(1.0, 2.0, 3.0), breaks=(70, 50))
    with pytest.raises(ValueError, match="whole numbers"):
        Lambda0Schedule(values=(1.0, 2.0, 3.0), breaks=(0.05, 0.3))


def test_posterior_inclusion_is_the_paper_formula_and_a_probability():
    w = torch.tensor([[0.0, 0.1, 1.0, 5.0, 50.0]]).T.repeat(1, 3)
    eta = torch.tensor([1e-6, 0.3, 1 - 1e-6])
    lam0, lam1 = 15.0, 0.1
    p = posterior_inclusion(w, eta, lam0, lam1)
    slab = eta * lam1 * torch.exp(-lam1 * w)
    spike = (1 - eta) * lam0 * torch.exp(-lam0 * w)
    assert torch.allclose(p[:4], (slab / (slab + spike))[:4], atol=1e-6)
    assert ((p >= 0) & (p <= 1)).all()
    assert p[-1, 1] > 0.999  # a large weight is in the slab


def test_update_eta_closed_form_and_range():
    p = torch.rand(40, 5)
    eta = update_eta(p, a=1.0, b=40.0)
    assert torch.allclose(eta, p.sum(0) / (40 + 1 + 40 - 2))
    assert ((eta > 0) & (eta < 1)).all()
    assert (update_eta(torch.zeros(40, 2), 1.0, 40.0) > 0).all()


def test_em_iterations_keep_probabilities_in_range():
    w = torch.randn(50, 6) * 3
    eta = torch.full((6,), 0.5)
    for lam0 in (1.0, 10.0, 15.0, 1000.0):
        p = posterior_inclusion(w.abs(), eta, lam0, 0.1)
        eta = update_eta(p, 1.0, 50.0)
        assert ((p >= 0) & (p <= 1)).all() and ((eta > 0) & (eta < 1)).all()


def test_expected_log_prior_gradient_is_lambda_star_sign_w():
    w = torch.tensor([[0.5, -2.0], [0.0, 3.0]], requires_grad=True)
    p = torch.tensor([[0.2, 0.9], [0.5, 1.0]])
    eta = torch.tensor([0.3, 0.6])
    val = expected_log_prior(w, p, eta, 10.0, 0.1, 1.0, 2.0)
    val.backward()
    lam_star = 0.1 * p + 10.0 * (1 - p)
    assert torch.allclose(w.grad, lam_star * torch.sign(w.detach()))


def test_inverse_gamma_beta_puts_q05_at_prior_q90():
    v = np.random.default_rng(0).gamma(2.0, 1.0, size=500)
    beta = inverse_gamma_beta(v, alpha=1.5)
    q05 = np.quantile(v, 0.05)
    assert stats.invgamma(1.5, scale=beta).cdf(q05) == pytest.approx(0.9, abs=1e-8)


def test_default_lambda0_breaks_fit_the_step_budget():
    """Unset breaks are Table 2's steps at the paper's sizes, scaled down for a fit too short to
    hold them: a small data set reaches the last λ0 within the epochs it is given."""
    from mssvae.core.train import steps_per_epoch
    from mssvae.errors import MSSVAEInputError
    from mssvae.model.settings import Settings

    nb = Settings("nb", epochs=300, batch_size=32).resolved()
    assert steps_per_epoch(85, 32) == 3
    small = nb.schedule(85)  # 300 epochs × 3 steps: the paper's steps 280, 1680 would never come
    assert small.breaks == (120, 720) and small.final_step <= 0.8 * 300 * 3
    assert Settings("nb", batch_size=512).resolved().schedule(3200).breaks == (280, 1680)  # §4.2, 7 × 800
    assert Settings("nb", batch_size=512).resolved().schedule(30000).breaks == (280, 1680)  # capped
    assert Settings("gaussian", batch_size=512).resolved().schedule(3000).breaks == (150, 900)  # §4.1, 6 × 500
    assert Settings("gaussian", batch_size=63).resolved().schedule(252).breaks == (150, 900)  # 4 × 500 steps
    assert Settings("gaussian", batch_size=64, epochs=100, max_steps=200).resolved().schedule(10000).breaks == (27, 160)
    given = Settings("nb", epochs=300, batch_size=32, lambda0_breaks=(5, 7)).resolved()
    assert given.schedule(85).breaks == (5, 7)
    assert Settings("nb", lambda0=(3.0,)).resolved().schedule(85).breaks == ()
    with pytest.raises(MSSVAEInputError, match="lambda0_breaks is unset"):
        Settings("nb", batch_size=32, lambda0=(1.0, 15.0)).resolved()
