"""Covariates against a planted batch effect: shared-factor recovery with and without them.

Data: the §4.1 Gaussian design (``gaussian`` of ``mssvae.sim``) plus a planted batch
(``n_batches=2, batch_sd=4``): each sample is in batch 1 or 2 at random, independently of its
group, and every feature of batch b is shifted by delta_bj ~ N(0, 4²), as large as one shared
factor's contribution. Fits (Gaussian MSSVAE, Table 2 settings, fewer epochs, one thread):

- ``clean``: the design without the batch, no covariates (the reference);
- ``batch``: with the batch, no covariates;
- ``batch+cov``: with the batch, ``covariate_keys=["batch"]`` (decoder offset f + β s);
- ``batch+cov+enc``: the same, and the encoders also see the batch (``covariates_in_encoder``).

Scores (median over seeds): support consensus / relevance / recovery of the shared block
W^(S) and the group blocks' mean consensus (``mssvae.sim.evaluate`` at the package's support
threshold; the run recorded in benchmarks/FINDINGS.md used 0.1, the default then); the
number of shared columns whose support covers more than half of the features (a dense column
is how an additive batch shift shows in W); and how much of the latent space the batch
predicts: R² of batch on the shared latents and on the own-group latents
(``label_r2`` of ``mssvae.sim``: variance share explained by the batch means) and the batch
silhouette of the shared latents (sklearn; 0 = batches mixed, > 0 = separated).

    .venv/bin/python benchmarks/covariates.py            # seeds 0-2 of the table in benchmarks/FINDINGS.md
    .venv/bin/python benchmarks/covariates.py --quick    # tiny sizes, about a minute
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mssvae import MSSVAE
from provenance import header, record as provenance_record

from mssvae.sim import metrics

from mssvae.sim import designs as simulate

CONFIGS = {
    "clean": dict(batch=False, covariates=False, in_encoder=False),
    "batch": dict(batch=True, covariates=False, in_encoder=False),
    "batch+cov": dict(batch=True, covariates=True, in_encoder=False),
    "batch+cov+enc": dict(batch=True, covariates=True, in_encoder=True),
}
COLUMNS = ["shared consensus", "shared relevance", "shared recovery", "group consensus", "dense shared cols",
           "batch R² shared", "batch R² group", "batch ASW shared"]


def run_one(config: str, seed: int, n_per_group: int, epochs: int, batch_sd: float) -> dict:
    c = CONFIGS[config]
    adata = simulate.gaussian(n_per_group=n_per_group, seed=seed, n_batches=2, batch_sd=batch_sd if c["batch"] else 0.0)
    model = MSSVAE("gaussian", covariates_in_encoder=c["in_encoder"])
    t0 = time.perf_counter()
    model.fit(adata, group_key="group", epochs=epochs, seed=seed, progress=False,
              covariate_keys=["batch"] if c["covariates"] else None)
    seconds = time.perf_counter() - t0
    ev = metrics.evaluate(adata, dci=False)
    W = np.abs(adata.varm["mssvae_W_shared"])
    dense = int(((W > metrics.DEFAULT_THRESHOLD).mean(axis=0) > 0.5).sum())
    batch = adata.obs["batch"].to_numpy()
    zs, zm = adata.obsm["X_mssvae_shared"], adata.obsm["X_mssvae_specific"]
    from sklearn.metrics import silhouette_score

    return {
        "config": config, "seed": seed, "seconds": seconds,
        "shared consensus": ev["shared"]["consensus"], "shared relevance": ev["shared"]["relevance"],
        "shared recovery": ev["shared"]["recovery"], "group consensus": ev["group"]["mean"]["consensus"],
        "dense shared cols": dense,
        "batch R² shared": metrics.label_r2(zs, batch),
        # within each group (the own-group latents of different groups are different factors)
        "batch R² group": float(np.mean([metrics.label_r2(zm[adata.obs["group"] == g], batch[adata.obs["group"] == g])
                                         for g in adata.obs["group"].cat.categories])),
        "batch ASW shared": float(silhouette_score(zs, batch, random_state=seed)),
    }


def table(rows: list[dict], seeds: int) -> str:
    head = "| config | n | " + " | ".join(COLUMNS) + " | s/fit |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 3)]
    for config in CONFIGS:
        mine = [r for r in rows if r["config"] == config]
        if not mine:
            continue
        cells = []
        for col in COLUMNS:
            vals = [r[col] for r in mine]
            fmt = (lambda v: f"{v:.2g}") if col.startswith("batch") else (lambda v: f"{v:.3g}")
            cells.append(fmt(statistics.median(vals)) + (f" ({fmt(min(vals))}–{fmt(max(vals))})" if len(vals) > 1 else ""))
        lines.append(f"| {config} | {len(mine)} | " + " | ".join(cells) + f" | {statistics.median(r['seconds'] for r in mine):.0f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: 1 seed, 150 samples per group, 30 epochs")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="data and fit seeds are first-seed ... first-seed + seeds - 1")
    p.add_argument("--n-per-group", type=int, default=500)
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--batch-sd", type=float, default=4.0)
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--out", type=Path, default=Path("out/covariates"))
    p.add_argument("--table-from", type=Path, nargs="+", default=None, metavar="CSV",
                   help="only print the table of finished runs (their runs.csv files, pooled)")
    a = p.parse_args(argv)
    if a.table_from:
        import pandas as pd

        rows = pd.concat([pd.read_csv(f) for f in a.table_from]).to_dict("records")
        seeds = sorted({int(r["seed"]) for r in rows})
        print(f"median (min–max) over seeds {seeds[0]}–{seeds[-1]} (not every config ran every seed: see n)\n")
        print(table(rows, len(seeds)))
        return
    if a.quick:
        a.seeds, a.n_per_group, a.epochs = 1, 150, 30
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    prov = provenance_record()
    print("\n".join(header(prov)), file=sys.stderr, flush=True)
    rows = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        for config in a.configs.split(","):
            r = {**run_one(config, seed, a.n_per_group, a.epochs, a.batch_sd), "commit": prov["commit"]}
            rows.append(r)
            print(f"{config:14s} seed {seed}: " + ", ".join(f"{k} {r[k]:.3g}" for k in COLUMNS) + f" ({r['seconds']:.0f}s)",
                  file=sys.stderr, flush=True)
    import pandas as pd

    pd.DataFrame(rows).to_csv(a.out / "runs.csv", index=False)
    text = "\n".join(header(prov)) + "\n\n" + (f"3 groups × {a.n_per_group}, G = 100, 2 batches (sd {a.batch_sd:g}), Gaussian MSSVAE Table 2, {a.epochs} epochs; "
            f"median (min–max) over {a.seeds} seed(s)\n\n" + table(rows, a.seeds))
    (a.out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
