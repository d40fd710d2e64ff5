"""Affiliation caps in Meek, WIGM and Scottish STV: hand-derived cases and properties.

The rule is stated in ``governance.tally.constraints`` and docs/tally.md: once an affiliation
holds its maximum, its remaining candidates are excluded in that round and their votes transfer;
candidates reaching the quota together over the cap are elected in order of votes and the rest
excluded; the count ends when the candidates that can still be elected fill the seats left.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally.cli import main
from governance.tally.core import Profile, TallyError
from governance.tally.methods import count

STV = ("meek", "wigm", "scottish")
ACME = {"A1": "Acme", "A2": "Acme"}


def acme_election() -> Profile:
    return Profile.build(
        ["A1", "A2", "B", "C"],
        [["A1", "A2"]] * 50 + [["A2"]] * 30 + [["B"]] * 12 + [["C", "B"]] * 8,
        seats=2,
    )


def test_scottish_cap_excludes_the_second_acme_candidate():
    """2 seats, 100 valid ballots, Acme may hold 1 seat.

    Quota (rule 46): floor(100 / 3) + 1 = 34. First preferences: A1 50, A2 30, B 12, C 8.
    Stage 0: A1 reaches 34 and is elected; Acme is full, so A2 is excluded at once.
    Stage 1: A2's 30 papers go on: they name nobody else, so 30 are non-transferable.
    Stage 2: A1's surplus 50 - 34 = 16 goes on: every A1 paper's next choice is A2, excluded,
    and then nothing, so it is non-transferable too (A1 34, B 12, C 8).
    Stage 3: C, lowest with 8, is excluded; its 8 papers go to B (B 20).
    Then one hopeful candidate (B) for one seat: B is elected. Elected A1, B.
    Without the cap A1's surplus (16) takes A2 to 30 + 16 = 46 >= 34: elected A1, A2.
    """
    profile = acme_election()
    assert count(profile, "scottish").elected == ("A1", "A2")
    r = count(profile, "scottish", affiliations=ACME, max_per_affiliation=1)
    assert r.elected == ("A1", "B")
    rounds = r.rounds
    assert (rounds[0].elected, rounds[0].excluded) == (("A1",), ("A2",))
    assert rounds[0].extra["constraint"] == {"A2": "affiliation 'Acme' holds its maximum of 1 seat"}
    assert "excluded A2 (affiliation 'Acme' holds its maximum of 1 seat)" in rounds[0].note
    assert rounds[1].note.startswith("transferred the papers of A2") and rounds[1].exhausted == 30
    assert rounds[2].votes == {"A1": 34, "B": 12, "C": 8} and rounds[2].exhausted == 46
    assert rounds[3].excluded == ("C",) and rounds[3].votes["B"] == 20
    assert rounds[4].elected == ("B",)
    assert r.parameters["max_per_affiliation"] == 1 and r.parameters["affiliations"] == ACME


def test_wigm_cap_on_the_same_election():
    """WIGM: quota 100 / 3 truncated to 4 places plus 0.0001 = 33.3334.

    Round 1 (B.1): A1 (50) is elected; Acme is full, A2 is excluded and its 30 papers (nothing
    after A2) become non-transferable in the same round. Round 2: A1's surplus 16.6666 goes on at
    weight 16.6666 / 50 per paper and is lost (next choice A2, excluded). Round 3: C (8) is
    excluded, its papers to B (20). B is the one hopeful candidate left: elected. A1, B.
    """
    r = count(acme_election(), "wigm", affiliations=ACME, max_per_affiliation=1)
    assert r.elected == ("A1", "B")
    assert (r.rounds[1].elected, r.rounds[1].excluded) == (("A1",), ("A2",))
    assert r.rounds[1].extra["constraint"] == {"A2": "affiliation 'Acme' holds its maximum of 1 seat"}
    assert r.rounds[3].excluded == ("C",) and r.rounds[4].elected == ("B",)
    assert count(acme_election(), "wigm").elected == ("A1", "A2")


def test_meek_cap_on_the_same_election():
    """Meek: round 1's first distribution elects A1 (50 >= 33.333333334); Acme is full, so A2 is
    excluded in the same round (keep factor 0) and its 30 ballots go nowhere.

    Round 2 iterates: the only votes left are A1's kept share and B 12 + C 8 = 20, and the quota
    follows the votes: q = (q + 20) / 3 falls from 33.3 towards 10 as A1's keep factor falls
    (each step kf = kf x q / vote), so it soon drops below B's 12: B reaches the quota and is
    elected. A1, B (C defeated as the seats are full).
    """
    r = count(acme_election(), "meek", affiliations=ACME, max_per_affiliation=1)
    assert r.elected == ("A1", "B")
    assert (r.rounds[1].elected, r.rounds[1].excluded) == (("A1",), ("A2",))
    assert r.rounds[1].extra["constraint"] == {"A2": "affiliation 'Acme' holds its maximum of 1 seat"}
    assert r.rounds[2].elected == ("B",)
    assert 10 < r.rounds[2].quota <= 12 and r.rounds[2].votes["B"] == 12
    assert count(acme_election(), "meek").elected == ("A1", "A2")


@pytest.mark.parametrize("method", STV)
def test_two_reaching_the_quota_together_over_the_cap(method):
    """3 seats, 100 ballots; X1 40, X2 35, Y 15, Z 6, W 4 first preferences; X may hold 1 seat.

    Scottish quota 26 (WIGM 25.0001, Meek 25.000000001): X1 and X2 both reach it at the first
    count. They are taken in order of votes: X1 (40) is elected, X2 (35) would exceed the cap and
    is excluded instead, its votes going on to Y (X2 voters' second choice): Y 50, elected. For
    the last seat Z (6) and W (4) remain; W is excluded and its papers go to Z. X1, Y, Z.
    Without the cap X1 and X2 are elected at the first count and Y, far ahead of Z and W, last.
    """
    profile = Profile.build(
        ["X1", "X2", "Y", "Z", "W"],
        [["X1"]] * 40 + [["X2", "Y"]] * 35 + [["Y"]] * 15 + [["Z"]] * 6 + [["W", "Z"]] * 4,
        seats=3,
    )
    r = count(profile, method, affiliations={"X1": "X", "X2": "X"}, max_per_affiliation=1)
    assert r.elected == ("X1", "Y", "Z")
    first = next(rd for rd in r.rounds if rd.elected)
    assert first.elected == ("X1",) and first.excluded == ("X2",)
    assert set(count(profile, method).elected) == {"X1", "X2", "Y"}


@pytest.mark.parametrize("method", STV)
def test_the_count_ends_when_the_electable_fill_the_seats(method):
    """2 seats; A1 30, A2 25, A3 20 (all Acme, cap 1), B 25. Nobody reaches the quota (34).

    The candidates who can still be elected together are one Acme candidate and B: exactly the
    two seats. So the count ends there: the best Acme candidate (A1, 30) and B are elected and A2
    and A3 are excluded by the cap. Without the cap, A3 would be excluded first and A2's papers
    would not go to B; a seat is never left empty while an eligible candidate stands.
    """
    profile = Profile.build(
        ["A1", "A2", "A3", "B"], [["A1"]] * 30 + [["A2"]] * 25 + [["A3"]] * 20 + [["B"]] * 25, seats=2
    )
    r = count(profile, method, affiliations={"A1": "Acme", "A2": "Acme", "A3": "Acme"}, max_per_affiliation=1)
    assert set(r.elected) == {"A1", "B"}
    assert set(r.rounds[-1].extra["constraint"]) == {"A2", "A3"}


def test_infeasible_caps_and_bad_options_are_refused():
    profile = acme_election()
    with pytest.raises(TallyError, match="2 seats cannot be filled with at most 1 per affiliation"):
        count(profile, "meek", affiliations=dict.fromkeys(profile.candidates, "one"), max_per_affiliation=1)
    with pytest.raises(TallyError, match="go together"):
        count(profile, "meek", affiliations=ACME)
    with pytest.raises(TallyError, match="'Z', who is not a candidate"):
        count(profile, "wigm", affiliations={"Z": "x"}, max_per_affiliation=1)
    with pytest.raises(TallyError, match="at least 1"):
        count(profile, "scottish", affiliations=ACME, max_per_affiliation=0)
    with pytest.raises(TallyError, match="irv does not take option"):
        count(profile, "irv", affiliations=ACME, max_per_affiliation=1)


# === Properties ===================================================================================


@st.composite
def capped(draw):
    n = draw(st.integers(3, 7))
    names = [f"c{k}" for k in range(n)]
    ballots = []
    for _ in range(draw(st.integers(1, 40))):
        order = draw(st.permutations(names))
        ballots.append(list(order[: draw(st.integers(1, n))]))
    seats = draw(st.integers(2, n - 1))
    groups = {name: draw(st.sampled_from(["x", "y", "z", None])) for name in names}
    affiliations = {k: v for k, v in groups.items() if v is not None}
    cap = draw(st.integers(1, seats))
    return Profile.build(names, ballots, seats=seats), affiliations, cap


def electable(profile, affiliations, cap) -> int:
    per: dict[str, int] = {}
    for name in profile.candidates:
        if name in affiliations:
            per[affiliations[name]] = per.get(affiliations[name], 0) + 1
    return sum(1 for c in profile.candidates if c not in affiliations) + sum(min(v, cap) for v in per.values())


@pytest.mark.parametrize("method", STV)
@settings(max_examples=120, deadline=None)
@given(case=capped())
def test_never_more_than_the_cap_and_identical_when_it_never_acts(method, case):
    profile, affiliations, cap = case
    if electable(profile, affiliations, cap) < profile.seats:
        with pytest.raises(TallyError, match="cannot be filled"):
            count(profile, method, affiliations=affiliations, max_per_affiliation=cap)
        return
    r = count(profile, method, affiliations=affiliations, max_per_affiliation=cap)
    assert len(r.elected) == profile.seats  # feasible caps fill every seat
    held: dict[str, int] = {}
    for name in r.elected:
        if name in affiliations:
            held[affiliations[name]] = held.get(affiliations[name], 0) + 1
    assert all(v <= cap for v in held.values())
    acted = any("constraint" in rd.extra for rd in r.rounds)
    plain = count(profile, method)
    if not acted:
        assert r.elected == plain.elected
        assert [rd.to_dict() for rd in r.rounds] == [rd.to_dict() for rd in plain.rounds]
    # A cap no affiliation can reach is the uncapped count, parameters aside.
    loose = count(profile, method, affiliations=affiliations, max_per_affiliation=len(profile.candidates))
    assert [rd.to_dict() for rd in loose.rounds] == [rd.to_dict() for rd in plain.rounds]
    assert loose.elected == plain.elected and loose.tie_breaks == plain.tie_breaks


def test_result_carries_what_a_recount_needs():
    r = count(acme_election(), "meek", affiliations=ACME, max_per_affiliation=1)
    data = r.to_dict()
    again = count(
        acme_election(),
        data["method"],
        affiliations=data["parameters"]["affiliations"],
        max_per_affiliation=data["parameters"]["max_per_affiliation"],
    )
    assert again.to_dict() == data
    assert "affiliations" not in count(acme_election(), "meek").to_dict()["parameters"]


@pytest.mark.parametrize("side", ["csv", "json"])
def test_the_command_takes_affiliations_from_a_side_file(tmp_path, capsys, side):
    ballots = tmp_path / "e.blt"
    lines = ["4 2"] + ["1 1 2 0"] * 50 + ["1 2 0"] * 30 + ["1 3 0"] * 12 + ["1 4 3 0"] * 8
    ballots.write_text("\n".join(lines) + '\n0\n"A1"\n"A2"\n"B"\n"C"\n"Acme test"\n')
    groups = tmp_path / f"aff.{side}"
    if side == "csv":
        groups.write_text("candidate,affiliation\nA1,Acme\nA2,Acme\n")
    else:
        groups.write_text(json.dumps(ACME))
    assert main([str(ballots), "-m", "scottish", "--affiliations", str(groups), "--cap", "1", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["elected"] == ["A1", "B"] and data["parameters"]["max_per_affiliation"] == 1
    assert main([str(ballots), "-m", "scottish", "--cap", "1"]) == 2
    assert "--affiliations FILE and --cap N go together" in capsys.readouterr().err


def test_shuffled_ballots_give_the_same_capped_count():
    profile = acme_election()
    ballots = [[profile.candidates[c] for g in b.ranking for c in g] for b in profile.ballots for _ in range(b.weight)]
    random.Random(7).shuffle(ballots)
    shuffled = Profile.build(profile.candidates, ballots, seats=2)
    for method in STV:
        a = count(profile, method, affiliations=ACME, max_per_affiliation=1)
        b = count(shuffled, method, affiliations=ACME, max_per_affiliation=1)
        assert a.elected == b.elected and [r.to_dict() for r in a.rounds] == [r.to_dict() for r in b.rounds]
