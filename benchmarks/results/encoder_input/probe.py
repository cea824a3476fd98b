"""Trace one splatter2 fit: active columns, best Jaccard per true factor, |W| on true vs other genes."""
import os, sys, json
import numpy as np, torch
sys.path.insert(0, "python"); sys.path.insert(0, "benchmarks")
torch.set_num_threads(1)
import mssvae.train as T
from mssvae.model import MSSVAE
from mssvae.simulate import simulate
from mssvae._constants import TRUE_W_SHARED, TRUE_W_SPECIFIC
from mssvae.metrics import jaccard_matrix

seed = int(sys.argv[1]); extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
epochs = extra.pop("epochs", 400); extra_bs = extra.pop("batch_size", 128)
data_kw = extra.pop("data", {})
a = simulate("splatter2", seed=seed, **{**dict(n_cells=600, n_shared_genes=200, n_program_genes=100), **data_kw})
Wt = np.asarray(a.varm[TRUE_W_SHARED]); true = [frozenset(np.flatnonzero(Wt[:, k])) for k in range(Wt.shape[1])]
Ws = np.asarray(a.varm[TRUE_W_SPECIFIC]); trueg = [frozenset(np.flatnonzero(Ws[:, k])) for k in range(Ws.shape[1])]
G = a.n_vars
holder = {}
orig_init = T.Trainer.__init__
def init(self, *args, **kw):
    orig_init(self, *args, **kw); holder["t"] = self
T.Trainer.__init__ = init
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
Xall = np.asarray(a.X, dtype=np.float32); KEEP = Xall.std(0) > 0
XT = torch.tensor(Xall[:, KEEP]); GT = torch.tensor(a.obs["group"].cat.codes.values.astype(np.int64))
PROG = []
def latent_ari(m):
    was = m.training; m.eval()
    with torch.no_grad():
        full = m.encode(XT, GT)["mu"].numpy()
    mu, spec = full[:, :m.n_shared], full[:, m.n_shared:]
    m.train(was)
    PROG.clear()
    for g in range(len(m.n_specific)):  # program ARI within each group, from its own latents
        r = (GT == g).numpy(); cols = slice(sum(m.n_specific[:g]), sum(m.n_specific[:g + 1]))
        PROG.append(adjusted_rand_score(a.obs["program"][r], KMeans(2, n_init=5, random_state=0).fit_predict(spec[r][:, cols])))
    return adjusted_rand_score(a.obs["cell_type"], KMeans(5, n_init=5, random_state=0).fit_predict(mu))
def prog(epoch, total, record):
    if epoch % 20 and epoch not in (1, 5, 10): return
    m = holder["t"].module
    W = m.W.detach().numpy()
    KS = m.n_shared
    def summ(Wb, tr):
        est = [frozenset(np.flatnonzero(np.abs(Wb[:, k]) > 0.1)) for k in range(Wb.shape[1])]
        act = [k for k, e in enumerate(est) if 0 < len(e) <= 0.25 * G]
        J = jaccard_matrix(tr, [est[k] for k in act]) if act else np.zeros((len(tr), 1))
        dense = sum(len(e) > 0.25 * G for e in est)
        return len(act), dense, J.max(1), [len(est[k]) for k in act]
    na, nd, bj, sizes = summ(W[:, :KS], true)
    ga, gd, gj, gs = summ(W[:, KS:], trueg)
    ari = latent_ari(m)
    print(f"ari {ari:.2f} prog " + "/".join(f"{v:.2f}" for v in PROG) + f" ep {epoch:3d} λ0 {record['lambda0']:4.1f} rec {record.get('reconstruction', float('nan')):9.1f} kl {record.get('kl', float('nan')):6.1f} "
          f"S act {na:2d} dense {nd:2d} J " + " ".join(f"{v:.2f}" for v in bj) + f" sizes {sizes} | G act {ga} dense {gd} J " + " ".join(f"{v:.2f}" for v in gj)
          + f" maxW {np.abs(W).max():.2f}", flush=True)
KLW = {"epoch": 0}
def prog_outer(epoch, total, record):
    KLW["epoch"] = epoch
    prog(epoch, total, record)
T._progress = prog_outer
kl_warmup = extra.pop("kl_warmup", 0)  # epochs over which the KL weight rises 0 -> 1 (scVI's warm-up)
if kl_warmup:
    import mssvae.module as MM
    _fwd = MM.MSSVAEModule.forward
    def fwd(self, *args, **kw):
        t = _fwd(self, *args, **kw)
        beta = min(1.0, KLW["epoch"] / kl_warmup)
        t.loss = t.loss - (1.0 - beta) * t.kl
        return t
    MM.MSSVAEModule.forward = fwd
gain = extra.pop("gain", None)
if gain is not None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import patch_gain; patch_gain.install(a.X, **gain)
if extra.pop("norm_in", False):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import patch_in; patch_in.install(a.X)
kw = dict(n_shared=20, n_specific=5, hidden=(128, 64), lr=0.01, precision="bf16", sparsity_weight=10.0); kw.update(extra)
model = MSSVAE("nb", **kw)
model.fit(a, group_key="group", seed=seed, epochs=epochs, batch_size=extra_bs, progress=True)
# latent ARI of cell types
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
Z = model.transform(a) if hasattr(model, "transform") else None
if isinstance(Z, dict): Zs = Z.get("shared")
else: Zs = None
print("transform keys", type(Z), list(Z.keys()) if isinstance(Z, dict) else None)
if Zs is not None:
    ari = adjusted_rand_score(a.obs["cell_type"], KMeans(5, n_init=10, random_state=0).fit_predict(np.asarray(Zs)))
    print("shared latent ARI celltype", round(ari, 3))
W = np.zeros((G, model.module.W.shape[1])); W[model._meta["kept"]] = model.module.W.detach().numpy()
tsup = np.abs(Wt).sum(1) > 0
print("true DE |logfac| quantiles", np.quantile(np.abs(Wt[Wt != 0]), [.1, .25, .5, .75, .9]).round(2))
print("max |W_S| on DE genes quantiles", np.quantile(np.abs(W[tsup, :model.module.n_shared]).max(1), [.1,.5,.9]).round(3),
      "non-DE", np.quantile(np.abs(W[~tsup, :model.module.n_shared]).max(1), [.1,.5,.9]).round(3))
