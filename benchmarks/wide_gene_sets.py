"""Gene sets on wide data: the gene-set threshold rules and the Gaussian decoder, side by side.

For each design × decoder × seed one fit (one thread), then the gene sets of every threshold rule
are read from the same W:

- ``0.5``: the paper's fixed §5 threshold;
- ``0.03``: the support threshold (``contract.DEFAULT_THRESHOLD``, W's noise floor);
- ``fit``: :func:`mssvae.io.results.gene_set_threshold`, one per factor: min(0.5, max(0.03,
  the factor's peak |W| / 40)); the table gives their median.

Scores: the Jaccard of each planted program with its best-matching gene set (median over the
programs, and how many reach 0.8), the number of non-empty sets, and the support consensus of
the shared and group blocks (App. C.1, ``mssvae.sim.evaluate``) at the rule's threshold.

Designs: ``gaussian`` (§4.1, 3 × 1000 × 100), ``wide-NxG`` (:func:`mssvae.sim.wide.wide`: 3
groups, 4 shared programs of 150 genes and one of 100 per group, loadings 2 × U(0.5, 1.5) against
noise sd 0.5), ``rnaseq`` (§4.2 reduced to 600 × 300, ``fidelity.py``'s NB settings in fp32) and
``splatter2`` (1000 cells), ``rnaseq-90x1000`` (§4.2's generator at 90 × 1000, the NB defaults
with ``epochs=300``; ``-paper-steps``: λ0's breaks at Table 2's steps 280, 1680). Decoders:
``free`` (the Gaussian default), ``lipschitz`` (``lipschitz_decoder=True``) and
``free-weight5`` (sparsity weight 5 instead of 20); the NB designs use the NB default (Lipschitz).

    .venv/bin/python benchmarks/wide_gene_sets.py --out out/wide_gene_sets
    .venv/bin/python benchmarks/wide_gene_sets.py --table-only --out out/wide_gene_sets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fidelity import NB_MODEL  # noqa: E402
from provenance import append_run, header, record as provenance_record, runs_in  # noqa: E402

RULES = ("0.5", "0.03", "fit")
DESIGNS = {
    "gaussian": ("gaussian", dict(), "gaussian", {}, {}),
    "wide-90x2000": ("wide", dict(n_per_group=30, n_features=2000), "gaussian", {}, {}),
    "wide-252x2000": ("wide", dict(n_per_group=84, n_features=2000), "gaussian", {}, {}),
    "wide-600x1000": ("wide", dict(n_per_group=200, n_features=1000), "gaussian", {}, {}),
    "wide-252x4000": ("wide", dict(n_per_group=84, n_features=4000), "gaussian", {}, {}),
    "wide-90x4000": ("wide", dict(n_per_group=30, n_features=4000), "gaussian", {}, {}),
    "wide-252x10000": ("wide", dict(n_per_group=84, n_features=10000), "gaussian", {}, {}),
    # NB at a small N as users fit it: the defaults with epochs=300, λ0's default breaks against
    # the fixed steps of Table 2's sizes (280, 1680), which 300 epochs of 3 steps never reach
    "rnaseq-90x1000": ("rnaseq", dict(n_samples=90, n_features=1000), "nb", {}, dict(epochs=300)),
    "rnaseq-90x1000-paper-steps": ("rnaseq", dict(n_samples=90, n_features=1000), "nb",
                                   dict(lambda0_breaks=(280, 1680)), dict(epochs=300)),
    # the penalty's per-sample share weight / N held at the reduced §4.2's (10 / 600)
    "rnaseq-90x1000-weight1.5": ("rnaseq", dict(n_samples=90, n_features=1000), "nb",
                                 dict(sparsity_weight=1.5), dict(epochs=300)),
    # the networks' learning rate of the demo and the vignette: ten times Table 2's
    "rnaseq-90x1000-lr0.01": ("rnaseq", dict(n_samples=90, n_features=1000), "nb", dict(lr=0.01), dict(epochs=300)),
    "rnaseq": ("rnaseq", dict(n_samples=600, n_features=300, overlap=2), "nb", {**NB_MODEL, "precision": "fp32"},
               dict(epochs=400, batch_size=128)),
    "splatter2": ("splatter2", dict(n_cells=1000, n_shared_genes=200, n_program_genes=100), "nb",
                  {**NB_MODEL, "precision": "fp32"}, dict(epochs=200, batch_size=128)),
}
DECODERS = {"free": dict(lipschitz_decoder=False), "lipschitz": dict(lipschitz_decoder=True),
            # the penalty's per-sample share weight / N: a quarter of the default weight at N = 90
            "free-weight5": dict(lipschitz_decoder=False, sparsity_weight=5.0),
            # §4.1's per-sample share, 20 / 3000, at N = 90 and N = 252
            "free-weight0.6": dict(lipschitz_decoder=False, sparsity_weight=0.6),
            "free-weight1.7": dict(lipschitz_decoder=False, sparsity_weight=1.7)}


def planted_jaccards(est: np.ndarray, truth: np.ndarray) -> list[float]:
    """Best Jaccard of each planted program (a column of ``truth``) with any estimated set."""
    out = []
    for j in range(truth.shape[1]):
        t = truth[:, j]
        if not t.any():
            continue
        inter = (est & t[:, None]).sum(0)
        union = (est | t[:, None]).sum(0)
        out.append(float(np.max(np.where(union > 0, inter / np.maximum(union, 1), 0.0))) if est.shape[1] else 0.0)
    return out


def run_one(design: str, decoder: str, seed: int) -> dict:
    from mssvae import contract as C
    from mssvae.io.results import gene_set_threshold
    from mssvae.model import MSSVAE
    from mssvae.sim.designs import simulate
    from mssvae.sim.metrics import evaluate

    name, sizes, likelihood, model_kw, fit_kw = DESIGNS[design]
    adata = simulate(name, seed=seed, **sizes)
    kw = dict(model_kw) if likelihood == "nb" else {**model_kw, **DECODERS[decoder]}
    model = MSSVAE(likelihood, **kw)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(adata, group_key="group", seed=seed, threads=1, progress=False, **fit_kw)
    seconds = time.perf_counter() - t0
    W = np.abs(np.hstack([adata.varm[C.W_SHARED], adata.varm[C.W_SPECIFIC]]))
    truth = np.hstack([adata.varm[C.TRUE_W_SHARED], adata.varm[C.TRUE_W_SPECIFIC]]) != 0
    density = 0.25 if likelihood == "nb" else None
    row = dict(design=design, decoder=decoder if likelihood == "gaussian" else "nb default", seed=seed,
               n=adata.n_obs, g=adata.n_vars, seconds=round(seconds, 1), epochs=model.state.stopping["epochs"],
               max_w=round(float(W.max()), 4), off_q99=round(float(np.quantile(W[~truth.any(1)], 0.99)), 4) if (~truth.any(1)).any() else None)
    for rule in RULES:
        t = gene_set_threshold(W) if rule == "fit" else np.full(W.shape[1], float(rule))
        S = W > t
        js = planted_jaccards(S, truth)
        ev = evaluate(_rescaled(adata, t), threshold=C.DEFAULT_THRESHOLD, max_density=density, dci=False)
        row[rule] = dict(threshold=round(float(np.median(t)), 4), sets=int(S.any(0).sum()), j_median=round(float(np.median(js)), 3),
                         j_min=round(float(np.min(js)), 3), j08=f"{sum(j >= 0.8 for j in js)}/{len(js)}",
                         shared=round(ev["shared"]["consensus"], 3), group=round(ev["group"]["mean"]["consensus"], 3))
    return row


def _rescaled(adata, t: np.ndarray):
    """A copy whose column k of W is scaled by 0.03 / t_k: its supports at 0.03 are the
    original's at the per-factor thresholds ``t``, which ``evaluate`` (one threshold) then scores."""
    from mssvae import contract as C

    out = adata.copy()
    ks = out.varm[C.W_SHARED].shape[1]
    scale = C.DEFAULT_THRESHOLD / t
    out.varm[C.W_SHARED] = out.varm[C.W_SHARED] * scale[:ks]
    out.varm[C.W_SPECIFIC] = out.varm[C.W_SPECIFIC] * scale[ks:]
    return out


def table(rows: list[dict]) -> str:
    keys = sorted({(r["design"], r["decoder"]) for r in rows}, key=lambda k: (list(DESIGNS).index(k[0]), k[1]))
    lines = ["| design | decoder | seeds | s/fit | max \\|W\\| | " + " | ".join(
        f"{r}: t / sets / J med / J≥0.8 / S, G cons" for r in RULES) + " |",
        "|" + "---|" * (5 + len(RULES))]
    for design, decoder in keys:
        rs = [r for r in rows if r["design"] == design and r["decoder"] == decoder]
        med = lambda f: float(np.median([f(r) for r in rs]))  # noqa: E731
        cells = []
        for rule in RULES:
            j08 = [r[rule]["j08"] for r in rs]
            cells.append(f"{med(lambda r: r[rule]['threshold']):.3g} / {med(lambda r: r[rule]['sets']):.0f} / "
                         f"{med(lambda r: r[rule]['j_median']):.2f} / {', '.join(j08)} / "
                         f"{med(lambda r: r[rule]['shared']):.2f}, {med(lambda r: r[rule]['group']):.2f}")
        lines.append(f"| {design} ({rs[0]['n']}×{rs[0]['g']}) | {decoder} | {len(rs)} | {med(lambda r: r['seconds']):.0f} | "
                     f"{med(lambda r: r['max_w']):.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--designs", default="wide-90x2000,gaussian,wide-252x2000,rnaseq")
    p.add_argument("--decoders", default="free,lipschitz", help="Gaussian decoders to fit")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--out", default="out/wide_gene_sets")
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args(argv)
    runs, rows = runs_in(args.out)
    out = runs.parent
    prov = provenance_record()
    if not args.table_only:
        print("\n".join(header(prov)), flush=True)
        for design in args.designs.split(","):
            decoders = args.decoders.split(",") if DESIGNS[design][2] == "gaussian" else ["nb default"]
            for decoder in decoders:
                for seed in range(args.seeds):
                    if any(r["design"] == design and r["decoder"] == decoder and r["seed"] == seed for r in rows):
                        continue
                    row = {**run_one(design, decoder if decoder != "nb default" else "free", seed), "provenance": prov}
                    rows.append(row)
                    append_run(runs, row)
                    print(json.dumps(row), flush=True)
    text = table(rows)
    (out / "table.md").write_text(text + "\n")
    print(text)
    print(f"\n{' '.join(sys.argv)}\ncode {prov['commit']} (sources {prov['source_digest']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
