"""Folding columns of W nested in a larger column of their block (mssvae.core.nested)."""

from dataclasses import replace

import anndata
import numpy as np
import pytest
import torch

from conftest import TINY, make_adata
from mssvae import contract as C
from mssvae.core.module import MSSVAEModule
from mssvae.core.nested import containment, nested_columns
from mssvae.core.priors import Lambda0Schedule
from mssvae.core.batches import Batches
from mssvae.core.stopping import StoppingRule
from mssvae.core.train import Trainer
from mssvae.model import PAPER_DEFAULTS, MSSVAE
from mssvae.model.start import module_kwargs


def _w(columns, n_features=40):
    W = torch.zeros(n_features, len(columns))
    for k, (rows, value) in enumerate(columns):
        W[rows, k] = value
    return W


def test_a_column_mostly_inside_a_larger_one_of_its_block_is_nested():
    W = _w([(slice(0, 20), 5.0), (slice(2, 8), 2.0), (slice(20, 30), 4.0), (slice(25, 32), 3.0), (slice(0, 20), 5.0)])
    blocks = torch.tensor([-1, -1, -1, -1, 0])
    # column 3 has 5 of its 7 genes in column 2 (0.71); column 4 repeats column 0 in another block
    assert nested_columns(W, blocks) == {1: 0, 3: 2}
    assert nested_columns(W, blocks, min_contained=0.75) == {1: 0}
    assert nested_columns(W, blocks, skip={1: 0}) == {3: 2}


def test_two_programs_sharing_a_few_genes_are_not_nested():
    W = _w([(slice(0, 30), 5.0), (slice(20, 50), 5.0), (slice(60, 61), 0.0)], n_features=80)
    assert nested_columns(W, torch.tensor([-1, -1, -1])) == {}


def test_a_chain_folds_into_the_largest_column_and_a_folded_column_hosts_nothing():
    W = _w([(slice(0, 6), 3.0), (slice(0, 12), 3.0), (slice(0, 30), 3.0)])
    assert nested_columns(W, torch.tensor([0, 0, 0])) == {1: 2, 0: 2}
    assert nested_columns(W, torch.tensor([0, 0, 0]), skip={2: 0}) == {0: 1}


def test_a_column_of_two_merged_programs_hosts_neither():
    # column 2 holds programs 0 and 1 together: folding them into it would merge them
    W = _w([(slice(0, 20), 5.0), (slice(20, 40), 5.0), (slice(0, 40), 5.0), (slice(2, 8), 2.0)], n_features=60)
    assert nested_columns(W, torch.tensor([-1, -1, -1, -1])) == {3: 0}


def test_containment_reads_shares_of_the_smaller_set():
    s = np.zeros((10, 2), dtype=bool)
    s[:8, 0], s[6:10, 1] = True, True
    inside = containment(s)
    assert inside[1, 0] == pytest.approx(0.5) and inside[0, 1] == pytest.approx(0.25) and inside[0, 0] == 1.0


def test_gene_sets_are_read_per_column_as_users_read_them():
    # a weak column is read at its own threshold (0.03 here), not at the strong column's 0.5
    W = _w([(slice(0, 20), 40.0), (slice(0, 6), 0.1)])
    W[30, 1] = 0.2
    assert nested_columns(W, torch.tensor([-1, -1])) == {1: 0}  # 6 of its 7 genes are column 0's
    W[30:40, 1] = 0.2
    assert nested_columns(W, torch.tensor([-1, -1])) == {}  # 6 of 16


def _trainer(fold: bool, epochs: int = 12, dense: bool = False):
    a = make_adata(n_features=40)  # column 0's 8 genes: 20 %, below the rule's density bound
    s = MSSVAE("nb", sparsity_weight=10.0, lr_w=1e-5, **TINY).settings.for_fit(a.n_obs, epochs, 32)
    module = MSSVAEModule(**module_kwargs(a.X, s, [2, 2, 2]))
    with torch.no_grad():
        module.W.zero_()
        module.W[:8, 0] = 3.0
        module.W[2:5, 1] = 2.0  # all of its genes are column 0's
        module.W[8:12, 2] = 3.0
        if dense:
            module.W[:, 0] = 3.0
    train = replace(s.train_settings(a.n_obs), schedule=Lambda0Schedule.constant(15.0),
                    stopping=StoppingRule(window=2, patience=2), fold_nested=fold)
    return Trainer(module, train, seed=0), Batches(np.asarray(a.X), np.repeat([0, 1, 2], [30, 20, 25]), torch.device("cpu"))


def test_a_fit_folds_a_nested_column_once_the_supports_settle_and_keeps_it_out():
    trainer, data = _trainer(fold=True)
    trainer.run(data, progress=False)
    assert trainer.folded == {1: 0}
    assert torch.all(trainer.module.W[:, 1] == 0) and torch.all(trainer.module.W[:8, 0].abs() > 2)
    folds = [h for h in trainer.history if h.get("folded")]
    assert len(folds) == 1 and folds[0]["epoch"] >= 2  # not before the supports held for `patience` epochs
    assert folds[0]["epoch"] < trainer.history[-1]["epoch"]  # the fit went on after folding
    summary = trainer.summary()
    assert summary["folded"] == [[1, 0]] and "folded into it" in summary["message"]

    resumed, data = _trainer(fold=True, epochs=trainer.epoch + 3)
    resumed.load_state(trainer.state())
    assert resumed.folded == {1: 0}
    resumed.stop_reason = None
    resumed.run(data, progress=False)
    assert resumed.epoch > trainer.epoch and torch.all(resumed.module.W[:, 1] == 0)


def test_without_folding_the_nested_column_stays():
    trainer, data = _trainer(fold=False)
    trainer.run(data, progress=False)
    assert trainer.folded == {} and torch.all(trainer.module.W[2:5, 1].abs() > 1)
    assert trainer.summary()["folded"] == [] and "folded" not in trainer.summary()["message"]


def test_folding_is_the_nb_default_and_the_results_name_the_factors():
    assert PAPER_DEFAULTS["nb"]["fold_nested"] and not PAPER_DEFAULTS["gaussian"]["fold_nested"]
    a = make_adata()
    model = MSSVAE("nb", **TINY).fit(a, group_key="group", epochs=1, batch_size=32, progress=False)
    assert model.fitted_settings.fold_nested and model.state.stopping["folded"] == []
    model.state.stopping["folded"] = [[1, 0], [4, 3]]
    out = anndata.AnnData(a.X.copy(), obs=a.obs.copy(), var=a.var.copy())
    model.write_results(out)
    groups = list(model.groups)
    assert dict(out.uns[C.UNS][C.STOPPING]["folded"]) == {"shared_2": "shared_1", f"{groups[0]}_2": f"{groups[0]}_1"}


def test_a_dense_w_folds_nothing():
    trainer, data = _trainer(fold=True, dense=True)  # every column lies inside the dense column 0
    trainer.run(data, progress=False)
    assert trainer.folded == {} and trainer.history[-1]["densest"] == 1.0
