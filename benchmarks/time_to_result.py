"""Time to result: the §4.2 design at the paper's size (3200 samples × 5000 genes), fitted as a
user would, to the end of the fit, and scored with the paper's metrics.

For each configuration × seed: wall seconds of ``MSSVAE.fit`` (simulation and scoring not
counted), epochs and steps run, why the fit stopped, and the shared and group support
consensus, relevance and recovery (App. C.1) at |W| > 0.5 (the paper's §5 threshold) and at the
package's support threshold, columns over 25 % of the genes dropped as in §4.2, with each true
column's failure mode (``fidelity.diagnose``: found, missed, split, merged, misplaced; and the
estimated columns dropped as dense). Configurations are the package's defaults (``defaults``)
and named alternatives (:data:`CONFIGS`, ``--add NAME=JSON`` for more); ``--set KEY=JSON`` adds
settings to every one. Each fit runs in its own process; ``--parallel P`` runs P at a time (on a
GPU, where one fit leaves the device mostly idle; on a CPU keep 1, and mind the thread count).

``--deadline S``: fits still running S seconds after the start stop at the end of their epoch
and are scored as they are, marked ``truncated``. The script exits 1 when a fit failed or was
truncated, after writing every record. Each record carries ``provenance`` (commit, digest of the
sources, versions, device: ``provenance.py``).

With ``--yardstick`` it also times, in the same run and on the same device, 3 epochs of the naive
fp32 decoder and of the fp32 reference path at the paper's settings, and prints their seconds per
epoch × 800 (Table 2's epochs): extrapolated from timed epochs, as the table says.

    .venv/bin/python benchmarks/time_to_result.py --seeds 3 --configs defaults,h128
    python3 benchmarks/time_to_result.py --device cuda --parallel 6 --configs defaults,fixed800   # GPU
    .venv/bin/python benchmarks/time_to_result.py --smoke --out out/ttr_smoke   # tiny, on the CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from provenance import header, record as provenance_record  # noqa: E402

#: Alternatives to the defaults, as MSSVAE settings.
CONFIGS = {
    "defaults": {},
    "h128": dict(hidden=(128, 64), lr=0.01),  # the reduced §4.2 design's best (benchmarks/FINDINGS.md)
    "h128-lr1e-3": dict(hidden=(128, 64)),
    "h64": dict(hidden=(64, 32), lr=0.01),
    # Table 2's whole length (800 epochs, 5,600 steps) without the stopping rule: whether the
    # stopped fits (about 2,200 steps) end before the full size is learnt.
    "fixed800": dict(early_stopping=False),
    "h64-fixed800": dict(hidden=(64, 32), lr=0.01, early_stopping=False),
}
THRESHOLDS = (0.5, 0.03)
#: §4.2: estimated columns holding more than this share of the genes are dropped before scoring.
MAX_DENSITY = 0.25

#: ``--smoke``: the same pipeline at a size a CPU runs in seconds (N = 200, G = 100, 4 epochs):
#: it checks the plumbing, not the fidelity.
SMOKE_DATA = dict(n_samples=200, n_features=100, overlap=2)
SMOKE_SETTINGS = dict(n_shared=8, n_specific=3, hidden=(16, 8), epochs=4, batch_size=64, lambda0_breaks=(3, 6))


def run_one(config: str, settings: dict, seed: int, device: str, threads: int | None, data: dict,
            deadline: float | None = None, w_file: str | None = None) -> dict:
    """Simulate, fit and score one configuration and seed (inside its own process). ``deadline``:
    the ``time.time()`` at which the fit stops at the end of its epoch (scored as it is)."""
    import numpy as np

    from fidelity import score
    from mssvae import contract as C
    from mssvae.core.train import STOP
    from mssvae.errors import FitInterrupted
    from mssvae.model import MSSVAE
    from mssvae.sim.designs import simulate

    adata = simulate("rnaseq", seed=seed, **data)
    model = MSSVAE("nb", **settings)

    def past_deadline(epoch, total, record, final=False):
        return STOP if deadline is not None and time.time() > deadline else None

    truncated = False
    t = time.perf_counter()
    try:
        model.fit(adata, group_key="group", seed=seed, device=device, progress=past_deadline, threads=threads)
    except FitInterrupted:  # the deadline: keep the epochs run, and say so
        truncated = True
        model.write_results(adata)
    seconds = time.perf_counter() - t
    stop = model.state.stopping
    row = dict(config=config, settings=settings, data=data, seed=seed, shape=list(adata.shape), seconds=round(seconds, 1),
               sparsity_weight=model.fitted_settings.sparsity_weight,
               epochs=stop["epochs"], steps=stop["steps"], reason=stop["reason"], truncated=truncated,
               dense_at_end=stop["dense"], folded=stop["folded"], precision=model.state.runtime["precision"],
               precision_reason=model.state.runtime["precision_reason"], batch_size=model.state.runtime["batch_size"],
               device=device)
    scored = score(adata, "rnaseq", "mssvae", THRESHOLDS, MAX_DENSITY, False, seed)["scores"]
    W = np.hstack([adata.varm[C.W_SHARED], adata.varm[C.W_SPECIFIC]])
    for thr, s in scored.items():
        s["n_dense"] = int(((np.abs(W) > float(thr)).mean(0) > MAX_DENSITY).sum())
    row["scores"] = scored
    row["history"] = {k: [h.get(k) for h in model.history]
                      for k in ("step", "lambda0", "loss", "stable_epochs", "densest", "folded")}
    if w_file:
        np.savez_compressed(w_file, W_shared=np.asarray(adata.varm[C.W_SHARED], dtype=np.float32),
                            W_specific=np.asarray(adata.varm[C.W_SPECIFIC], dtype=np.float32),
                            n_specific=np.asarray(adata.uns[C.UNS][C.N_SPECIFIC], dtype=np.int64))
    return row


def _subprocess(config: str, seed: int, args, settings: dict, data: dict, deadline: float | None, tmp: str) -> dict:
    w_file = str(Path(tmp) / f"{config}_s{seed}.npz")
    cmd = [sys.executable, __file__, "--one", config, str(seed), "--device", args.device,
           "--one-settings", json.dumps(settings), "--one-data", json.dumps(data), "--one-w", w_file]
    cmd += ["--one-deadline", str(deadline)] if deadline is not None else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        return dict(config=config, seed=seed, settings=settings,
                    error=(res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1])
    return json.loads(res.stdout.strip().splitlines()[-1])


def yardstick(device: str) -> dict:
    """Seconds per epoch of the naive decoder and of the fp32 reference path at the paper's
    §4.2 settings (N = 3200, G = 5000, Table 2), 3 timed epochs after one warm-up."""
    from speed import run_one as speed_one

    return {impl: speed_one(impl, 3200, 5000, 3, device=device)["sec_per_epoch"] for impl in ("naive", "reference")}


def _cell(rows: list[dict], thr: str, block: str, key: str = "consensus") -> str:
    values = [r["scores"][thr][block][key] for r in rows]
    return f"{statistics.median(values):.2f} / {min(values):.2f}"


def _modes(rows: list[dict], thr: str) -> str:
    """Failure modes summed over the seeds: missed, split, merged, misplaced true columns and
    estimated columns dropped as dense."""
    total = lambda k: sum(len(r["scores"][thr]["diagnosis"][k]) for r in rows)  # noqa: E731
    dense = sum(r["scores"][thr]["n_dense"] for r in rows)
    return f"{total('missed')} / {total('split')} / {total('merged')} / {total('misplaced')} / {dense}"


def table(rows: list[dict], configs: list[str], device: str, parallel: int) -> str:
    """Median / worst over seeds per configuration at each threshold, with the failure modes."""
    lines = [f"{device}, {parallel} fit(s) at a time; median / worst over seeds; failure modes summed over seeds "
             "(missed / split / merged / misplaced true columns; estimated columns dropped as dense)"]
    for thr in (f"{t:g}" for t in THRESHOLDS):
        lines += ["", f"|W| > {thr}, columns over {MAX_DENSITY:.0%} of the genes dropped", "",
                  "| config | seeds | seconds | epochs (steps) | shared consensus | group consensus | shared relevance "
                  "| shared recovery | failure modes |", "|" + " --- |" * 9]
        for c in configs:
            ok = [r for r in rows if r["config"] == c and "error" not in r]
            bad = [r for r in rows if r["config"] == c and "error" in r]
            if not ok:
                lines.append(f"| {c} | failed: {bad[0]['error'] if bad else 'no runs'} | | | | | | | |")
                continue
            cut = sum(r["truncated"] for r in ok)
            seeds = f"{len(ok)}" + (f" ({len(bad)} failed)" if bad else "") + (f" ({cut} truncated)" if cut else "")
            lines.append(f"| {c} | {seeds} | {statistics.median(r['seconds'] for r in ok):.0f} | "
                         f"{statistics.median(r['epochs'] for r in ok):.0f} ({statistics.median(r['steps'] for r in ok):.0f}) | "
                         f"{_cell(ok, thr, 'shared')} | {_cell(ok, thr, 'group')} | {_cell(ok, thr, 'shared', 'relevance')} | "
                         f"{_cell(ok, thr, 'shared', 'recovery')} | {_modes(ok, thr)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--one", nargs=2, metavar=("CONFIG", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--one-settings", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--one-data", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--one-deadline", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--one-w", default=None, help=argparse.SUPPRESS)
    p.add_argument("--configs", default="defaults", help=f"comma-separated, among {', '.join(CONFIGS)} and --add's")
    p.add_argument("--add", action="append", default=[], metavar="NAME=JSON",
                   help='another configuration, e.g. --add \'w50={"sparsity_weight": 50}\'')
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="a setting for every fit")
    p.add_argument("--data", action="append", default=[], metavar="KEY=JSON", help="a size of the design")
    p.add_argument("--deadline", type=float, default=None, metavar="SECONDS",
                   help="fits still running this long after the start stop at their epoch's end, scored as they are")
    p.add_argument("--smoke", action="store_true", help="N = 200, G = 100, 4 epochs, one thread: the plumbing only")
    p.add_argument("--yardstick", action="store_true", help="also time the naive and fp32 reference decoders")
    p.add_argument("--out", default=None, help="append the rows (JSON lines) to this file")
    p.add_argument("--w-file", default=None, help="write every fit's W into this .npz (keys CONFIG_sSEED_W_shared, ...)")
    p.add_argument("--table", default=None, help="write the table (markdown) to this file too")
    args = p.parse_args(argv)
    parse = lambda items: {k: json.loads(v) for k, v in (s.split("=", 1) for s in items)}  # noqa: E731
    if args.one:
        row = run_one(args.one[0], json.loads(args.one_settings), int(args.one[1]), args.device, args.threads,
                      json.loads(args.one_data), args.one_deadline, args.one_w)
        print(json.dumps(row))
        return 0
    configs = {**CONFIGS, **parse(args.add)}
    names = args.configs.split(",")
    unknown = [c for c in names if c not in configs]
    if unknown:
        p.error(f"unknown configurations {unknown}; choose from {list(configs)} or define them with --add NAME=JSON")
    extra, data = parse(args.set), parse(args.data)
    if args.smoke:
        extra, data = {**SMOKE_SETTINGS, **extra}, {**SMOKE_DATA, **data}
        args.threads = args.threads or 1
    prov = provenance_record()
    print("\n".join(header(prov)), flush=True)
    start = time.time()
    deadline = start + args.deadline if args.deadline else None
    jobs = [(c, s) for c in names for s in range(args.seeds)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ttr-") as tmp, ThreadPoolExecutor(args.parallel) as pool:
        futures = [pool.submit(_subprocess, c, s, args, {**configs[c], **extra}, data, deadline, tmp) for c, s in jobs]
        for future in as_completed(futures):
            row = {**future.result(), "provenance": prov}
            brief = {k: v for k, v in row.items() if k not in ("scores", "history", "provenance")}
            if "scores" in row:
                brief.update({f"{b}@{t}": round(row["scores"][t][b]["consensus"], 3)
                              for t in row["scores"] for b in ("shared", "group")})
            print(json.dumps(brief), flush=True)
            rows.append(row)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
        if args.w_file:
            import numpy as np

            arrays = {}
            for c, s in jobs:
                path = Path(tmp) / f"{c}_s{s}.npz"
                if path.exists():
                    with np.load(path) as npz:
                        arrays.update({f"{c}_s{s}_{k}": npz[k] for k in npz.files})
            np.savez_compressed(args.w_file, **arrays)
    text = table(rows, names, args.device, args.parallel)
    text += f"\n\ncommit {prov['commit']} (sources {prov['source_digest']}); {time.time() - start:.0f} s in all"
    print("\n" + text, flush=True)
    if args.table:
        Path(args.table).write_text("\n".join(header(prov)) + "\n\n" + text + "\n")
    if args.yardstick:
        y = yardstick(args.device)
        print(f"\nyardsticks at N = 3200, G = 5000, Table 2 ({args.device}): naive {y['naive']:.2f} s/epoch "
              f"(× 800 = {y['naive'] * 800 / 3600:.1f} h, extrapolated), fp32 reference {y['reference']:.2f} s/epoch "
              f"(× 800 = {y['reference'] * 800 / 3600:.1f} h, extrapolated)")
    failed = [f"{r['config']} seed {r['seed']}: {r['error']}" for r in rows if "error" in r]
    cut = [f"{r['config']} seed {r['seed']} at epoch {r['epochs']}" for r in rows if r.get("truncated")]
    if failed or cut:
        print("\n" + "\n".join([*(f"failed: {f}" for f in failed), *(f"truncated by the deadline: {c}" for c in cut)]),
              flush=True)
    return 1 if failed or cut else 0


if __name__ == "__main__":
    sys.exit(main())
