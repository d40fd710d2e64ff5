"""Shared helpers for the tally tests: reference data paths and named tiny elections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governance.tally.core import Profile

DATA = Path(__file__).resolve().parent.parent / "data" / "tally"


def textbook(name: str) -> tuple[Profile, dict]:
    """A condorcet-textbook case as a profile plus its JSON."""
    case = json.loads((DATA / "condorcet-textbook" / f"{name}.json").read_text())
    profile = Profile.build(
        case["candidates"],
        [b["ranking"] for b in case["ballots"]],
        weights=[b["count"] for b in case["ballots"]],
    )
    return profile, case


def same_profile(a: Profile, b: Profile) -> bool:
    """Equal candidates and the same multiset of ballots (order of distinct ballots aside)."""

    def key(p: Profile) -> list:
        merged: dict = {}
        for ballot in p.ballots:
            merged[ballot.ranking] = merged.get(ballot.ranking, 0) + ballot.weight
        return sorted(merged.items())

    return a.candidates == b.candidates and key(a) == key(b)


#: Named tiny elections (pref_voting style): candidates and (count, ranking) pairs.
ELECTIONS: dict[str, tuple[list[str], list[tuple[int, list]]]] = {
    "condorcet_cycle": (["a", "b", "c"], [(1, ["a", "b", "c"]), (1, ["b", "c", "a"]), (1, ["c", "a", "b"])]),
    "linear_profile": (["a", "b", "c"], [(3, ["a", "b", "c"]), (2, ["b", "a", "c"])]),
    "majority_first": (["a", "b", "c", "d"], [(6, ["a"]), (2, ["b", "c"]), (2, ["c", "b"]), (1, ["d"])]),
    "condorcet_loser_plurality": (
        ["a", "b", "c"],
        [(4, ["a", "b", "c"]), (3, ["b", "c", "a"]), (2, ["c", "b", "a"])],
    ),
    "tie_for_last": (["a", "b", "c"], [(3, ["a"]), (2, ["b", "a"]), (2, ["c", "b"])]),
    "two_way_tie": (["a", "b"], [(2, ["a", "b"]), (2, ["b", "a"])]),
    "equal_rankings": (["a", "b", "c"], [(3, [["a", "b"], "c"]), (2, ["c", "a"]), (1, ["b"])]),
    "truncated": (["a", "b", "c"], [(2, ["a"]), (2, ["b", "c"]), (1, ["c", "b"])]),
}


def election(name: str) -> Profile:
    """Build a named tiny election."""
    candidates, rows = ELECTIONS[name]
    return Profile.build(candidates, [r for _, r in rows], weights=[w for w, _ in rows])


@pytest.fixture
def data_dir() -> Path:
    """The folder of reference ballot files."""
    return DATA
