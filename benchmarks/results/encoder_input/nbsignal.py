import sys; sys.path.insert(0, "python")
import numpy as np
from scipy.special import gammaln
from scipy.optimize import minimize_scalar
from mssvae.sim import simulate
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
kw = dict(n_cells=600, n_shared_genes=200, n_program_genes=100)
if len(sys.argv) > 2: kw.update(eval(sys.argv[2]))
a = simulate("splatter2", seed=seed, keep_means=True, **kw)
X = np.asarray(a.X, dtype=float); M = np.asarray(a.layers["true_mean"], dtype=float)
lib = X.sum(1, keepdims=True)
def nbll(x, mu, phi):
    return phi*np.log(phi/(phi+mu)) + x*np.log(mu/(phi+mu)+1e-300) + gammaln(x+phi) - gammaln(phi) - gammaln(x+1)
def best(x, mu):
    tot = 0
    for j in range(x.shape[1]):
        f = lambda lp: -nbll(x[:, j], np.maximum(mu[:, j], 1e-8), np.exp(lp)).sum()
        r = minimize_scalar(f, bounds=(-3, 12), method="bounded"); tot += r.fun
    return tot / x.shape[0]
# no structure: mean = lib * gene proportion
p = X.sum(0) / X.sum()
null = lib * p
# cell type only (group programs ignored): per cell type proportion
ct = a.obs["cell_type"].cat.codes.values
ctm = np.zeros_like(X)
for k in np.unique(ct):
    r = ct == k; ctm[r] = lib[r] * (X[r].sum(0) / X[r].sum())
key = ct * 10 + a.obs["group"].cat.codes.values * 2 + a.obs["program"].cat.codes.values
full = np.zeros_like(X)
for k in np.unique(key):
    r = key == k; full[r] = lib[r] * (X[r].sum(0) / X[r].sum())
sh = slice(0, kw["n_shared_genes"]); pr = slice(kw["n_shared_genes"], None)
for name, mu in [("null", null), ("celltype", ctm), ("celltype+program", full), ("true mean", M)]:
    print(f"{name:18s} shared genes {best(X[:, sh], mu[:, sh]):8.1f}  program genes {best(X[:, pr], mu[:, pr]):8.1f}")
W = np.asarray(a.varm["true_W_shared"]) if "true_W_shared" in a.varm else None
print(list(a.varm.keys()))
