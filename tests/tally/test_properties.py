"""Property tests: invariances every count must keep, and format round trips."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally.condorcet import debian, pairwise_matrix, ranked_pairs, schulze
from governance.tally.core import Profile
from governance.tally.formats import (
    parse_abif,
    parse_csv,
    parse_preflib,
    write_abif,
    write_csv,
    write_preflib,
)
from governance.tally.irv import irv

from .conftest import same_profile

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def rankings(draw, n: int, *, ties: bool = True):
    """One ballot over candidates 0..n-1: a truncated order, optionally with equal groups."""
    order = draw(st.permutations(range(n)))
    length = draw(st.integers(0, n))
    order = order[:length]
    groups: list[list[int]] = []
    for c in order:
        if ties and groups and draw(st.integers(0, 4)) == 0:
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups


@st.composite
def profiles(draw, *, ties: bool = True, names=None):
    """A small profile: 2-5 candidates, up to 12 distinct ballots with weights 1-5."""
    candidates = draw(names) if names is not None else [f"c{i}" for i in range(draw(st.integers(2, 5)))]
    n = len(candidates)
    ballots = draw(st.lists(rankings(n, ties=ties), min_size=1, max_size=12))
    weights = draw(st.lists(st.integers(1, 5), min_size=len(ballots), max_size=len(ballots)))
    named = [[[candidates[c] for c in g] for g in b] for b in ballots]
    return Profile.build(candidates, named, weights=weights), named, weights


def _shuffled(profile_parts, seed: int) -> Profile:
    profile, named, weights = profile_parts
    # Expand to one ballot per voter, shuffle the box, and count again.
    box = [b for b, w in zip(named, weights, strict=True) for _ in range(w)]
    random.Random(seed).shuffle(box)
    return Profile.build(profile.candidates, box)


@SETTINGS
@given(profiles(), st.integers(0, 10**6))
def test_shuffling_ballots_changes_nothing(parts, seed):
    profile = parts[0]
    other = _shuffled(parts, seed)
    for method in (irv, schulze, ranked_pairs, debian):
        assert method(profile).to_dict() == method(other).to_dict()


def _condorcet_winner(profile: Profile):
    d = pairwise_matrix(profile)
    n = len(profile.candidates)
    for i in range(n):
        if all(d[i][j] > d[j][i] for j in range(n) if j != i):
            return profile.candidates[i]
    return None


@SETTINGS
@given(profiles())
def test_condorcet_winner_wins_schulze_and_ranked_pairs(parts):
    profile = parts[0]
    winner = _condorcet_winner(profile)
    if winner is not None:
        assert schulze(profile).elected == (winner,)
        assert ranked_pairs(profile).elected == (winner,)
        assert debian(profile).elected == (winner,)


@SETTINGS
@given(profiles())
def test_debian_without_default_matches_schulze(parts):
    # Schwartz sequential dropping (A.6.4-A.6.8) and strongest paths choose the same winners.
    profile = parts[0]
    a, b = debian(profile), schulze(profile)
    assert (a.elected, a.tied) == (b.elected, b.tied)


@SETTINGS
@given(profiles(ties=False))
def test_majority_first_choice_wins_irv_in_round_one(parts):
    profile = parts[0]
    first: dict[str, int] = {}
    for b in profile.ballots:
        if b.ranking:
            name = profile.candidates[b.ranking[0][0]]
            first[name] = first.get(name, 0) + b.weight
    active = sum(first.values())
    leaders = [c for c, v in first.items() if 2 * v > active]
    if leaders:
        result = irv(profile)
        assert result.elected == (leaders[0],) and len(result.rounds) == 1


@SETTINGS
@given(profiles())
def test_irv_winner_is_a_candidate_and_votes_are_conserved(parts):
    profile = parts[0]
    result = irv(profile, equal_rank="split")
    total = profile.total_weight
    for rnd in result.rounds:
        assert sum(rnd.votes.values()) + rnd.exhausted + result.details["blank"] == total
    assert set(result.elected) | set(result.tied) <= set(profile.candidates)


NAME = (
    st.text(st.sampled_from("abcdefgh XYZ-.'#é"), min_size=1, max_size=10)
    .map(str.strip)
    .filter(lambda s: s and not re.fullmatch(r"(?i)(rank|choice|preference)\s*_?\s*\d+|count|weight", s))
)
NAMES = st.lists(NAME, min_size=2, max_size=5, unique=True)


@SETTINGS
@given(profiles(names=NAMES))
def test_format_round_trips(parts):
    profile = parts[0]
    assert same_profile(parse_preflib(write_preflib(profile)), profile)
    assert same_profile(parse_abif(write_abif(profile)), profile)
    assert same_profile(parse_csv(write_csv(profile)), profile)
