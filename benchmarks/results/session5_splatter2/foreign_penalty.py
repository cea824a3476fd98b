# Recorded probe (session 5): fidelity.py with multiGroupVI's penalty on other groups' latents around every
# MSSVAE fit. FPW=1 .venv/bin/python benchmarks/results/session5_splatter2/foreign_penalty.py --designs splatter2
#   --methods mssvae --seeds 2 --no-dci (and --first-seed 2 --seeds 1), code ffcda55, thresholds 0.1/0.5; log: foreign_penalty.log
"""fidelity.py with the foreign penalty (weight from env FPW) around every MSSVAE fit."""
import os, sys
sys.path.insert(0, "benchmarks"); sys.path.insert(0, "python")
import fidelity
from mssvae.foreign_penalty import foreign_penalty
w = float(os.environ.get("FPW", "1"))
orig = fidelity.fit_method
def fit_method(adata, design, method, cfg, seed):
    if method in fidelity.BASELINES or w == 0:
        return orig(adata, design, method, cfg, seed)
    with foreign_penalty(w):
        return orig(adata, design, method, cfg, seed)
fidelity.fit_method = fit_method
sys.exit(fidelity.main())
