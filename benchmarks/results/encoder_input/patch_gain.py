# Decoder head rows of norm c * sd_j (sd of gene j's log-normalised expression) instead of 1.
import numpy as np, torch
from torch import nn
from torch.nn.utils import parametrize
import mssvae.module as MM
def install(X, c=1.0, floor=0.0):
    X = np.asarray(X, dtype=np.float64); X = X[:, X.std(0) > 0]
    L = np.log1p(X / X.sum(1, keepdims=True) * np.median(X.sum(1)))
    sd = np.maximum(L.std(0), floor) * c
    print("gain quantiles", np.quantile(sd, [0, .1, .5, .9, 1]).round(3))
    g = torch.tensor(sd, dtype=torch.float32)[:, None]
    class ScaledRows(nn.Module):
        def forward(self, V):
            return g * V / V.norm(dim=1, keepdim=True).clamp_min(1e-12)
    def constrain(decoder):
        parametrize.register_parametrization(decoder.V1, "weight", MM.SpectralNormalized())
        parametrize.register_parametrization(decoder.V2, "weight", MM.SpectralNormalized())
        parametrize.register_parametrization(decoder, "head", ScaledRows())
    MM.constrain_decoder = constrain
