import sys; sys.path.insert(0, "python")
import numpy as np
from mssvae.sim import simulate
a = simulate("splatter2", seed=0, n_cells=3000, n_shared_genes=200, n_program_genes=100, lib_loc_program=8.0)
X = np.asarray(a.X, float); Ws = np.asarray(a.varm["true_W_specific"])
g = a.obs.group.cat.codes.values; p = a.obs.program.cat.codes.values
print("group sizes", np.bincount(g), "program sizes", np.bincount(g * 2 + p))
for m in range(2):
    r = g == m
    for k in range(2):
        col = m * 2 + k
        de = np.flatnonzero(Ws[:, col])
        m1 = X[r & (p == k)][:, de].mean(0); m0 = X[r & (p != k)][:, de].mean(0)
        print(f"group {m} program {k}: {len(de)} DE genes, true logfac {Ws[de, col].round(2)}, observed log ratio {np.log(m1 / m0).round(2)}, mean counts {m0.round(1)}")
# PCA on group's program genes only
from sklearn.decomposition import PCA
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
for m in range(2):
    r = g == m; genes = np.flatnonzero(a.var.gene_set.astype(str).values == a.obs.group.cat.categories[m])
    L = np.log1p(X[r][:, genes] / X[r].sum(1, keepdims=True) * 1e4)
    pc = PCA(2).fit_transform(L)
    print("group", m, "PCA on own program genes: ARI", round(adjusted_rand_score(p[r], KMeans(2, n_init=10, random_state=0).fit_predict(pc)), 3))
    de = np.flatnonzero(np.abs(Ws[:, m*2:(m+1)*2]).sum(1))
    L = np.log1p(X[r][:, de] / X[r].sum(1, keepdims=True) * 1e4)
    print("   oracle (DE genes only) ARI", round(adjusted_rand_score(p[r], KMeans(2, n_init=10, random_state=0).fit_predict(L)), 3))
