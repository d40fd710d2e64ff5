"""The bulk readers (numpy over the file's bytes) read exactly what the line-by-line readers read.

Every format is written by our writers (and BLT also one ballot per line, as exporters write it),
then read twice: with the bulk reader forced on every file (``FAST_LINES = 0``, tiny chunks so
that files span many chunks) and with it off. Errors found in bulk are re-read line by line, so
they name the same line with the same words.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally import _scan
from governance.tally._fast import ArrayProfile
from governance.tally.core import Profile, TallyError
from governance.tally.formats import load, write_ballots

from .conftest import same_profile

SUFFIXES = [".blt", ".abif", ".soi", ".toi", ".csv"]


@st.composite
def profiles(draw, strict=True):
    n = draw(st.integers(1, 9))
    names = [f"C{k}" for k in range(n)] if draw(st.booleans()) else [f"cand {k}" for k in range(n)]
    ballots = []
    for _ in range(draw(st.integers(0, 40))):
        order = draw(st.permutations(names))
        cut = draw(st.integers(0, n))
        if strict or draw(st.booleans()):
            ballots.append(list(order[:cut]))
        else:
            ballots.append([list(order[:cut])] if cut else [])
    weights = draw(st.lists(st.integers(1, 10**17), min_size=len(ballots), max_size=len(ballots)))
    return Profile.build(names, ballots, weights=weights, seats=draw(st.integers(1, 3)), title="t")


def per_line_blt(profile: Profile) -> str:
    """One ballot per line, weight 1 each time, as exporters write BLT."""
    lines = [f"{len(profile.candidates)} {profile.seats}"]
    for b in profile.ballots:
        prefs = " ".join(str(g[0] + 1) for g in b.ranking)
        lines += [f"1 {prefs} 0" if prefs else "1 0"] * min(b.weight, 3)
    lines.append("0")
    lines += [f'"{c}"' for c in profile.candidates] + ['"t"']
    return "\n".join(lines) + "\n"


def read_both(path, monkeypatch):
    monkeypatch.setattr(_scan, "FAST_LINES", 10**9)
    slow = load(path).profile
    monkeypatch.setattr(_scan, "FAST_LINES", 0)
    monkeypatch.setattr(_scan, "CHUNK", 64)
    fast = load(path).profile
    monkeypatch.undo()
    return slow, fast


@pytest.mark.parametrize("suffix", SUFFIXES)
@settings(max_examples=40, deadline=None)
@given(profile=profiles(strict=False))
def test_bulk_and_line_readers_agree(tmp_path_factory, suffix, profile):
    monkeypatch = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("bulk") / f"ballots{suffix}"
    if suffix in (".soi", ".soc") and any(len(g) > 1 for b in profile.ballots for g in b.ranking):
        return
    write_ballots(profile, path)
    slow, fast = read_both(path, monkeypatch)
    assert same_profile(slow, fast) and same_profile(fast, profile)
    assert fast.total_weight == profile.total_weight


@settings(max_examples=40, deadline=None)
@given(profile=profiles())
def test_per_line_blt_in_bulk(tmp_path_factory, profile):
    path = tmp_path_factory.mktemp("blt") / "ballots.blt"
    path.write_text(per_line_blt(profile))
    slow, fast = read_both(path, pytest.MonkeyPatch())
    assert same_profile(slow, fast) and fast.seats == slow.seats and fast.title == "t"


def test_large_clean_files_give_an_array_profile(tmp_path):
    names = [f"c{k}" for k in range(8)]
    rankings = [tuple((c,) for c in perm) for perm in itertools.islice(itertools.permutations(range(8)), 3000)]
    profile = Profile.from_indices(names, rankings, weights=[1 + k % 7 for k in range(3000)], title="t")
    for suffix in SUFFIXES:
        path = tmp_path / f"big{suffix}"
        write_ballots(profile, path)
        got = load(path).profile
        assert isinstance(got, ArrayProfile) and same_profile(got, profile), suffix


BAD = {
    ".blt": ('3 1\n{body}\n0\n"a"\n"b"\n"c"\n"t"\n', "1 1 2 0", "1 1 4 0", "{path}:{line}: candidate number 4 is not between 1 and 3"),
    ".abif": ("=a:[A]\n=b:[B]\n=c:[C]\n{body}\n", "1:a>b", "1:a>z", "{path}: line {line}: unknown candidate 'z'"),
    ".soi": (
        "# NUMBER ALTERNATIVES: 3\n# ALTERNATIVE NAME 1: a\n# ALTERNATIVE NAME 2: b\n# ALTERNATIVE NAME 3: c\n{body}\n",
        "1: 1,2",
        "1: 1,1",
        "{path}: line {line}: candidate 'a' is ranked more than once",
    ),
    ".csv": ("count,a,b,c\n{body}\n", "1,1,2,", "0,1,2,", "{path}: line {line}: count must be at least 1, not 0"),
}


@pytest.mark.parametrize("suffix", sorted(BAD))
@pytest.mark.parametrize("where", [0, 1234, 2999])
def test_an_error_found_in_bulk_names_its_line(tmp_path, monkeypatch, suffix, where):
    template, good, bad, message = BAD[suffix]
    body = [f"{k + 1}{good[1:]}" if suffix != ".csv" else f"{k + 1}{good[1:]}" for k in range(3000)]
    body[where] = bad
    text = template.format(body="\n".join(body))
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    header = template.split("{body}")[0].count("\n")
    monkeypatch.setattr(_scan, "CHUNK", 4096)
    with pytest.raises(TallyError) as info:
        load(path)
    assert str(info.value) == message.format(path=path, line=header + where + 1)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_windows_line_ends_read_the_same(tmp_path, monkeypatch, suffix):
    names = [f"c{k}" for k in range(6)]
    rankings = [tuple((c,) for c in perm) for perm in itertools.islice(itertools.permutations(range(6)), 700)]
    profile = Profile.from_indices(names, rankings, weights=[1 + k % 5 for k in range(700)], title="t")
    path = tmp_path / f"crlf{suffix}"
    write_ballots(profile, path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    monkeypatch.setattr(_scan, "FAST_LINES", 10)
    got = load(path).profile
    assert same_profile(got, profile)
    if suffix in (".blt", ".soi", ".toi"):
        assert isinstance(got, ArrayProfile)
