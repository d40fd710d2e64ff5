"""Any candidate name and title is written by every writer and read back exactly by its reader.

A poll title or option label with a double quote once made the BLT download and the audit bundle
fail after the close. Every format now either holds the text as it is or writes it quoted or
escaped (``names``), and ABIF, which cannot hold brackets, keeps the exact names in a metadata
line; ``substitutions`` says what each file shows instead.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from governance.tally.abif import parse_abif, write_abif
from governance.tally.blt import read_blt, write_blt
from governance.tally.core import Profile
from governance.tally.formats import parse_csv, parse_preflib, write_csv, write_preflib
from governance.tally.names import substitutions

from .conftest import same_profile

AWKWARD = ['say "hi"', "back\\slash", "a,b", "#1", "x=y", "  padded  ", "[Chair]", "rank1", "count", '"q"', "",
           "tab\there", "line\nbreak", "nul\x00", "\u2028", "a>b", "{1,2}", "c1", "=", ":", "/* c */", "\ufeffbom"]

names = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=1, max_size=5, unique=True)
title = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

FORMATS = {
    "blt": (write_blt, read_blt, True),
    "abif": (write_abif, parse_abif, True),
    "toi": (lambda p: write_preflib(p, kind="toi"), lambda t: parse_preflib(t, kind="toi"), True),
    "csv": (write_csv, parse_csv, False),  # CSV has no title
}


def election(candidates: list[str], title: str) -> Profile:
    ballots = [list(reversed(candidates)), candidates[:1], [candidates]]
    return Profile.build(candidates, ballots, weights=[3, 2, 1], title=title)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=150, deadline=None)
@given(candidates=names, text=title)
@example(candidates=AWKWARD, text='The "big" one, #2 = [final] \\ ')
@example(candidates=["c2", "x y", "c1"], text="")
@example(candidates=["Bo", "[Bo]", "(Bo)"], text=" ")
def test_every_writer_reads_back_exactly(fmt, candidates, text):
    write, read, has_title = FORMATS[fmt]
    profile = election(candidates, text)
    back = read(write(profile))
    assert back.candidates == profile.candidates
    assert same_profile(back, profile)
    if has_title:
        assert back.title == profile.title


def test_plain_names_are_written_plainly_so_other_programs_read_them():
    profile = election(["Ann Lee", "Bo", "Cy #3"], "Board 2026")
    assert '"Ann Lee"\n"Bo"\n"Cy #3"\n"Board 2026"\n' in write_blt(profile)
    assert "# ALTERNATIVE NAME 1: Ann Lee\n" in write_preflib(profile)
    assert write_csv(profile).startswith("count,Ann Lee,Bo,Cy #3\n")
    assert "=c1:[Ann Lee]" in write_abif(profile) and "candidate_names" not in write_abif(profile)
    assert all(substitutions(profile, fmt) == {} for fmt in ("blt", "abif", "preflib", "csv"))


def test_substitutions_say_how_each_file_shows_awkward_names():
    profile = election(['say "hi"', "[Chair]", " padded", "rank2"], "t")
    assert substitutions(profile, "blt") == {'say "hi"': '"say \\"hi\\""'}
    assert substitutions(profile, "abif") == {"[Chair]": "(Chair)"}
    assert substitutions(profile, "preflib") == {" padded": '" padded"'}
    assert substitutions(profile, "csv") == {" padded": '" padded"', "rank2": '"rank2"'}
    text = write_abif(profile)
    assert "=c2:[(Chair)]" in text and '{"candidate_names": {"c2": "[Chair]"}}' in text


def test_abiftool_metadata_without_quoted_keys():
    p = parse_abif('{version: "0.1"}\n{title: "Board election"}\n{"description": "x"}\n=a:[A]\n=b:[B]\n3:a>b\n')
    assert p.title == "Board election" and p.candidates == ("A", "B")
