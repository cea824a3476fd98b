"""The scale of W (module.constrain_decoder) and the library-size start of the NB model."""

import torch

from mssvae.core.module import MSSVAEModule


def make(likelihood="nb", lipschitz=True, G=12):
    kw = dict(n_features=G, n_shared=3, n_specific=[2, 2], hidden=(16, 8), likelihood=likelihood,
              output_bias=torch.zeros(G), lipschitz_decoder=lipschitz)
    if likelihood == "nb":
        kw.update(phi_init=torch.full((G,), 5.0), library_prior=(8.0, 0.25))
    else:
        kw.update(sigma2_init=torch.ones(G))
    return MSSVAEModule(**kw)


def test_constrained_decoder_is_two_lipschitz_in_the_masked_latents():
    torch.manual_seed(0)
    m = make()
    with torch.no_grad():  # push the free parameters far from their start: the bound must hold anyway
        for p in m.decoder.parameters():
            p.mul_(50.0)
        m.W.normal_(0.0, 3.0)
    z, z2 = torch.randn(64, m.n_latent), torch.randn(64, m.n_latent)
    with torch.no_grad():
        df = (m.decode(z) - m.decode(z2)).abs()  # B × G
        dc = ((z - z2).unsqueeze(1) * m.W.unsqueeze(0)).norm(dim=-1)  # ‖w_j ⊙ (z_i − z'_i)‖
    assert (df <= 2.0 * dc + 1e-4).all()
    assert torch.allclose(torch.linalg.matrix_norm(m.decoder.V1.weight, ord=2), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(m.decoder.head.norm(dim=1), torch.ones(m.n_features), atol=1e-5)


def test_free_decoder_can_absorb_the_scale_of_W_and_constrained_cannot():
    torch.manual_seed(1)
    z = torch.randn(32, 7)
    for lipschitz, absorbs in ((False, True), (True, False)):
        m = make(lipschitz=lipschitz)
        with torch.no_grad():
            f = m.decode(z)
            m.W.mul_(0.1)  # shrink W ten-fold and grow the first layer and the skip weights
            target = m.decoder.V1.parametrizations.weight.original if lipschitz else m.decoder.V1.weight
            target.mul_(10.0)
            head = m.decoder.parametrizations.head.original if lipschitz else m.decoder.head
            head[:, m.decoder.V2.out_features:].mul_(10.0)
            same = torch.allclose(m.decode(z), f, atol=1e-4)
        assert same == absorbs


def test_gradients_reach_the_unconstrained_weights():
    torch.manual_seed(2)
    m = make()
    x = torch.poisson(torch.full((10, m.n_features), 30.0))
    g = torch.tensor([0, 1] * 5)
    m(x, g, n_total=100, sparsity_weight=1.0, lambda0=10.0).loss.backward()
    for p in (m.decoder.V1.parametrizations.weight.original, m.decoder.parametrizations.head.original, m.W):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_library_posterior_starts_at_the_observed_library_size():
    torch.manual_seed(3)
    m = make()
    x = torch.poisson(torch.rand(20, m.n_features) * torch.logspace(1, 4, 20).unsqueeze(1))
    m.eval()
    post = m.encode(x, torch.zeros(20, dtype=torch.long))
    # the residual network's output is O(1) at the start; the library sizes span 3 orders
    err = post["lib_mu"].squeeze(1) - torch.log(x.sum(1))
    assert err.abs().max() < 1.0
    assert (post["lib_logvar"] < -4.0).all()  # narrow: sd ≈ 0.05
