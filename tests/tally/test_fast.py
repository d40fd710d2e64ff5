"""The numpy fast paths give exactly the pure-Python answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally import _fast
from governance.tally.condorcet import pairwise_matrix, schulze
from governance.tally.core import Profile, TallyError
from governance.tally.irv import irv

np = pytest.importorskip("numpy")


@st.composite
def arrays(draw):
    n = draw(st.integers(2, 6))
    rows = []
    for _ in range(draw(st.integers(1, 30))):
        order = draw(st.permutations(range(n)))[: draw(st.integers(0, n))]
        rows.append(list(order) + [-1] * (n - len(order)))
    return n, np.array(rows, dtype=np.int64)


def _pure(n: int, rows) -> Profile:
    return Profile.from_indices(
        [f"c{i}" for i in range(n)], [tuple((c,) for c in r if c >= 0) for r in rows.tolist()]
    )


@settings(max_examples=60, deadline=None)
@given(arrays())
def test_array_profile_counts_like_the_pure_path(case):
    n, rows = case
    fast = _fast.ArrayProfile.from_array([f"c{i}" for i in range(n)], rows)
    pure = _pure(n, rows)
    assert fast.total_weight == pure.total_weight
    assert pairwise_matrix(fast) == pairwise_matrix(pure)
    assert irv(fast).to_dict() == irv(pure).to_dict()
    assert schulze(fast).to_dict() == schulze(pure).to_dict()


def test_array_profile_weights_and_lazy_ballots():
    rows = np.array([[0, 1], [0, 1], [1, -1]])
    p = _fast.ArrayProfile.from_array(["a", "b"], rows, weights=[2, 3, 4])
    assert sorted((b.ranking, b.weight) for b in p.ballots) == [(((0,), (1,)), 5), (((1,),), 4)]
    assert p.with_seats(2).seats == 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[0, 2]], "ballot 1: candidate index out of range"),
        ([[0, 1], [-1, 1]], "ballot 2: a preference follows an empty rank"),
        ([[0, 1], [1, 1]], "ballot 2: a candidate is ranked more than once"),
    ],
)
def test_array_profile_rejects(rows, message):
    with pytest.raises(TallyError, match=message):
        _fast.ArrayProfile.from_array(["a", "b"], np.array(rows))
    with pytest.raises(TallyError, match="weight"):
        _fast.ArrayProfile.from_array(["a", "b"], np.array([[0, 1]]), weights=[0])


def test_large_plain_profile_uses_the_fast_path_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(7)
    rows = [rng.permutation(8)[: rng.integers(1, 9)].tolist() for _ in range(4000)]
    padded = np.array([r + [-1] * (8 - len(r)) for r in rows])
    plain = _pure(8, padded)
    assert len(plain.ballots) >= _fast.MIN_ROWS and _fast.arrays_of(plain) is not None
    fast_irv, fast_schulze = irv(plain).to_dict(), schulze(plain).to_dict()
    monkeypatch.setattr(_fast, "MIN_ROWS", 10**9)
    assert _fast.arrays_of(plain) is None
    assert irv(plain).to_dict() == fast_irv
    assert schulze(plain).to_dict() == fast_schulze


def test_from_names_matches_build_and_rejects_unknown_names():
    ballots = [("b", "a"), ("a",), (), ("c", "a", "b")]
    fast = _fast.ArrayProfile.from_names(["a", "b", "c"], ballots)
    pure = Profile.build(["a", "b", "c"], ballots)
    assert sorted((b.ranking, b.weight) for b in fast.ballots) == sorted(
        (b.ranking, b.weight) for b in pure.ballots
    )
    with pytest.raises(TallyError, match="ballot 2: unknown candidate 'z'"):
        _fast.ArrayProfile.from_names(["a", "b"], [("a",), ("z",)])
    with pytest.raises(TallyError, match="ballot 1: a candidate is ranked more than once"):
        _fast.ArrayProfile.from_names(["a", "b"], [("a", "a")])


@settings(max_examples=40, deadline=None)
@given(arrays(), st.data())
def test_weighted_arrays_count_like_the_pure_path(case, data):
    n, rows = case
    weights = data.draw(st.lists(st.integers(1, 9), min_size=len(rows), max_size=len(rows)))
    names = [f"c{i}" for i in range(n)]
    for aggregate in (False, True):
        fast = _fast.ArrayProfile.from_array(names, rows, weights=weights, aggregate=aggregate)
        pure = Profile.from_indices(
            names, [tuple((c,) for c in r if c >= 0) for r in rows.tolist()], weights=weights
        )
        assert pairwise_matrix(fast) == pairwise_matrix(pure)
        assert irv(fast).to_dict() == irv(pure).to_dict()
