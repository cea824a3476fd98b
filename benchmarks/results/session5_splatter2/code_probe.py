# Recorded probe (session 5), run from the repository root as
#   OMP_NUM_THREADS=1 .venv/bin/python benchmarks/results/session5_splatter2/code_probe.py SEED K_M WEIGHT
# (logs: code_w10.log = "0 5", code_w50.log = "0 5 50", code_w200.log = "0 5 200"; models saved under /tmp/s5/).
"""Fit splatter2 (fidelity defaults) and look at how the shared latents code the cell types."""
import sys, os, warnings
sys.path.insert(0, "benchmarks"); sys.path.insert(0, "python")
import numpy as np, torch
torch.set_num_threads(1)
import fidelity
from mssvae.model import MSSVAE
from mssvae.simulate import simulate
from mssvae.metrics import supports
seed = int(sys.argv[1]); n_spec = int(sys.argv[2]); sw = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
path = f"/tmp/s5/model_s{seed}_k{n_spec}" + ("" if sw == 10 else f"_w{sw:g}")
cfg = fidelity.sizes_for("splatter2", False, {})
a = simulate("splatter2", seed=seed, **cfg["data"])
if not os.path.exists(path):
    m = MSSVAE("nb", **{**cfg["model"], "n_specific": n_spec, "sparsity_weight": sw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(a, group_key="group", seed=seed, progress=False, **cfg["fit"])
    m.save(path)
m = MSSVAE.load(path)
W = m.W_shared.values
act = np.flatnonzero((np.abs(W) > 0.1).sum(0) > 0)
Z = m.transform(a)["shared"].values
Wt = np.asarray(a.varm["true_W_shared"]); true = supports(Wt, 0.0)
ct = a.obs.cell_type.cat.codes.values
np.set_printoptions(linewidth=220, precision=2, suppress=True)
print("active shared columns", act)
for k in act:
    s = set(np.flatnonzero(np.abs(W[:, k]) > 0.1)); ov = [len(s & t) for t in true]
    print(f"col {k}: size {len(s)} overlap {ov}; latent mean by type", np.array([Z[ct == c, k].mean() for c in range(5)]),
          "sd", np.array([Z[ct == c, k].std() for c in range(5)]))
# do genes in a column respond monotonically? decoder mean per cell type for genes of each column
mu_true = np.array([[np.asarray(a.X)[ct == c, j].mean() for c in range(5)] for j in range(Wt.shape[0])])
for k in act:
    genes = np.flatnonzero(np.abs(W[:, k]) > 0.1)[:8]
    print(f"col {k} genes' true lfc rows:"); print(Wt[genes].round(2))
spec = m.W_specific
print({g: (np.abs(v.values) > 0.1).sum(0) for g, v in spec.items()})
# score
from mssvae.metrics import consensus
est = supports(W, 0.1, 0.25)
print("shared consensus", round(consensus(true, est), 3), "n cols", len(est))
# KL per active dim per cell, W nonzeros
mu = Z[:, act]
h = m.history_frame()
print(h.tail(1).T)
