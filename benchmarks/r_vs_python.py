"""The same fit through R's ``fitMSSVAE()`` and through Python's ``mssvae.fit()``, timed around
the fit call, in one run; the threads each door chooses; the vignette's fit time.

Stages (all by default):

- ``fit``: a Gaussian fit of 250 × 2,000 (3 groups; hidden [50, 50], 15 epochs, early stopping
  off, one thread), ``--rounds`` times through each door, one fresh process per fit and the
  doors alternating. ``R, shared BLAS`` runs the R door with ``MSSVAE_DEEPBIND=0``: torch's
  products on R's BLAS, as before ``mssvae.blas`` kept them on torch's own.
- ``threads``: the threads a fit with ``threads`` unset chooses through each door, on an idle
  machine and with ``yes`` holding one core.
- ``vignette``: ``vignettes/mssvae.Rmd`` rendered with and without ``MSSVAE_DEEPBIND=0``; the
  minutes it reports for the knit and for its fit.

    .venv/bin/python benchmarks/r_vs_python.py                 # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/r_vs_python.py --stages fit --rounds 5

Needs the R package installed (``make r-install``). Exits non-zero when any stage fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import ROOT, header  # noqa: E402

N_PER_GROUP, G = (83, 83, 84), 2000
FIT = dict(likelihood="gaussian", hidden=[50, 50], epochs=15, early_stopping=False, seed=0)

R_FIT = r"""
suppressPackageStartupMessages({library(mssvae); library(SummarizedExperiment)})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; threads <- if (args[2] == "default") NULL else as.integer(args[2])
groups <- readLines(file.path(dir, "groups.txt"))
x <- matrix(readBin(file.path(dir, "x.bin"), "double", n = %(size)d), nrow = %(g)d)
rownames(x) <- sprintf("gene%%d", seq_len(nrow(x))); colnames(x) <- sprintf("s%%d", seq_len(ncol(x)))
se <- SummarizedExperiment(assays = list(x = x), colData = S4Vectors::DataFrame(g = groups))
stopifnot(mssvaeAvailable())
t <- system.time(se <- fitMSSVAE(se, group = "g", assay.type = "x", likelihood = "gaussian",
    hidden = c(50, 50), epochs = %(epochs)d, early.stopping = FALSE, seed = 0, threads = threads))
rt <- metadata(se)$MSSVAE$runtime
cat("RESULT", sprintf('{"seconds": %%.3f, "threads": %%d, "torch_blas": "%%s"}',
    t[["elapsed"]], as.integer(rt$threads), mssvaePython()$torch_blas), "\n")
"""

PY_FIT = r"""
import json, sys, time
import numpy as np, anndata, pandas as pd
import mssvae
from mssvae.blas import torch_blas
d, threads = sys.argv[1], sys.argv[2]
groups = open(d + "/groups.txt").read().split()
x = np.fromfile(d + "/x.bin").reshape(%(n)d, %(g)d)  # R's column-major features x samples
adata = anndata.AnnData(x.astype(np.float32), obs=pd.DataFrame({"g": groups}, index=[f"s{i}" for i in range(%(n)d)]))
t = time.perf_counter()
model = mssvae.fit(adata, group_key="g", progress=False, threads=None if threads == "default" else int(threads), **%(fit)s)
seconds = time.perf_counter() - t
print("RESULT", json.dumps(dict(seconds=seconds, threads=model.state.runtime["threads"], torch_blas=torch_blas()["library"])))
"""


def make_data(directory: Path) -> None:
    """A Gaussian matrix of four shared programs and one per group, plus noise, written as
    features × samples float64 (R's order) and one group label per line."""
    import numpy as np

    rng = np.random.default_rng(0)
    groups = np.repeat(["A", "B", "C"], N_PER_GROUP)
    n = len(groups)
    W = np.zeros((7, G))
    for k in range(7):
        W[k, rng.choice(G, 150, replace=False)] = rng.normal(2, 0.3, 150)
    Z = rng.normal(size=(n, 7))
    for m, g in enumerate("ABC"):
        Z[groups != g, 4 + m] = 0
    X = Z @ W + rng.normal(0, 0.5, (n, G))
    X.tofile(directory / "x.bin")  # row-major samples x features = column-major features x samples
    (directory / "groups.txt").write_text("\n".join(groups) + "\n")


def run_door(door: str, data: Path, threads: str, env: dict | None = None) -> dict:
    n = sum(N_PER_GROUP)
    if door == "python":
        cmd = [sys.executable, "-c", PY_FIT % dict(n=n, g=G, fit=FIT), str(data), threads]
    else:
        cmd = ["Rscript", "-e", R_FIT % dict(size=n * G, g=G, epochs=FIT["epochs"]), str(data), threads]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")), None)
    if res.returncode != 0 or line is None:
        raise RuntimeError(f"{door} fit failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    return json.loads(line.split(None, 1)[1])


DOORS = {"Python": ("python", {}), "R": ("r", {}), "R, shared BLAS": ("r", {"MSSVAE_DEEPBIND": "0"})}


def stage_fit(data: Path, rounds: int) -> None:
    times: dict[str, list[float]] = {d: [] for d in DOORS}
    blas = {}
    for r in range(rounds):
        for name, (door, env) in DOORS.items():
            out = run_door(door, data, "1", env)
            times[name].append(out["seconds"])
            blas[name] = out["torch_blas"]
            print(f"  round {r + 1}: {name:15s} {out['seconds']:6.1f} s  ({out['threads']} thread)", flush=True)
    py = statistics.median(times["Python"])
    print(f"\nfit of {sum(N_PER_GROUP)} x {G}, Gaussian, hidden [50, 50], {FIT['epochs']} epochs, early stopping off, "
          f"1 thread; {rounds} rounds, one process per fit\n")
    print("| door | median s | all s | / Python | torch's sgemm_ from |\n| --- | --- | --- | --- | --- |")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"| {name} | {med:.1f} | {', '.join(f'{v:.1f}' for v in t)} | {med / py:.2f} | {blas[name]} |")


def stage_threads(data: Path) -> None:
    print("\nthreads a fit chooses with threads unset (idle machine; one core held by `yes`)\n")
    print("| door | idle | one core busy |\n| --- | --- | --- |")
    for name, door in (("Python", "python"), ("R", "r")):
        idle = run_door(door, data, "default")["threads"]
        hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            busy = run_door(door, data, "default")["threads"]
        finally:
            hog.kill()
        print(f"| {name} | {idle} | {busy} |", flush=True)


def stage_vignette() -> None:
    print("\nvignettes/mssvae.Rmd rendered (the minutes it reports)\n")
    print("| torch's BLAS | knit min | fit min |\n| --- | --- | --- |")
    for label, env in (("R's (MSSVAE_DEEPBIND=0)", {"MSSVAE_DEEPBIND": "0"}), ("torch's own", {})):
        with tempfile.TemporaryDirectory() as tmp:
            code = (f"rmarkdown::render('{ROOT}/vignettes/mssvae.Rmd', output_dir = '{tmp}', "
                    f"intermediates_dir = '{tmp}', quiet = TRUE)")
            res = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, env={**os.environ, **env})
            html = next(Path(tmp).glob("*.html"), None)
            found = re.search(r"took ([\d.]+) minutes to knit, ([\d.]+) of them for the fit", html.read_text()) \
                if html is not None else None
            if res.returncode != 0 or found is None:
                raise RuntimeError(f"vignette failed ({res.returncode}): {res.stderr[-3000:]}")
            print(f"| {label} | {found.group(1)} | {found.group(2)} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="fit,threads,vignette")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print("\n".join(header()), flush=True)
    failed = []
    with tempfile.TemporaryDirectory(prefix="r-vs-python-") as tmp:
        data = Path(tmp)
        make_data(data)
        stages = {"fit": lambda: stage_fit(data, args.rounds), "threads": lambda: stage_threads(data),
                  "vignette": stage_vignette}
        for stage in args.stages.split(","):
            try:
                stages[stage]()
            except Exception as err:  # report, go on with the other stages, and fail at the end
                print(f"\nstage {stage} FAILED: {err}", flush=True)
                failed.append(stage)
    if failed:
        print(f"\nfailed stages: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
