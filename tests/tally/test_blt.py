"""The BLT reader and writer: the format's variants, its errors, and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally.blt import read_blt, read_blt_meta, write_blt
from governance.tally.core import Profile, TallyError

DROOP = Path(__file__).resolve().parent.parent / "data" / "tally" / "droop" / "blt"

GOOD = '3 2\n4 1 2 0\n2 3 0\n0\n"Castor"\n"Pollux"\n"Helen"\n"Pollux and Helen should tie"\n'


def test_reads_the_reference_file():
    p = read_blt(GOOD)
    assert p.candidates == ("Castor", "Pollux", "Helen")
    assert (p.seats, p.total_weight, p.title) == (2, 6, "Pollux and Helen should tie")
    assert [(b.ranking, b.weight) for b in p.ballots] == [(((0,), (1,)), 4), (((2,),), 2)]


def test_utf8_with_and_without_byte_order_mark():
    plain = read_blt((DROOP / "42u.blt").read_text(encoding="utf-8"))
    bom = read_blt((DROOP / "42ubom.blt").read_text(encoding="utf-8"))
    assert plain == bom
    assert plain.candidates == ("Cåstor", "Pøllüx", "Hélen")


def test_withdrawn_line_and_option_agree():
    dash = read_blt((DROOP / "SCw.blt").read_text(encoding="utf-8"))
    option = read_blt((DROOP / "SCwopt.blt").read_text(encoding="utf-8"))
    assert dash == option
    assert dash.withdrawn == frozenset({3})


def test_tie_order_nicknames_and_equal_rankings():
    meta = read_blt_meta((DROOP / "42t.blt").read_text(encoding="utf-8"))
    assert meta.tie_order == ("Helen", "Pollux", "Castor")
    tb = meta.tie_breaker()
    assert tb.disfavoured(["Pollux", "Helen"], candidates=meta.profile.candidates) == "Helen"
    eq = read_blt_meta((DROOP.parent / "blt" / "meek" / "eq1.blt").read_text(encoding="utf-8"))
    assert eq.nicknames == ("a", "b", "c")
    assert {b.ranking: b.weight for b in eq.profile.ballots} == {((0,), (1,)): 5, ((1, 2),): 1, ((2,),): 3}


def test_extra_fields_trailing_text_and_blank_ballots():
    meta = read_blt_meta((DROOP / "M135.blt").read_text(encoding="utf-8"))
    assert meta.title.startswith("M135")
    assert meta.extra[0].startswith("Brian Wichmann")
    assert "Quota" in meta.trailing
    assert meta.blank_ballots == 2
    assert meta.profile.total_weight == 679  # Droop's report counts 677: it drops the two blank ballots


def test_comments_options_and_ids():
    text = (
        "\ufeff# a comment line\n3 1 /* seats */\n[droop rule=meek]\n-2\n"
        '(b1) 2 1 3 0  # ballot id and comment\n1 3 - 1 0\n2.0 2 0\n0\n"A" "B"\n"C"\n"Title # not a comment"\n'
    )
    meta = read_blt_meta(text)
    assert meta.options == {"rule": "meek"}
    assert meta.title == "Title # not a comment"
    assert meta.profile.withdrawn == frozenset({1})
    assert {b.ranking: b.weight for b in meta.profile.ballots} == {
        ((0,), (2,)): 2,
        ((2,), (0,)): 1,
        ((1,),): 2,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1: empty file"),
        ("3\n", "1: file ends early: expected the number of seats"),
        ("3\n2\n0\n", "1: header must give"),
        ("x 2\n", "1: expected the number of candidates"),
        ("2 1\n1 1 3 0\n0\n", "2: candidate number 3 is not between 1 and 2"),
        ("2 1\n0 1 0\n0\n", "2: ballot weight must be positive (a lone 0 ends the ballots)"),
        ("2 1\n1 1 0\n-1 2 0\n0\n", "3: ballot weight must be positive, found -1"),
        ("2 1\n1.5 1 0\n0\n", "2: fractional ballot weight 1.5 is not supported"),
        ("2 1\nx 1 0\n0\n", "2: expected a ballot weight"),
        ("2 1\n1 1 2 1 0\n0\n", "2: candidate 1 is ranked more than once"),
        ("2 1\n1 1=1 0\n0\n", "2: candidate 1 is ranked more than once"),
        ("2 1\n1 1 2\n1 2 0\n0\n", "2: ballot does not end with 0"),
        ('2 1\n1 1 2 0\n"A"\n"B"\n"T"\n', "3: expected a ballot or the 0 line"),
        ('2 1\n1 1 2 0\n0\n"A"\n', "4: file ends early: expected the name of candidate 2"),
        ("2 1\n1 1 2 0\n0\nA\n", "4: file ends early: expected the name of candidate 2"),  # unquoted dialect
        ('2 1\n1 1 2 0\n0\n"A"\nB\n"T"\n', "5: expected the quoted name of candidate 2"),
        ('2 1\n1 1 2 0\n0\n"A"\n"B"\n', "5: file ends early: expected the quoted title"),
        ('2 1\n1 1 2 0\n0\n"A"\n"A"\n"T"\n', "candidate name 'A' is used twice"),
        ('2 1\n[tie 1]\n1 1 2 0\n0\n"A"\n"B"\n"T"\n', "2: [tie ...] must list every candidate exactly once"),
        ('2 1\n[nick a]\n1 a 0\n0\n"A"\n"B"\n"T"\n', "2: [nick ...] must give 2 nicknames"),
        ('2 1\n[frobnicate]\n1 1 0\n0\n"A"\n"B"\n"T"\n', "2: unknown option"),
        ("2 1\n-3\n", "2: withdrawn candidate 3 is not between 1 and 2"),
        ('2 1\n1 1 0\n0\n"A\n', "4: quoted text is not closed"),
        ("2 1 /* open\n", "1: comment '/*' is not closed"),
        ("2 0\n", "1: the number of seats must be at least 1"),
    ],
)
def test_errors_name_the_line(text, message):
    with pytest.raises(TallyError) as info:
        read_blt(text, name="bad.blt")
    assert str(info.value).startswith("bad.blt:")
    assert message in str(info.value)


def test_write_escapes_quotes_and_backslashes():
    p = Profile.build(['say "hi"', "back\\slash", "b"], [["b"]], title='The "big" one')
    text = write_blt(p)
    assert '"say \\"hi\\""' in text and '"back\\\\slash"' in text and '"b"' in text
    assert read_blt(text) == p


_names = st.lists(
    st.text(
        alphabet=st.characters(blacklist_characters='"\n\r', blacklist_categories=("Cs",)),
        min_size=1,
        max_size=8,
    )
    .map(str.strip)
    .filter(bool),
    min_size=1,
    max_size=6,
    unique=True,
)


@st.composite
def _profiles(draw):
    names = draw(_names)
    n = len(names)
    ballots = []
    for _ in range(draw(st.integers(0, 8))):
        order = draw(st.permutations(range(n)))
        cut = draw(st.integers(0, n))
        groups, i = [], 0
        while i < cut:
            size = draw(st.integers(1, cut - i))
            groups.append([names[k] for k in order[i : i + size]])
            i += size
        ballots.append(groups)
    weights = draw(st.lists(st.integers(1, 5), min_size=len(ballots), max_size=len(ballots)))
    withdrawn = draw(st.sets(st.sampled_from(names), max_size=n - 1)) if n > 1 else set()
    title = draw(st.text(alphabet="abc XYZ#/*[]", max_size=10))
    return Profile.build(
        names, ballots, weights=weights, seats=draw(st.integers(1, 3)), withdrawn=withdrawn, title=title
    )


@settings(max_examples=60, deadline=None)
@given(_profiles())
def test_write_then_read_is_identity(profile):
    assert read_blt(write_blt(profile)) == profile
