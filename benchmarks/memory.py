"""Peak memory and time of a fit whose input stays on disk (``mssvae fit --backed``).

For each N, writes a sparse count matrix of N samples × G features (CSR, about ``--nnz-per-row``
stored entries per row, three groups) to an ``.h5ad`` file in row chunks, without ever holding it
whole, then runs ``mssvae fit FILE --backed`` in a child process at small settings and records the
child's peak resident memory (``ru_maxrss`` from ``os.wait4``), its wall time and the seconds per
gradient step of its one epoch (from the fit's history; ``--max-steps`` ends the epoch early, while
every pass over all rows still runs). Prints a markdown table.

    .venv/bin/python benchmarks/memory.py                          # N = 1e5, 1e6, 2e6, G = 1000
    .venv/bin/python benchmarks/memory.py --sizes 100000 --threads 1
    .venv/bin/python benchmarks/memory.py --data-dir /tmp/mem      # keep the generated files
    .venv/bin/python benchmarks/memory.py --sizes 1000000 --nproc 2 --threads 1 --max-steps 300

The files are written once per size and reused from ``--data-dir`` (default ``out/memory``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from provenance import header, record as provenance_record

CHUNK = 100_000  # rows generated and written at a time


def write_counts(path: Path, n: int, g: int, nnz_per_row: int, seed: int = 0) -> None:
    """A sparse count matrix of ``n`` × ``g`` in three groups, written to ``path`` in row chunks."""
    rng = np.random.default_rng(seed)
    groups = np.array(["a", "b", "c"])[np.arange(n) % 3]
    obs = pd.DataFrame({"group": pd.Categorical(groups)}, index=pd.Index([f"c{i}" for i in range(n)], dtype=object))
    var = pd.DataFrame(index=pd.Index([f"g{j}" for j in range(g)], dtype=object))
    anndata.AnnData(X=sp.csr_matrix((n, g), dtype=np.float32), obs=obs, var=var).write_h5ad(path)
    # each group raises the rates of its own tenth of the features, so the groups differ
    base = rng.gamma(0.5, 2.0, size=g) + 0.1
    with h5py.File(path, "r+") as f:
        del f["X"]
        X = f.create_group("X")
        X.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": np.array([n, g])})
        data = X.create_dataset("data", shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(1 << 16,))
        indices = X.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(1 << 16,))
        indptr = np.zeros(n + 1, dtype=np.int64)
        for start in range(0, n, CHUNK):
            rows = min(CHUNK, n - start)
            k = rng.poisson(nnz_per_row, size=rows).clip(1, g)
            cols = [np.sort(rng.choice(g, size=kk, replace=False, p=base / base.sum())) for kk in k]
            code = np.arange(start, start + rows) % 3
            vals = [rng.poisson(base[c] * (1 + 4 * ((c // (g // 10)) == m))) + 1 for c, m in zip(cols, code)]
            flat_c, flat_v = np.concatenate(cols), np.concatenate(vals).astype(np.float32)
            end = data.shape[0] + len(flat_v)
            data.resize((end,))
            indices.resize((end,))
            data[end - len(flat_v):] = flat_v
            indices[end - len(flat_c):] = flat_c
            indptr[start + 1:start + rows + 1] = indptr[start] + np.cumsum(k)
        X.create_dataset("indptr", data=indptr)


def run_fit(path: Path, out: Path, threads: int, extra: list[str], nproc: int = 1) -> dict:
    """``mssvae fit --backed`` in a child process (under ``torchrun`` with ``nproc`` > 1): its
    peak RSS (the largest of one process), wall time, and the gradient steps of its epoch (all
    of them, or the first ``--max-steps``) with their seconds."""
    launcher = [sys.executable, "-m", "mssvae"] if nproc == 1 else [
        str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc-per-node", str(nproc),
        str(Path(sys.executable).with_name("mssvae"))]
    cmd = [*launcher, "fit", str(path), "--group-key", "group", "--out", str(out), "--backed",
           "--hidden", "16", "16", "--n-shared", "10", "--n-specific", "2", "--epochs", "1", "--no-early-stopping",
           "--quiet", "--threads", str(threads), *extra]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    err = child.stderr.read()
    if status != 0:
        raise RuntimeError(f"the fit failed ({' '.join(cmd)}):\n{err[-2000:]}")
    history = anndata.read_h5ad(out, backed="r").uns["mssvae"]["history"]
    steps, seconds = int(np.asarray(history["step"])[0]), float(np.asarray(history["seconds"])[0])
    return dict(peak_rss_mb=usage.ru_maxrss / 1024, wall_s=wall, steps=steps, steps_s=seconds, s_per_step=seconds / steps)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,2000000", help="comma-separated N")
    ap.add_argument("--features", type=int, default=1000)
    ap.add_argument("--nnz-per-row", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default="out/memory")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="stop the epoch after this many gradient steps (every pass over all rows still runs: "
                         "start statistics, input checks, the latents of every sample)")
    ap.add_argument("--nproc", type=int, default=1, help="processes of a data-parallel fit (torchrun, gloo)")
    ap.add_argument("--fit-args", default="", help="more `mssvae fit` options, e.g. '--batch-size 1024'")
    args = ap.parse_args(argv)
    root = Path(args.data_dir)
    root.mkdir(parents=True, exist_ok=True)
    prov = provenance_record()
    print("\n".join(header(prov)), flush=True)
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        path = root / f"counts_{n}x{args.features}.h5ad"
        if not path.exists():
            t0 = time.perf_counter()
            write_counts(path, n, args.features, args.nnz_per_row)
            print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s", flush=True)
        with h5py.File(path, "r") as f:
            nnz = int(f["X/data"].shape[0])
        extra = args.fit_args.split() + ([] if args.max_steps is None else ["--max-steps", str(args.max_steps)])
        res = run_fit(path, root / f"fit_{n}.h5ad", args.threads, extra, args.nproc)
        row = dict(commit=prov["commit"], n=n, g=args.features, nproc=args.nproc, nnz=nnz, file_mb=path.stat().st_size / 2**20,
                   dense_fp32_mb=n * args.features * 4 / 2**20, **res)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| N | G | stored entries | file (MiB) | dense float32 (MiB) | peak RSS (MiB) | steps | s / step | "
          "whole fit (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['n']:,} | {r['g']:,} | {r['nnz']:,} | {r['file_mb']:.0f} | {r['dense_fp32_mb']:.0f} | "
              f"{r['peak_rss_mb']:.0f} | {r['steps']:,} | {r['s_per_step']:.2f} | {r['wall_s']:.0f} |")


if __name__ == "__main__":
    main()
