"""Yes/no decisions: exact thresholds, > versus >=, and quorum boundaries."""

from __future__ import annotations

from fractions import Fraction

import pytest

from governance.tally.core import Profile, TallyError
from governance.tally.yesno import decide, yesno

HALF, TWO_THIRDS, THREE_TO_ONE = Fraction(1, 2), Fraction(2, 3), Fraction(3, 4)


@pytest.mark.parametrize(
    ("yes", "no", "threshold", "strict", "passed"),
    [
        (50, 50, HALF, None, False),  # a tie is not more than half
        (51, 50, HALF, None, True),
        (50, 50, HALF, False, True),  # ">=" on request
        (20, 10, TWO_THIRDS, None, True),  # exactly two thirds: "at least"
        (19, 10, TWO_THIRDS, None, False),
        (20, 10, TWO_THIRDS, True, False),  # strictly more than two thirds
        (21, 10, TWO_THIRDS, True, True),
        (30, 10, THREE_TO_ONE, None, True),  # exactly 3:1
        (29, 10, THREE_TO_ONE, None, False),
        (30, 10, THREE_TO_ONE, True, False),
        (0, 0, HALF, False, False),  # nothing for or against never passes
    ],
)
def test_threshold_boundaries(yes, no, threshold, strict, passed):
    assert decide(yes, no, 7, threshold=threshold, strict=strict).passed is passed


def test_abstentions_do_not_move_the_threshold_but_count_for_quorum():
    assert decide(6, 5, 100).passed
    assert decide(6, 5, 9, quorum=20).quorum_met
    assert not decide(6, 5, 9, quorum=21).quorum_met
    assert not decide(6, 5, 9, quorum=20, abstain_counts_for_quorum=False).quorum_met
    assert not decide(6, 5, 9, quorum=21).passed


def test_fractional_quorum_of_the_electorate():
    assert decide(20, 10, quorum=Fraction(1, 3), electorate=90).quorum_met  # 30 >= 30
    assert not decide(20, 9, quorum=Fraction(1, 3), electorate=90).quorum_met
    with pytest.raises(TallyError, match="electorate"):
        decide(1, 0, quorum=Fraction(1, 3))


def test_reason_states_the_comparison():
    outcome = decide(20, 10, threshold=TWO_THIRDS)
    assert outcome.reason == "passes: yes >= 2/3 * (yes + no) is 20 >= 20: True"
    assert outcome.to_dict()["comparison"] == ">="


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": Fraction(1)}, "between 0 and 1"),
        ({"threshold": Fraction(0)}, "between 0 and 1"),
        ({"quorum": -1}, "negative"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(TallyError, match=message):
        decide(1, 1, **kwargs)
    with pytest.raises(TallyError, match="whole number"):
        decide(-1, 1)


def test_yesno_from_ranked_ballots():
    p = Profile.build(
        ["yes", "no"], [["yes"], ["yes", "no"], ["no"], [["yes", "no"]], []], weights=[3, 2, 4, 1, 1]
    )
    result = yesno(p)
    assert result.details["yes"] == 5 and result.details["no"] == 4 and result.details["abstain"] == 2
    assert result.elected == ("yes",)
    assert yesno(p, threshold=TWO_THIRDS).elected == ("no",)
    with pytest.raises(TallyError, match="needs the options"):
        yesno(Profile.build(["a", "b"], [["a"]]))
