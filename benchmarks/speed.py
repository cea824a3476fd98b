"""Seconds per training epoch and peak memory of the masked decoder's implementations.

(a) ``naive``: a plain vectorised fp32 decoder, written here as the yardstick: it forms the
    masked latents c = w̃_j ⊙ z̃_i as a B × G × K tensor and applies the layers to it;
(b) ``reference``: the project's autograd reference path (``implementation="reference"``, fp32);
(c) ``fp32``: the project's fused path in fp32 (the default where bf16 is not native);
(d) ``bf16``: the fused path in bf16 (the default on GPUs and on CPUs with native bf16).

Each configuration runs in a fresh subprocess (so peak RSS is its own), trains whole epochs of
the NB-MSSVAE at the paper's settings (batch 512, hidden [256, 128], K_S 50, K_m 10, M 3) on
synthetic counts, and gives the median seconds per epoch over ``--epochs`` epochs after one
warm-up epoch. With ``--repeats R`` every configuration runs R times, the implementations
alternating within each repeat (so that a change of the machine's load hits them alike), and the
table shows the median over the repeats. The machine's bf16/fp32 matmul throughput is measured
in the same run, and the matmul-limited epoch time is the decoder's training FLOPs divided by
the bf16 throughput. The CPU model and the load averages before and after are printed with the
table: these 2-core machines are shared, and timings move with the load. ``--device cuda``
runs every configuration on the GPU (peak memory is then the device's).

    .venv/bin/python benchmarks/speed.py --repeats 3   # medians of three runs, as in benchmarks/FINDINGS.md
    .venv/bin/python benchmarks/speed.py --quick       # small sizes, a smoke run
    .venv/bin/python benchmarks/speed.py --sparse 100000x2000 --epochs 1 --threads 1   # sparse input
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import cpu_model, header, record as provenance_record  # noqa: E402

HIDDEN = (256, 128)
N_SHARED, N_SPECIFIC, N_GROUPS = 50, 10, 3


class NaiveDecoder(nn.Module):
    """App. B.1 written the plain way: c_ij = w̃_j ⊙ z̃_i materialised, then the layers.

    It wraps the project's decoder and reads its weights at every call, so that parametrised
    weights (the Lipschitz decoder's normalisations) are recomputed as in the project's paths.
    """

    def __init__(self, decoder):
        super().__init__()
        self.inner = decoder

    def forward(self, z, W):
        d = self.inner
        c = z.unsqueeze(1) * W.unsqueeze(0)  # B × G × K
        h2 = F.relu(d.V2(F.relu(d.V1(c))))
        return (torch.cat([h2, c], -1) * d.head).sum(-1) + d.head_bias


def decoder_flops(n: int, g: int, k: int) -> float:
    """Training FLOPs of the decoder's two big products per epoch (forward + 2× backward)."""
    h1, h2 = HIDDEN
    return 3 * 2 * n * g * (k * h1 + h1 * h2)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_tflops(dtype: torch.dtype, reps: int = 10, device: str = "cpu") -> float:
    a = torch.randn(64000, 256, dtype=dtype, device=device)
    b = torch.randn(256, 128, dtype=dtype, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * 64000 * 256 * 128 * reps / (time.perf_counter() - t) / 1e12


#: implementation → (precision, decoder implementation)
IMPLS = {"naive": ("fp32", "reference"), "reference": ("fp32", "reference"), "fp32": ("fp32", "fused"),
         "bf16": ("bf16", "fused")}


def run_one(impl: str, n: int, g: int, epochs: int, seed: int = 0, device: str = "cpu") -> dict:
    """Train ``epochs`` + 1 epochs with one implementation; runs inside its own process."""
    from mssvae.model import MSSVAE
    from mssvae.model.start import module_kwargs
    from mssvae.core.batches import Batches
    from mssvae.core.module import MSSVAEModule
    from mssvae.core.train import Trainer

    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(2.0, 2.0, size=(1, g)), size=(n, g)).astype(np.float32)
    codes = np.arange(n) % N_GROUPS
    precision, implementation = IMPLS[impl]
    model = MSSVAE("nb", n_shared=N_SHARED, n_specific=N_SPECIFIC, hidden=HIDDEN, batch_size=512, early_stopping=False)
    s = model.settings.for_fit(n, epochs + 1)
    torch.manual_seed(seed)
    module = MSSVAEModule(**module_kwargs(X, s, [N_SPECIFIC] * N_GROUPS, precision=precision))
    module.decoder.implementation = implementation
    if impl == "naive":
        module.decoder = NaiveDecoder(module.decoder)
    module.to(device)
    trainer = Trainer(module, s.train_settings(n), seed)
    data = Batches(X, codes, torch.device(device))
    times, cpu = [], []
    for _ in range(epochs + 1):
        t, c = time.perf_counter(), time.process_time()
        trainer.settings.epochs, trainer.stop_reason = trainer.epoch + 1, None
        trainer.run(data, progress=False)
        _sync(device)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    peak = (torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    # Wall seconds are the figure; CPU seconds (all threads) show how much of it the load took.
    return {"impl": impl, "n": n, "g": g, "sec_per_epoch": statistics.median(times[1:]),
            "cpu_sec_per_epoch": statistics.median(cpu[1:]), "peak_rss_gb": peak}


def run_sparse(n: int, g: int, density: float, epochs: int, seed: int = 0, device: str = "cpu",
               hidden=HIDDEN) -> dict:
    """Fit the NB-MSSVAE (fast path) to a scipy CSR count matrix of ``n`` × ``g``; runs in its
    own process, so that its peak RSS can be set against the size of the dense matrix."""
    import scipy.sparse as sp

    from mssvae.model import MSSVAE

    rng = np.random.default_rng(seed)
    nnz = int(n * g * density)
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, g, nnz)
    X = sp.csr_matrix((rng.poisson(3.0, nnz).astype(np.float32) + 1, (rows, cols)), shape=(n, g))
    X.sum_duplicates()
    groups = np.arange(n) % N_GROUPS
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t = time.perf_counter()
    MSSVAE("nb", n_shared=N_SHARED, n_specific=N_SPECIFIC, hidden=hidden, early_stopping=False).fit(
        X, groups=groups, epochs=epochs, seed=seed, device=device, progress=False)
    return {"n": n, "g": g, "nnz": int(X.nnz), "epochs": epochs, "hidden": list(hidden), "device": device,
            "seconds": time.perf_counter() - t,
            "dense_gb": n * g * 4 / 2**30, "csr_gb": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**30,
            "peak_rss_gb_before_fit": rss_data, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(impl: str, n: int, g: int, epochs: int, threads: int, device: str = "cpu") -> dict:
    cmd = [sys.executable, __file__, "--one", impl, str(n), str(g), "--epochs", str(epochs), "--threads", str(threads),
           "--device", device]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        # One failed run (e.g. out of memory on a shared machine) should not lose the table; the
        # script still exits non-zero at the end.
        print(f"{impl} {n}x{g} failed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}", flush=True)
        return {"impl": impl, "n": n, "g": g, "sec_per_epoch": float("nan"), "cpu_sec_per_epoch": float("nan"),
                "peak_rss_gb": float("nan"), "failed": True}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--one", nargs=3, metavar=("IMPL", "N", "G"), help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per run (median)")
    p.add_argument("--repeats", type=int, default=1, help="runs per configuration and implementation (median)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--impls", default="naive,reference,fp32,bf16", help=f"among {', '.join(IMPLS)}")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--hidden", default=None, help="hidden widths of the --sparse fit, e.g. 128,64")
    p.add_argument("--configs", default=None, help="NxG pairs (default: 1024x1000,1024x2500,1024x5000,1024x2000,4096x2000)")
    p.add_argument("--sparse", metavar="NxG", help="instead of the table: fit a sparse NxG count matrix (fast path, "
                   "--epochs epochs) and report time and peak RSS against the dense matrix's size")
    p.add_argument("--density", type=float, default=0.05, help="non-zero share of the --sparse matrix")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.one:
        impl, n, g = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(run_one(impl, n, g, args.epochs, device=args.device)))
        return 0
    prov = provenance_record()
    print("\n".join(header(prov)), flush=True)
    if args.sparse:
        n, g = (int(v) for v in args.sparse.split("x"))
        print(f"{cpu_model()}, {args.threads} torch thread(s); {load()}")
        hidden = HIDDEN if args.hidden is None else tuple(int(v) for v in args.hidden.split(","))
        print(json.dumps({**run_sparse(n, g, args.density, args.epochs, device=args.device, hidden=hidden),
                          "commit": prov["commit"]}))
        print(load())
        return 0
    configs = [(256, 300), (256, 600)] if args.quick else [(1024, 1000), (1024, 2500), (1024, 5000), (1024, 2000), (4096, 2000)]
    if args.configs:
        configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_model()
    print(f"{where}, {os.cpu_count()} CPUs, {args.threads} torch thread(s); {load()}")
    bf16, fp32 = matmul_tflops(torch.bfloat16, device=args.device), matmul_tflops(torch.float32, device=args.device)
    print(f"matmul throughput (64000x256 @ 256x128, {args.threads} threads): bf16 {bf16:.3f} TFLOP/s, fp32 {fp32:.3f} TFLOP/s")
    k = N_SHARED + N_GROUPS * N_SPECIFIC
    impls = args.impls.split(",")
    rows, failed = [], []
    for n, g in configs:
        runs = {i: [] for i in impls}
        for _ in range(args.repeats):
            for i in impls:
                runs[i].append(measure(i, n, g, args.epochs, args.threads, args.device))
        med = {i: statistics.median(r["sec_per_epoch"] for r in runs[i]) for i in impls}
        rss = {i: max(r["peak_rss_gb"] for r in runs[i]) for i in impls}
        limit = decoder_flops(n, g, k) / (bf16 * 1e12)
        failed += [f"{i} {n}x{g}" for i in impls if any(r.get("failed") for r in runs[i])]
        row = {"n": n, "g": g, "commit": prov["commit"], "limit": limit, **{f"{i}_s": med[i] for i in impls}, **{f"{i}_gb": rss[i] for i in impls},
               **{f"{i}_all": [round(r["sec_per_epoch"], 3) for r in runs[i]] for i in impls},
               **{f"{i}_cpu": [round(r["cpu_sec_per_epoch"], 3) for r in runs[i]] for i in impls}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    bf16_end, fp32_end = matmul_tflops(torch.bfloat16, device=args.device), matmul_tflops(torch.float32, device=args.device)
    print(f"\nat the end: {load()}; matmul bf16 {bf16_end:.3f}, fp32 {fp32_end:.3f} TFLOP/s (limits above use "
          f"the first measurement, bf16 {bf16:.3f}); median of {args.repeats} run(s), "
          f"each the median of {args.epochs} epoch(s) after a warm-up\n")
    head = "| N | G | " + " | ".join(f"{i} s/epoch (peak GB)" for i in impls)
    others = [i for i in impls if i != "naive"] if "naive" in impls else []
    head += "".join(f" | naive / {i}" for i in others) + " | matmul limit (bf16) |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in rows:
        cells = " | ".join(f"{r[f'{i}_s']:.3g} ({r[f'{i}_gb']:.2f})" for i in impls)
        ratios = "".join(f" | {r['naive_s'] / r[f'{i}_s']:.1f}×" for i in others)
        print(f"| {r['n']} | {r['g']} | {cells}{ratios} | {r['limit']:.2f} s |")
    if failed:
        print(f"\nfailed runs: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
