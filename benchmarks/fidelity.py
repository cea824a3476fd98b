"""Fidelity benchmark: the paper's simulation designs (§4) x seeds x methods, scored with App. C.1.

Usage (from the repository root; options in benchmarks/README.md, recorded results in
benchmarks/FINDINGS.md)::

    .venv/bin/python benchmarks/fidelity.py                        # the default run
    .venv/bin/python benchmarks/fidelity.py --quick                # smoke test, ~2 minutes
    .venv/bin/python benchmarks/fidelity.py --designs gaussian --methods mssvae --seeds 5
    .venv/bin/python benchmarks/fidelity.py --table-only --out out/fidelity   # re-print a table

For each design x seed the data are simulated once (``mssvae.sim``); each method fits a copy
and is scored by ``mssvae.sim.evaluate`` at every ``--thresholds`` value (supports are
``|W| > threshold``; the baselines write exact zeros off their own support and are scored at
threshold 0 whatever the value, see ``baselines.py``). Count designs drop estimated columns
denser than ``--max-density`` (0.25, §4.2). Each run appends one JSON line to
``OUT/runs.jsonl`` (``--resume`` skips runs already there) and the fitted loadings to
``OUT/W/``; the summary table (median and worst over seeds) goes to stdout and ``OUT/table.md``.
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
sys.path.insert(0, str(HERE.parent / "python"))

import baselines  # noqa: E402
from provenance import append_run, header, read_runs, record as provenance_record  # noqa: E402
from mssvae.contract import TRUE_W_SHARED, TRUE_W_SPECIFIC, W_SHARED, W_SPECIFIC  # noqa: E402
from mssvae.contract import DEFAULT_THRESHOLD
from mssvae.sim.metrics import evaluate, group_blocks, jaccard_matrix, supports  # noqa: E402

# ----- what is run ---------------------------------------------------------------------------------
COUNT_DESIGNS = {"rnaseq", "splatter2"}
MSSVAE_VARIANTS = {  # keyword overrides of the MSSVAE defaults (README: "Methods")
    "mssvae": {},
    "fixed-lambda0": dict(lambda0=(10.0,), lambda0_breaks=()),
    "no-balance": dict(balance_groups=False),
    "shared-only": dict(n_specific=0),
}
BASELINES = ("mofa", "pca")
METHODS = (*MSSVAE_VARIANTS, *BASELINES)
FOLD = "+fold"  # a run's W after mssvae.fold_switched (App. C.3), recorded beside the run


def base_method(method: str) -> str:
    return method.removesuffix(FOLD)

# Default sizes (benchmarks/README.md, "Sizes"), chosen so the default run (3 seeds, every
# method) takes about 100 minutes on one CPU thread (two runs with --designs split it over two cores): the paper's
# data for the Gaussian design (§4.1) with 150 of Table 2's 500 epochs; reduced data and epochs
# for the count designs, whose NB decoder costs
# N x G x hidden per epoch (paper: rnaseq 3200 x 5000, hidden [256, 128], 800 epochs).
# The count designs take 400 epochs of 5 minibatches (2000 steps) at lr 0.01, where Table 2's
# full-size run takes 800 epochs of 7 (5600 steps) at lr 0.001: at lr 0.001 the reduced run
# stops before the networks have learned the shared factors (benchmarks/FINDINGS.md, "Count designs:
# the NB model's W was dense").
# The NB decoder keeps [128, 64] of Table 2's [256, 128] hidden units and runs on the fast path:
# at [32, 16] the decoder lacked the capacity for ten shared factors and the fit dropped three of
# them (benchmarks/FINDINGS.md, "Count designs: the missing shared factors were a decoder-capacity
# limit"). The penalty weight grows with the width: 10 here.
NB_MODEL = dict(n_shared=20, n_specific=5, hidden=(128, 64), lr=0.01, precision="bf16", sparsity_weight=10.0)
DEFAULTS = {
    "gaussian": dict(data=dict(n_per_group=1000), fit=dict(epochs=150)),
    "rnaseq": dict(data=dict(n_samples=600, n_features=300, overlap=2), fit=dict(epochs=400, batch_size=128),
                   model=NB_MODEL),
    # 3000 cells (paper: 10,000): at 600 the fit separated the cell types only partly (k-means ARI
    # of the shared latents ≤ 0.57) where at 3000 it reaches 1.0 by epoch 10 (benchmarks/FINDINGS.md,
    # "Count designs: the encoders did not see the cell types").
    # At weight 10 the shared latents code the five cell types as a binary tree, at 50 (rnaseq's
    # per-sample penalty) as one indicator each, but with fewer group columns on programs that can
    # be found; the default stays NB_MODEL's (benchmarks/FINDINGS.md, "`splatter2`: the weight decides
    # how the cell types are coded").
    "splatter2": dict(data=dict(n_cells=3000, n_shared_genes=200, n_program_genes=100),
                      fit=dict(epochs=200, batch_size=128), model=NB_MODEL),
}
QUICK = {
    "gaussian": dict(data=dict(n_per_group=300), fit=dict(epochs=60), model=dict(n_shared=12, n_specific=3)),
    "rnaseq": dict(data=dict(n_samples=300, n_features=200, overlap=2),
                   fit=dict(epochs=40, batch_size=128), model=dict(n_shared=12, n_specific=3, hidden=(32, 16))),
    "splatter2": dict(data=dict(n_cells=300, n_shared_genes=150, n_program_genes=100),
                      fit=dict(epochs=40, batch_size=128), model=dict(n_shared=12, n_specific=3, hidden=(32, 16))),
}
SCORE_KEYS = ("consensus", "relevance", "recovery")
FAILURES = ("misplaced", "merged", "split", "satellite", "missed")
COLUMNS = [("shared", s) for s in SCORE_KEYS] + [("group", s) for s in SCORE_KEYS] + [("dci", "")]


# ----- per-column diagnosis ------------------------------------------------------------------------
def labelled_supports(adata, threshold: float, max_density: float | None, estimated: bool):
    """``[(block, column, support)]`` over all blocks: ``shared`` then each group's block.

    Truth: exact non-zeros. Estimate: ``|W| > threshold``, empty and too-dense columns dropped.
    """
    from mssvae.contract import GROUPS, N_SPECIFIC, SIM, UNS

    key_s, key_m, uns = (W_SHARED, W_SPECIFIC, adata.uns[UNS]) if estimated else (TRUE_W_SHARED, TRUE_W_SPECIFIC, adata.uns[SIM])
    thr, dens = (threshold, max_density) if estimated else (0.0, None)
    out = []

    def add(block, W):
        nonzero = np.abs(np.asarray(W, dtype=float)) > thr
        for k in range(nonzero.shape[1]):
            rows = frozenset(np.flatnonzero(nonzero[:, k]).tolist())
            if rows and (dens is None or len(rows) <= dens * nonzero.shape[0]):
                out.append((block, k, rows))

    add("shared", adata.varm[key_s])
    for g, block in group_blocks(adata.varm[key_m], np.atleast_1d(uns[GROUPS]), np.atleast_1d(uns[N_SPECIFIC])).items():
        add(g, block)
    return out


def diagnose(adata, threshold: float, max_density: float | None = None, good: float = 0.7, inside: float = 0.7) -> dict:
    """Name the failure modes of one fit by comparing every estimated column with every true one.

    * ``misplaced``: true factors whose best-matching estimated column (Jaccard >= 0.5) lies in
      another block (a shared factor estimated in a group block, or the reverse; paper Fig. 6);
    * ``merged``: estimated columns holding at least half of each of two or more true supports
      (a rotation/mixture of factors);
    * ``split``: true factors with two or more estimated columns lying mostly (>= ``inside``)
      within them, none matching them alone (Jaccard < ``good``);
    * ``satellite``: estimated columns lying mostly (>= ``inside``) within a true support that
      another column already matches (Jaccard >= ``good``): a spare column holding a few of its
      features (on the Gaussian design: the quadratic features of a factor);
    * ``missed``: true factors with no estimated column of Jaccard >= 0.5 anywhere;
    * ``n_est``/``n_true``: active columns per block.
    ``factors`` lists, for every true factor, its best estimated column (block, column, Jaccard).
    """
    true = labelled_supports(adata, threshold, max_density, estimated=False)
    est = labelled_supports(adata, threshold, max_density, estimated=True)
    jac = jaccard_matrix([t[2] for t in true], [e[2] for e in est])
    out = {"misplaced": [], "merged": [], "split": [], "satellite": [], "missed": [], "factors": [],
           "n_true": _count_blocks(true), "n_est": _count_blocks(est)}
    for i, (block, k, rows) in enumerate(true):
        name = f"{block}:{k + 1}"
        if not est:
            out["missed"].append(name)
            continue
        best = int(np.argmax(jac[i]))
        out["factors"].append([name, f"{est[best][0]}:{est[best][1] + 1}", round(float(jac[i, best]), 3)])
        if jac[i, best] < 0.5:
            out["missed"].append(name)
        elif est[best][0] != block:
            out["misplaced"].append(f"{name}->{est[best][0]}:{est[best][1] + 1}")
        pieces = [j for j, e in enumerate(est) if len(e[2] & rows) >= inside * len(e[2]) and len(e[2] & rows) >= 2]
        if len(pieces) >= 2 and jac[i, pieces].max() < good:
            out["split"].append(f"{name}->" + "+".join(f"{est[j][0]}:{est[j][1] + 1}" for j in pieces))
    for j, (block, k, rows) in enumerate(est):
        covered = [f"{t[0]}:{t[1] + 1}" for t in true if len(t[2] & rows) >= 0.5 * len(t[2])]
        if len(covered) >= 2:
            out["merged"].append(f"{block}:{k + 1}=" + "+".join(covered))
        for i, t in enumerate(true):
            if len(t[2] & rows) >= inside * len(rows) and jac[i, j] < good and (jac[i] >= good).any():
                out["satellite"].append(f"{block}:{k + 1}<{t[0]}:{t[1] + 1} ({len(rows)} rows: "
                                        + ",".join(str(r) for r in sorted(rows)) + ")")
                break
    return out


def _count_blocks(items) -> dict:
    counts: dict[str, int] = {}
    for block, _, _ in items:
        counts[block] = counts.get(block, 0) + 1
    return counts


# ----- one run -------------------------------------------------------------------------------------
def sizes_for(design: str, quick: bool, overrides: dict) -> dict:
    base = (QUICK if quick else DEFAULTS)[design]
    cfg = {part: dict(base.get(part, {})) for part in ("data", "fit", "model")}
    for part in cfg:
        cfg[part].update(overrides.get(design, {}).get(part, {}))
    return cfg


def fit_method(adata, design: str, method: str, cfg: dict, seed: int) -> dict:
    """Fit ``method`` on ``adata`` (in place: results contract); return timing and settings."""
    counts = design in COUNT_DESIGNS
    if method == "pca":
        return baselines.pca_baseline(adata, counts=counts, rel_threshold=cfg["rel_threshold"])
    if method == "mofa":
        return baselines.mofa_baseline(adata, counts=counts, seed=seed, rel_threshold=cfg["rel_threshold"])
    from mssvae.model import MSSVAE

    kwargs = {**cfg["model"], **MSSVAE_VARIANTS[method]}
    model = MSSVAE("nb" if counts else "gaussian", **kwargs)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant simulated genes are dropped with a warning
        model.fit(adata, group_key="group", seed=seed, progress=False, **cfg["fit"])
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(model.fitted_settings).items()}
    return {"seconds": time.perf_counter() - t0, "settings": settings}


def score(adata, design: str, method: str, thresholds, max_density, dci: bool, seed: int) -> dict:
    """Scores at each threshold (baselines: their own support, threshold 0) and one diagnosis."""
    dens = max_density if design in COUNT_DESIGNS else None
    out, dci_value = {}, None
    for i, thr in enumerate(thresholds):
        used = 0.0 if method in BASELINES else thr
        res = evaluate(adata, threshold=used, max_density=dens, dci=dci and i == 0, seed=seed)
        if i == 0:
            dci_value = res["disentanglement"]
        out[f"{thr:g}"] = {"shared": res["shared"], "group": res["group"]["mean"],
                           "per_group": {g: v["consensus"] for g, v in res["group"]["per_group"].items()},
                           "diagnosis": diagnose(adata, used, dens)}
    return {"scores": out, "dci": dci_value}


def save_w(adata, path: Path) -> None:
    from mssvae.contract import N_SPECIFIC, UNS

    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, W_shared=np.asarray(adata.varm[W_SHARED], dtype=np.float32),
                        W_specific=np.asarray(adata.varm[W_SPECIFIC], dtype=np.float32),
                        n_specific=np.asarray(adata.uns[UNS][N_SPECIFIC], dtype=np.int64))


def _restore(r: dict, out: Path, cache: dict):
    """The run's data with its saved W in the results contract, or None when the file is missing
    (or predates ``n_specific`` and the run is a baseline, whose K_m is not recorded)."""
    from mssvae.contract import GROUPS, N_SPECIFIC, SIM, UNS
    from mssvae.sim.designs import simulate

    path = out / "W" / f"{r['design']}_s{r['seed']}_{r['method']}.npz"
    npz = np.load(path) if path.exists() else {}
    if not path.exists() or ("n_specific" not in npz and base_method(r["method"]) not in MSSVAE_VARIANTS):
        return None
    key = (r["design"], r["seed"], json.dumps(r["data"], sort_keys=True))
    if key not in cache:
        cache.clear()  # one data set at a time
        cache[key] = simulate(r["design"], seed=r["seed"], **r["data"])
    adata = cache[key].copy()
    groups = [str(g) for g in np.atleast_1d(adata.uns[SIM][GROUPS])]
    n_spec = npz["n_specific"].tolist() if "n_specific" in npz else [int(r["settings"]["n_specific"])] * len(groups)
    adata.varm[W_SHARED], adata.varm[W_SPECIFIC] = npz["W_shared"], npz["W_specific"]
    adata.uns[UNS] = {GROUPS: groups, N_SPECIFIC: np.asarray(n_spec)}
    return adata


def rescore(runs: list[dict], out: Path, thresholds, max_density: float) -> None:
    """Recompute every run's scores and diagnoses at ``thresholds`` from ``OUT/W/*.npz`` and the
    re-simulated truth (in place; DCI is kept, it does not depend on the threshold).

    Lets a finished run be read at another support threshold, or pick up a newer
    :func:`diagnose`. A baseline's scores do not depend on the threshold (its own support rule),
    so a baseline run whose W cannot be restored keeps its scores under every threshold.
    """
    cache: dict = {}
    for r in runs:
        adata = _restore(r, out, cache)
        if adata is None:
            if r["method"] in BASELINES:
                kept = next(iter(r["scores"].values()))
                r["scores"] = {f"{t:g}": kept for t in thresholds}
            continue
        r["scores"] = score(adata, r["design"], r["method"], thresholds, max_density, False, r["seed"])["scores"]


def folded(adata, run: dict, out: Path, thresholds, max_density: float, dci: bool) -> dict:
    """The ``+fold`` record of an MSSVAE run: its W after ``fold_switched`` at the table's
    threshold, scored like the run (DCI from the folded latents when they are there)."""
    from mssvae.analysis.postprocess import fold_switched

    adata = adata.copy()
    notes = fold_switched(adata, threshold=thresholds[0])
    record = {**run, "method": run["method"] + FOLD, "folded": notes,
              **score(adata, run["design"], run["method"], thresholds, max_density, dci, run["seed"])}
    save_w(adata, out / "W" / f"{run['design']}_s{run['seed']}_{record['method']}.npz")
    return record


def add_folds(runs: list[dict], out: Path, thresholds, max_density: float) -> list[dict]:
    """``+fold`` records (from the saved W, without latents) for the MSSVAE runs that lack one."""
    have = {(r["design"], r["seed"], r["method"]) for r in runs}
    cache: dict = {}
    new = []
    for r in runs:
        if r["method"] not in MSSVAE_VARIANTS or (r["design"], r["seed"], r["method"] + FOLD) in have:
            continue
        adata = _restore(r, out, cache)
        if adata is not None:
            new.append(folded(adata, r, out, thresholds, max_density, False))
    return runs + new


# ----- the table -----------------------------------------------------------------------------------
def _value(run: dict, thr: str, block: str, key: str):
    if block == "dci":
        return run.get("dci")
    return run["scores"][thr][block][key]


def summarise(runs: list[dict], thr: str) -> str:
    """Markdown table: median / worst over seeds of every metric, per design x method."""
    head = ["design (N x G)", "method", "runs", "s/fit", "S cons", "S rel", "S rec", "G cons", "G rel", "G rec", "DCI"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {m: i for i, m in enumerate(METHODS)}
    keys = sorted({(r["design"], r["method"]) for r in runs},
                  key=lambda dm: (dm[0], order.get(base_method(dm[1]), 99), dm[1].endswith(FOLD)))
    for design, method in keys:
        group = [r for r in runs if r["design"] == design and r["method"] == method and thr in r["scores"]]
        if not group:
            continue
        shape = "x".join(str(s) for s in group[0]["shape"])
        cells = [f"{design} ({shape})", method, str(len(group)), f"{np.median([r['seconds'] for r in group]):.0f}"]
        for block, key in COLUMNS:
            vals = [v for v in (_value(r, thr, block, key) for r in group) if v is not None]
            cells.append(f"{_fmt(np.median(vals))} / {_fmt(np.min(vals))}" if vals else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{round(float(value), 2) + 0.0:.2f}"  # + 0.0: no "-0.00" from a -1e-17


def write_csv(runs: list[dict], path: Path) -> None:
    """One row per run and threshold: the scores, DCI, seconds and the diagnosis counts."""
    import csv

    head = ["design", "seed", "method", "n_obs", "n_vars", "seconds", "threshold",
            *[f"{b}_{k}" for b, k in COLUMNS if b != "dci"], "dci", *FAILURES, "n_est"]
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(head)
        for r in runs:
            for thr, sc in r["scores"].items():
                d = sc["diagnosis"]
                out.writerow([r["design"], r["seed"], r["method"], *r["shape"], r["seconds"], thr,
                              *[round(sc[b][k], 4) for b, k in COLUMNS if b != "dci"],
                              "" if r.get("dci") is None else round(r["dci"], 4),
                              *[len(d.get(f, [])) for f in FAILURES],
                              " ".join(f"{k}={v}" for k, v in d["n_est"].items())])


# ----- command line --------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--designs", default="gaussian,rnaseq,splatter2", help="comma list of gaussian, rnaseq, splatter2")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (data and fit), starting at --first-seed")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes and few epochs (smoke test)")
    p.add_argument("--thresholds", default=f"{DEFAULT_THRESHOLD:g},0.1,0.5", help="|W| cut-offs; the first is the table's and the DCI run's")
    p.add_argument("--max-density", type=float, default=0.25, help="count designs: drop denser estimated columns (§4.2)")
    p.add_argument("--rel-threshold", type=float, default=baselines.REL_THRESHOLD, help="baselines' support rule")
    p.add_argument("--no-dci", action="store_true", help="skip the (slow) disentanglement score")
    p.add_argument("--epochs", type=int, help="override the epochs of every MSSVAE fit")
    p.add_argument("--set", action="append", default=[], metavar="DESIGN.PART.KEY=VALUE",
                   help="override a size, e.g. gaussian.data.n_per_group=500, rnaseq.model.hidden=[128,64], "
                        "rnaseq.fit.epochs=400, gaussian.model.sparsity_weight=20 (VALUE is JSON)")
    p.add_argument("--out", default="out/fidelity", help="folder for runs.jsonl, W/ and table.md")
    p.add_argument("--resume", action="store_true", help="skip design/seed/method runs already in OUT/runs.jsonl")
    p.add_argument("--table-only", action="store_true", help="only print the table of OUT/runs.jsonl")
    p.add_argument("--fold", action="store_true",
                   help="with --table-only: add the +fold record of every MSSVAE run from OUT/W (for runs "
                        "recorded without one)")
    p.add_argument("--rescore", action="store_true",
                   help="with --table-only: recompute scores and diagnoses at --thresholds from OUT/W and "
                        "rewrite OUT/runs.jsonl")
    return p.parse_args(argv)


def parse_overrides(items) -> dict:
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        parts = key.split(".")
        if len(parts) != 3 or parts[1] not in ("data", "fit", "model") or not _:
            raise SystemExit(f"--set {item!r}: expected DESIGN.(data|fit|model).KEY=VALUE")
        val = json.loads(value)
        out.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = tuple(val) if isinstance(val, list) else val
    return out


def _report(record: dict, thr: float) -> None:
    first = record["scores"][f"{thr:g}"]
    diag = first["diagnosis"]
    print(f"{record['design']} seed {record['seed']} {record['method']:>13}: {record['seconds']:6.0f}s  shared cons "
          f"{first['shared']['consensus']:.2f}  group cons {first['group']['consensus']:.2f}  "
          f"dci {record['dci'] if record['dci'] is None else round(record['dci'], 2)}  n_est {diag['n_est']}  "
          + " ".join(f"{f} {len(diag[f])}" for f in FAILURES) + (f"  folded {record['folded']}" if "folded" in record else ""),
          flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    runs_path = out / "runs.jsonl"
    thresholds = [float(t) for t in args.thresholds.split(",")]
    if args.table_only:
        runs = read_runs(runs_path)
        if args.fold:
            runs = add_folds(runs, out, thresholds, args.max_density)
        if args.rescore:
            rescore(runs, out, thresholds, args.max_density)
        if args.fold or args.rescore:
            runs_path.write_text("".join(json.dumps(r, default=str) + "\n" for r in runs))
        for thr in sorted({t for r in runs for t in r["scores"]}, key=float):
            print(f"\nthreshold {thr}\n" + summarise(runs, thr))
        write_csv(runs, out / "runs.csv")
        return 0

    import torch
    from mssvae.sim.designs import simulate

    torch.set_num_threads(1)
    designs = [d for d in args.designs.split(",") if d]
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if "mofa" in methods and (reason := baselines.mofa_available()):
        print(f"skipping mofa: {reason}", flush=True)
        methods.remove("mofa")
    overrides = parse_overrides(args.set)
    out.mkdir(parents=True, exist_ok=True)
    done = {(r["design"], r["seed"], r["method"]) for r in read_runs(runs_path)} if args.resume else set()
    if not args.resume and runs_path.exists():
        runs_path.unlink()
    t_start, prov = time.perf_counter(), provenance_record()  # the code this process imported
    version = prov["commit"]
    print("\n".join(header(prov)), flush=True)
    for design in designs:
        cfg = sizes_for(design, args.quick, overrides)
        if args.epochs:
            cfg["fit"]["epochs"] = args.epochs
        cfg["rel_threshold"] = args.rel_threshold
        print(f"== {design}: data {cfg['data']}, MSSVAE fit {cfg['fit']}, model {cfg['model'] or 'defaults'}", flush=True)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            todo = [m for m in methods if (design, seed, m) not in done]
            if not todo:
                continue
            data = simulate(design, seed=seed, **cfg["data"])
            for method in todo:
                adata = data.copy()
                info = fit_method(adata, design, method, cfg, seed)
                t0 = time.perf_counter()
                scored = score(adata, design, method, thresholds, args.max_density, not args.no_dci, seed)
                record = {"design": design, "seed": seed, "method": method, "code": version, "provenance": prov,
                          "shape": list(adata.shape),
                          "seconds": round(info.pop("seconds"), 2), "eval_seconds": round(time.perf_counter() - t0, 2),
                          "data": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg["data"].items()},
                          **scored, **info}
                save_w(adata, out / "W" / f"{design}_s{seed}_{method}.npz")
                records = [record]
                if method in MSSVAE_VARIANTS:
                    records.append(folded(adata, record, out, thresholds, args.max_density, not args.no_dci))
                for r in records:
                    append_run(runs_path, r)
                    _report(r, thresholds[0])
    runs = read_runs(runs_path)
    text = [f"code {version}; this invocation {time.perf_counter() - t_start:.0f} s; command: "
            + " ".join(["benchmarks/fidelity.py", *(argv if argv is not None else sys.argv[1:])])]
    for thr in thresholds:
        text.append(f"\nthreshold {thr:g} (baselines: their own support rule, rel. threshold {args.rel_threshold:g})\n"
                    + summarise(runs, f"{thr:g}"))
    print("\n".join(text), flush=True)
    (out / "table.md").write_text("\n".join(text) + "\n")
    write_csv(runs, out / "runs.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
