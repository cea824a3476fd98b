# Recorded probe (session 5): support of every active column of a saved splatter2 W at |W| > 0.03 and its overlap
# with the five true cell-type supports.  .venv/bin/python benchmarks/results/session5_splatter2/columns.py SEED W.npz
import sys; sys.path.insert(0, "python")
import numpy as np
from mssvae.simulate import simulate
from mssvae.metrics import consensus, supports
seed = int(sys.argv[1]); path = sys.argv[2]; thr = float(sys.argv[3]) if len(sys.argv) > 3 else 0.03
a = simulate("splatter2", seed=seed, n_cells=3000, n_shared_genes=200, n_program_genes=100)
Wt = np.asarray(a.varm["true_W_shared"]); true = supports(Wt, 0.0)
print("true sizes", [len(s) for s in true])
z = np.load(path)
for name in ("W_shared", "W_specific"):
    W = z[name]
    for k in range(W.shape[1]):
        s = set(np.flatnonzero(np.abs(W[:, k]) > thr))
        if s:
            print(name, k, "size", len(s), "overlap", [len(s & t) for t in true], "prog", sum(r >= 200 for r in s), "max", np.abs(W[:, k]).max().round(3))
print("cons", consensus(true, supports(z["W_shared"], thr, 0.25)))
