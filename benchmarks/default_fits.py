"""Default fits as a user meets them: wall time to the end of ``MSSVAE.fit`` with nothing set but
the likelihood, on the CPU, and the support consensus (App. C.1) against the simulation's truth.

Designs (``mssvae.sim``):

- ``gaussian``: §4.1, 3 groups × 1000 samples, G = 100;
- ``wide``: §4.1's generator at 3 groups × 84 samples and G = 4000 (the shape of a bulk or
  microarray study: a few hundred samples, thousands of genes);
- ``rnaseq-600``: §4.2's generator at 600 samples × 1000 genes (NB).

With ``--busy`` each fit also runs while a busy loop holds one core (``yes > /dev/null``, as a
user's other work would), and the table gives the ratio to the idle time, measured back to back.

    .venv/bin/python benchmarks/default_fits.py --designs gaussian,wide --busy
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from provenance import header, record as provenance_record

DESIGNS = {
    "gaussian": ("gaussian", dict(), "gaussian"),
    "wide": ("gaussian", dict(n_per_group=84, n_features=4000), "gaussian"),
    "rnaseq-600": ("rnaseq", dict(n_samples=600, n_features=1000), "nb"),
}


def run_one(design: str, seed: int) -> dict:
    from mssvae.sim.metrics import evaluate
    from mssvae.model import MSSVAE
    from mssvae.sim.designs import simulate

    name, sizes, likelihood = DESIGNS[design]
    adata = simulate(name, seed=seed, **sizes)
    model = MSSVAE(likelihood)
    t = time.perf_counter()
    model.fit(adata, group_key="group", seed=seed, progress=False)
    seconds = time.perf_counter() - t
    stop, runtime = model.state.stopping, model.state.runtime
    ev = evaluate(adata, dci=False)
    ev5 = evaluate(adata, threshold=0.5, dci=False)
    return dict(design=design, n=adata.n_obs, g=adata.n_vars, seed=seed, seconds=round(seconds, 1),
                epochs=stop["epochs"], steps=stop["steps"], reason=stop["reason"], threads=runtime["threads"],
                precision=runtime["precision"], batch=runtime["batch_size"],
                shared=round(ev["shared"]["consensus"], 3), group=round(ev["group"]["mean"]["consensus"], 3),
                shared_05=round(ev5["shared"]["consensus"], 3), group_05=round(ev5["group"]["mean"]["consensus"], 3))


def _fit(design: str, seed: int, busy: bool) -> dict:
    hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if busy else None
    try:
        if hog is not None:
            time.sleep(1.0)  # let the fit's thread choice see the busy core
        res = subprocess.run([sys.executable, __file__, "--one", design, str(seed)], capture_output=True, text=True)
    finally:
        if hog is not None:
            hog.kill()
    if res.returncode:
        return dict(design=design, seed=seed, busy=busy, error=(res.stderr.strip().splitlines() or ["?"])[-1])
    return {**json.loads(res.stdout.strip().splitlines()[-1]), "busy": busy}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--designs", default="gaussian,wide,rnaseq-600")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--busy", action="store_true", help="also fit with one core held by a busy loop")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    prov = provenance_record()
    print("\n".join(header(prov)), flush=True)
    rows = []
    for design in args.designs.split(","):
        for seed in range(args.seeds):
            for busy in ((False, True) if args.busy else (False,)):
                row = {**_fit(design, seed, busy), "commit": prov["commit"]}
                print(json.dumps(row), flush=True)
                rows.append(row)
    print("\n| design | N × G | seed | busy core | seconds | epochs (steps) | stop | threads | shared / group @0.03 | @0.5 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['design']} | | {r['seed']} | {r['busy']} | failed: {r['error']} | | | | | |")
            continue
        print(f"| {r['design']} | {r['n']} × {r['g']} | {r['seed']} | {'yes' if r['busy'] else 'no'} | {r['seconds']:.0f} | "
              f"{r['epochs']} ({r['steps']}) | {r['reason']} | {r['threads']} | {r['shared']:.2f} / {r['group']:.2f} | "
              f"{r['shared_05']:.2f} / {r['group_05']:.2f} |")


if __name__ == "__main__":
    main()
