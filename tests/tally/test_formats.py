"""Ballot file readers and writers: good files, every bad-input rule with its line number."""

from __future__ import annotations

import pytest

from governance.tally.core import Profile, TallyError
from governance.tally.formats import (
    parse_abif,
    parse_csv,
    parse_preflib,
    read_ballots,
    write_abif,
    write_ballots,
    write_csv,
    write_preflib,
)

from .conftest import DATA, same_profile

HEAD = "# NUMBER ALTERNATIVES: 3\n# ALTERNATIVE NAME 1: a\n# ALTERNATIVE NAME 2: b\n# ALTERNATIVE NAME 3: c\n"


def ranked(p: Profile) -> dict:
    """Named view of a profile's ballots."""
    return {tuple(p.names(g) for g in b.ranking): b.weight for b in p.ballots}


# === PrefLib ====================================================================================


def test_preflib_debian_file():
    p = read_ballots(DATA / "preflib-debian" / "00002-00000007.soi")
    assert p.candidates[-1] == "None Of The Above" and p.total_weight == 403 and len(p.ballots) == 40
    assert (
        ranked(p)[(("Stefano Zacchiroli",), ("Wouter Verhelst",), ("Gergely Nagy",), ("None Of The Above",))]
        == 130
    )


def test_toi_tie_groups():
    p = parse_preflib(HEAD + "2: 1,{2,3}\n1: {1,3},2\n", kind="toi")
    assert ranked(p) == {(("a",), ("b", "c")): 2, (("a", "c"), ("b",)): 1}


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (HEAD + "2: 1,4\n", "soi", "line 5: unknown candidate number 4 (alternatives are 1 to 3)"),
        (HEAD + "2: 1,0\n", "soi", "line 5: unknown candidate number 0"),
        (HEAD + "1: 1\n0: 2,1\n", "soi", "line 6: count must be at least 1, not 0"),
        (HEAD + "-2: 2,1\n", "soi", "line 5: count '-2' is not a whole number"),
        (HEAD + "x: 2,1\n", "soi", "line 5: count 'x' is not a whole number"),
        (HEAD + "2: 1,2,1\n", "soi", "line 5: candidate 'a' is ranked more than once"),
        (HEAD + "2: 1,{2,3}\n", "soi", "line 5: tied alternatives"),
        (HEAD + "2: 1,{2,3\n", "toi", "line 5: unbalanced braces"),
        (HEAD + "2: 1,,2\n", "soi", "line 5: empty entry between commas"),
        (HEAD + "2: 1,b\n", "soi", "line 5: 'b' is not an alternative number"),
        (HEAD + "2 1,2\n", "soi", "line 5: expected 'count: ranking'"),
        (HEAD + "2: 1,2\n", "soc", "line 5: a soc order must rank all 3 alternatives"),
        (
            "# NUMBER ALTERNATIVES: 3\n# ALTERNATIVE NAME 1: a\n# ALTERNATIVE NAME 2: b\n1: 1\n",
            "soi",
            "line 4: truncated header: no ALTERNATIVE NAME 3 (of 3)",
        ),
        ("1: 1\n", "soi", "line 1: truncated header"),
        (
            "# NUMBER VOTERS: 5\n" + HEAD + "2: 1\n",
            "soi",
            "line 1: NUMBER VOTERS says 5 but the ballot lines add up to 2",
        ),
        (
            HEAD + "# NUMBER UNIQUE ORDERS: 2\n2: 1\n",
            "soi",
            "line 5: NUMBER UNIQUE ORDERS says 2 but there are 1 ballot lines",
        ),
        (HEAD + "1: 1\n# ALTERNATIVE NAME 4: d\n", "soi", "line 6: header line after the first ballot line"),
        (HEAD + "# ALTERNATIVE NAME 2: x\n", "soi", "line 5: alternative 2 is named twice"),
        (HEAD + "# ALTERNATIVE NAME 5: x\n", "soi", "line 5: alternative 5 is beyond NUMBER ALTERNATIVES 3"),
    ],
)
def test_preflib_rejects(text, kind, message):
    with pytest.raises(TallyError) as info:
        parse_preflib(text, kind=kind)
    assert str(info.value).startswith(message)


def test_preflib_blank_ballot_line_and_round_trip():
    p = parse_preflib(HEAD + "2: 1\n3:\n")
    assert ranked(p) == {(("a",),): 2, (): 3}
    assert same_profile(parse_preflib(write_preflib(p)), p)


def test_write_soi_refuses_ties():
    p = Profile.build(["a", "b"], [[["a", "b"]]])
    assert "DATA TYPE: toi" in write_preflib(p)
    with pytest.raises(TallyError, match="equal rankings"):
        write_preflib(p, kind="soi")


# === ABIF =======================================================================================


def test_abif_full_example():
    text = """# a comment
{"title": "Board 2026"}
=ann:[Ann Lee]   # trailing comment
=bo:[Bo]
=cy:[Cy #3]
12: ann>bo=cy
7: [Bo] > ann
3: cy/5, ann/5, bo/1
2: bo, cy
1:
"""
    p = parse_abif(text)
    assert p.title == "Board 2026" and p.candidates == ("Ann Lee", "Bo", "Cy #3")
    assert ranked(p) == {
        (("Ann Lee",), ("Bo", "Cy #3")): 12,
        (("Bo",), ("Ann Lee",)): 7,
        (("Ann Lee", "Cy #3"), ("Bo",)): 3,
        (("Bo", "Cy #3"),): 2,
        (): 1,
    }


def test_abif_without_declarations_takes_first_appearance():
    assert parse_abif("3: x>y\n2: z\n").candidates == ("x", "y", "z")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("=a:[A]\n=b:[B]\n2: a>c\n", "line 3: unknown candidate 'c'"),
        ("=a:[A]\n0: a\n", "line 2: count must be at least 1, not 0"),
        ("=a:[A]\n-1: a\n", "line 2: count '-1' is not a whole number"),
        ("=a:[A]\n2.5: a\n", "line 2: count '2.5' is not a whole number"),
        ("=a:[A]\n=b:[B]\n2: a>b>a\n", "line 3: candidate 'A' is ranked more than once"),
        ("=a:[A]\n=a:[B]\n", "line 2: candidate 'a' is declared twice"),
        ("=a [A]\n", "line 1: a candidate line must look like =id:[Full Name]"),
        ("=a:[A]\n1: a\n=b:[B]\n", "line 3: candidate declared after the first ballot line"),
        ("=a:[A]\na\n", "line 2: expected 'count: ranking'"),
        ("=a:[A]\n=b:[B]\n1: a>\n", "line 3: the ballot ends with a separator"),
        ("=a:[A]\n=b:[B]\n1: a;b\n", "line 3: unexpected ';'"),
        ("=a:[A]\n=b:[B]\n1: a/3,b\n", "line 3: every candidate of a rated ballot needs a /rating"),
        ('{"title": \n', "line 1: metadata is not valid JSON"),
        ("# nothing\n", "line 1: no candidates"),
    ],
)
def test_abif_rejects(text, message):
    with pytest.raises(TallyError) as info:
        parse_abif(text)
    assert str(info.value).startswith(message)


def test_abif_writer_ids_and_round_trip():
    p = Profile.build(["Ann Lee", "c1", "x"], [["x", ["Ann Lee", "c1"]], []], title="T")
    text = write_abif(p)
    assert "=c1:[Ann Lee]" in text and "=c2:[c1]" in text and "=x:[x]" in text
    assert same_profile(parse_abif(text), p) and parse_abif(text).title == "T"


# === CSV ========================================================================================


def test_csv_candidate_columns():
    p = parse_csv("count,a,b,c\n3,1,2,\n2,,1,1\n\n1,,,\n")
    assert ranked(p) == {(("a",), ("b",)): 3, (("b", "c"),): 2, (): 1}


def test_csv_rank_columns_skip_blank_ranks():
    p = parse_csv("rank1,rank2,rank3\na,,b\nb=c,a,\n")
    assert p.candidates == ("a", "b", "c")
    assert ranked(p) == {(("a",), ("b",)): 1, (("b", "c"), ("a",)): 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the file is empty"),
        ("count,a,,c\n", "line 1: truncated header: every column needs a name"),
        ("a,rank2\n", "line 1: the header mixes rank columns with candidate names"),
        ("a,b,a\n", "line 1: a candidate is named twice in the header"),
        ("count,a,b\n1,1,2\n0,1,2\n", "line 3: count must be at least 1, not 0"),
        ("count,a,b\n1,1,2\n-3,1,2\n", "line 3: count '-3' is not a whole number"),
        ("a,b\n1,2\n1\n", "line 3: expected 2 cells, found 1"),
        ("a,b\n1,x\n", "line 2: rank 'x' for 'b' is not a whole number of at least 1"),
        ("a,b\n0,1\n", "line 2: rank '0' for 'a'"),
        ("rank1,rank2\na,a\n", "line 2: candidate 'a' is ranked more than once"),
    ],
)
def test_csv_rejects(text, message):
    with pytest.raises(TallyError) as info:
        parse_csv(text)
    assert str(info.value).startswith(message)


def test_csv_round_trip():
    p = Profile.build(["a", "b", "c"], [["c", ["a", "b"]], ["a"], []], weights=[4, 1, 2])
    assert same_profile(parse_csv(write_csv(p)), p)


# === Dispatch by file name ======================================================================


@pytest.mark.parametrize("suffix", [".toi", ".abif", ".csv"])
def test_write_then_read_file(tmp_path, suffix):
    p = Profile.build(["a", "b", "c"], [["c", ["a", "b"]], ["a"]], weights=[4, 1])
    path = tmp_path / f"ballots{suffix}"
    write_ballots(p, path)
    assert same_profile(read_ballots(path), p)


def test_read_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toi"
    bad.write_text(HEAD + "1: 1\n2: 9\n")
    with pytest.raises(TallyError, match=r"bad\.toi: line 6: unknown candidate number 9"):
        read_ballots(bad)
    with pytest.raises(TallyError, match="unknown ballot file type '.txt'"):
        read_ballots(tmp_path / "x.txt")
    with pytest.raises(TallyError, match="cannot read"):
        read_ballots(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"a,b\n1,2\n\xe9,1\n")
    with pytest.raises(TallyError, match=r"latin\.csv: line 3: not UTF-8 text"):
        read_ballots(latin)


def test_blt_goes_through_blt_module(tmp_path):
    path = tmp_path / "e.blt"
    path.write_text('2 1\n3 1 2 0\n1 2 0\n0\n"A"\n"B"\n"Test"\n')
    p = read_ballots(path)
    assert p.candidates == ("A", "B") and p.total_weight == 4
