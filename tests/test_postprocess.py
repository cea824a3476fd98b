"""fold_switched: a shared program estimated in every group's block moves into W^(S) (App. C.3)."""

import anndata as ad
import numpy as np
import pandas as pd

from mssvae import contract as C
from mssvae.analysis.postprocess import fold_switched


def _contract(b_program=range(4, 8)):
    """Two groups a, b (3 samples each), K_S = 1, K_m = 2. a_1 and b_2 hold genes 4-7 with
    opposite signs: one shared program estimated in both blocks."""
    G = 12
    rng = np.random.default_rng(0)
    W_s = np.zeros((G, 1))
    W_s[:4, 0] = 1.0
    W_m = np.zeros((G, 4))
    W_m[4:8, 0] = 0.8  # a_1
    W_m[8:10, 1] = 1.0  # a_2: group a's own program
    W_m[10:12, 2] = 1.0  # b_1
    W_m[list(b_program), 3] = -0.6  # b_2
    adata = ad.AnnData(np.zeros((6, G), dtype=np.float32), obs=pd.DataFrame({"group": list("aaabbb")}, index=list("123456")))
    adata.varm[C.W_SHARED], adata.varm[C.W_SPECIFIC] = W_s, W_m
    adata.obsm[C.Z_SHARED], adata.obsm[C.Z_SPECIFIC] = rng.normal(size=(6, 1)), rng.normal(size=(6, 2))
    adata.uns[C.UNS] = {C.GROUPS: ["a", "b"], C.N_SPECIFIC: np.array([2, 2]), C.GROUP_KEY: "group",
                        C.ETA_SHARED: np.array([0.3]), C.ETA_SPECIFIC: np.array([0.2, 0.1, 0.4, 0.25]),
                        "p_star": rng.uniform(size=(G, 5))}
    return adata


def test_fold_moves_the_switched_pair_into_the_shared_block():
    adata = _contract()
    before = adata.copy()
    assert fold_switched(adata) == ["a_1 + b_2 -> shared_2"]
    W_s, W_m = adata.varm[C.W_SHARED], adata.varm[C.W_SPECIFIC]
    assert W_s.shape == (12, 2)
    np.testing.assert_allclose(W_s[:, 0], before.varm[C.W_SHARED][:, 0])
    np.testing.assert_allclose(W_s[4:8, 1], 0.7)  # (0.8 + 0.6) / 2, b_2's sign flipped to agree with a_1
    assert np.count_nonzero(W_s[:, 1]) == 4
    assert not W_m[:, [0, 3]].any()
    np.testing.assert_allclose(W_m[:, [1, 2]], before.varm[C.W_SPECIFIC][:, [1, 2]])  # the groups' own programs stay

    z_old, z_new = before.obsm[C.Z_SPECIFIC], adata.obsm[C.Z_SHARED][:, 1]
    np.testing.assert_allclose(z_new[:3], z_old[:3, 0])  # group a: its a_1 latent
    np.testing.assert_allclose(z_new[3:], -z_old[3:, 1])  # group b: its b_2 latent, signed like its W column
    assert not adata.obsm[C.Z_SPECIFIC][:3, 0].any() and not adata.obsm[C.Z_SPECIFIC][3:, 1].any()
    np.testing.assert_allclose(adata.obsm[C.Z_SPECIFIC][:3, 1], z_old[:3, 1])

    uns, old = adata.uns[C.UNS], before.uns[C.UNS]
    np.testing.assert_allclose(uns[C.ETA_SHARED], [0.3, 0.225])
    assert uns["p_star"].shape == (12, 6)
    np.testing.assert_allclose(uns["p_star"][:, 1], (old["p_star"][:, 1] + old["p_star"][:, 4]) / 2)
    np.testing.assert_allclose(uns["p_star"][:, [0, 3, 4]], old["p_star"][:, [0, 2, 3]])
    assert not uns["p_star"][:, [2, 5]].any()
    assert list(uns["folded"]) == ["a_1 + b_2 -> shared_2"]
    assert fold_switched(adata) == []  # nothing left to fold


def test_no_fold_when_the_supports_differ_or_at_a_higher_threshold():
    adata = _contract(b_program=range(0, 4))  # b_2 now lies on other genes
    before = adata.copy()
    assert fold_switched(adata) == []
    np.testing.assert_array_equal(adata.varm[C.W_SPECIFIC], before.varm[C.W_SPECIFIC])
    assert adata.varm[C.W_SHARED].shape == (12, 1)
    assert fold_switched(_contract(), threshold=0.7) == []  # b_2's |w| = 0.6 is below the cut-off


def test_fold_keeps_one_stability_entry_per_factor():
    adata = _contract()
    # shared_1, then a_1 a_2 b_1 b_2: the switched pair a_1 + b_2 scores as one program
    adata.uns[C.UNS][C.STABILITY] = {"stability": np.array([1.0, 0.8, 0.2, 0.4, 0.8]),
                                     "median_jaccard": np.array([0.9, 0.7, 0.1, 0.5, 0.7]), "min_jaccard": 0.5,
                                     "jaccard": np.array([[1, 0.9], [1, 0.7], [1, 0.1], [1, 0.5], [1, 0.6]])}
    assert fold_switched(adata) == ["a_1 + b_2 -> shared_2"]
    record = adata.uns[C.UNS][C.STABILITY]
    np.testing.assert_allclose(record["stability"], [1.0, 0.8, 0.0, 0.2, 0.4, 0.0])
    np.testing.assert_allclose(record["median_jaccard"], [0.9, 0.7, 0.0, 0.1, 0.5, 0.0])
    np.testing.assert_allclose(record["jaccard"], [[1, 0.9], [1, 0.6], [0, 0], [1, 0.1], [1, 0.5], [0, 0]])
    assert record["min_jaccard"] == 0.5
