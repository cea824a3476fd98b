import torch
import torch.nn.functional as F

from mssvae.core.module import MSSVAEModule, gaussian_kl, log_nb
from mssvae.core.nets import MaskedDecoder


def naive_decoder(dec: MaskedDecoder, z, W):
    """App. B.1 written per (sample, feature): c_ij = w_j * z_i, h = ReLU(V2 ReLU(V1 c) + b2),
    f_j = v_j . [h, c] + b_j."""
    B, G = z.shape[0], W.shape[0]
    H2 = dec.V2.out_features
    out = torch.empty(B, G)
    for i in range(B):
        for j in range(G):
            c = W[j] * z[i]
            h = F.relu(dec.V2(F.relu(dec.V1(c))))
            out[i, j] = dec.head[j, :H2] @ h + dec.head[j, H2:] @ c + dec.head_bias[j]
    return out


def test_vectorised_decoder_equals_per_feature_definition():
    torch.manual_seed(0)
    dec = MaskedDecoder(n_features=7, n_latent=5, hidden=(6, 4))
    z, W = torch.randn(3, 5), torch.randn(7, 5)
    assert torch.allclose(dec(z, W), naive_decoder(dec, z, W), atol=1e-5)


def make_module(likelihood, G=9, groups=(2, 3)):
    kw = dict(n_features=G, n_shared=3, n_specific=list(groups), hidden=(8, 6), likelihood=likelihood,
              output_bias=torch.zeros(G))
    if likelihood == "gaussian":
        kw.update(sigma2_init=torch.ones(G), ig_beta=0.5)
    else:
        kw.update(phi_init=torch.full((G,), 5.0), library_prior=(3.0, 0.5))
    return MSSVAEModule(**kw)


def test_losses_finite_and_shapes_for_both_likelihoods():
    torch.manual_seed(0)
    g = torch.tensor([0, 0, 1, 1, 1])
    for lik in ("gaussian", "nb"):
        m = make_module(lik)
        x = torch.poisson(torch.full((5, 9), 3.0)) if lik == "nb" else torch.randn(5, 9)
        m.em_step(1.0)
        terms = m(x, g, n_total=100, sparsity_weight=1.0, lambda0=1.0)
        for v in terms.detached().values():
            assert torch.isfinite(torch.tensor(v))
        terms.loss.backward()
        assert m.W.grad.shape == (9, 8) and torch.isfinite(m.W.grad).all()


def test_latents_live_in_own_group_blocks():
    m = make_module("gaussian").eval()
    g = torch.tensor([0, 1, 1])
    post = m.encode(torch.randn(3, 9), g)
    mu = post["mu"]
    # columns: 3 shared | 2 of group 0 | 3 of group 1
    assert (mu[0, 5:] == 0).all() and (mu[1:, 3:5] == 0).all()
    assert (mu[0, 3:5] != 0).any() and (mu[1:, 5:] != 0).any()
    mask = m.own_block_mask(g)
    assert mask.tolist()[0] == [True] * 5 + [False] * 3
    # the zero blocks add nothing to the KL
    assert torch.allclose(gaussian_kl(mu * mask, post["logvar"] * mask), gaussian_kl(mu, post["logvar"]))


def test_group_sorted_rows_give_the_same_step_as_unsorted_bookkeeping():
    """With rows sorted by group and their sizes given (the trainer's minibatches), the
    encoders read slices: the loss and every gradient are those of the step that finds the
    groups from g."""
    g = torch.tensor([0, 0, 1, 1, 1])
    for lik in ("gaussian", "nb"):
        torch.manual_seed(1)
        m = make_module(lik)
        x = torch.poisson(torch.full((5, 9), 3.0)) if lik == "nb" else torch.randn(5, 9)
        m.em_step(1.0)
        runs = []
        for sizes in (None, [2, 3]):
            m.zero_grad()
            torch.manual_seed(2)
            loss = m(x, g, n_total=100, sparsity_weight=1.0, lambda0=1.0, group_sizes=sizes).loss
            loss.backward()
            runs.append((loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}))
        (l0, g0), (l1, g1) = runs
        assert torch.allclose(l0, l1, rtol=1e-6) and g0.keys() == g1.keys()
        for name in g0:
            assert torch.allclose(g0[name], g1[name], rtol=1e-4, atol=1e-6), name


def test_em_step_keeps_p_star_and_eta_in_range():
    m = make_module("nb")
    with torch.no_grad():
        m.W.mul_(torch.randn_like(m.W) * 5)
    for lam0 in (1.0, 10.0, 15.0):
        m.em_step(lam0)
        assert ((m.p_star >= 0) & (m.p_star <= 1)).all()
        assert ((m.eta > 0) & (m.eta < 1)).all()


def test_log_nb_matches_torch_distribution():
    x = torch.tensor([0.0, 3.0, 10.0])
    mu, phi = torch.tensor([2.0, 3.0, 4.0]), torch.tensor([0.5, 5.0, 50.0])
    # torch's NegativeBinomial(total_count=φ, probs=μ/(μ+φ)) has mean μ and inverse dispersion φ
    ref = torch.distributions.NegativeBinomial(total_count=phi, probs=mu / (mu + phi)).log_prob(x)
    assert torch.allclose(log_nb(x, mu, phi), ref, atol=1e-4)


def _decoder_pair(**kw):
    torch.manual_seed(1)
    ref = MaskedDecoder(n_features=40, n_latent=6, hidden=(16, 8), implementation="reference")
    other = MaskedDecoder(n_features=40, n_latent=6, hidden=(16, 8), **{"implementation": "reference", **kw})
    other.load_state_dict(ref.state_dict())
    return ref, other


def _forward_and_grads(dec, z, W):
    W = W.clone().requires_grad_(True)
    f = dec(z, W)
    (f.pow(2).mean()).backward()
    return f.detach(), W.grad, dec.V2.weight.grad


def test_feature_chunks_give_the_same_forward_and_gradients():
    ref, chunked = _decoder_pair(max_activation_bytes=3 * 4 * (2 * 16 + 2 * 8) * 7)  # 7 features per chunk
    z, W = torch.randn(3, 6), torch.randn(40, 6)
    assert chunked.chunk_size(3, torch.float32) == 7
    for a, b in zip(_forward_and_grads(ref, z, W), _forward_and_grads(chunked, z, W)):
        assert torch.allclose(a, b, atol=1e-5)


def test_bf16_path_agrees_with_fp32_within_stated_tolerance():
    """bf16 keeps 8 bits of mantissa: outputs within 2% (relative norm), gradients point the
    same way (cosine > 0.99). fp32 master weights and fp32 outputs either way."""
    ref, fast = _decoder_pair(precision="bf16", implementation="fused")
    z, W = torch.randn(64, 6), torch.rand(40, 6) * 2
    (fa, ga, va), (fb, gb, vb) = _forward_and_grads(ref, z, W), _forward_and_grads(fast, z, W)
    assert fb.dtype == torch.float32 and gb.dtype == torch.float32
    assert (fa - fb).norm() / fa.norm() < 2e-2
    for x, y in ((ga, gb), (va, vb)):
        assert F.cosine_similarity(x.flatten(), y.flatten(), dim=0) > 0.99
