"""CIVS proportional mode: the specification's test vectors and the real NixOS 2024 count."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally.blt import read_blt
from governance.tally.civs import _Comparer, _Poll, _ratings, civs_pr, read_civs_csv
from governance.tally.core import Profile, TallyError, TieBreaker

NIXOS_2024 = Path(__file__).resolve().parent.parent / "data" / "tally" / "nixos-sc-2024"


def _t2() -> Profile:
    ballots = (
        [["a"]] * 2
        + [["a", "d"]] * 2
        + [["a", "d", "c", "b"], ["b"], ["b", "a", "d"], ["b", "d"], ["c"]]
        + [["c", "b", "d"]] * 3
        + [["d"], ["d", "a"]]
    )
    return Profile.build(list("abcd"), ballots, seats=2)


def test_t1_documentation_example():
    """T1 (CIVS proportional.html): 60 a>b>c>d>e, 40 x>y>z>u>v, five seats."""
    p = Profile.build(list("abcdexyzuv"), [list("abcde")] * 60 + [list("xyzuv")] * 40, seats=5)
    for version in ("2024", "2025"):
        r = civs_pr(p, code_version=version)
        assert r.elected == ("a", "b", "c", "x", "y")
        assert r.details["individual_order"] == list("abcdexyzuv")
        assert [" ".join(c) for c in r.details["search_path"]] == [
            "a b c d e",
            "a b c e x",
            "a b c d x",
            "a b c x y",
        ]
        assert sorted(" ".join(c) for c in r.details["contenders"]) == ["a b d e x", "a c d e x", "b c d e x"]


def test_t2_initial_bound_matters():
    p = _t2()
    old = civs_pr(p)  # code v2024: L0 = number of candidates
    assert old.details["individual_order"] == ["a", "d", "c", "b"]
    assert [" ".join(c) for c in old.details["search_path"]] == ["a d", "a b", "a c"]
    assert old.details["contenders"] == [["d", "c"]]
    assert old.elected == ("a", "b")
    new = civs_pr(p, code_version="2025")  # L0 = number of ballots
    assert [" ".join(c) for c in new.details["search_path"]] == ["a d", "d b", "d c", "a c"]
    assert new.details["contenders"] == []
    assert new.elected == ("a", "c")


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ("ab", "ad", (6, 0, 6, 5)),
        ("ac", "ad", (0, 0, 4, 7)),
        ("ac", "ab", (0, 0, 5, 3)),
        ("cd", "ad", (0, 6, 4, 7)),
        ("cd", "ab", (0, 0, 6, 8)),
        ("cd", "ac", (0, 6, 6, 6)),
    ],
)
def test_t2_committee_comparisons(x, y, expected):
    """The (s_X, s_Y, w_X, w_Y) table the specification gives for T2 under code v2024."""
    p = _t2()
    index = {i: i for i in range(4)}
    ratings, weights = _ratings(p, index, 4)
    poll = _Poll(4, 2, 14, tuple(ratings), tuple(weights), 4)
    cmp = _Comparer(poll)

    def committee(s):
        return tuple(sorted("abcd".index(ch) for ch in s))

    assert cmp.compare(committee(x), committee(y)) == expected


def test_t3_individual_order_tie_break():
    ballots = (
        [
            ["c", "b"],
            ["c", "b", "a"],
            ["c", "b", "a", "d", "e"],
            ["c", "b", "d"],
            ["c", "b", "d", "a"],
            ["c", "e", "a", "b", "d"],
        ]
        + [["e", "c", "a"]] * 3
        + [["e", "c", "b", "a", "d"]]
    )
    for seats, winners in ((2, ("c", "e")), (3, ("c", "e", "b"))):
        for version in ("2024", "2025"):
            r = civs_pr(Profile.build(list("abcde"), ballots, seats=seats), code_version=version)
            assert r.details["individual_order"] == list("cebad")
            assert r.elected == winners


def test_nixos_2024_real_count():
    """The seven elected to the NixOS Steering Committee in 2024.

    Source: nixos.org blog "Result for the Nix Steering Committee Election 2024" (2024-11-05,
    NixOS/nixos-homepage commit 3a727a0): Ericson2314, fpletz, Gabriella439, jtojnar, roberth,
    tomberek, winterqt; the four with 2-year terms (Ericson2314, Gabriella439, jtojnar, roberth) are
    the first four in CIVS's individual preference order.
    """
    published = {"Ericson2314", "fpletz", "Gabriella439", "jtojnar", "roberth", "tomberek", "winterqt"}
    csv_profile = read_civs_csv((NIXOS_2024 / "civs_ballots.csv").read_text(encoding="utf-8"), seats=7)
    assert csv_profile.total_weight == 450
    result = civs_pr(csv_profile)
    assert set(result.elected) == published
    assert set(result.elected[:4]) == {"Ericson2314", "Gabriella439", "jtojnar", "roberth"}
    assert result.elected == (
        "Ericson2314",
        "roberth",
        "Gabriella439",
        "jtojnar",
        "tomberek",
        "winterqt",
        "fpletz",
    )
    assert not result.details["search_failed"]
    # The OpaVote export of the same ballots (candidates in another order) gives the same committee.
    blt_profile = read_blt((NIXOS_2024 / "opavote_ballots.7seats.blt").read_text(encoding="utf-8"))
    assert blt_profile.total_weight == 450
    assert set(civs_pr(blt_profile).elected) == published
    assert set(civs_pr(csv_profile, code_version="2025").elected) == published


def test_tie_is_reported_not_hidden():
    p = Profile.build(["a", "b"], [["a"], ["b"]], seats=1)
    r = civs_pr(p)
    assert r.elected == () and set(r.tied) == {"a", "b"}
    r = civs_pr(p, tie_breaker=TieBreaker(order_names=("b", "a")))
    assert r.elected == ("b",) and r.tie_breaks[0].purpose == "winner"


def test_audit_and_edge_cases():
    p = Profile.build(list("abcd"), [["a", "b"]] * 3 + [["c", "d"]] * 2, seats=2)
    r = civs_pr(p, audit=True)
    assert r.elected == ("a", "c") and r.details["audit"]["condorcet_committee"]
    assert civs_pr(Profile.build(["a", "b"], [["a"]], seats=2)).elected == ("a", "b")
    with pytest.raises(TallyError, match="code_version"):
        civs_pr(p, code_version="2023")
    with pytest.raises(TallyError, match="expected 2 ratings"):
        read_civs_csv("a,b\n1\n", seats=1)


@st.composite
def _polls(draw):
    n = draw(st.integers(2, 5))
    names = [f"c{i}" for i in range(n)]
    ballots = [
        draw(st.permutations(names))[: draw(st.integers(0, n))] for _ in range(draw(st.integers(1, 12)))
    ]
    return Profile.build(names, ballots, seats=draw(st.integers(1, n - 1)))


@settings(max_examples=60, deadline=None)
@given(_polls(), st.randoms(use_true_random=False))
def test_ballot_order_changes_nothing(profile, rnd):
    ballots = list(profile.ballots)
    rnd.shuffle(ballots)
    shuffled = Profile(profile.candidates, tuple(ballots), seats=profile.seats)
    for version in ("2024", "2025"):
        a, b = civs_pr(profile, code_version=version), civs_pr(shuffled, code_version=version)
        assert (a.elected, a.tied, a.details["search_path"]) == (b.elected, b.tied, b.details["search_path"])
        assert len(a.elected) + len(a.tied) >= profile.seats
