import numpy as np
import torch

from mssvae.core.train import balanced_weights, epoch_batches


def test_balanced_batches_are_balanced_across_groups():
    codes = np.repeat([0, 1, 2], [900, 90, 10])
    g = torch.Generator().manual_seed(0)
    batches = epoch_batches(codes, 300, balance=True, generator=g)
    assert sum(len(b) for b in batches) == len(codes)
    counts = np.bincount(codes[torch.cat(batches).numpy()], minlength=3) / len(codes)
    assert np.allclose(counts, 1 / 3, atol=0.05)  # unbalanced sampling would give 0.9/0.09/0.01
    w = balanced_weights(codes)
    assert np.isclose(w.sum(), 1) and np.isclose(w[codes == 2].sum(), 1 / 3)


def test_unbalanced_is_a_permutation_and_no_batch_of_one():
    codes = np.zeros(11, dtype=int)
    batches = epoch_batches(codes, 5, balance=False, generator=torch.Generator().manual_seed(1))
    assert sorted(torch.cat(batches).tolist()) == list(range(11))
    assert min(len(b) for b in batches) >= 2
