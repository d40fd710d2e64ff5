"""Results explained in plain words, from real counts by the tally library (nothing hard-coded
about who wins: the sentences are checked against the counted result)."""

from __future__ import annotations

from governance.tally.condorcet import debian
from governance.tally.core import Profile, TieBreaker
from governance.tally.irv import irv
from governance.web.explain import distinct_rounds, explain, pairwise_of


def test_a_seeded_tie_that_decides_the_winner_is_said_in_the_outcome():
    profile = Profile.build(["Ash", "Birch"], [["Ash"], ["Birch"]])
    result = irv(profile, tie_breaker=TieBreaker(seed="published-seed")).to_dict()
    assert result["tie_breaks"], "the count needed a tie-break"
    winner = result["elected"][0]
    story = explain(result, kind="decision", method="irv")
    outcome = " ".join(story["outcome"])
    assert f"{winner} won only because a tie was broken" in outcome
    assert "seeded random order" in outcome and "elected" not in outcome  # a decision, not an election
    assert any("were tied for" in line for line in story["ties"])


def test_an_option_dropped_by_the_default_option_rule_says_why():
    names = ["Axolotl", "Otter", "None of the above"]
    ballots = [["Axolotl", "None of the above", "Otter"]] * 3 + [["None of the above", "Otter", "Axolotl"]] * 2 \
        + [["Otter", "Axolotl", "None of the above"]] * 1
    result = debian(Profile.build(names, ballots), default="None of the above").to_dict()
    dropped = [d["option"] for d in result["details"]["dropped"]]
    assert dropped == ["Otter"]  # 1 voter ranks Otter above the default, 5 the other way
    story = explain(result, kind="decision", method="schulze")
    [line] = [line for line in story["others"] if line.startswith("Otter")]
    assert "dropped before the count (Debian A.6.3)" in line and "None of the above" in line


def test_stv_rounds_that_repeat_are_not_shown_and_elected_names_carry_display_names():
    from governance.tally.stv import meek

    names = ["ana", "ben", "cal"]
    ballots = [["ana", "ben"]] * 4 + [["ben"]] * 3 + [["cal", "ben"]] * 2
    result = meek(Profile.build(names, ballots, seats=2)).to_dict()
    shown = distinct_rounds(result["rounds"])
    assert len(shown) <= len(result["rounds"])
    for before, after in zip(shown, shown[1:], strict=False):
        assert (before["votes"], before["exhausted"]) != (after["votes"], after["exhausted"]) \
            or after["elected"] or after["excluded"]
    story = explain(result, kind="election", method="meek", display={"ana": "Ana Ruiz (@ana)"})
    assert any(line.startswith("Ana Ruiz (@ana) was elected in round") for line in story["outcome"])
    matrix = pairwise_of(names, ballots)
    assert matrix["ana"]["cal"] == 4 and matrix["cal"]["ana"] == 2


def test_a_referendum_says_the_bar_and_the_quorum_in_words():
    result = {"elected": ["no"], "details": {"yes": 3, "no": 2, "abstain": 1}}
    story = explain(result, kind="referendum", method="yesno",
                    bar={"threshold": "2/3", "strict": True, "quorum": 10})
    assert story["outcome"] == [
        "Not passed: yes 3, no 2, abstain 1.",
        "The quorum was not met: 6 ballots cast (abstentions count), 10 needed.",
        "Yes needed more than two thirds (2/3) of the yes and no votes; it had 3 of 5 (60% of the yes and no votes).",
    ]
