"""Trace the shared block of one rnaseq fit: per true shared factor, best Jaccard over epochs."""
import sys, json
import numpy as np, torch
sys.path.insert(0, "python"); sys.path.insert(0, "benchmarks")
torch.set_num_threads(1)
import mssvae.train as T
from mssvae.model import MSSVAE
from mssvae.simulate import simulate
from mssvae._constants import TRUE_W_SHARED
from mssvae.metrics import jaccard_matrix

seed = int(sys.argv[1]); extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
epochs = extra.pop("epochs", 400)
a = simulate("rnaseq", seed=seed, n_samples=600, n_features=300, overlap=2)
Wt = np.asarray(a.varm[TRUE_W_SHARED]); true = [frozenset(np.flatnonzero(Wt[:, k])) for k in range(Wt.shape[1])]
holder = {}
orig_init = T.Trainer.__init__
def init(self, *args, **kw):
    orig_init(self, *args, **kw); holder["t"] = self
T.Trainer.__init__ = init
def prog(epoch, total, record):
    if epoch % 10 and epoch not in (1, 2, 5): return
    m = holder["t"].module
    W = m.W.detach().numpy()[:, :m.n_shared] if hasattr(m, "n_shared") else m.W.detach().numpy()[:, :extra.get("n_shared", 20)]
    est = [frozenset(np.flatnonzero(np.abs(W[:, k]) > 0.1)) for k in range(W.shape[1])]
    act = [k for k, e in enumerate(est) if 0 < len(e) <= 75]
    J = jaccard_matrix(true, [est[k] for k in act]) if act else np.zeros((len(true), 1))
    dense = sum(len(e) > 75 for e in est)
    print(f"ep {epoch:3d} λ0 {record['lambda0']:4.1f} loss {record['loss']:9.1f} active {len(act):2d} dense {dense:2d} "
          f"bestJ " + " ".join(f"{v:.2f}" for v in J.max(1)), flush=True)
T._progress = prog
kw = dict(n_shared=20, n_specific=5, hidden=(32, 16), lr=0.01); kw.update(extra)
model = MSSVAE("nb", **kw)
model.fit(a, group_key="group", seed=seed, epochs=epochs, batch_size=128, progress=True)
