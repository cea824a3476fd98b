"""Start W at the true support (3 on it, 0.01 elsewhere) and trace whether the fit keeps it."""
import sys, json
import numpy as np, torch
sys.path.insert(0, "python")
torch.set_num_threads(1)
import mssvae.train as T
from mssvae.model import MSSVAE
from mssvae.simulate import simulate
from mssvae._constants import TRUE_W_SHARED, TRUE_W_SPECIFIC
from mssvae.metrics import jaccard_matrix

seed = int(sys.argv[1]); extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
epochs = extra.pop("epochs", 400); oracle = extra.pop("oracle", True)
a = simulate("rnaseq", seed=seed, n_samples=600, n_features=300, overlap=2)
Wt = np.asarray(a.varm[TRUE_W_SHARED]); Wm = np.asarray(a.varm[TRUE_W_SPECIFIC])
true = [frozenset(np.flatnonzero(Wt[:, k])) for k in range(Wt.shape[1])]
KS, KM = extra.get("n_shared", 20), extra.get("n_specific", 5)
holder = {}
orig_init = T.Trainer.__init__
def init(self, module, *args, **kw):
    orig_init(self, module, *args, **kw); holder["t"] = self
    if oracle:
        kept = holder.get("kept")
        W = np.full(tuple(module.W.shape), 0.01, dtype=np.float32)
        W[:, :10] = np.where(Wt != 0, 3.0, 0.01)
        for m in range(3):
            W[:, KS + m * KM: KS + m * KM + 3] = np.where(Wm[:, 3 * m: 3 * m + 3] != 0, 3.0, 0.01)
        assert W.shape[0] == Wt.shape[0], "dropped genes; adjust"
        module.W.data.copy_(torch.as_tensor(W))
T.Trainer.__init__ = init
def prog(epoch, total, record):
    if epoch % 20 and epoch not in (1, 5, 10): return
    m = holder["t"].module
    W = m.W.detach().numpy()[:, :KS]
    est = [frozenset(np.flatnonzero(np.abs(W[:, k]) > 0.1)) for k in range(W.shape[1])]
    act = [k for k, e in enumerate(est) if 0 < len(e) <= 75]
    J = jaccard_matrix(true, [est[k] for k in act]) if act else np.zeros((len(true), 1))
    h = record
    print(f"ep {epoch:3d} λ0 {record['lambda0']:4.1f} loss {record['loss']:9.1f} "
          + " ".join(f"{k} {v:.1f}" for k, v in h.items() if k not in ('loss', 'lambda0', 'epoch', 'seconds'))
          + f" active {len(act):2d} bestJ " + " ".join(f"{v:.2f}" for v in J.max(1)), flush=True)
T._progress = prog
kw = dict(n_shared=KS, n_specific=KM, hidden=(32, 16), lr=0.01); kw.update(extra)
model = MSSVAE("nb", **kw)
model.fit(a, group_key="group", seed=seed, epochs=epochs, batch_size=128, progress=True)
