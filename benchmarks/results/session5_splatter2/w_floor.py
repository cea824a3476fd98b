# Recorded probe (session 5): histogram of |w| of the models code_probe.py saved, split by the truth
# (non-DE shared genes, DE shared genes, program genes, inactive columns); output in w_floor.log.
import sys; sys.path.insert(0, "python")
import numpy as np
from mssvae.model import MSSVAE
from mssvae.simulate import simulate
a = simulate("splatter2", seed=0, n_cells=3000, n_shared_genes=200, n_program_genes=100)
Wt = np.asarray(a.varm["true_W_shared"])
for path in sys.argv[1:]:
    m = MSSVAE.load(path); W = m.W_shared.values
    act = np.flatnonzero(np.abs(W).max(0) > 0.1)
    A = np.abs(W[:, act])
    de = np.abs(Wt[:200]).sum(1) > 0
    bins = [0, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 10]
    print(path, "active", act)
    for name, rows in [("nonDE shared", np.flatnonzero(~de)), ("DE shared", np.flatnonzero(de)), ("program genes", np.arange(200, 300))]:
        print(f"  {name:14s}", np.histogram(A[rows].ravel(), bins)[0])
    # per true type: entries on best column
    inactive = np.abs(W[:, np.setdiff1d(np.arange(W.shape[1]), act)]).ravel()
    print("  inactive columns", np.histogram(inactive, bins)[0])
