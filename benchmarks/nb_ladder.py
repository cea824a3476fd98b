"""The §4.2 count design on a ladder of sizes that moves N and G apart, at the NB defaults and at
candidate fixes, scored with the paper's metrics and each true column's failure mode: why the
model that recovers the structure at 600 × 300 loses it at the paper's 3200 × 5000.

Each cell is a size (N samples, G genes of ``mssvae simulate rnaseq``) and a configuration
(:data:`CONFIGS`: the defaults, or the defaults with one setting changed); each fit is one
process of ``time_to_result.py`` (one CPU thread), ``--parallel`` of them at a time, and appends
its record (settings, seconds, epochs and steps, why it stopped, scores at |W| > 0.5 and 0.03
with columns over 25 % of the genes dropped, failure modes, provenance) to ``--out``.

    .venv/bin/python benchmarks/nb_ladder.py --cells n600-g300:defaults,n3200-g300:w53 --seeds 3 --out out/nb_ladder/rows.jsonl
    .venv/bin/python benchmarks/nb_ladder.py --table out/nb_ladder/rows.jsonl   # the ladder's table of a finished run

A cell is ``n<N>-g<G>:<config>``; ``-o<overlap>`` after the size sets the genes adjacent programs
share (the simulator's 10, the paper's at G = 5000, is a larger share of a program at small G:
``fidelity.py``'s reduced design takes 2); ``n<N>-g<G>+lib:<config>`` scales the library with G so that
each gene holds as many counts as at G = 300 (the simulator's ``library_log_mean``). The table has one row per size and configuration: median /
worst over the seeds of the shared and group consensus at |W| > 0.5, the failure modes summed
over the seeds (true columns missed / split / merged / misplaced; estimated columns that are
satellites of a found one / dropped as dense), the estimated active columns per block, and the
median wall seconds per fit.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from provenance import header, record as provenance_record  # noqa: E402
from time_to_result import _cell as median_worst, _subprocess  # noqa: E402

from mssvae.sim.designs import rnaseq  # noqa: E402

#: The configurations of the ladder: the NB defaults, and the defaults with one setting changed.
CONFIGS = {
    "defaults": {},
    # the penalty's per-sample share of the reduced design (weight 10 at N = 600) at N = 3200
    "w53": {"sparsity_weight": 53.0},
    # the per-sample share of N = 3200 at weight 10, at N = 600
    "w1.9": {"sparsity_weight": 1.875},
    # the NB default weight before it scaled with N (10 · N / 3200 below N = 3200 since 2026-12-06)
    "w10": {"sparsity_weight": 10.0},
    # Table 2's whole length (800 epochs) without the stopping rule
    "fixed800": {"early_stopping": False},
    # fidelity.py's learning rate for the reduced design (Table 2: 0.001)
    "lr0.01": {"lr": 0.01},
    # the paper's fit, without folding nested columns (core.nested)
    "nofold": {"fold_nested": False},
    # fidelity.py's numbers of factors for the reduced design (Table 2: K_S 50, K_m 10)
    "k20": {"n_shared": 20, "n_specific": 5},
    # fidelity.py's hidden widths for the reduced design (Table 2: [256, 128])
    "h128": {"hidden": [128, 64]},
    # fidelity.py's decoder widths and learning rate, with Table 2's numbers of factors
    "h128-lr0.01": {"hidden": [128, 64], "lr": 0.01},
    # fidelity.py's whole model and batch for the reduced design, with the stopping rule and folding
    "fidelity": {"n_shared": 20, "n_specific": 5, "hidden": [128, 64], "lr": 0.01, "batch_size": 128},
}


#: The simulator's block overlap in genes, the paper's share at G = 5000: 4 % of a program's 287
#: genes there, 23 % of 43 at G = 600 and 38 % of 26 at G = 300 (``-o<overlap>`` sets another).
OVERLAP = inspect.signature(rnaseq).parameters["overlap"].default

#: The G whose counts per gene a cell ending in ``+lib`` keeps (the reduced design's).
LIBRARY_G = 300


def _cell(text: str) -> tuple[dict, str]:
    size, config = text.split(":")
    size, lib = (size[:-4], True) if size.endswith("+lib") else (size, False)
    n, g, *rest = size.split("-")
    if (not (n.startswith("n") and g.startswith("g")) or len(rest) > 1 or (rest and not rest[0].startswith("o"))
            or config not in CONFIGS):
        raise SystemExit(f"a cell is n<N>-g<G>[-o<overlap>][+lib]:<config> with config in {list(CONFIGS)}; "
                         f"got {text!r}")
    data = {"n_samples": int(n[1:]), "n_features": int(g[1:])}
    if rest:
        data["overlap"] = int(rest[0][1:])
    if lib:  # the library grows with G, so that each gene holds as many counts as at G = LIBRARY_G
        data["library_log_mean"] = 12.0 + math.log(data["n_features"] / LIBRARY_G)
    return data, config


def run(cells: list[str], seeds: list[int], out: Path, parallel: int) -> int:
    prov = provenance_record()
    print("\n".join(header(prov)), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = SimpleNamespace(device="cpu", threads=1)
    jobs = [(*_cell(c), s) for c in cells for s in seeds]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="nb-ladder-") as tmp, ThreadPoolExecutor(parallel) as pool:
        futures = [pool.submit(_subprocess, config, seed, args, CONFIGS[config], data, None,
                               tempfile.mkdtemp(dir=tmp)) for data, config, seed in jobs]
        for future in as_completed(futures):
            row = {**future.result(), "provenance": prov}
            failed += "error" in row
            with open(out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            brief = {k: row.get(k) for k in ("config", "seed", "shape", "seconds", "epochs", "steps", "reason", "error")}
            if "scores" in row:
                brief.update({f"{b}@0.5": round(row["scores"]["0.5"][b]["consensus"], 3) for b in ("shared", "group")})
            print(json.dumps(brief), flush=True)
    print(table(read(out)))
    return 1 if failed else 0


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _columns(row: dict, thr: str) -> tuple[int, int]:
    """Active estimated columns (after the density filter): shared, and all groups' together."""
    n = row["scores"][thr]["diagnosis"]["n_est"]
    return n.get("shared", 0), sum(v for k, v in n.items() if k != "shared")


def table(rows: list[dict], thr: str = "0.5") -> str:
    """One line per size and configuration: median / worst over seeds, failure modes summed."""
    ok = [r for r in rows if "error" not in r]
    lib = lambda r: r.get("data", {}).get("library_log_mean")  # noqa: E731
    ov = lambda r: r.get("data", {}).get("overlap", OVERLAP)  # noqa: E731
    keys = sorted({(tuple(r["shape"]), ov(r), r["config"], lib(r)) for r in ok},
                  key=lambda k: (k[0], k[1], k[2], k[3] or 0))
    lines = [f"|W| > {thr}, columns over 25 % of the genes dropped; median / worst over seeds; failure modes summed "
             "over seeds (true columns missed / split / merged / misplaced; estimated columns that are satellites / "
             "dropped as dense); active columns: median estimated shared; groups (the truth: 10; 9)", "",
             "| N × G | overlap | config | seeds | seconds per fit | epochs (steps) | shared consensus | group consensus "
             "| shared relevance / recovery | active columns | failure modes |", "|" + " --- |" * 11]
    for shape, overlap, config, log_lib in keys:
        rs = [r for r in ok if (tuple(r["shape"]), ov(r), r["config"], lib(r)) == (shape, overlap, config, log_lib)]
        cons = lambda b, k="consensus": [r["scores"][thr][b][k] for r in rs]  # noqa: E731
        total = lambda k: sum(len(r["scores"][thr]["diagnosis"][k]) for r in rs)  # noqa: E731
        dense = sum(r["scores"][thr]["n_dense"] for r in rs)
        lines.append(
            f"| {shape[0]} × {shape[1]}{'' if log_lib is None else f', library e^{log_lib:.1f}'} | {overlap} | {config} | {len(rs)} | {statistics.median(r['seconds'] for r in rs):.0f} | "
            f"{statistics.median(r['epochs'] for r in rs):.0f} ({statistics.median(r['steps'] for r in rs):.0f}) | "
            f"{median_worst(rs, thr, 'shared')} | {median_worst(rs, thr, 'group')} | "
            f"{statistics.median(cons('shared', 'relevance')):.2f} / {statistics.median(cons('shared', 'recovery')):.2f} | "
            f"{statistics.median(_columns(r, thr)[0] for r in rs):.0f}; {statistics.median(_columns(r, thr)[1] for r in rs):.0f} | "
            f"{total('missed')} / {total('split')} / {total('merged')} / {total('misplaced')} / {total('satellite')} / "
            f"{dense} |")
    bad = [r for r in rows if "error" in r]
    lines += [f"\nfailed: {r['config']} seed {r['seed']}: {r['error']}" for r in bad]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="n600-g300:defaults,n3200-g300:defaults",
                   help="comma-separated n<N>-g<G>:<config>")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--parallel", type=int, default=2, help="fits at a time (one CPU thread each)")
    p.add_argument("--out", default="out/nb_ladder/rows.jsonl", help="append the records (JSON lines) here")
    p.add_argument("--table", metavar="ROWS", default=None, help="print the table of a finished run and stop")
    args = p.parse_args(argv)
    if args.table:
        print(table(read(Path(args.table))))
        return 0
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    return run(args.cells.split(","), seeds, Path(args.out), args.parallel)


if __name__ == "__main__":
    sys.exit(main())
