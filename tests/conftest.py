import numpy as np
import pandas as pd
import pytest
import torch

torch.set_num_threads(1)


def make_adata(n_per_group=(30, 20, 25), n_features=12, counts=True, seed=0):
    """Tiny grouped data: counts (NB) or real values (Gaussian), with a shared and a group signal."""
    import anndata

    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{m}" for m in range(len(n_per_group))], n_per_group)
    n = len(groups)
    z = rng.normal(size=(n, 2))
    base = np.outer(z[:, 0], np.r_[np.ones(n_features // 2), np.zeros(n_features - n_features // 2)])
    if counts:
        X = rng.poisson(np.exp(1.5 + 0.5 * base)).astype(np.float32)
    else:
        X = (base + 0.3 * rng.normal(size=(n, n_features))).astype(np.float32)
    obs = pd.DataFrame({"group": pd.Categorical(groups), "donor": "d1"}, index=[f"cell{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_features)])
    return anndata.AnnData(X=X, obs=obs, var=var)


@pytest.fixture
def counts_adata():
    return make_adata(counts=True)


@pytest.fixture
def gauss_adata():
    return make_adata(counts=False)


TINY = dict(n_shared=3, n_specific=2, hidden=(8, 6))
