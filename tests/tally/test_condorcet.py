"""Schulze, Ranked Pairs and Debian A.6 against textbook cases and real Debian elections."""

from __future__ import annotations

from fractions import Fraction

import pytest

from governance.tally.condorcet import debian, pairwise_matrix, ranked_pairs, schulze
from governance.tally.core import Profile, TallyError, TieBreaker
from governance.tally.formats import read_ballots

from .conftest import DATA, election, textbook

# === Textbook cases =============================================================================


@pytest.mark.parametrize(
    ("case", "schulze_winner", "rp_winner"),
    [
        ("wikipedia_schulze_45", "E", "A"),
        ("tennessee_capital_100", "Nashville", "Nashville"),
        ("truncation_semantics_5", "B", "B"),
        ("schulze_vs_rankedpairs_vs_minimax", "D", "C"),
    ],
)
def test_textbook_winners(case, schulze_winner, rp_winner):
    profile, _ = textbook(case)
    assert schulze(profile).elected == (schulze_winner,)
    assert ranked_pairs(profile).elected == (rp_winner,)


def test_wikipedia_schulze_ranking_and_paths():
    profile, _ = textbook("wikipedia_schulze_45")
    result = schulze(profile)
    assert result.details["ranking"] == [["E"], ["A"], ["C"], ["B"], ["D"]]
    # The strongest paths of the published worked example.
    paths = result.details["strongest_paths"]
    assert paths["A"] == {"B": 28, "C": 28, "D": 30, "E": 24}
    assert paths["E"] == {"A": 25, "B": 28, "C": 28, "D": 31}
    assert result.details["pairwise"]["A"]["B"] == 20 and result.details["pairwise"]["B"]["A"] == 25


@pytest.mark.parametrize(
    "case",
    [
        "wikipedia_schulze_45",
        "tennessee_capital_100",
        "truncation_semantics_5",
        "schulze_vs_rankedpairs_vs_minimax",
        "perfect_cycle_tie_3",
    ],
)
def test_pairwise_margins_match_reference(case):
    profile, data = textbook(case)
    d = pairwise_matrix(profile)
    names = profile.candidates
    margins = {
        f"{names[i]}>{names[j]}": d[i][j] - d[j][i]
        for i in range(len(names))
        for j in range(len(names))
        if d[i][j] > d[j][i]
    }
    assert margins == data["pairwise_margins"]


def test_truncation_semantics_ranked_beats_unranked():
    profile, _ = textbook("truncation_semantics_5")
    d = pairwise_matrix(profile)
    a, b, c = 0, 1, 2
    assert (d[b][a], d[a][b]) == (3, 2)
    assert (d[c][a], d[a][c]) == (3, 2)
    assert (d[b][c], d[c][b]) == (2, 1)


def test_perfect_cycle_is_reported_as_a_tie():
    profile, _ = textbook("perfect_cycle_tie_3")
    for method in (schulze, ranked_pairs, debian):
        result = method(profile)
        assert result.elected == ()
        assert result.tied == ("A", "B", "C")
        assert result.tie_breaks == ()


def test_perfect_cycle_with_seeded_tie_breaker_is_reproducible_and_recorded():
    profile, _ = textbook("perfect_cycle_tie_3")
    tb = TieBreaker(seed="2026-poll-7")
    first = schulze(profile, tie_breaker=tb)
    again = schulze(profile, tie_breaker=TieBreaker(seed="2026-poll-7"))
    assert first.elected == again.elected == (tb.order(["A", "B", "C"])[0],)
    (brk,) = first.tie_breaks
    assert brk.purpose == "winner" and brk.tied == ("A", "B", "C") and brk.how == "seeded random order"
    rp = ranked_pairs(profile, tie_breaker=tb)
    assert rp.elected and any(t.purpose == "order" for t in rp.tie_breaks)


def test_ranked_pairs_details():
    profile, _ = textbook("wikipedia_schulze_45")
    result = ranked_pairs(profile)
    locked = result.details["locked"]
    assert locked[0] == ["B", "D", 21]
    assert [pair[:2] for pair in result.details["skipped"]] and result.details["ranking"][0] == ["A"]
    margins = [m for _, _, m in locked]
    assert margins == sorted(margins, reverse=True)


# === Named tiny elections x expected winners ====================================================


@pytest.mark.parametrize(
    ("name", "method", "expected", "tied"),
    [
        ("condorcet_cycle", schulze, (), ("a", "b", "c")),
        ("condorcet_cycle", ranked_pairs, (), ("a", "b", "c")),
        ("linear_profile", schulze, ("a",), ()),
        ("linear_profile", ranked_pairs, ("a",), ()),
        ("condorcet_loser_plurality", schulze, ("b",), ()),
        ("condorcet_loser_plurality", ranked_pairs, ("b",), ()),
        ("two_way_tie", schulze, (), ("a", "b")),
        ("two_way_tie", ranked_pairs, (), ("a", "b")),
        ("equal_rankings", schulze, ("a",), ()),
        ("equal_rankings", ranked_pairs, ("a",), ()),
        ("truncated", schulze, ("b",), ()),
        ("truncated", ranked_pairs, ("b",), ()),
    ],
)
def test_named_elections(name, method, expected, tied):
    result = method(election(name))
    assert (result.elected, result.tied) == (expected, tied)


def test_withdrawn_candidate_is_ignored():
    profile = Profile.build(["a", "b", "c"], [["c", "a", "b"]] * 3 + [["b", "a"]] * 2, withdrawn=["c"])
    assert schulze(profile).elected == ("a",)
    assert "c" not in schulze(profile).details["pairwise"]


def test_margins_strength_option():
    profile, _ = textbook("wikipedia_schulze_45")
    assert schulze(profile, strength="margins").elected == ("E",)
    with pytest.raises(TallyError, match="strength"):
        schulze(profile, strength="votes")


# === Debian A.6 =================================================================================

DPL = [
    ("00002-00000005.soi", "Debian 2007 Leader", "Sam Hocevar"),
    ("00002-00000006.soi", "Debian 2010 Leader", "Stefano Zacchiroli"),
    ("00002-00000007.soi", "Debian 2012 Leader", "Stefano Zacchiroli"),
]


@pytest.mark.parametrize(("file", "title", "winner"), DPL)
def test_debian_leader_elections(file, title, winner):
    profile = read_ballots(DATA / "preflib-debian" / file)
    assert profile.title == title
    result = debian(profile, default="None Of The Above")
    assert result.elected == (winner,)
    assert schulze(profile).elected == (winner,)
    # Any plausible quorum (1.5 * sqrt(developers) was below 50 in these years) changes nothing.
    v_wd = result.details["pairwise"][winner]["None Of The Above"]
    assert v_wd > 300
    assert debian(profile, default="None Of The Above", quorum=50).elected == (winner,)


def test_debian_2007_drops_options_below_the_default():
    profile = read_ballots(DATA / "preflib-debian" / "00002-00000005.soi")
    result = debian(profile, default="None Of The Above")
    dropped = {x["option"]: x["clause"] for x in result.details["dropped"]}
    assert dropped == {"Aigars Mahinovs": "A.6.3", "Simon Richter": "A.6.3"}
    assert result.details["ranking"][-1] == ["Aigars Mahinovs", "Simon Richter"]


def test_debian_supermajority_boundary():
    # V(A,D) = 6, V(D,A) = 2: exactly 3:1. A.6.3.2 uses >=, so 3:1 is met; 7:2 is not.
    profile = Profile.build(["A", "FD"], [["A", "FD"]] * 6 + [["FD", "A"]] * 2)
    assert debian(profile, default="FD", majority=3).elected == ("A",)
    assert debian(profile, default="FD", majority=Fraction(7, 2)).elected == ("FD",)
    # The strict half of A.6.3.2: V(A,D) > V(D,A) even with ratio 1.
    even = Profile.build(["A", "FD"], [["A", "FD"]] * 2 + [["FD", "A"]] * 2)
    result = debian(even, default="FD")
    assert result.elected == ("FD",) and result.details["dropped"][0]["clause"] == "A.6.3"


def test_debian_quorum_boundary_and_per_option_majority():
    profile = Profile.build(["A", "B", "FD"], [["A", "B", "FD"]] * 4 + [["B", "FD", "A"]] * 2)
    assert debian(profile, default="FD", quorum=4).elected == ("A",)  # V(A,D) = 4 >= R
    r = debian(profile, default="FD", quorum=5)  # A fails the quorum; B (6 >= 5) remains
    assert r.elected == ("B",) and r.details["dropped"][0]["clause"] == "A.6.2"
    r = debian(profile, default="FD", majority={"A": 3})  # A: 4 vs 2 fails 3:1
    assert r.elected == ("B",)


def test_debian_errors():
    profile = election("linear_profile")
    with pytest.raises(TallyError, match="default option"):
        debian(profile, default="nobody")
    with pytest.raises(TallyError, match="at least 1"):
        debian(profile, default="c", majority=Fraction(1, 2))


def test_debian_schwartz_steps_record_dropped_defeats():
    profile, _ = textbook("wikipedia_schulze_45")
    result = debian(profile)
    assert result.elected == ("E",)
    steps = result.details["schwartz_steps"]
    assert steps[-1]["schwartz_set"] == ["E"]
    assert all("dropped_defeats" in s for s in steps[:-1])
