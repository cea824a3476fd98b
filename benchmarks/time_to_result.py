"""Time to result: the §4.2 design at the paper's size (3200 samples × 5000 genes), fitted as a
user would, to the end of the fit, and scored.

For each configuration × seed: wall seconds of ``MSSVAE.fit`` (simulation and scoring not
counted), epochs and steps run, why the fit stopped, and the shared and group support consensus
(App. C.1) at |W| > 0.5 (the paper's §5 threshold) and at the package's support threshold.
Configurations are the package's defaults (``defaults``) and named alternatives (``CONFIGS``);
``--set KEY=JSON`` adds settings to every one. Each fit runs in its own process; ``--parallel P``
runs P at a time (on a GPU, where one small fit leaves the device mostly idle; on a CPU keep 1,
and mind the thread count).

With ``--yardstick`` it also times, in the same run and on the same device, 3 epochs of the naive
fp32 decoder and of the fp32 reference path at the paper's settings, and prints their seconds per
epoch × 800 (Table 2's epochs): extrapolated from timed epochs, as the table says.

    .venv/bin/python benchmarks/time_to_result.py --seeds 3 --configs defaults,h128
    python3 benchmarks/time_to_result.py --device cuda --parallel 6 --configs defaults,h128   # GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

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


def run_one(config: str, seed: int, device: str, extra: dict, threads: int | None, data: dict | None = None) -> dict:
    """Simulate, fit and score one configuration and seed (inside its own process)."""
    from mssvae.sim.metrics import evaluate
    from mssvae.model import MSSVAE
    from mssvae.sim.designs import simulate

    adata = simulate("rnaseq", seed=seed, **(data or {}))
    model = MSSVAE("nb", **{**CONFIGS[config], **extra})
    t = time.perf_counter()
    model.fit(adata, group_key="group", seed=seed, device=device, progress=False, threads=threads)
    seconds = time.perf_counter() - t
    stop = model.state.stopping
    row = dict(config=config, seed=seed, seconds=round(seconds, 1), epochs=stop["epochs"], steps=stop["steps"],
               reason=stop["reason"], precision=model.state.runtime["precision"], device=device)
    for thr in THRESHOLDS:
        ev = evaluate(adata, threshold=thr, dci=False)
        row[f"shared@{thr}"] = round(ev["shared"]["consensus"], 3)
        row[f"group@{thr}"] = round(ev["group"]["mean"]["consensus"], 3)
    return row


def _subprocess(config: str, seed: int, args) -> dict:
    cmd = [sys.executable, __file__, "--one", config, str(seed), "--device", args.device,
           *sum((["--set", s] for s in args.set), []), *sum((["--data", s] for s in args.data), [])]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        return dict(config=config, seed=seed, error=(res.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(res.stdout.strip().splitlines()[-1])


def yardstick(device: str) -> dict:
    """Seconds per epoch of the naive decoder and of the fp32 reference path at the paper's
    §4.2 settings (N = 3200, G = 5000, Table 2), 3 timed epochs after one warm-up."""
    sys.path.insert(0, str(Path(__file__).parent))
    from speed import run_one as speed_one  # noqa: E402

    return {impl: speed_one(impl, 3200, 5000, 3, device=device)["sec_per_epoch"] for impl in ("naive", "reference")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--one", nargs=2, metavar=("CONFIG", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--configs", default="defaults", help=f"comma-separated, among {', '.join(CONFIGS)}")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="a setting for every fit")
    p.add_argument("--data", action="append", default=[], metavar="KEY=JSON", help="a size of the design (smoke runs)")
    p.add_argument("--yardstick", action="store_true", help="also time the naive and fp32 reference decoders")
    p.add_argument("--out", default=None, help="append the rows (JSON lines) to this file")
    args = p.parse_args(argv)
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    data = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.data)}
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.device, extra, args.threads, data)))
        return
    jobs = [(c, s) for c in args.configs.split(",") for s in range(args.seeds)]
    rows = []
    with ThreadPoolExecutor(args.parallel) as pool:
        for future in as_completed([pool.submit(_subprocess, *job, args) for job in jobs]):
            row = future.result()
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    print(f"\n{args.device}, {args.parallel} fit(s) at a time; median / worst over seeds\n")
    print("| config | seconds | epochs | shared@0.5 | group@0.5 | shared@0.03 | group@0.03 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in args.configs.split(","):
        ok = [r for r in rows if r["config"] == c and "error" not in r]
        if not ok:
            print(f"| {c} | failed | | | | | |")
            continue
        cell = lambda k: f"{statistics.median(r[k] for r in ok):.2f} / {min(r[k] for r in ok):.2f}"  # noqa: E731
        print(f"| {c} | {statistics.median(r['seconds'] for r in ok):.0f} | {statistics.median(r['epochs'] for r in ok):.0f} | "
              f"{cell('shared@0.5')} | {cell('group@0.5')} | {cell('shared@0.03')} | {cell('group@0.03')} |")
    if args.yardstick:
        y = yardstick(args.device)
        print(f"\nyardsticks at N = 3200, G = 5000, Table 2 ({args.device}): naive {y['naive']:.2f} s/epoch "
              f"(× 800 = {y['naive'] * 800 / 3600:.1f} h, extrapolated), fp32 reference {y['reference']:.2f} s/epoch "
              f"(× 800 = {y['reference'] * 800 / 3600:.1f} h, extrapolated)")


if __name__ == "__main__":
    main()
