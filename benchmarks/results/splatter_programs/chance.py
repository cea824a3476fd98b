"""Are splatter2's group programs detectable, and is PCA's group consensus above chance?

For each seed (benchmark default sizes: 3000 cells, 200 shared + 100 program genes):
* oracle ARI: k-means (k = 2) on the log-normalised counts of a group's true program DE genes
  only, against the cells' programs (what a method that knew the genes could get);
* PCA's group consensus (fidelity.py's baseline, its own support rule) against the truth, and
  against 200 null truths where each program's support is replaced by a random gene set of the
  same size drawn from that group's program genes: mean and 95% quantile.
Run from the repository root: .venv/bin/python benchmarks/results/splatter_programs/chance.py [SEED ...]
(default seeds 0-2; seeds 3 and 4 were added in session 5)
"""
import sys
import numpy as np
sys.path.insert(0, "python"); sys.path.insert(0, "benchmarks")
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from mssvae.simulate import simulate
from mssvae.metrics import consensus, supports
from mssvae._constants import W_SPECIFIC, TRUE_W_SPECIFIC
import baselines

rng = np.random.default_rng(0)
for seed in map(int, sys.argv[1:]) if len(sys.argv) > 1 else range(3):
    a = simulate("splatter2", seed=seed, n_cells=3000, n_shared_genes=200, n_program_genes=100)
    X = np.asarray(a.X, float); g = a.obs.group.cat.codes.values; p = a.obs.program.cat.codes.values
    Wt = np.asarray(a.varm[TRUE_W_SPECIFIC]); groups = list(a.obs.group.cat.categories)
    baselines.pca_baseline(a, counts=True)
    West = np.asarray(a.varm[W_SPECIFIC])
    aris, obs, null = [], [], []
    for m, name in enumerate(groups):
        r = g == m
        de = np.flatnonzero(np.abs(Wt[:, 2 * m:2 * m + 2]).sum(1))
        L = np.log1p(X[r][:, de] / X[r].sum(1, keepdims=True) * 1e4)
        aris.append(adjusted_rand_score(p[r], KMeans(2, n_init=10, random_state=0).fit_predict(L)))
        true_sets = supports(Wt[:, 2 * m:2 * m + 2], threshold=0.0)
        est_sets = supports(West[:, 2 * m:2 * m + 2], threshold=0.0)
        obs.append(consensus(true_sets, est_sets))
        pool = np.flatnonzero(a.var.gene_set.astype(str).values == name)
        null.append([consensus([frozenset(rng.choice(pool, len(s), replace=False).tolist()) for s in true_sets], est_sets)
                     for _ in range(200)])
    null = np.mean(null, axis=0)
    print(f"seed {seed}: oracle program ARI {np.round(aris, 3).tolist()}  PCA group consensus {np.mean(obs):.3f}  "
          f"null mean {null.mean():.3f}  null 95% {np.quantile(null, 0.95):.3f}")
