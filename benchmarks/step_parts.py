"""Milliseconds of the small parts of a CPU training step, each against its alternatives, side
by side in one process: the fused decoder's per-feature output head and its gradient, and Adam.

- **Head** (B × n × H2 activations of one feature chunk, n × H2 head rows): ``einsum`` (a
  batched product), ``mm-diag`` (one product of all the chunk's heads, diagonal kept),
  ``mul-sum`` (an elementwise product and a sum, the package's choice on CPUs in fp32); the
  same three for the gradient Σ_i g_ij h2_ijh. The ratio is that of the products the fused path
  runs in bf16 and on GPUs (``mm-diag`` up to ``_HEAD_BLOCKS`` features, else ``einsum``).
- **Adam** on the parameters of the MSSVAE module of each shape: ``for-loop``, ``foreach``
  (torch's default) and ``fused`` (the package's choice).

Every figure is the median over ``--repeats`` timings of ``--inner`` calls, the variants
alternating within each repeat, so that a change of the machine's load hits them alike.

    .venv/bin/python benchmarks/step_parts.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from mssvae.core.nets import _HEAD_BLOCKS
from provenance import header

#: (B, n, H2): the §4.1 chunk at batch 512 on 2 threads, the 252 × 4000 chunk at batch 63, and
#: two NB chunks at Table 2's H2.
HEAD_SHAPES = [(512, 20, 50), (512, 10, 50), (63, 166, 50), (150, 8, 128), (400, 4, 128)]
#: (G, K_S, K_m per group, hidden) of the module whose parameters Adam updates.
ADAM_SHAPES = [(100, 30, 5, (50, 50)), (4000, 30, 5, (50, 50)), (1000, 50, 10, (256, 128))]


def _median_ms(variants: dict, repeats: int, inner: int) -> dict:
    times = {k: [] for k in variants}
    for f in variants.values():
        f()  # warm-up
    for _ in range(repeats):
        for k, f in variants.items():
            t = time.perf_counter()
            for _ in range(inner):
                f()
            times[k].append((time.perf_counter() - t) / inner * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def head_rows(repeats: int, inner: int) -> list[str]:
    rows = []
    for B, n, H2 in HEAD_SHAPES:
        h2, head, g = torch.randn(B, n, H2), torch.randn(n, H2), torch.randn(B, n)
        fwd = _median_ms({
            "einsum": lambda: torch.einsum("bjh,jh->bj", h2, head),
            "mm-diag": lambda: torch.mm(h2.view(B * n, H2), head.t()).view(B, n, n).diagonal(dim1=1, dim2=2),
            "mul-sum": lambda: (h2 * head).sum(-1),
        }, repeats, inner)
        bwd = _median_ms({
            "einsum": lambda: torch.einsum("bj,bjh->jh", g, h2),
            "mm-diag": lambda: torch.mm(g.t().contiguous(), h2.view(B, n * H2)).view(n, n, H2).diagonal(dim1=0, dim2=1),
            "mul-sum": lambda: (g.unsqueeze(-1) * h2).sum(0),
        }, repeats, inner)
        for part, t in (("head", fwd), ("gradient", bwd)):
            rule = t["mm-diag"] if n <= _HEAD_BLOCKS else t["einsum"]
            rows.append(f"| {part} | {B} × {n} × {H2} | {t['einsum']:.3f} | {t['mm-diag']:.3f} | {t['mul-sum']:.3f} | "
                        f"{rule / t['mul-sum']:.1f}× |")
    return rows


def adam_rows(repeats: int, inner: int) -> list[str]:
    from mssvae.core.module import MSSVAEModule

    rows = []
    for G, ks, km, hidden in ADAM_SHAPES:
        module = MSSVAEModule(G, ks, [km] * 3, hidden, "gaussian", torch.zeros(G), sigma2_init=torch.ones(G))
        for p in module.parameters():
            p.grad = torch.randn_like(p)
        groups = lambda: [{"params": module.w_parameters(), "lr": 0.01}, {"params": module.other_parameters(), "lr": 0.01}]  # noqa: E731
        opts = {"for-loop": torch.optim.Adam(groups(), foreach=False), "foreach": torch.optim.Adam(groups(), foreach=True),
                "fused": torch.optim.Adam(groups(), fused=True)}
        t = _median_ms({k: o.step for k, o in opts.items()}, repeats, inner)
        n_par = sum(p.numel() for p in module.parameters())
        rows.append(f"| G {G}, hidden {list(hidden)} | {n_par:,} | {t['for-loop']:.2f} | {t['foreach']:.2f} | "
                    f"{t['fused']:.2f} | {t['foreach'] / t['fused']:.1f}× |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--inner", type=int, default=20)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("\n".join(header()), flush=True)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, load {os.getloadavg()}; "
          f"ms, median of {args.repeats} × {args.inner} calls\n")
    print("| part | B × n × H2 | einsum | mm-diag | mul-sum | products / mul-sum |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(head_rows(args.repeats, args.inner)))
    print("\n| module | parameters | for-loop | foreach | fused | foreach / fused |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(adam_rows(args.repeats, args.inner)))


if __name__ == "__main__":
    main()
