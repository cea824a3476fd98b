"""The fit's gene-set threshold (mssvae.io.results.gene_set_threshold) and gene sets on wide data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mssvae
from mssvae import contract as C
from mssvae.io.results import gene_set_threshold, warn_inactive
from mssvae.sim import simulate


def test_each_factor_has_the_papers_threshold_on_its_scale_and_follows_its_own_smaller_w():
    W = np.zeros((100, 5))
    W[:10, 0], W[10:20, 1] = 25.0, 20.0  # at the paper's scale: §5's 0.5
    W[20:30, 2] = 2.4  # a column the fit shrank: a fortieth of its own peak
    W[30:40, 3] = 0.1  # never below the support threshold (W's noise floor)
    W[:, 4] = 0.01  # inactive
    W[0, 4] = np.nan  # rows left out of the fit are ignored
    assert gene_set_threshold(W) == pytest.approx([0.5, 0.5, 0.06, C.DEFAULT_THRESHOLD, C.DEFAULT_THRESHOLD])
    # each column's threshold is its own: a weak column does not lower a strong one's
    W[20:30, 2] = 0.6
    assert gene_set_threshold(W)[:2] == pytest.approx([0.5, 0.5])


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
    t = np.asarray(a.uns[C.UNS][C.GENE_SET_THRESHOLD])
    assert t.shape == (a.varm[C.W_SHARED].shape[1] + a.varm[C.W_SPECIFIC].shape[1],)
    assert ((0.03 <= t) & (t <= 0.5)).all() and (t < 0.5).any()
    sets = mssvae.factor_gene_sets(a)
    truth = np.hstack([a.varm[C.TRUE_W_SHARED], a.varm[C.TRUE_W_SPECIFIC]]) != 0
    planted = [set(a.var_names[truth[:, j]]) for j in range(truth.shape[1])]
    found = [set(s) for s in sets.values()]
    for program in planted:
        best = max((len(program & s) / len(program | s) for s in found), default=0.0)
        assert best >= 0.8, f"a planted program of {len(program)} genes has best Jaccard {best:.2f}"
    table = model.active_factors()
    assert set(table.factor) == set(sets) and (table.n_genes == [len(sets[f]) for f in table.factor]).all()
