"""Several starts: does keeping the best start help, and does the stability score tell real
factors from spurious ones?

For each design × dataset, ``--starts`` single fits from seeds 100·d, 100·d + 1, ... (what
``starts=`` runs, one after another), one thread each. Per dataset it records:

- (a) the support consensus (App. C.1, |W| > 0.03; count designs drop columns over 25 % dense) of
  every start, and of the start ``starts=`` keeps (the lowest final loss);
- (b) for every factor of the kept start with a non-empty gene set, its stability across the
  starts (:func:`mssvae.analysis.stability.factor_stability`) and whether it matches a true
  column of its own block (best Jaccard of the supports ≥ 0.5 at the factor's gene-set
  threshold against the truth's non-zero rows); the table gives the area under the ROC curve of
  the score for that label, pooled over datasets;
- (c) the wall time of one start and of all of them.

    .venv/bin/python benchmarks/stability.py --designs gaussian,rnaseq --datasets 3 --starts 5 --out out/stability
    .venv/bin/python benchmarks/stability.py --table-only --out out/stability
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from provenance import append_run, header, record as provenance_record, runs_in  # noqa: E402

# fidelity.py's sizes and settings for each design, in fp32 (bf16 is emulated on AVX2 CPUs)
DESIGNS = {
    "gaussian": ("gaussian", dict(n_per_group=1000), "gaussian", {}, dict(epochs=150)),
    "rnaseq": ("rnaseq", dict(n_samples=600, n_features=300, overlap=2), "nb",
               dict(n_shared=20, n_specific=5, hidden=(128, 64), lr=0.01, precision="fp32", sparsity_weight=10.0),
               dict(epochs=400, batch_size=128)),
}


def truth_blocks(adata) -> dict[str, np.ndarray]:
    """The true W as blocks, ``"shared"`` then each group's, like :func:`blocks_of`."""
    from mssvae import contract as C

    sim = adata.uns["simulation"]
    out, start = {"shared": np.asarray(adata.varm[C.TRUE_W_SHARED])}, 0
    for g, k in zip(sim["groups"], sim["n_specific"]):
        out[str(g)] = np.asarray(adata.varm[C.TRUE_W_SPECIFIC])[:, start:start + int(k)]
        start += int(k)
    return out


def real_factors(blocks: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict[str, list[bool]]:
    """Per block, whether each estimated factor's gene set matches a true column of the block."""
    from mssvae.analysis.stability import DEFAULT_MIN_JACCARD, jaccard_matrix, supports

    out = {}
    for block, W in blocks.items():
        true = [frozenset(np.flatnonzero(truth[block][:, j] != 0).tolist()) for j in range(truth[block].shape[1])]
        jac = jaccard_matrix(supports(W), true)
        out[block] = [bool(jac.shape[1] and jac[k].max() >= DEFAULT_MIN_JACCARD) for k in range(W.shape[1])]
    return out


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """Area under the ROC curve (ties count a half); None without both classes."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return None
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))


def run_dataset(design: str, dataset: int, starts: int) -> dict:
    from mssvae.analysis.stability import blocks_of, factor_stability
    from mssvae.model import MSSVAE
    from mssvae.sim.designs import simulate
    from mssvae.sim.metrics import evaluate

    name, sizes, likelihood, model_kw, fit_kw = DESIGNS[design]
    data = simulate(name, seed=dataset, **sizes)
    fits = []
    for s in range(starts):
        a = data.copy()
        model = MSSVAE(likelihood, **model_kw)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(a, group_key="group", seed=100 * dataset + s, threads=1, progress=False, **fit_kw)
        ev = evaluate(a, threshold=0.03, max_density=0.25 if likelihood == "nb" else None, dci=False)
        fits.append(dict(seconds=time.perf_counter() - t0, objective=float(model.history[-1]["loss"]),
                         shared=ev["shared"]["consensus"], group=ev["group"]["mean"]["consensus"],
                         blocks=blocks_of(a)))
        print(f"{design} dataset {dataset} start {s}: {fits[-1]['seconds']:.0f}s loss {fits[-1]['objective']:.4g} "
              f"shared {fits[-1]['shared']:.2f} group {fits[-1]['group']:.2f}", flush=True)
    chosen = int(np.argmin([f["objective"] for f in fits]))
    table = factor_stability([f["blocks"] for f in fits], reference=chosen)
    real = real_factors(fits[chosen]["blocks"], truth_blocks(data))
    from mssvae.analysis.stability import supports
    active = {b: [bool(s) for s in supports(W)] for b, W in fits[chosen]["blocks"].items()}
    factors = []
    for block, rows in table.groupby("block", sort=False):
        for k, (_, r) in enumerate(rows.iterrows()):
            if active[block][k]:
                factors.append(dict(block=block, factor=r["factor"], stability=float(r["stability"]),
                                    median_jaccard=float(r["median_jaccard"]), real=real[block][k]))
    return dict(design=design, dataset=dataset, starts=starts, chosen=chosen,
                seconds=[round(f["seconds"], 1) for f in fits], objective=[f["objective"] for f in fits],
                shared=[round(f["shared"], 3) for f in fits], group=[round(f["group"], 3) for f in fits],
                factors=factors)


def table(rows: list[dict]) -> str:
    lines = ["| design | datasets × starts | one start: shared (median / worst) | kept start: shared | "
             "one start: group | kept start: group | factors (real / spurious) | AUC stability | "
             "AUC median Jaccard | s per start | s for all starts |",
             "|" + "---|" * 11]
    for design in dict.fromkeys(r["design"] for r in rows):
        rs = [r for r in rows if r["design"] == design]
        one_s = [x for r in rs for x in r["shared"]]
        one_g = [x for r in rs for x in r["group"]]
        kept_s = [r["shared"][r["chosen"]] for r in rs]
        kept_g = [r["group"][r["chosen"]] for r in rs]
        fs = [f for r in rs for f in r["factors"]]
        real = [f["real"] for f in fs]
        a1 = auc([f["stability"] for f in fs], real)
        a2 = auc([f["median_jaccard"] for f in fs], real)
        fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(
            f"| {design} | {len(rs)} × {rs[0]['starts']} | {np.median(one_s):.2f} / {min(one_s):.2f} | "
            f"{np.median(kept_s):.2f} / {min(kept_s):.2f} | {np.median(one_g):.2f} / {min(one_g):.2f} | "
            f"{np.median(kept_g):.2f} / {min(kept_g):.2f} | {sum(real)} / {len(real) - sum(real)} | {fmt(a1)} | "
            f"{fmt(a2)} | {np.median([s for r in rs for s in r['seconds']]):.0f} | "
            f"{np.median([sum(r['seconds']) for r in rs]):.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--designs", default="gaussian,rnaseq")
    p.add_argument("--datasets", type=int, default=3)
    p.add_argument("--first-dataset", type=int, default=0)
    p.add_argument("--starts", type=int, default=5)
    p.add_argument("--out", default="out/stability")
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args(argv)
    runs, rows = runs_in(args.out)
    out = runs.parent
    failed = 0
    if not args.table_only:
        print("\n".join(header()), flush=True)
        prov = provenance_record()
        for design in args.designs.split(","):
            for d in range(args.first_dataset, args.first_dataset + args.datasets):
                if any(r["design"] == design and r["dataset"] == d for r in rows):
                    continue
                try:
                    row = {**run_dataset(design, d, args.starts), "provenance": prov}
                except Exception as e:  # a failed dataset is reported and fails the run
                    print(f"{design} dataset {d} failed: {e!r}", flush=True)
                    failed += 1
                    continue
                rows.append(row)
                append_run(runs, row)
    text = table(rows)
    (out / "table.md").write_text(text + "\n")
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
