"""The fit's gene-set threshold (mssvae.io.results.gene_set_threshold) and gene sets on wide data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mssvae
from mssvae import contract as C
from mssvae.io.results import gene_set_threshold, warn_inactive
from mssvae.sim import simulate


def test_threshold_is_the_papers_on_its_scale_and_follows_a_smaller_w():
    W = np.zeros((100, 4))
    W[:10, 0], W[10:20, 1] = 8.0, 5.0  # §4.1's scale: the paper's 0.5
    assert gene_set_threshold(W) == 0.5
    W[:10, 0], W[10:20, 1] = 0.8, 0.6  # a shrunk W: a tenth of the smallest active peak
    assert gene_set_threshold(W) == pytest.approx(0.06)
    W[20:30, 2] = 0.2  # each column's scale is its own: the weakest active factor sets it
    assert gene_set_threshold(W) == C.DEFAULT_THRESHOLD
    W[:30, :3] = 0.0
    W[:10, 0], W[10:20, 1] = 0.1, 0.12  # never below the support threshold (W's noise floor)
    assert gene_set_threshold(W) == C.DEFAULT_THRESHOLD
    W[:, :] = 0.01  # nothing active
    assert gene_set_threshold(W) == C.DEFAULT_THRESHOLD
    W[0, 0] = np.nan  # rows left out of the fit are ignored
    assert gene_set_threshold(W) == C.DEFAULT_THRESHOLD


def test_a_fit_without_active_factors_says_so_once():
    with pytest.warns(UserWarning, match=r"no factor has a loading \|W\| > 0.03.*lipschitz_decoder=True"):
        assert warn_inactive(np.full((5, 2), 0.01), "gaussian")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_inactive(np.eye(5, 2), "gaussian")


def test_wide_gaussian_gene_sets_hold_the_planted_programs():
    """180 samples x 800 genes, 2 shared programs of 80 genes and one of 50 per group: the fit
    shrinks W (largest |W| about 1, most program entries far below 0.5), so the paper's fixed 0.5
    misses the programs; the default threshold, the fit's own, finds every one."""
    a = simulate("wide", seed=0, n_per_group=60, n_features=800, n_shared=2, shared_size=80, specific_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = mssvae.fit(a, likelihood="gaussian", n_shared=6, n_specific=2, epochs=150, lambda0_breaks=(30, 180),
                           seed=0, threads=1, progress=False)
    t = a.uns[C.UNS][C.GENE_SET_THRESHOLD]
    assert 0.03 <= t < 0.5
    sets = mssvae.factor_gene_sets(a)
    truth = np.hstack([a.varm[C.TRUE_W_SHARED], a.varm[C.TRUE_W_SPECIFIC]]) != 0
    planted = [set(a.var_names[truth[:, j]]) for j in range(truth.shape[1])]
    found = [set(s) for s in sets.values()]
    for program in planted:
        best = max((len(program & s) / len(program | s) for s in found), default=0.0)
        assert best >= 0.8, f"a planted program of {len(program)} genes has best Jaccard {best:.2f}"
    table = model.active_factors()
    assert set(table.factor) == set(sets) and (table.n_genes == [len(sets[f]) for f in table.factor]).all()
