"""Instant-runoff: textbook cases, RCTab's expected round-by-round reports, tie rules."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from governance.tally.core import Profile, TallyError, TieBreaker
from governance.tally.irv import irv

from .conftest import DATA, election, textbook

# === Textbook ===================================================================================


def test_tennessee_irv_elects_knoxville():
    profile, _ = textbook("tennessee_capital_100")
    result = irv(profile)
    assert result.elected == ("Knoxville",)
    assert [dict(r.votes) for r in result.rounds][0] == {
        "Memphis": 42,
        "Nashville": 26,
        "Chattanooga": 15,
        "Knoxville": 17,
    }
    assert result.details["exclusion_order"] == ["Chattanooga", "Nashville"]
    assert result.rounds[0].extra["transfers"] == {"Knoxville": 15}
    assert result.rounds[1].extra["transfers"] == {"Knoxville": 26}


def test_wikipedia_case_single_exclusions():
    # pref_voting excludes every candidate tied for last at once and elects A; we exclude one at
    # a time (B and E tie in rounds 1 and 2), and C wins whichever of them goes first.
    profile, data = textbook("wikipedia_schulze_45")
    assert data["computed_pref_voting_1.18.2"]["Instant Runoff"] == ["A"]
    for order in (("B", "E"), ("E", "B")):
        tb = TieBreaker(order_names=order)  # the last named is excluded
        result = irv(profile, tie_breaker=tb)
        assert result.elected == ("C",)
        (brk,) = result.tie_breaks
        assert brk.purpose == "exclude" and set(brk.tied) == {"B", "E"} and brk.chosen == order[1]


def test_perfect_cycle_irv_records_the_exclusion_tie_break():
    profile, _ = textbook("perfect_cycle_tie_3")
    result = irv(profile)
    (brk,) = result.tie_breaks
    assert brk.round == 1 and brk.tied == ("A", "B", "C") and brk.how == "candidate order"
    assert result.elected == ("A",)


@pytest.mark.parametrize(
    ("name", "expected", "tied"),
    [
        ("linear_profile", ("a",), ()),
        ("majority_first", ("a",), ()),
        ("condorcet_loser_plurality", ("b",), ()),
        ("tie_for_last", ("b",), ()),  # b and c tie for last; candidate order excludes c
        ("two_way_tie", (), ("a", "b")),
        ("truncated", ("b",), ()),
    ],
)
def test_named_elections(name, expected, tied):
    result = irv(election(name))
    assert (result.elected, result.tied) == (expected, tied)


def test_tie_for_last_looks_back_first():
    # Round 1: a 3, b 2, c 2, d 1 -> d out, its ballot goes to c; round 2: a 3, b 2, c 3; no tie.
    # Build a case where the look-back decides: b and c tie in round 2 but b had fewer in round 1.
    p = Profile.build(
        ["a", "b", "c", "d"],
        [["a"]] * 5 + [["b"]] * 2 + [["c"]] * 3 + [["d", "b"]] * 1,
    )
    result = irv(p)
    assert result.rounds[1].votes == {"a": 5, "b": 3, "c": 3}
    (brk,) = result.tie_breaks
    assert (brk.round, brk.chosen, brk.how) == (2, "b", "earlier round")
    assert brk.detail == "fewest votes in round 1"


def test_final_tie_needs_an_explicit_tie_breaker():
    p = election("two_way_tie")
    assert irv(p).tied == ("a", "b")
    result = irv(p, tie_breaker=TieBreaker(order_names=("b", "a")))
    assert result.elected == ("b",) and result.tie_breaks[0].purpose == "winner"


def test_equal_rank_rules():
    p = election("equal_rankings")  # 3 x (a=b)>c, 2 x c>a, 1 x b
    exhaust = irv(p)
    assert exhaust.rounds[0].votes == {"a": 0, "b": 1, "c": 2}
    assert exhaust.rounds[0].exhausted == 3
    split = irv(p, equal_rank="split")
    assert split.rounds[0].votes == {"a": Fraction(3, 2), "b": Fraction(5, 2), "c": 2}
    assert split.elected == ("b",)
    with pytest.raises(TallyError, match="equal_rank"):
        irv(p, equal_rank="drop")


def test_blank_and_exhausted_ballots_are_reported():
    p = Profile.build(["a", "b", "c"], [["a"], ["a"], ["b"], ["b"], ["c", "a"], ["c"], []])
    result = irv(p)
    assert result.details["blank"] == 1
    last = result.rounds[-1]
    assert last.elected == ("a",) and last.exhausted == 1


def test_no_votes_at_all_is_a_tie_of_everyone():
    p = Profile.build(["a", "b"], [[], []])
    result = irv(p)
    assert result.elected == () and result.tied == ("a", "b")


# === RCTab ======================================================================================

RCTAB = DATA / "rctab"


def _rctab_profile(test: str) -> tuple[Profile, dict, dict]:
    folder = RCTAB / test
    normal = json.loads((folder / f"{test}_ballots.normalized.json").read_text())
    if "ballots_file" in normal:
        normal["ballots"] = json.loads((folder / normal["ballots_file"]).read_text())["ballots"]
    expected = json.loads((folder / f"{test}_expected_detailed_report.json").read_text())
    rules = normal["rules"]
    rankings, weights = [], []
    for ballot in normal["ballots"]:
        rankings.append(_map_rules(ballot["ranks"], rules))
        weights.append(ballot.get("count", 1))
    profile = Profile.build(normal["candidates"], rankings, weights=weights, withdrawn=normal["excluded"])
    return profile, expected, rules


def _map_rules(ranks: list[list[str]], rules: dict) -> list:
    """Apply RCTab's per-ballot rules so that our count sees the same preferences.

    * skipped rank: move on, but more than ``maxSkippedRanksAllowed`` in a row exhausts;
    * overvote: ``exhaustImmediately`` ends the ballot there, ``alwaysSkipToNextRank`` skips the
      rank, ``exhaustIfMultipleContinuing`` keeps the names as one equal group, which our
      ``equal_rank="exhaust"`` rule then treats exactly as RCTab does;
    * a repeated candidate: ends the ballot with ``exhaustOnDuplicateCandidate``, else skipped.
    """
    max_skip = rules["maxSkippedRanksAllowed"]
    max_skip = None if max_skip in ("unlimited", "") else int(max_skip)
    out: list = []
    seen: set[str] = set()
    skipped = 0
    for slot in ranks:
        if not slot:
            skipped += 1
            if max_skip is not None and skipped > max_skip:
                break
            continue
        if len(slot) > 1 or slot == ["#OVERVOTE"]:
            if rules["overvoteRule"] == "exhaustImmediately":
                break
            if rules["overvoteRule"] == "alwaysSkipToNextRank":
                skipped = 0
                continue
            if "#OVERVOTE" in slot:  # names unknown: cannot tell who is continuing
                break
            names = [n for n in slot if n not in seen]
            if names:
                seen.update(names)
                out.append(names)
            skipped = 0
            continue
        name = slot[0]
        if name in seen:
            if rules["exhaustOnDuplicateCandidate"]:
                break
            continue
        seen.add(name)
        out.append(name)
        skipped = 0
    return out


def _check_rounds(result, expected) -> None:
    # RCTab lists an "Undeclared Write-ins" pseudo-candidate; where it has no votes at all it is
    # not a candidate in our profile, and RCTab's dropping it is not a round of ours.
    uwi = "Undeclared Write-ins"
    assert all(Fraction(r["tally"].get(uwi, 0)) == 0 for r in expected["results"])
    assert len(result.rounds) == len(expected["results"])
    for ours, theirs in zip(result.rounds, expected["results"], strict=True):
        tally = {name: Fraction(v) for name, v in theirs["tally"].items() if name != uwi}
        assert {k: Fraction(v) for k, v in ours.votes.items()} == tally, f"round {ours.number}"
        events = [e for e in theirs["tallyResults"] if e.get("eliminated") != uwi]
        assert list(ours.excluded) == [e["eliminated"] for e in events if "eliminated" in e]
        if ours.excluded and "transfers" in ours.extra:
            # Where the excluded candidate's ballots went, exhausted ones included.
            (event,) = [e for e in events if "eliminated" in e]
            expected_moves = {k: Fraction(v) for k, v in event["transfers"].items() if Fraction(v)}
            assert {k: Fraction(v) for k, v in ours.extra["transfers"].items()} == expected_moves
        assert list(ours.elected) == [e["elected"] for e in events if "elected" in e]


DETERMINISTIC = [
    "2015_portland_mayor",
    "duplicate_test",
    "excluded_test",
    "exhaust_if_multiple_continuing",
    "skip_to_next_test",
    "test_set_0_skipped_first_choice",
    "test_set_1_exhaust_at_overvote",
    "test_set_2_overvote_skip_to_next",
    "test_set_3_skipped_choice_exhaust",
    "test_set_4_skipped_choice_next",
    "test_set_5_two_skipped_choice_exhaust",
    "test_set_6_duplicate_exhaust",
    "test_set_7_duplicate_skip_to_next",
    "test_set_overvote_delimiter",
    "tiebreak_previous_round_counts_then_random_test",
    "tiebreak_use_permutation_in_config_test",
]


@pytest.mark.parametrize("test", DETERMINISTIC)
def test_rctab_round_by_round(test):
    profile, expected, rules = _rctab_profile(test)
    tie_breaker = None
    if test == "tiebreak_previous_round_counts_then_random_test":
        # Round 2's three-way tie is settled by round 1 counts, as ours does by looking back. The
        # final two-way tie RCTab settles with its Java RNG; we re-express that with an explicit
        # order favouring RCTab's pick.
        tie_breaker = TieBreaker(order_names=("Sneezy",))
    elif rules["tiebreakMode"] == "useCandidateOrder":
        tie_breaker = TieBreaker()
    result = irv(profile, tie_breaker=tie_breaker)
    _check_rounds(result, expected)


@pytest.mark.parametrize(
    ("test", "order"),
    [
        # RCTab draws these with its seeded Java RNG. We check that the same ties are found in the
        # same rounds, and reproduce RCTab's draws with an explicit order.
        ("tiebreak_seed_test", ("George Gervin", "Mookie Blaylock", "Sedale Threatt", "Yinka Dare")),
        (
            "tiebreak_generate_permutation_test",
            ("George Gervin", "Sedale Threatt", "Yinka Dare", "Mookie Blaylock"),
        ),
    ],
)
def test_rctab_random_tie_breaks_are_detected(test, order):
    profile, expected, _ = _rctab_profile(test)
    unresolved = irv(profile)
    first = expected["results"][0]
    low = min(Fraction(v) for v in first["tally"].values())
    tied_in_rctab = {n for n, v in first["tally"].items() if Fraction(v) == low}
    assert unresolved.tie_breaks[0].round == 1 and set(unresolved.tie_breaks[0].tied) == tied_in_rctab
    assert unresolved.tied  # the final round is a tie too: reported, not decided
    _check_rounds(irv(profile, tie_breaker=TieBreaker(order_names=order)), expected)


def test_single_candidate_is_elected_even_without_votes():
    p = Profile.build(["a", "b"], [[]], withdrawn=["b"])
    assert irv(p).elected == ("a",)
