"""Networks of the MSSVAE: the Gaussian encoders and the masked per-feature decoder (App. B.1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

PRECISIONS = ("fp32", "bf16", "fp16")
IMPLEMENTATIONS = ("fused", "reference")


class Encoder(nn.Module):
    """Two-layer ReLU MLP with batch norm, giving a diagonal Gaussian (App. B.1).

    Returns the mean and the log-variance; the paper's head writes σ directly, and a log-variance
    head is the usual way to keep σ positive (deviation written down here).
    """

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int):
        super().__init__()
        layers, d = [], n_in
        for h in hidden:
            layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU()]
            d = h
        self.body = nn.Sequential(*layers)
        self.mean = nn.Linear(d, n_out)
        self.logvar = nn.Linear(d, n_out)

    def forward(self, x: torch.Tensor, n_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n_rows``: the rows of the whole minibatch when ``x`` is one process's share of it
        (data-parallel training, where batch norm takes its statistics over the whole batch);
        default ``x``'s rows."""
        if self.training and (x.shape[0] if n_rows is None else n_rows) <= 1:
            # Batch norm cannot estimate statistics from one sample (or none: a group absent
            # from a data-parallel batch): use the running ones.
            self.body.eval()
            h = self.body(x)
            self.body.train()
        else:
            h = self.body(x)
        return self.mean(h), self.logvar(h).clamp(-15.0, 15.0)


class MaskedDecoder(nn.Module):
    """Per-feature decoder f_j(w̃_j ⊙ z̃_i) shared across features until the output head (App. B.1).

    h1 = ReLU(V1 c_ij) (no bias), h2 = ReLU(V2 h1 + b2), f_j = v_jᵀ [h2, c_ij] + b_j, where
    c_ij = w̃_j ⊙ z̃_i. The paper prints v_jᵀ[h2 + c]; with hidden width ≠ K only the
    concatenation is defined (docs/design.md, "Where the paper's text is corrected"), so the head has H2 + K weights per feature.

    The first layer is linear in c, so V1 (w_j ⊙ z_i) = (V1 diag w_j) z_i and the skip term is
    Σ_k v_jk w_jk z_ik: both are computed as matrix products over all features instead of
    forming the B × G × K tensor c.

    Two implementations of the hidden path compute the same function:

    - ``implementation="fused"`` (the default): :class:`_FusedHiddenPath`, forward and
      hand-written backward per cache-sized feature chunk, no activation stored between the
      passes; hidden layers in ``precision`` (fp32, or bf16/fp16 with fp32 master weights,
      outputs and gradients);
    - ``"reference"``: the plain path differentiated by autograd, with feature chunks recomputed
      under checkpointing when the activations exceed ``max_activation_bytes``; the tests'
      yardstick for the fused backward.

    The fused path is the faster one at every shape measured on CPUs, fp32 included (2-core AMD
    EPYC, AVX2, one thread, one training step at batch 512: 2.2× at G = 1000, hidden
    [128, 64]; 2.0× at [256, 128]; 1.7× on the §4.1 shape, G = 99, [50, 50]; 3.0× at 252 × 4147,
    [50, 50]; ``benchmarks/FINDINGS.md``, "Decoder implementations on an AVX2 CPU").
    """

    def __init__(self, n_features: int, n_latent: int, hidden: tuple[int, int], precision: str = "fp32",
                 max_activation_bytes: int = 4 << 30, implementation: str = "fused"):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        h1, h2 = hidden
        self.n_features, self.n_latent = n_features, n_latent
        self.precision, self.implementation = precision, implementation
        self.max_activation_bytes = int(max_activation_bytes)
        self.V1 = nn.Linear(n_latent, h1, bias=False)
        self.V2 = nn.Linear(h1, h2)
        # Output head: one row of H2 + K weights and one bias per feature.
        self.head = nn.Parameter(torch.empty(n_features, h2 + n_latent))
        self.head_bias = nn.Parameter(torch.zeros(n_features))
        bound = (h2 + n_latent) ** -0.5  # nn.Linear's default initialisation (App. C.2.2)
        nn.init.uniform_(self.head, -bound, bound)

    def compute_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype of the hidden layers: fp32, or bf16/fp16 with fp32 master weights."""
        if self.precision == "fp32":
            return torch.float32
        if self.precision == "fp16" and device.type != "cuda":
            return torch.bfloat16  # fp16 matmuls are slow on CPUs; bf16 has the range fp16 lacks
        return torch.bfloat16 if self.precision == "bf16" else torch.float16

    def chunk_size(self, batch: int, dtype: torch.dtype) -> int:
        """Features per chunk so that the hidden activations of one chunk stay under
        ``max_activation_bytes`` (memory bounded whatever G is)."""
        h1, h2 = self.V1.out_features, self.V2.out_features
        per_feature = batch * (2 * h1 + 2 * h2) * torch.finfo(dtype).bits // 8
        return max(1, min(self.n_features, self.max_activation_bytes // max(per_feature, 1)))

    def fused_chunk_size(self, batch: int, dtype: torch.dtype, device: torch.device) -> int:
        """Features per chunk of the fast path.

        On a CPU the chunk's first-layer activations (B × chunk × H1) are kept near
        ``CPU_CHUNK_BYTES`` per thread (the products split the chunk's rows between threads) so
        that the chunk's passes run from the cores' L2 caches; on a GPU
        chunks are as large as ``max_activation_bytes`` allows, to fill the device. Either way
        at most :meth:`chunk_size`.
        """
        step = self.chunk_size(batch, dtype)
        if device.type == "cuda":
            return step
        per_feature = batch * self.V1.out_features * torch.finfo(dtype).bits // 8
        return max(1, min(step, CPU_CHUNK_BYTES * torch.get_num_threads() // max(per_feature, 1)))

    def forward(self, z: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """Decoder output f (B × G, fp32) for latents ``z`` (B × K, zeros outside the sample's
        blocks) and masks ``W`` (G × K)."""
        H2 = self.V2.out_features
        dtype = self.compute_dtype(z.device)
        # Read once: a parametrised weight (module.constrain_decoder) is recomputed at every read.
        head = self.head
        # The skip term Σ_k v_jk w_jk z_ik is one small product, kept in fp32.
        skip = z @ (W * head[:, H2:]).t() + self.head_bias
        if self.implementation == "fused":
            step = self.fused_chunk_size(z.shape[0], dtype, z.device)
            return skip + fused_hidden_path(z, W, self.V1.weight, self.V2.weight, self.V2.bias,
                                            head[:, :H2], dtype, step)
        weights = (self.V1.weight, self.V2.weight, self.V2.bias)
        step = self.chunk_size(z.shape[0], dtype)
        if step >= self.n_features:
            return skip + self._hidden_path(z, W, head[:, :H2], *weights, dtype)
        # Feature chunks; under autograd each chunk is recomputed in the backward pass, so only
        # one chunk's B × chunk × hidden activations are alive at a time. The weights are read
        # outside the checkpointed function: a parametrised weight computed inside it (spectral
        # normalisation) fails checkpoint's check that the recomputation matches.
        parts = []
        for start in range(0, self.n_features, step):
            sl = slice(start, start + step)
            args = (z, W[sl], head[sl, :H2], *weights, dtype)
            if torch.is_grad_enabled():
                parts.append(checkpoint(self._hidden_path, *args, use_reentrant=False))
            else:
                parts.append(self._hidden_path(*args))
        return skip + torch.cat(parts, dim=1)

    @staticmethod
    def _hidden_path(z: torch.Tensor, W: torch.Tensor, head: torch.Tensor, V1: torch.Tensor, V2: torch.Tensor,
                     b2: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """v_jᵀ h2(w_j ⊙ z_i) for the features of ``W``, computed in ``dtype``, returned in fp32.

        The reference path, written with autograd: features are the batch dimension
        (G × B × H layout), the first layer a batched product with A_j = diag(w_j) V1ᵀ, the
        second one large matrix product, and the per-feature head a batched product.
        """
        A = W.to(dtype).unsqueeze(-1) * V1.t().to(dtype).unsqueeze(0)  # G × K × H1
        # In-place ReLUs: the products' outputs are not needed by their backward, and a fresh
        # tensor of this size costs as much to allocate as the ReLU itself.
        h1 = F.relu(torch.matmul(z.to(dtype), A), inplace=True)  # G × B × H1
        h2 = F.relu(F.linear(h1, V2.to(dtype), b2.to(dtype)), inplace=True)  # G × B × H2
        return torch.bmm(h2, head.to(dtype).unsqueeze(-1)).squeeze(-1).t().float()  # B × G


# --- the fast path ---------------------------------------------------------------------------

#: Target size of one chunk's first-layer activations per CPU thread: a chunk's working set (h1,
#: h2 and their gradients, about 3× this) stays near a core's L2 cache (2 MiB on the Xeons these
#: benchmarks ran on), where its elementwise passes run 2–3× faster than from memory. Measured
#: at batch 512 on one thread: 2, 4 and 8 features per chunk gave 1.41, 1.09 and 1.14 s per
#: 1000-feature training step.
CPU_CHUNK_BYTES = 1 << 20

_MKLDNN_LINEAR: dict[torch.dtype, bool] = {}


def _mkldnn_linear_ok(dtype: torch.dtype) -> bool:
    """Whether oneDNN's linear with a fused ReLU runs here for ``dtype`` (it needs AVX-512
    for bf16 on older CPUs); tried once per dtype."""
    if dtype not in _MKLDNN_LINEAR:
        ok = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        if ok:
            try:
                x, w = torch.ones(2, 3, dtype=dtype), torch.ones(4, 3, dtype=dtype)
                y = torch.ops.mkldnn._linear_pointwise(x, w, None, "relu", [], "")
                ok = bool(torch.equal(y.float(), torch.full((2, 4), 3.0)))
            except (RuntimeError, NotImplementedError):
                ok = False
        _MKLDNN_LINEAR[dtype] = ok
    return _MKLDNN_LINEAR[dtype]


def _bits(t: torch.Tensor) -> torch.Tensor:
    """``t`` viewed as signed integers of its width.

    For IEEE floats the sign bit is the integer's sign and non-negative floats order as their
    bit patterns, so ReLU is ``clamp_min(0)`` and "x > 0" is "bits > 0" on this view; integer
    kernels run these passes several times faster than the bf16 ones on CPUs (no conversion to
    fp32 and back). −0.0 becomes +0.0 and a NaN keeps or loses its sign bit like any value.
    """
    return t.view({2: torch.int16, 4: torch.int32}[t.element_size()])


def _relu_(t: torch.Tensor) -> torch.Tensor:
    if t.device.type == "cpu" and t.element_size() in (2, 4):
        _bits(t).clamp_min_(0)
        return t
    return t.relu_()


def _relu_grad_(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """grad ← grad · 1[out > 0] in place, where ``out`` is a ReLU's output."""
    tb = torch.ops.aten.threshold_backward.grad_input
    if grad.device.type == "cpu" and grad.element_size() in (2, 4):
        tb(_bits(grad), _bits(out), 0, grad_input=_bits(grad))
    else:
        tb(grad, out, 0, grad_input=grad)
    return grad


def _linear_relu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """ReLU(x wᵀ + b), the ReLU fused into the product's epilogue where the library offers it."""
    if x.device.type == "cpu" and _mkldnn_linear_ok(x.dtype):
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "relu", [], "")
    if x.device.type == "cuda" and b is not None:
        return torch._addmm_activation(b, x, w.t())  # cuBLASLt ReLU epilogue
    return _relu_(F.linear(x, w, b))


def _first_layer_weights(W: torch.Tensor, V1: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A_j = V1 diag(w_j) for each feature of ``W``, stacked as a (chunk·H1) × K linear weight,
    multiplied in fp32 and rounded once, in one pass (``out=`` casts as it writes)."""
    A = torch.empty(W.shape[0], V1.shape[0], V1.shape[1], dtype=dtype, device=W.device)
    return torch.mul(W.unsqueeze(1), V1.unsqueeze(0), out=A).flatten(0, 1)


def _chunk_hidden(zc, A, V2c, b2c, n: int):
    """h1 (B × n·H1) and h2 (B·n × H2) of one chunk of ``n`` features, sample-major."""
    B, H1 = zc.shape[0], V2c.shape[1]
    h1 = _linear_relu(zc, A, None)
    h2 = _linear_relu(h1.view(B * n, H1), V2c, b2c)
    return h1, h2


#: Up to this many features per chunk, the per-feature head is one matrix product of all the
#: chunk's heads with all its features' h2, of which only the n own blocks are kept: n wasted
#: dot products of length H2 per (i, j), against the H1·H2 of the second layer, buy one large
#: product instead of n small ones. Larger chunks (GPUs) use a batched product instead.
_HEAD_BLOCKS = 16


def _elementwise_head(t: torch.Tensor) -> bool:
    """Whether the head is an elementwise product and a sum: on a CPU in fp32, where it was
    measured 1.4–4× faster than the products (``benchmarks/step_parts.py``, 2-core AMD EPYC,
    2 threads: 0.16 against 0.55 ms at B = 512, 20 features, H2 = 50; the gradient 0.17 against
    0.67 ms at B = 63, 166 features). A bf16 elementwise pass has no native support on most
    CPUs, so bf16 keeps the products."""
    return t.device.type == "cpu" and t.dtype == torch.float32


def _head(h2: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Σ_h head_jh h2_ijh (B × n) from h2 (B × n × H2) and head (n × H2)."""
    B, n, H2 = h2.shape
    if _elementwise_head(h2):
        return (h2 * head).sum(-1)
    if n <= _HEAD_BLOCKS:
        return torch.mm(h2.view(B * n, H2), head.t()).view(B, n, n).diagonal(dim1=1, dim2=2)
    return torch.einsum("bjh,jh->bj", h2, head)


def _head_grad(g: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """Σ_i g_ij h2_ijh (n × H2) from g (B × n) and h2 (B × n × H2)."""
    B, n, H2 = h2.shape
    if _elementwise_head(h2):
        return (g.unsqueeze(-1) * h2).sum(0)
    if n <= _HEAD_BLOCKS:
        p = torch.mm(g.t().contiguous(), h2.view(B, n * H2)).view(n, n, H2)
        return p.diagonal(dim1=0, dim2=1).t()
    return torch.einsum("bj,bjh->jh", g, h2)


class _FusedHiddenPath(torch.autograd.Function):
    """Σ_h head_jh · h2_ijh for all (i, j), forward and backward chunk by chunk (App. B.1).

    Inputs are the fp32 master tensors; products run in ``dtype`` (fp32 accumulation), and the
    parameter gradients are accumulated over chunks in fp32. The forward pass stores no
    activation: the backward pass recomputes each chunk's h1 and h2 (keeping them from the
    forward pass instead was measured slower on a CPU, 1.15 against 1.05 s per 1000-feature
    step at batch 512: writing them to memory and reading them back costs more than the two
    products that recompute them from the cache), then

    - d head_j = Σ_i g_ij h2_ij;  δ2_ij = g_ij head_j ⊙ 1[h2_ij > 0]
    - dV2 = Σ δ2ᵀ h1,  db2 = Σ δ2;  δ1 = δ2 V2 ⊙ 1[h1 > 0]
    - dA_j = Σ_i δ1_ijᵀ z_i (H1 × K), from which dW_jk = Σ_h dA_jhk V1_hk and
      dV1_hk = Σ_j dA_jhk W_jk: the gradient of the first layer reduces to these per-feature
      products, never forming the B × G × K masked latents
    - dz_i = Σ_j δ1_ij A_j.

    In fp16 the incoming gradient is scaled by a power of two so that its largest entry is
    about 1 before rounding (fp16's small range would flush the per-sample gradients of a
    minibatch mean to zero), and the results are scaled back in fp32.
    """

    @staticmethod
    def forward(ctx, z, W, V1, V2w, b2, head, dtype, step):
        B, G, H1, H2 = z.shape[0], W.shape[0], V1.shape[0], V2w.shape[0]
        with torch.autocast(z.device.type, enabled=False):
            zc, V2c, b2c = z.to(dtype), V2w.to(dtype), b2.to(dtype)
            out = z.new_empty(B, G)
            for s in range(0, G, step):
                e = min(G, s + step)
                n = e - s
                A = _first_layer_weights(W[s:e], V1, dtype)
                _, h2 = _chunk_hidden(zc, A, V2c, b2c, n)
                out[:, s:e] = _head(h2.view(B, n, H2), head[s:e].to(dtype))
        ctx.save_for_backward(z, W, V1, V2w, b2, head)
        ctx.dtype, ctx.step = dtype, step
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        z, W, V1, V2w, b2, head = ctx.saved_tensors
        dtype, step = ctx.dtype, ctx.step
        B, G, K = z.shape[0], W.shape[0], z.shape[1]
        H1, H2 = V1.shape[0], V2w.shape[0]
        need_z = ctx.needs_input_grad[0]
        with torch.autocast(z.device.type, enabled=False):
            scale = 1.0
            if dtype == torch.float16:
                top = float(grad.abs().max())
                if top > 0:
                    scale = 2.0 ** -math.floor(math.log2(top))
            gd = (grad * scale if scale != 1.0 else grad).to(dtype)
            zc, V2c, b2c = z.to(dtype), V2w.to(dtype), b2.to(dtype)
            dz = torch.zeros_like(z) if need_z else None
            dW, dhead = torch.empty_like(W), torch.empty_like(head)
            dV1, dV2, db2 = torch.zeros_like(V1), torch.zeros_like(V2w), torch.zeros_like(b2)
            ones = torch.ones(1, B * step, dtype=dtype, device=z.device)
            for s in range(0, G, step):
                e = min(G, s + step)
                n = e - s
                A = _first_layer_weights(W[s:e], V1, dtype)
                h1, h2 = _chunk_hidden(zc, A, V2c, b2c, n)
                g = gd[:, s:e]
                dhead[s:e] = _head_grad(g, h2.view(B, n, H2))
                d2 = (g.unsqueeze(-1) * head[s:e].to(dtype)).view(B * n, H2)
                _relu_grad_(d2, h2)
                h1 = h1.view(B * n, H1)
                dV2 += torch.mm(d2.t(), h1)
                db2 += torch.mm(ones[:, : B * n], d2).squeeze(0)
                d1 = _relu_grad_(torch.mm(d2, V2c), h1).view(B, n * H1)
                dA = torch.mm(d1.t(), zc).view(n, H1, K).float()
                if need_z:
                    dz += torch.mm(d1, A)
                dW[s:e] = (dA * V1).sum(1)
                dV1 += (dA * W[s:e].unsqueeze(1)).sum(0)
            grads = [dz, dW, dV1, dV2, db2, dhead]
            if scale != 1.0:
                grads = [None if t is None else t.div_(scale) for t in grads]
        return (*grads, None, None)


def fused_hidden_path(z: torch.Tensor, W: torch.Tensor, V1: torch.Tensor, V2w: torch.Tensor, b2: torch.Tensor,
                      head: torch.Tensor, dtype: torch.dtype, step: int) -> torch.Tensor:
    """The decoder's hidden path v_jᵀ h2(w_j ⊙ z_i) (B × G, fp32) by :class:`_FusedHiddenPath`.

    Parameters
    ----------
    z
        Latents, B × K (fp32).
    W
        Masks, G × K (fp32).
    V1, V2w, b2
        First-layer weight (H1 × K), second-layer weight (H2 × H1) and bias (H2), fp32.
    head
        The hidden part of the output head, G × H2 (fp32).
    dtype
        Arithmetic of the hidden layers; ``torch.float32`` gives the same computation in fp32
        (used by the tests to check the hand-written backward against autograd).
    step
        Features per chunk.
    """
    return _FusedHiddenPath.apply(z, W, V1, V2w, b2, head, dtype, max(1, int(step)))
