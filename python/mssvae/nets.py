"""Networks of the MSSVAE: the Gaussian encoders and the masked per-feature decoder (App. B.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

PRECISIONS = ("fp32", "bf16", "fp16")


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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and x.shape[0] == 1:
            # Batch norm cannot estimate statistics from one sample: use the running ones.
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
    concatenation is defined (papers/README.md), so the head has H2 + K weights per feature.

    The first layer is linear in c, so V1 (w_j ⊙ z_i) = (V1 diag w_j) z_i and the skip term is
    Σ_k v_jk w_jk z_ik: both are computed as matrix products over all features instead of
    forming the B × G × K tensor c.
    """

    def __init__(self, n_features: int, n_latent: int, hidden: tuple[int, int], precision: str = "fp32",
                 max_activation_bytes: int = 4 << 30):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        h1, h2 = hidden
        self.n_features, self.n_latent = n_features, n_latent
        self.precision = precision
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

    def forward(self, z: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """Decoder output f (B × G, fp32) for latents ``z`` (B × K, zeros outside the sample's
        blocks) and masks ``W`` (G × K)."""
        H2 = self.V2.out_features
        dtype = self.compute_dtype(z.device)
        # The skip term Σ_k v_jk w_jk z_ik is one small product, kept in fp32.
        skip = z @ (W * self.head[:, H2:]).t() + self.head_bias
        step = self.chunk_size(z.shape[0], dtype)
        if step >= self.n_features:
            return skip + self._hidden_path(z, W, self.head[:, :H2], dtype)
        # Feature chunks; under autograd each chunk is recomputed in the backward pass, so only
        # one chunk's B × chunk × hidden activations are alive at a time.
        parts = []
        for start in range(0, self.n_features, step):
            sl = slice(start, start + step)
            args = (z, W[sl], self.head[sl, :H2], dtype)
            if torch.is_grad_enabled():
                parts.append(checkpoint(self._hidden_path, *args, use_reentrant=False))
            else:
                parts.append(self._hidden_path(*args))
        return skip + torch.cat(parts, dim=1)

    def _hidden_path(self, z: torch.Tensor, W: torch.Tensor, head: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """v_jᵀ h2(w_j ⊙ z_i) for the features of ``W``, computed in ``dtype``, returned in fp32.

        Features are the batch dimension (G × B × H layout): the first layer is a batched product
        with A_j = diag(w_j) V1ᵀ, the second one large matrix product, and the per-feature head a
        batched product — matrix products instead of elementwise passes over the big activations.
        """
        A = W.to(dtype).unsqueeze(-1) * self.V1.weight.t().to(dtype).unsqueeze(0)  # G × K × H1
        # In-place ReLUs: the products' outputs are not needed by their backward, and a fresh
        # tensor of this size costs as much to allocate as the ReLU itself.
        h1 = F.relu(torch.matmul(z.to(dtype), A), inplace=True)  # G × B × H1
        h2 = F.relu(F.linear(h1, self.V2.weight.to(dtype), self.V2.bias.to(dtype)), inplace=True)  # G × B × H2
        return torch.bmm(h2, head.to(dtype).unsqueeze(-1)).squeeze(-1).t().float()  # B × G
