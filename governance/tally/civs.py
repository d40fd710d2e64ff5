"""CIVS proportional representation ("best candidate" criterion), as CIVS's code runs it.

Boundary rule: pure library code; imports only ``governance.tally.core`` and the standard library.

This follows the implementable specification in the project's reference notes
(``civs-proportional.md``, written from CIVS's Perl sources ``cgi-bin/results``, ``minimax.pm`` and
``beatpath.pm``), including CIVS's quirks rather than only its documentation:

A. the *individual preference order* pi: Minimax-PM tiers on the transformed matrix
   ``M[x][y] = n - P[y][x]`` (ties inside a tier by poll order);
B. committee comparison: each voter compares two k-sets by their members' ratings sorted best
   first, at the first position that differs (an *f-preference* when that position is <= f); a
   count ``c`` at level f is valid when ``c (k + 1) >= f V``; the strong preference is CIVS's
   one-pass dominance scan with initial bound ``L0`` (number of candidates in code v2024, number of
   ballots in code v2025); the weak preference is the raw count at level k;
C. hill-climbing by single swaps from the top k of pi, first improvement, at most 500 visits;
D. a pool of the visited committees plus the leave-one-out committees of pi[1..k+1];
E. old CIVS beatpath (Schulze, winning votes) over the pool with weights ``s D + w``.

The winners are listed in pi order, which is the order a constitution may use to rank them.
Ratings come from rankings: a candidate in the g-th group (0-based) gets ``n - g``, an unranked
one 0 (only the order matters). Blank ballots count in V. Withdrawn candidates are left out of
the poll.

>>> from governance.tally.core import Profile
>>> p = Profile.build(list("abcdexyzuv"), [list("abcde")] * 60 + [list("xyzuv")] * 40, seats=5)
>>> r = civs_pr(p)
>>> r.elected, [" ".join(c) for c in r.details["search_path"]]
(('a', 'b', 'c', 'x', 'y'), ['a b c d e', 'a b c e x', 'a b c d x', 'a b c x y'])
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .core import Profile, Result, Round, TallyError, TieBreak, TieBreaker

__all__ = ["civs_pr", "read_civs_csv"]

SEARCH_CAP = 500

_L0 = {"2024": "candidates", "2025": "ballots"}


@dataclass(frozen=True)
class _Poll:
    n: int
    k: int
    V: int
    ratings: tuple[tuple[int, ...], ...]  # one per distinct ballot
    weights: tuple[int, ...]
    L0: int


def _ratings(profile: Profile, index: dict[int, int], n: int) -> tuple[list[tuple[int, ...]], list[int]]:
    ratings: list[tuple[int, ...]] = []
    weights: list[int] = []
    for ballot in profile.ballots:
        row = [0] * n
        g = 0
        for group in ballot.ranking:
            live = [index[c] for c in group if c in index]
            if not live:
                continue
            for c in live:
                row[c] = n - g
            g += 1
        ratings.append(tuple(row))
        weights.append(ballot.weight)
    return ratings, weights


# === Stage A: individual preference order =========================================================


def _pairwise(poll: _Poll) -> list[list[int]]:
    n = poll.n
    P = [[0] * n for _ in range(n)]
    for row, w in zip(poll.ratings, poll.weights, strict=True):
        for x in range(n):
            rx = row[x]
            Px = P[x]
            for y in range(n):
                if rx > row[y]:
                    Px[y] += w
    return P


def _individual_order(poll: _Poll, P: list[list[int]]) -> list[list[int]]:
    """Minimax-PM tiers on M[x][y] = n - P[y][x], as CIVS's minimax.pm computes them."""
    n = poll.n
    M = [[n - P[y][x] for y in range(n)] for x in range(n)]
    remaining = list(range(n))
    tiers: list[list[int]] = []
    while remaining:
        keys = {}
        for x in remaining:
            entries = [(M[y][x] - M[x][y], M[y][x]) for y in remaining if y != x]
            entries.sort(key=lambda e: (-e[0], e[1]))
            # At the first differing entry the smaller margin is better, then the larger w.
            keys[x] = [(m, -w) for m, w in entries]
        best = min(keys.values())
        tier = [x for x in remaining if keys[x] == best]
        tiers.append(tier)
        remaining = [x for x in remaining if x not in tier]
    return tiers


# === Stage B: comparing committees ================================================================


class _Comparer:
    def __init__(self, poll: _Poll) -> None:
        self.poll = poll
        self.sorted_cache: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        self.compare_cache: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[int, int, int, int]] = {}

    def _sorted(self, committee: tuple[int, ...]) -> list[tuple[int, ...]]:
        got = self.sorted_cache.get(committee)
        if got is None:
            got = [tuple(sorted((row[c] for c in committee), reverse=True)) for row in self.poll.ratings]
            self.sorted_cache[committee] = got
        return got

    def compare(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(s_A, s_B, w_A, w_B): strong (proportional) and weak preference counts."""
        key = (a, b)
        if key in self.compare_cache:
            return self.compare_cache[key]
        poll = self.poll
        k = poll.k
        at_a = [0] * (k + 1)  # at_a[d]: weight of voters deciding for A at position d (1-based)
        at_b = [0] * (k + 1)
        for sa, sb, w in zip(self._sorted(a), self._sorted(b), poll.weights, strict=True):
            if sa == sb:
                continue
            for d in range(k):
                if sa[d] != sb[d]:
                    if sa[d] > sb[d]:
                        at_a[d + 1] += w
                    else:
                        at_b[d + 1] += w
                    break
        hi, lo = 0, poll.L0
        s_a = s_b = 0
        n_a = n_b = 0
        for f in range(1, k + 1):
            n_a += at_a[f]
            n_b += at_b[f]
            x = n_a if n_a * (k + 1) >= f * poll.V else 0
            y = n_b if n_b * (k + 1) >= f * poll.V else 0
            if max(x, y) >= hi and min(x, y) <= lo:
                s_a, s_b = x, y
                hi, lo = max(x, y), min(x, y)
        out = (s_a, s_b, n_a, n_b)
        self.compare_cache[key] = out
        self.compare_cache[(b, a)] = (s_b, s_a, n_b, n_a)
        return out

    def beats(self, b: tuple[int, ...], a: tuple[int, ...]) -> bool:
        """Whether committee ``b`` beats committee ``a`` (strong, then weak preference)."""
        s_a, s_b, w_a, w_b = self.compare(a, b)
        return s_b > s_a or (s_b == s_a and w_b > w_a)


# === Stages C-E ===================================================================================


def _search(poll: _Poll, pi: list[int], cmp: _Comparer) -> tuple[list[tuple[int, ...]], bool]:
    n, k = poll.n, poll.k
    path: list[tuple[int, ...]] = []
    visited: set[tuple[int, ...]] = set()
    current = tuple(sorted(pi[:k]))
    visits = 0
    while True:
        visits += 1
        if visits > SEARCH_CAP:
            return path, True
        visited.add(current)
        path.append(current)
        nxt = None
        for i in range(k):
            for j in range(n):
                if j in current:
                    continue
                cand = tuple(sorted(current[:i] + (j,) + current[i + 1 :]))
                if cand not in visited and cmp.beats(cand, current):
                    nxt = cand
                    break
            if nxt is not None:
                break
        if nxt is None:
            return path, False
        current = nxt


def _unbeaten(pool: list[tuple[int, ...]], cmp: _Comparer, V: int) -> tuple[list[int], list[list[int]]]:
    D = 1
    while D < V:
        D *= 10
    m = len(pool)
    W = [[0] * m for _ in range(m)]
    for x in range(m):
        for y in range(x + 1, m):
            s_x, s_y, w_x, w_y = cmp.compare(pool[x], pool[y])
            W[x][y] = s_x * D + w_x
            W[y][x] = s_y * D + w_y
    p = [row[:] for row in W]
    for x in range(m):
        for y in range(x + 1, m):
            if p[x][y] > p[y][x]:
                p[y][x] = 0
            elif p[y][x] > p[x][y]:
                p[x][y] = 0
            else:
                p[x][y] = p[y][x] = 0
    for z in range(m):
        pz = p[z]
        for x in range(m):
            pxz = p[x][z]
            if not pxz:
                continue
            px = p[x]
            for y in range(m):
                via = pxz if pxz < pz[y] else pz[y]
                if via > px[y]:
                    px[y] = via
    winners = [x for x in range(m) if not any(p[y][x] > p[x][y] for y in range(m) if y != x)]
    return winners, W


def civs_pr(
    profile: Profile,
    *,
    tie_breaker: TieBreaker | None = None,
    code_version: str = "2024",
    audit: bool = False,
) -> Result:
    """Elect ``profile.seats`` candidates by CIVS proportional representation (best-candidate mode).

    Args:
        profile: candidates in poll order (the order matters, as in CIVS), ballots, seats.
        tie_breaker: CIVS applies none when several committees are unbeaten; then the count
            reports a tie (``Result.tied``) unless a tie-breaker is given, which picks the unbeaten
            committee whose members it favours most (recorded as a TieBreak).
        code_version: "2024" (initial bound L0 = number of candidates; CIVS from March 2024 to July
            2025) or "2025" (L0 = number of ballots).
        audit: also check that the winner beats or ties every other k-set (C(n, k) comparisons;
            only for small polls). The answer is in ``details["audit"]``.

    Returns:
        The Result. ``elected`` lists the winners in individual-preference order; ``details`` has
        the individual order, its tiers, the search path, the pool, the pairwise (s, w) table of
        the pool, the unbeaten committees and whether the 500-visit cap was hit.

    >>> from governance.tally.core import Profile
    >>> ballots = [["c", "b"], ["c", "b", "a"], ["c", "b", "a", "d", "e"], ["c", "b", "d"], ["c", "b", "d", "a"],
    ...            ["c", "e", "a", "b", "d"]] + [["e", "c", "a"]] * 3 + [["e", "c", "b", "a", "d"]]
    >>> r = civs_pr(Profile.build(list("abcde"), ballots, seats=3))
    >>> r.details["individual_order"], r.elected
    (['c', 'e', 'b', 'a', 'd'], ('c', 'e', 'b'))
    """
    if code_version not in _L0:
        raise TallyError(f"Unknown code_version: {code_version!r} (expected '2024' or '2025')")
    cands = [i for i in range(len(profile.candidates)) if i not in profile.withdrawn]
    names = [profile.candidates[i] for i in cands]
    n, k = len(cands), profile.seats
    index = {c: j for j, c in enumerate(cands)}
    ratings, weights = _ratings(profile, index, n)
    V = sum(weights)
    params = {
        "seats": k,
        "code_version": code_version,
        "L0": _L0[code_version],
        "search_cap": SEARCH_CAP,
        "criterion": "best candidate",
    }
    if tie_breaker is not None:
        params["tie_breaker"] = tie_breaker.describe()
    if k >= n:
        return Result(
            method="civs-pr",
            seats=k,
            elected=tuple(names),
            parameters=params,
            details={"note": "no more candidates than seats: all elected"},
            candidates=profile.candidates,
            ballots=V,
        )
    poll = _Poll(n, k, V, tuple(ratings), tuple(weights), n if code_version == "2024" else V)
    P = _pairwise(poll)
    tiers = _individual_order(poll, P)
    pi = [c for tier in tiers for c in tier]
    rank = {c: r for r, c in enumerate(pi)}
    cmp = _Comparer(poll)
    path, failed = _search(poll, pi, cmp)
    visited = set(path)
    pool = list(path)
    top = pi[: k + 1]
    contenders = []
    for j in range(k + 1):
        c = tuple(sorted(top[:j] + top[j + 1 :]))
        if c not in visited and c not in pool:
            pool.append(c)
            contenders.append(c)
    winners, W = _unbeaten(pool, cmp, V)

    def named(committee: tuple[int, ...]) -> list[str]:
        return [names[c] for c in sorted(committee, key=rank.__getitem__)]

    tie_breaks: list[TieBreak] = []
    tied: tuple[str, ...] = ()
    if len(winners) == 1:
        elected = tuple(named(pool[winners[0]]))
    elif tie_breaker is not None:
        order = {name: r for r, name in enumerate(tie_breaker.order(names))}
        best = min(winners, key=lambda x: sorted(order[names[c]] for c in pool[x]))
        elected = tuple(named(pool[best]))
        tie_breaks.append(
            TieBreak(
                len(path),
                "winner",
                tuple(" ".join(named(pool[x])) for x in winners),
                " ".join(elected),
                tie_breaker.how,
                "several unbeaten committees",
            )
        )
    else:
        common = set.intersection(*(set(pool[x]) for x in winners))
        union = set.union(*(set(pool[x]) for x in winners))
        elected = tuple(names[c] for c in pi if c in common)
        tied = tuple(names[c] for c in pi if c in union - common)

    rounds = []
    for number, committee in enumerate(path, start=1):
        nxt = path[number] if number < len(path) else None
        note = f"visited {' '.join(named(committee))}"
        extra: dict[str, Any] = {"committee": named(committee)}
        if nxt is not None:
            s_c, s_n, w_c, w_n = cmp.compare(committee, nxt)
            note += f"; beaten by {' '.join(named(nxt))}"
            extra["beaten_by"] = {"committee": named(nxt), "strong": [s_n, s_c], "weak": [w_n, w_c]}
        rounds.append(Round(number, {}, note=note, extra=extra))

    details: dict[str, Any] = {
        "individual_order": [names[c] for c in pi],
        "tiers": [[names[c] for c in tier] for tier in tiers],
        "search_path": [named(c) for c in path],
        "search_failed": failed,
        "contenders": [named(c) for c in contenders],
        "pool": [named(c) for c in pool],
        "pairwise": [
            {"x": named(pool[x]), "y": named(pool[y]), "x_over_y": cmp.compare(pool[x], pool[y])}
            for x in range(len(pool))
            for y in range(x + 1, len(pool))
        ],
        "unbeaten": [named(pool[x]) for x in winners],
        "ballots_counted": V,
        "pairwise_candidates": {names[x]: {names[y]: P[x][y] for y in range(n) if y != x} for x in range(n)},
    }
    if failed:
        details["warning"] = (
            "search for the best set failed (500-visit cap); results are likely to be incorrect"
        )
    if audit and len(winners) == 1:
        details["audit"] = _audit(poll, pool[winners[0]], cmp, names)
    return Result(
        method="civs-pr",
        seats=k,
        elected=elected,
        rounds=tuple(rounds),
        tie_breaks=tuple(tie_breaks),
        parameters=params,
        tied=tied,
        details=details,
        candidates=profile.candidates,
        ballots=V,
    )


def _audit(poll: _Poll, winner: tuple[int, ...], cmp: _Comparer, names: Sequence[str]) -> dict[str, Any]:
    from itertools import combinations

    beaten_by = []
    for other in combinations(range(poll.n), poll.k):
        if other != winner and cmp.beats(other, winner):
            beaten_by.append([names[c] for c in other])
            if len(beaten_by) >= 10:
                break
    return {"condorcet_committee": not beaten_by, "beaten_by": beaten_by}


def read_civs_csv(text: str, *, seats: int, title: str = "", name: str = "<civs>") -> Profile:
    """Read a CIVS ballot file: a header of candidate names in poll order, then one row of ratings per ballot.

    Ratings are integers, higher = more preferred (how CIVS reads uploaded files in best-candidate
    mode). A rating of 1 or less, or ``-`` ("no opinion"), is read as unranked: the NixOS election
    committee's converter writes first choice = n, ..., unranked = 1, and CIVS only compares ratings.

    >>> p = read_civs_csv("a,b,c\\n3,1,2\\n1,1,1\\n", seats=1)
    >>> [(b.ranking, b.weight) for b in p.ballots]
    [(((0,), (2,)), 1), ((), 1)]
    """
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise TallyError(f"{name}:1: empty file")
    header = [h.strip() for h in rows[0]]
    rankings = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise TallyError(f"{name}:{line_no}: expected {len(header)} ratings, found {len(row)}")
        by_rating: dict[int, list[int]] = {}
        for c, cell in enumerate(row):
            cell = cell.strip()
            if cell == "-":
                continue
            try:
                value = int(cell)
            except ValueError:
                raise TallyError(f"{name}:{line_no}: rating {cell!r} is not a whole number") from None
            if value > 1:
                by_rating.setdefault(value, []).append(c)
        rankings.append(tuple(tuple(by_rating[r]) for r in sorted(by_rating, reverse=True)))
    return Profile.from_indices(header, rankings, seats=seats, title=title)
