"""Factors matched across starts and their stability scores (mssvae.analysis.stability)."""

import numpy as np
import pytest

from mssvae.analysis.stability import factor_stability, match_block, match_starts
from mssvae.errors import MSSVAEInputError

G = 30


def _programs():
    """A start with K_S = 3 (two programs and an empty column) and two groups a, b with K_m = 2."""
    rng = np.random.default_rng(0)
    W = {"shared": np.zeros((G, 3)), "a": np.zeros((G, 2)), "b": np.zeros((G, 2))}
    W["shared"][0:5, 0] = rng.uniform(1, 2, 5)
    W["shared"][5:10, 1] = rng.uniform(1, 2, 5)
    W["a"][10:15, 0] = rng.uniform(1, 2, 5)
    W["b"][15:20, 0] = rng.uniform(1, 2, 5)
    W["b"][20:24, 1] = rng.uniform(1, 2, 5)[:4]
    return W


def _shuffled(W, seed):
    """The same programs with the columns of every block permuted, signs flipped and scaled."""
    rng = np.random.default_rng(seed)
    out = {}
    for b, w in W.items():
        perm = rng.permutation(w.shape[1])
        signs = rng.choice([-1.0, 1.0], size=w.shape[1]) * rng.uniform(0.3, 3, size=w.shape[1])
        out[b] = w[:, perm] * signs
    return out


def test_permutations_and_sign_flips_are_fully_stable():
    ref = _programs()
    table = factor_stability([ref, _shuffled(ref, 1), _shuffled(ref, 2), _shuffled(ref, 3)])
    assert table["factor"].tolist() == ["shared_1", "shared_2", "shared_3", "a_1", "a_2", "b_1", "b_2"]
    active = table[table["factor"].isin(["shared_1", "shared_2", "a_1", "b_1", "b_2"])]
    assert (active["stability"] == 1.0).all() and (active["median_jaccard"] == 1.0).all()
    # empty columns (shared_3, a_2) match nothing, even when every start has them empty
    empty = table.set_index("factor").loc[["shared_3", "a_2"]]
    assert (empty["stability"] == 0.0).all() and (empty["median_jaccard"] == 0.0).all()


def test_a_factor_in_only_some_starts_gets_that_fraction():
    ref = _programs()
    others = [_shuffled(ref, s) for s in range(1, 5)]
    for o in others[:3]:  # b_2's program is absent from three of the four other starts
        o["b"][20:24] = 0.0
    table = factor_stability([ref, *others]).set_index("factor")
    assert table.loc["b_2", "stability"] == 0.25 and table.loc["b_2", "median_jaccard"] == 0.0
    assert table.loc["b_1", "stability"] == 1.0


def test_a_partial_match_counts_only_above_the_cut():
    ref = _programs()
    other = _shuffled(ref, 1)
    col = np.flatnonzero(np.abs(other["shared"][0:5]).sum(0))[0]  # where shared_1's program went
    other["shared"][2:5, col] = 0.0  # 2 of the 5 genes left: Jaccard 0.4
    table = factor_stability([ref, other]).set_index("factor")
    assert table.loc["shared_1", "median_jaccard"] == pytest.approx(0.4)
    assert table.loc["shared_1", "stability"] == 0.0
    assert factor_stability([ref, other], min_jaccard=0.4).set_index("factor").loc["shared_1", "stability"] == 1.0


def test_matching_is_one_to_one_within_a_block():
    ref = _programs()["shared"]
    other = np.zeros_like(ref)
    other[0:10, 0] = 1.0  # both reference programs merged into one column
    match, jac = match_block(ref, other)
    assert sorted(match[:2].tolist()) == [-1, 0] and sorted(jac[:2].tolist()) == [0.0, 0.5]


def test_a_shared_program_estimated_in_every_group_block_matches_the_shared_column():
    """App. C.3: in the other start the program of shared_2 sits once in a's and once in b's block."""
    ref = _programs()
    other = {b: w.copy() for b, w in ref.items()}
    other["shared"][:, 1] = 0.0
    other["a"][5:10, 1] = 0.9
    other["b"][5:10, 1] = -0.7
    other["b"][20:24, 1] = 0.0
    table = factor_stability([ref, other]).set_index("factor")
    assert table.loc["shared_2", "stability"] == 1.0
    assert table.loc["b_2", "stability"] == 0.0  # its own program is gone from the other start
    unfolded = factor_stability([ref, other], fold=False).set_index("factor")
    assert unfolded.loc["shared_2", "stability"] == 0.0
    # and the other way round: the reference's switched pair takes the shared column's score
    back = factor_stability([other, ref]).set_index("factor")
    assert back.loc["a_2", "stability"] == 1.0 and back.loc["b_2", "stability"] == 1.0
    rows = match_starts([other, ref])
    assert rows.set_index("factor").loc["a_2", "match"] == "shared_2"


def test_bad_starts_are_named():
    ref = _programs()
    with pytest.raises(MSSVAEInputError, match="at least 2 starts"):
        factor_stability([ref])
    small = {b: w[:10] for b, w in ref.items()}
    with pytest.raises(MSSVAEInputError, match="start 1 has other blocks or sizes"):
        factor_stability([ref, small])
    with pytest.raises(MSSVAEInputError, match="must start with 'shared'"):
        factor_stability([ref, {"a": ref["a"]}])
