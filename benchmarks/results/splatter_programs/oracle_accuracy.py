# Per-cell information in the splatter2 programs: k-means ARI and 3-fold logistic-regression accuracy
# (chance 0.5) on each group's TRUE DE program genes, log-normalised by the program-gene total.
# Sizes: program genes 100 (fidelity default) / 200 (paper) / 400, cells 3000 / 10000 (paper).
import sys; sys.path.insert(0, "python")
import numpy as np
from mssvae.sim import simulate
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
for npg, ncells in [(100, 3000), (200, 3000), (400, 3000), (200, 10000)]:
  for seed in range(2):
    a = simulate("splatter2", seed=seed, n_cells=ncells, n_shared_genes=200, n_program_genes=npg)
    X = np.asarray(a.X, float); Ws = np.asarray(a.varm["true_W_specific"])
    g = a.obs.group.cat.codes.values; p = a.obs.program.cat.codes.values
    out = []
    for m in range(2):
        r = g == m
        de = np.flatnonzero(np.abs(Ws[:, m*2:(m+1)*2]).sum(1))
        genes = np.flatnonzero(a.var.gene_set.astype(str).values == a.obs.group.cat.categories[m])
        tot = X[r][:, 200:].sum(1, keepdims=True)
        L = np.log1p(X[r][:, de] / tot * tot.mean())
        ari = adjusted_rand_score(p[r], KMeans(2, n_init=10, random_state=0).fit_predict((L - L.mean(0)) / (L.std(0) + 1e-9)))
        acc = cross_val_score(LogisticRegression(max_iter=2000), L, p[r], cv=3).mean()
        out.append(f"g{m}: DE {len(de)} meanct {X[r][:, genes].mean():.1f} kmARI {ari:.2f} supACC {acc:.2f}")
    print(npg, ncells, seed, " | ".join(out), flush=True)
