"""The masked decoder's fast path (App. B.1) against the plain fp32 reference."""

import pytest
import torch
import torch.nn.functional as F

from mssvae.core.nets import MaskedDecoder, fused_hidden_path

G, K, HIDDEN = 37, 12, (24, 16)


def _pair(precision="bf16", **kw):
    torch.manual_seed(3)
    ref = MaskedDecoder(G, K, HIDDEN, implementation="reference")
    other = MaskedDecoder(G, K, HIDDEN, precision=precision, **kw)
    other.load_state_dict(ref.state_dict())
    return ref, other


def _inputs(batch=64, seed=4):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, K, generator=g)
    z[: batch // 2, K - 3 :] = 0  # latents are zero outside a sample's own blocks
    W = torch.rand(G, K, generator=g) * 2
    W[::5, :4] = 0  # sparse masks
    return z, W


def _forward_and_grads(dec, z, W, fn=None, loss_scale=1.0):
    """Output and the gradients of every input and parameter under a loss that weights the
    outputs unevenly (so that no gradient is a plain sum)."""
    dec.zero_grad()
    z = z.clone().requires_grad_(True)
    W = W.clone().requires_grad_(True)
    f = dec(z, W) if fn is None else fn(dec, z, W)
    weights = torch.linspace(-1.0, 2.0, f.numel()).view_as(f)
    (loss_scale * (f.pow(2) + weights * f).mean()).backward()
    return {
        "f": f.detach(), "z": z.grad, "W": W.grad, "V1": dec.V1.weight.grad, "V2": dec.V2.weight.grad,
        "b2": dec.V2.bias.grad, "head": dec.head.grad, "head_bias": dec.head_bias.grad,
    }


def _fused(dtype, step):
    """The decoder's forward with the fast path's Function at a given dtype and chunk."""

    def fn(dec, z, W):
        H2 = dec.V2.out_features
        skip = z @ (W * dec.head[:, H2:]).t() + dec.head_bias
        return skip + fused_hidden_path(z, W, dec.V1.weight, dec.V2.weight, dec.V2.bias, dec.head[:, :H2], dtype, step)

    return fn


def _rel(a, b):
    return float((a - b).norm() / a.norm())


@pytest.mark.parametrize("step", [1, 5, G])  # fp32 on a CPU: the elementwise head
def test_fused_backward_in_fp32_equals_autograd_reference(step):
    """The hand-written backward, run in fp32, is the reference's autograd gradient up to
    summation order (1e-5 relative), whatever the chunking."""
    ref, _ = _pair()
    z, W = _inputs()
    a = _forward_and_grads(ref, z, W)
    b = _forward_and_grads(ref, z, W, fn=_fused(torch.float32, step))
    for name in a:
        assert _rel(a[name], b[name]) < 1e-5, name


def test_fused_backward_passes_gradcheck_in_float64():
    torch.manual_seed(0)
    B, g, k, h1, h2 = 5, 4, 3, 6, 5
    args = [torch.randn(B, k), torch.rand(g, k) + 0.1, torch.randn(h1, k), torch.randn(h2, h1), torch.randn(h2),
            torch.randn(g, h2)]
    args = [a.double().requires_grad_(True) for a in args]
    assert torch.autograd.gradcheck(lambda *t: fused_hidden_path(*t, torch.float64, 3), args)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_fast_path_agrees_with_fp32_within_stated_tolerance(precision):
    """bf16 keeps 8 bits of mantissa (fp16 on a CPU runs as bf16): outputs within 1e-2
    (relative norm), every gradient within 0.1 relative norm and pointing the same way (cosine
    > 0.995). fp32 outputs and fp32 master gradients either way."""
    ref, fast = _pair(precision)
    z, W = _inputs()
    a, b = _forward_and_grads(ref, z, W), _forward_and_grads(fast, z, W)
    assert all(t.dtype == torch.float32 for t in b.values())
    assert _rel(a["f"], b["f"]) < 1e-2
    for name in ("z", "W", "V1", "V2", "b2", "head", "head_bias"):
        assert _rel(a[name], b[name]) < 0.1, name
        assert F.cosine_similarity(a[name].flatten(), b[name].flatten(), dim=0) > 0.995, name


def test_fast_path_chunks_agree_with_one_chunk():
    """Chunks change only the blocking of the products and the order of the fp32 sums over
    chunks: the per-feature results are those of one chunk up to bf16 rounding of partial
    products (2⁻⁸ relative)."""
    ref, _ = _pair()
    z, W = _inputs()
    whole = _forward_and_grads(ref, z, W, fn=_fused(torch.bfloat16, G))
    for step in (1, 4):
        parts = _forward_and_grads(ref, z, W, fn=_fused(torch.bfloat16, step))
        assert torch.equal(whole["f"], parts["f"]) or _rel(whole["f"], parts["f"]) < 4e-3
        for name in whole:
            assert _rel(whole[name], parts[name]) < 2e-2, name


def test_fp16_scaling_keeps_small_gradients():
    """fp16's smallest subnormal is 6e-8: without the scaling inside the backward pass, these
    gradients (about 1e-9) would round to zero."""
    ref, _ = _pair()
    z, W = _inputs()
    a = _forward_and_grads(ref, z, W, loss_scale=1e-8)
    b = _forward_and_grads(ref, z, W, fn=_fused(torch.float16, 7), loss_scale=1e-8)
    for name in ("z", "W", "V1", "V2", "head"):
        assert b[name].abs().max() > 0, name
        assert _rel(a[name], b[name]) < 0.1, name  # bf16-like accuracy: 11 bits of mantissa


def test_fast_path_stores_no_activations():
    """Memory bounded in G: the forward pass saves only its inputs for the backward pass
    (no B × G × H tensor), whatever the batch and number of features."""
    _, fast = _pair()
    z, W = _inputs(batch=128)
    W.requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        fast(z, W)
    n_inputs = z.numel() + W.numel() + sum(p.numel() for p in fast.parameters())
    assert sum(saved) <= 2 * n_inputs
    assert max(saved) < 128 * G  # not even one B × G tensor besides the output


def test_fast_path_without_grad_matches_with_grad():
    _, fast = _pair()
    z, W = _inputs()
    with torch.no_grad():
        f0 = fast(z, W)
    assert torch.equal(f0, fast(z, W).detach())


def test_cpu_chunk_is_cache_sized_and_within_the_budget():
    dec = MaskedDecoder(5000, 80, (256, 128), precision="bf16")
    step = dec.fused_chunk_size(512, torch.bfloat16, torch.device("cpu"))
    assert 1 <= step <= 4 * torch.get_num_threads()  # B × step × H1 bf16 ≈ 1 MiB per thread
    assert dec.fused_chunk_size(512, torch.bfloat16, torch.device("cuda")) == dec.chunk_size(512, torch.bfloat16)
    small = MaskedDecoder(5000, 80, (256, 128), precision="bf16", max_activation_bytes=2 * 512 * 768 * 2)  # two features
    assert small.fused_chunk_size(512, torch.bfloat16, torch.device("cpu")) == 2


def test_fast_path_follows_parametrised_weights():
    """With the Lipschitz decoder's parametrisations (module.constrain_decoder) the fast path
    still computes the reference's function and sends gradients to the underlying weights."""
    from mssvae.core.module import constrain_decoder

    ref, fast = _pair()
    for dec in (ref, fast):
        constrain_decoder(dec)
    fast.load_state_dict(ref.state_dict())
    z, W = _inputs()

    def grads(dec):
        dec.zero_grad()
        f = dec(z, W)
        (f.pow(2).mean()).backward()
        return f.detach(), {n: p.grad for n, p in dec.named_parameters()}

    (fa, ga), (fb, gb) = grads(ref), grads(fast)
    assert _rel(fa, fb) < 1e-2
    assert ga.keys() == gb.keys()
    for name in ga:
        assert gb[name] is not None and _rel(ga[name], gb[name]) < 0.1, name
