"""Condorcet methods: pairwise matrix, Schulze, Ranked Pairs and Debian constitution A.6.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

**Pairwise counts.** ``d[A][B]`` is the total weight of ballots that prefer A to B. A ranked
option is preferred to every unranked option; unranked options are not preferred to each other;
options a ballot ranks equally (one group) are not preferred to each other either. This is
Debian constitution A.6.1 and CIVS's rule; without it truncated ballots change results.

**Schulze** (strongest paths). The link from A to B exists when ``d[A][B] > d[B][A]``; its strength
is, by default, *winning votes* with losing votes as the second key, exactly as Debian A.6.7.1
orders defeats: (A,X) is weaker than (B,Y) when ``d[A][X] < d[B][Y]``, or they are equal and
``d[X][A] > d[Y][B]``. ``strength="margins"`` uses ``d[A][B] - d[B][A]`` instead. Strongest paths
come from the Floyd-Warshall widest-path recurrence; A is ranked above B when the strongest path
from A to B is stronger than the one back. Each group of the full ranking holds the candidates
that no remaining candidate beats.

**Ranked Pairs** (Tideman). Pairs with a positive margin are taken from the largest margin down,
and each is locked unless it would close a cycle with pairs already locked. Equal margins:
with an explicit ``tie_breaker``, pairs of equal margin are taken in the tie-breaker's order of
their winner (favoured first), then in reverse order of their loser, and the choice is recorded
as a ``TieBreak`` whenever the order matters. Without one, every order of such pairs is tried, and
if they lead to different winners the count reports all of them as tied.

**Winner ties** (several candidates unbeaten) are broken only by an explicit ``tie_breaker``
(its seeded or explicit order: there are no earlier rounds to look back to); otherwise
``Result.tied`` names them and ``Result.elected`` is empty, like Debian A.6.8's casting vote
left to a person.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from . import _fast
from .core import Profile, Result, Round, TallyError, TieBreak, TieBreaker

__all__ = ["debian", "pairwise_matrix", "ranked_pairs", "schulze"]

#: Ranked Pairs gives up trying every order of equal-margin pairs beyond this many branches.
MAX_BRANCHES = 20000


# === Pairwise matrix ============================================================================


def pairwise_matrix(profile: Profile) -> list[list[int]]:
    """``d[i][j]``: the weight of ballots preferring candidate i to j (indices as in the profile).

    >>> p = Profile.build(["a", "b", "c"], [["a"], ["a"], ["b", "c"], ["b", "c"], ["c", "b"]])
    >>> pairwise_matrix(p)
    [[0, 2, 2], [3, 0, 2], [3, 1, 0]]
    """
    n = len(profile.candidates)
    arrays = _fast.arrays_of(profile)
    if arrays is not None:
        return _fast.pairwise_counts(arrays[0], arrays[1], n)
    d = [[0] * n for _ in range(n)]
    everyone = range(n)
    for ballot in profile.ballots:
        w = ballot.weight
        level = {c: g for g, group in enumerate(ballot.ranking) for c in group}
        unranked = len(ballot.ranking)
        for i, gi in level.items():
            row = d[i]
            for j in everyone:
                if level.get(j, unranked) > gi:
                    row[j] += w
    return d


def _named_matrix(
    d: list[list[int]], cands: Sequence[int], names: Sequence[str]
) -> dict[str, dict[str, int]]:
    return {names[i]: {names[j]: d[i][j] for j in cands if j != i} for i in cands}


def _first_preferences(profile: Profile, cands: Iterable[int]) -> dict[int, int | Fraction]:
    keep = set(cands)
    arrays = _fast.arrays_of(profile)
    if arrays is not None and keep == set(range(len(profile.candidates))):
        counts = _fast.first_choice_counts(arrays[0], arrays[1], len(profile.candidates))
        return {c: counts[c] for c in sorted(keep)}
    votes: dict[int, int | Fraction] = dict.fromkeys(sorted(keep), 0)
    for ballot in profile.ballots:
        for group in ballot.ranking:
            live = [c for c in group if c in keep]
            if live:
                share = Fraction(ballot.weight, len(live)) if len(live) > 1 else ballot.weight
                for c in live:
                    votes[c] += share
                break
    return votes


# === Schulze ====================================================================================

Strength = tuple[int, int]
STRENGTH_RULES = ("winning", "margins")


def _links(d: list[list[int]], cands: Sequence[int], rule: str) -> dict[tuple[int, int], Strength]:
    links: dict[tuple[int, int], Strength] = {}
    for i in cands:
        for j in cands:
            if i != j and d[i][j] > d[j][i]:
                links[i, j] = (d[i][j], -d[j][i]) if rule == "winning" else (d[i][j] - d[j][i], 0)
    return links


def strongest_paths(
    d: list[list[int]], cands: Sequence[int], rule: str = "winning"
) -> dict[tuple[int, int], Strength]:
    """Widest-path strengths between every ordered pair of ``cands`` ((0, 0) means no path)."""
    links = _links(d, cands, rule)
    p = {(i, j): links.get((i, j), (0, 0)) for i in cands for j in cands if i != j}
    for k in cands:
        for i in cands:
            if i == k:
                continue
            pik = p[i, k]
            if pik == (0, 0):
                continue
            for j in cands:
                if j == i or j == k:
                    continue
                via = min(pik, p[k, j])
                if via > p[i, j]:
                    p[i, j] = via
    return p


def _layers(cands: Sequence[int], beats) -> list[list[int]]:
    remaining = list(cands)
    layers: list[list[int]] = []
    while remaining:
        top = [i for i in remaining if not any(beats(j, i) for j in remaining if j != i)]
        if not top:  # cannot happen for a strict partial order; guard against a silent loop
            raise TallyError("the pairwise relation has a cycle")
        layers.append(top)
        remaining = [i for i in remaining if i not in top]
    return layers


def schulze(profile: Profile, *, tie_breaker: TieBreaker | None = None, strength: str = "winning") -> Result:
    """Count a single-winner Schulze election (see the module docstring for the rules).

    ``Result.details`` holds ``pairwise`` (d[A][B]), ``strongest_paths`` (first strength key),
    ``strongest_paths_against`` (losing votes of the weakest link, winning-votes rule only),
    ``ranking`` (groups, best first) and ``strength``.

    >>> p = Profile.build(["a", "b", "c"], [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]])
    >>> r = schulze(p)
    >>> r.elected, r.tied
    ((), ('a', 'b', 'c'))
    >>> schulze(p, tie_breaker=TieBreaker(order_names=("b", "a", "c"))).elected
    ('b',)
    """
    if strength not in STRENGTH_RULES:
        raise TallyError(f"strength must be one of {', '.join(STRENGTH_RULES)}, not {strength!r}")
    names = profile.candidates
    cands = list(profile.hopeful)
    if not cands:
        raise TallyError("there are no candidates to count")
    d = pairwise_matrix(profile)
    p = strongest_paths(d, cands, strength)
    layers = _layers(cands, lambda i, j: p[i, j] > p[j, i])
    ranking = [[names[c] for c in layer] for layer in layers]
    details: dict[str, Any] = {
        "strength": "winning votes, then fewer losing votes (Debian A.6.7.1)"
        if strength == "winning"
        else "margins",
        "pairwise": _named_matrix(d, cands, names),
        "strongest_paths": {names[i]: {names[j]: p[i, j][0] for j in cands if j != i} for i in cands},
        "ranking": ranking,
    }
    if strength == "winning":
        details["strongest_paths_against"] = {
            names[i]: {names[j]: -p[i, j][1] for j in cands if j != i} for i in cands
        }
    return _single_winner_result("schulze", profile, layers, tie_breaker, details, {"strength": strength})


def _single_winner_result(
    method: str,
    profile: Profile,
    layers: list[list[int]],
    tie_breaker: TieBreaker | None,
    details: dict[str, Any],
    parameters: dict[str, Any],
    tie_breaks: Sequence[TieBreak] = (),
    winners: Sequence[int] | None = None,
) -> Result:
    names = profile.candidates
    top = list(winners) if winners is not None else layers[0]
    breaks = list(tie_breaks)
    elected: tuple[str, ...] = ()
    tied: tuple[str, ...] = ()
    if len(top) == 1:
        elected = (names[top[0]],)
        note = f"{names[top[0]]} is unbeaten"
    elif tie_breaker is not None:
        tied_names = tuple(names[c] for c in top)
        winner = tie_breaker.favoured(tied_names, candidates=names)
        breaks.append(
            TieBreak(1, "winner", tied_names, winner, tie_breaker.how, "several candidates are unbeaten")
        )
        elected = (winner,)
        note = f"{', '.join(tied_names)} are unbeaten; {winner} is chosen ({tie_breaker.how})"
    else:
        tied = tuple(names[c] for c in top)
        note = f"{', '.join(tied)} tie: no tie-breaker was given"
    first = _first_preferences(profile, [c for layer in layers for c in layer])
    rnd = Round(
        number=1,
        votes={names[c]: v for c, v in first.items()},
        elected=elected,
        note=note,
        extra={"votes_are": "first preferences, for information; the pairwise comparisons decide"},
    )
    params = dict(parameters)
    params["tie_breaker"] = tie_breaker.describe() if tie_breaker is not None else None
    return Result(
        method=method,
        seats=1,
        elected=elected,
        rounds=(rnd,),
        tie_breaks=tuple(breaks),
        parameters=params,
        tied=tied,
        details=details,
        candidates=names,
        ballots=profile.total_weight,
    )


# === Ranked Pairs ===============================================================================


def _reaches(graph: Mapping[int, set[int]], start: int, goal: int) -> bool:
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _lock(locked: dict[int, set[int]], pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Lock ``pairs`` in order into ``locked`` (mutated); return the pairs that were locked."""
    done = []
    for a, b in pairs:
        if not _reaches(locked, b, a):
            locked.setdefault(a, set()).add(b)
            done.append((a, b))
    return done


def _sources(locked: Mapping[int, set[int]], cands: Sequence[int]) -> list[int]:
    beaten = {b for targets in locked.values() for b in targets}
    return [c for c in cands if c not in beaten]


def ranked_pairs(profile: Profile, *, tie_breaker: TieBreaker | None = None) -> Result:
    """Count a single-winner Ranked Pairs election by margins (see the module docstring).

    ``Result.details`` holds ``pairwise``, ``margins``, ``locked`` (pairs in locking order, with
    margins), ``skipped`` (pairs that would have closed a cycle) and ``ranking``.

    >>> p = Profile.build(["a", "b", "c"], [["a", "b", "c"]] * 3 + [["b", "c", "a"]] * 2 + [["c", "a", "b"]] * 2)
    >>> r = ranked_pairs(p)
    >>> r.elected, r.details["locked"]
    (('a',), [['a', 'b', 3], ['b', 'c', 3]])
    """
    names = profile.candidates
    cands = list(profile.hopeful)
    if not cands:
        raise TallyError("there are no candidates to count")
    d = pairwise_matrix(profile)
    policy = tie_breaker if tie_breaker is not None else TieBreaker()
    order = {name: k for k, name in enumerate(policy.order(names))}
    margin = {(i, j): d[i][j] - d[j][i] for i in cands for j in cands if i != j}
    positive = [pair for pair, m in margin.items() if m > 0]
    positive.sort(key=lambda ij: (-margin[ij], order[names[ij[0]]], -order[names[ij[1]]]))
    groups = [list(g) for _, g in itertools.groupby(positive, key=lambda ij: margin[ij])]

    locked: dict[int, set[int]] = {}
    locked_list: list[tuple[int, int]] = []
    tie_breaks: list[TieBreak] = []
    ambiguous = False
    for group in groups:
        if len(group) > 1 and _group_sensitive(locked, group):
            ambiguous = True
            if tie_breaker is not None:
                shown = tuple(f"{names[a]}>{names[b]}" for a, b in group)
                tie_breaks.append(
                    TieBreak(
                        1, "order", shown, shown[0], policy.how, f"pairs with equal margin {margin[group[0]]}"
                    )
                )
        locked_list.extend(_lock(locked, group))
    skipped = [pair for pair in positive if pair not in locked_list]
    winners = _sources(locked, cands)
    details: dict[str, Any] = {
        "pairwise": _named_matrix(d, cands, names),
        "margins": {names[i]: {names[j]: margin[i, j] for j in cands if j != i} for i in cands},
        "locked": [[names[a], names[b], margin[a, b]] for a, b in locked_list],
        "skipped": [[names[a], names[b], margin[a, b]] for a, b in skipped],
    }
    if ambiguous and tie_breaker is None:
        possible = _possible_winners(groups, cands)
        details["possible_winners"] = [names[c] for c in cands if c in possible]
        details["note"] = "the order of equal-margin pairs was tried every way"
        winners = [c for c in cands if c in possible] if len(possible) > 1 else sorted(possible)
    layers = _layers(cands, lambda i, j: _reaches(locked, i, j))
    if len(winners) > 1:
        # The locked graph's layering shows one order; the tie is what the ranking must show.
        layers = [list(winners)] + [[c for c in layer if c not in winners] for layer in layers]
        layers = [layer for layer in layers if layer]
    details["ranking"] = [[names[c] for c in layer] for layer in layers]
    return _single_winner_result(
        "ranked-pairs", profile, layers, tie_breaker, details, {"strength": "margins"}, tie_breaks, winners
    )


def _group_sensitive(locked: dict[int, set[int]], group: list[tuple[int, int]]) -> bool:
    """True when the order of ``group`` (pairs of equal margin) could change what is locked.

    Pairs that close a cycle with what is already locked are skipped in any order; if the rest
    lock together without a cycle, every order locks the same set.
    """
    lockable = [(a, b) for a, b in group if not _reaches(locked, b, a)]
    trial = {a: set(bs) for a, bs in locked.items()}
    return len(_lock(trial, lockable)) < len(lockable)


def _possible_winners(groups: list[list[tuple[int, int]]], cands: Sequence[int]) -> set[int]:
    winners: set[int] = set()
    branches = 0

    def walk(index: int, locked: dict[int, set[int]]) -> None:
        nonlocal branches
        branches += 1
        if branches > MAX_BRANCHES:
            raise TallyError("too many orders of equal-margin pairs to try; give a tie_breaker")
        if index == len(groups):
            winners.update(_sources(locked, cands))
            return
        group = groups[index]
        if len(group) == 1 or not _group_sensitive(locked, group):
            nxt = {a: set(bs) for a, bs in locked.items()}
            _lock(nxt, group)
            walk(index + 1, nxt)
            return
        if len(group) > 8:
            raise TallyError("too many pairs with equal margins to try every order; give a tie_breaker")
        seen: set[frozenset[tuple[int, int]]] = set()
        for perm in itertools.permutations(group):
            nxt = {a: set(bs) for a, bs in locked.items()}
            key = frozenset(_lock(nxt, perm))
            if key not in seen:
                seen.add(key)
                walk(index + 1, nxt)

    walk(0, {})
    return winners


# === Debian constitution A.6 ====================================================================


def debian(
    profile: Profile,
    *,
    default: str | None = None,
    quorum: int | Fraction = 0,
    majority: Fraction | int | Mapping[str, Fraction | int] = 1,
    tie_breaker: TieBreaker | None = None,
) -> Result:
    """Count a vote by the Debian constitution, appendix A.6 (v1.5 and later).

    Steps, with the constitution's clause numbers:

    * A.6.1: ranked options beat unranked ones; equal ranks are allowed (``pairwise_matrix``).
    * A.6.2: with a quorum R, a non-default option ranked above the default option ``default`` by
      fewer than R voters (``V(A,D) < R``) is dropped.
    * A.6.3: a non-default option that does not defeat the default by its majority ratio N is
      dropped; A defeats D by ratio N when ``V(A,D) >= N * V(D,A)`` **and** ``V(A,D) > V(D,A)``
      (A.6.3.2). N is 1 unless a supermajority S:1 applies (A.6.3.3): ``majority=3`` for 3:1,
      or a mapping from option name to ratio. Ratios may be Fractions, compared exactly.
    * A.6.4-A.6.7: pairwise defeats among the undropped options (A defeats B when
      ``V(A,B) > V(B,A)``, A.6.4.1), transitive defeats, the Schwartz set, and dropping the
      weakest defeats inside it (weaker: fewer votes for, then more votes against, A.6.7.1)
      until no defeat is left inside the Schwartz set.
    * A.6.8: one option left in the Schwartz set wins; several are a tie, broken only by an
      explicit ``tie_breaker`` (standing in for the casting vote).

    With ``default=None`` there is no default option and steps A.6.2-A.6.3 are skipped.
    ``Result.details`` holds ``dropped`` (option, clause, reason), ``schwartz_steps``, the
    ``pairwise`` matrix and the Schulze ``strongest_paths`` and ``ranking`` among undropped options.

    >>> p = Profile.build(["yes", "FD"], [["yes", "FD"]] * 5 + [["FD", "yes"]] * 2)
    >>> debian(p, default="FD", majority=3).elected
    ('FD',)
    >>> debian(p, default="FD", majority=Fraction(5, 2)).elected
    ('yes',)
    """
    names = profile.candidates
    index = {name: i for i, name in enumerate(names)}
    cands = list(profile.hopeful)
    if not cands:
        raise TallyError("there are no candidates to count")
    if default is not None and (default not in index or index[default] not in cands):
        raise TallyError(f"the default option {default!r} is not on the ballot")
    ratios: dict[str, Fraction] = {}
    if isinstance(majority, Mapping):
        for name, ratio in majority.items():
            if name not in index:
                raise TallyError(f"majority given for unknown option {name!r}")
            ratios[name] = Fraction(ratio)
    for name in names:
        ratios.setdefault(name, Fraction(1) if isinstance(majority, Mapping) else Fraction(majority))
    if any(r < 1 for r in ratios.values()):
        raise TallyError("a majority ratio must be at least 1 (1 for a simple majority, 3 for 3:1)")
    if Fraction(quorum) < 0:
        raise TallyError("the quorum cannot be negative")

    d = pairwise_matrix(profile)
    dropped: list[dict[str, Any]] = []
    keep = list(cands)
    if default is not None:
        dd = index[default]
        for a in cands:
            if a == dd:
                continue
            v_ad, v_da = d[a][dd], d[dd][a]
            if v_ad < quorum:
                dropped.append(
                    {"option": names[a], "clause": "A.6.2", "reason": f"quorum: V(A,D) = {v_ad} < {quorum}"}
                )
                keep.remove(a)
                continue
            n = ratios[names[a]]
            if not (v_ad >= n * v_da and v_ad > v_da):
                dropped.append(
                    {
                        "option": names[a],
                        "clause": "A.6.3",
                        "reason": f"majority {n}:1 not met: V(A,D) = {v_ad}, V(D,A) = {v_da}",
                    }
                )
                keep.remove(a)

    winners, steps = _schwartz_sequential_dropping(d, keep, names)
    p = strongest_paths(d, keep, "winning")
    layers = _layers(keep, lambda i, j: p[i, j] > p[j, i])
    dropped_idx = [c for c in cands if c not in keep]
    details: dict[str, Any] = {
        "default": default,
        "quorum": quorum,
        "majority": {names[c]: ratios[names[c]] for c in cands if default is None or c != index[default]},
        "dropped": dropped,
        "pairwise": _named_matrix(d, cands, names),
        "schwartz_steps": steps,
        "strongest_paths": {names[i]: {names[j]: p[i, j][0] for j in keep if j != i} for i in keep},
        "ranking": [[names[c] for c in layer] for layer in layers]
        + ([[names[c] for c in dropped_idx]] if dropped_idx else []),
    }
    params = {
        "default": default,
        "quorum": quorum,
        "majority": majority if not isinstance(majority, Mapping) else dict(majority),
    }
    return _single_winner_result("debian", profile, layers, tie_breaker, details, params, winners=winners)


def _schwartz_sequential_dropping(
    d: list[list[int]], keep: list[int], names: Sequence[str]
) -> tuple[list[int], list[dict[str, Any]]]:
    defeats = {(a, b) for a in keep for b in keep if a != b and d[a][b] > d[b][a]}  # A.6.4
    steps: list[dict[str, Any]] = []
    while True:
        graph: dict[int, set[int]] = {}
        for a, b in defeats:
            graph.setdefault(a, set()).add(b)
        # A.6.5-A.6.6: A is in the Schwartz set unless some B transitively defeats A
        # while A does not transitively defeat B.
        schwartz = [
            a for a in keep if all(not _reaches(graph, b, a) or _reaches(graph, a, b) for b in keep if b != a)
        ]
        inside = [(a, b) for a, b in defeats if a in schwartz and b in schwartz]
        step: dict[str, Any] = {"schwartz_set": [names[c] for c in schwartz]}
        if not inside:
            steps.append(step)
            return schwartz, steps
        # A.6.7: drop the weakest defeats (fewest votes for; then most votes against).
        weakest = min((d[a][b], -d[b][a]) for a, b in inside)
        drop = sorted((a, b) for a, b in inside if (d[a][b], -d[b][a]) == weakest)
        step["dropped_defeats"] = [[names[a], names[b], d[a][b], d[b][a]] for a, b in drop]
        steps.append(step)
        defeats -= set(drop)
