"""Multi-seat single transferable vote: Meek (PR Foundation reference), WIGM (PR Foundation reference), Scottish STV.

Boundary rule: pure library code; imports only ``governance.tally`` modules and the standard library.

All three rules count in fixed-point decimal arithmetic on ints (``governance.tally._fixed``), with the
truncations each rule prescribes, so a count is reproducible to the last digit and matches the
published reference implementations (Droop's reports are the test oracle). Every round is recorded as
a ``core.Round`` and every tie that had to be broken as a ``core.TieBreak``.

* ``meek``: the Hill-Wichmann-Woodall Meek method as the PR Foundation's reference rule states it
  ("meek-prf": 9 places, keep values rounded up, quota truncated plus 10^-9, omega 10^-6, one defeat
  per round, candidates within the total surplus of the lowest count as tied for defeat).
* ``wigm``: the PR Foundation's Weighted Inclusive Gregory Method reference rule ("wigm-prf":
  4 places, truncation, single defeats).
* ``scottish``: the Scottish Local Government Elections Order 2007 (SSI 2007/42) rules 45-52:
  5 places, truncation, integer Droop quota, ties decided by the most recent stage at which the tied
  candidates differed and then "by lot" (the tie-breaker's fixed order).

Valid ballots are the ones that rank at least one candidate: blank ballots do not count towards the
quota (as in Droop and the Scottish rules' "valid ballot papers").

>>> from governance.tally.core import Profile
>>> p = Profile.build(["A", "B", "C"], [["A", "B"]] * 4 + [["C"]] * 2 + [["B"]], seats=2)
>>> meek(p).elected, wigm(p).elected
(('A', 'B'), ('A', 'B'))
>>> scottish(p).elected  # whole-vote quota 3: B and C tie on 2, B had fewer first preferences
('A', 'C')
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from itertools import chain
from typing import Any

from ._fast import EXACT_LIMIT, HAVE_NUMPY, MIN_ROWS, ArrayProfile, arrays_of
from ._fixed import Fixed
from ._stvcount import _DEFEATED, _ELECTED, _HOPEFUL
from ._stvcount import Count as _Count
from ._stvcount import check_seats as _check_seats
from ._stvcount import finish as _finish
from .core import Profile, Result, Round, TallyError, TieBreaker
from .gregory import scottish, wigm

if HAVE_NUMPY:
    import numpy as np

__all__ = ["meek", "scottish", "wigm"]


# === Meek ============================================================================================


class _MeekBallots:
    """Ballots reduced to what a Meek distribution needs, kept up to date as candidates change state.

    In a Meek distribution a ballot passes weight through elected candidates (keep factor < 1),
    skips defeated and withdrawn ones, and stops at its first hopeful candidate (keep factor 1). So
    each ballot only matters through its *path*: the elected candidates it meets, in order, and the
    hopeful candidate it stops at (its leaf, or -1 when it runs out). Ballots with the same path are
    merged, and the paths form a small tree that each iteration walks once. When a candidate is
    elected or defeated, only the ballots whose leaf it was move on, from where they stopped.

    Ballots with equal rankings are kept aside and walked in full every iteration (Droop's rule:
    the weight reaching a group of equally ranked continuing candidates is split equally between
    them, and what each share leaves continues down the ballot).
    """

    def __init__(self, count: _Count) -> None:
        self.count = count
        self.by_leaf: dict[int, list[tuple[tuple[int, ...], tuple[int, ...], int, int]]] = defaultdict(list)
        self.agg: dict[int, dict[tuple[int, ...], int]] = defaultdict(dict)
        self.equal: list[tuple[tuple[tuple[int, ...], ...], int]] = []
        self.split_loss = 0
        for ballot in count.profile.ballots:
            if not ballot.ranking:
                continue
            count.valid += ballot.weight
            if all(len(g) == 1 for g in ballot.ranking):
                flat = tuple(g[0] for g in ballot.ranking)
                self._walk((), flat, 0, ballot.weight)
            else:
                self.equal.append((ballot.ranking, ballot.weight))
        self._tree: tuple | None = None

    def _walk(self, path: tuple[int, ...], ranking: tuple[int, ...], pos: int, weight: int) -> None:
        status = self.count.status
        n = len(ranking)
        while pos < n:
            c = ranking[pos]
            pos += 1
            s = status[c]
            if s == _HOPEFUL:
                self.by_leaf[c].append((path, ranking, pos, weight))
                agg = self.agg[c]
                agg[path] = agg.get(path, 0) + weight
                return
            if s == _ELECTED:
                path = path + (c,)
        agg = self.agg[-1]
        agg[path] = agg.get(path, 0) + weight

    def changed(self, c: int) -> None:
        """Candidate ``c`` was elected or defeated: move on the ballots that stopped at it."""
        items = self.by_leaf.pop(c, [])
        self.agg.pop(c, None)
        elected = self.count.status[c] == _ELECTED
        for path, ranking, pos, weight in items:
            self._walk(path + (c,) if elected else path, ranking, pos, weight)
        self._tree = None

    def tree(self) -> tuple:
        if self._tree is None:
            index: dict[tuple[int, ...], int] = {(): 0}
            parent = [0]
            cand = [-1]
            through = [0]
            leaves: list[tuple[int, int, int]] = []
            paths = sorted({p for agg in self.agg.values() for p in agg}, key=len)
            for path in paths:
                for k in range(1, len(path) + 1):
                    prefix = path[:k]
                    if prefix not in index:
                        index[prefix] = len(parent)
                        parent.append(index[path[: k - 1]])
                        cand.append(path[k - 1])
                        through.append(0)
            for leaf, agg in self.agg.items():
                for path, weight in agg.items():
                    for k in range(1, len(path) + 1):
                        through[index[path[:k]]] += weight
                    if leaf >= 0:
                        leaves.append((index[path], leaf, weight))
            self._tree = (parent, cand, through, leaves)
        return self._tree

    def distribute(self, kf: list[int]) -> list[int]:
        """One Meek distribution: every candidate's vote (scaled), keep values rounded up."""
        one = self.count.fixed.one
        votes = [0] * len(kf)
        parent, cand, through, leaves = self.tree()
        w_out = [one] * len(parent)
        for k in range(1, len(parent)):
            w_in = w_out[parent[k]]
            c = cand[k]
            keep = -(-w_in * kf[c] // one)
            votes[c] += keep * through[k]
            w_out[k] = w_in - keep
        for k, leaf, weight in leaves:
            votes[leaf] += w_out[k] * weight
        self.split_loss = 0
        if self.equal:
            self._distribute_equal(kf, votes)
        return votes

    def _distribute_equal(self, kf: list[int], votes: list[int]) -> None:
        one = self.count.fixed.one
        status = self.count.status

        def dist(ranking: tuple[tuple[int, ...], ...], i: int, weight: int, mult: int) -> None:
            while i < len(ranking):
                live = [c for c in ranking[i] if status[c] in (_HOPEFUL, _ELECTED)]
                if live:
                    break
                i += 1
            else:
                return
            share = weight // len(live)
            self.split_loss += (weight - share * len(live)) * mult  # truncation when splitting
            for c in live:
                keep = -(-share * kf[c] // one)
                votes[c] += keep * mult
                rest = share - keep
                if rest > 0:
                    dist(ranking, i + 1, rest, mult)

        for ranking, mult in self.equal:
            dist(ranking, 0, one, mult)


class _MeekArrays(_MeekBallots):
    """The same reduction over a ballot array (numpy), for profiles with many distinct ballots.

    Each row keeps its position, its leaf and its path as an int64 key (the path's candidates as
    digits in base seats + 1, each digit one more than the candidate's place in the order of
    election). Only integer operations are used, and sums go through int64 ``np.add.at``, so the
    counts are exactly those of the pure-Python structure.
    """

    def __init__(self, count: _Count, codes: Any, counts: Any) -> None:
        self.count = count
        self.equal = []
        self.split_loss = 0
        self.by_leaf = defaultdict(list)
        self.agg = defaultdict(dict)
        self._tree = None
        valid = codes[:, 0] >= 0
        self.codes = codes[valid]  # int8/int16: the rows are only read
        self.counts = counts[valid].astype(np.int64)
        count.valid = int(self.counts.sum())
        rows = len(self.codes)
        self.width = self.codes.shape[1]
        self.base = count.profile.seats + 1
        n = len(count.names)
        self.status = np.array(count.status, dtype=np.int64)
        self.place = np.zeros(n, dtype=np.int64)
        self.pos = np.full(rows, -1, dtype=np.int64)
        self.leaf = np.full(rows, -2, dtype=np.int64)
        self.key = np.zeros(rows, dtype=np.int64)
        self._advance(np.arange(rows, dtype=np.int64))

    @staticmethod
    def usable(profile: Profile) -> tuple[Any, Any] | None:
        """The profile's arrays when the array path applies (numpy, many rows, strict rankings)."""
        if not HAVE_NUMPY or (profile.seats + 1) ** profile.seats * (len(profile.candidates) + 1) >= 2**62:
            return None
        if isinstance(profile, ArrayProfile):
            return arrays_of(profile)
        ballots = profile.ballots
        if len(ballots) < MIN_ROWS or profile.total_weight >= EXACT_LIMIT:
            return None  # small, or sums that int64 could not hold: Python ints
        # Flatten in C (chain, fromiter): much faster than building padded rows in Python.
        rankings = [b.ranking for b in ballots]
        lengths = np.fromiter(map(len, rankings), dtype=np.int64, count=len(rankings))
        flat = np.fromiter(chain.from_iterable(chain.from_iterable(rankings)), dtype=np.int64)
        if flat.size != int(lengths.sum()):
            return None  # equal rankings: the pure path handles them
        width = max(1, int(lengths.max()))
        codes = np.full((len(rankings), width), -1, dtype=np.int64)
        codes[np.arange(width)[None, :] < lengths[:, None]] = flat  # fills row by row, in order
        counts = np.fromiter((b.weight for b in ballots), dtype=np.int64, count=len(ballots))
        return codes, counts

    def _advance(self, rows: Any) -> None:
        codes, status, width = self.codes, self.status, self.width
        active = rows
        while active.size:
            p = self.pos[active] + 1
            self.pos[active] = p
            cand = np.full(active.size, -1, dtype=np.int64)
            inside = p < width
            cand[inside] = codes[active[inside], p[inside]]
            ended = cand < 0
            self.leaf[active[ended]] = -1
            active, cand = active[~ended], cand[~ended]
            st = status[cand]
            hopeful = st == _HOPEFUL
            self.leaf[active[hopeful]] = cand[hopeful]
            elected = st == _ELECTED
            on = active[elected]
            self.key[on] = self.key[on] * self.base + self.place[cand[elected]] + 1
            active = active[~hopeful]
        if rows.size == 0:
            return
        span = self.base**self.count.profile.seats
        code = (self.leaf[rows] + 1) * span + self.key[rows]
        uniq, inverse = np.unique(code, return_inverse=True)
        sums = np.zeros(len(uniq), dtype=np.int64)
        np.add.at(sums, inverse.reshape(-1), self.counts[rows])
        elected = self.count.elected
        for u, w in zip(uniq.tolist(), sums.tolist(), strict=True):
            leaf, key = divmod(u, span)
            digits = []
            while key:
                key, d = divmod(key, self.base)
                digits.append(elected[d - 1])
            agg = self.agg[leaf - 1]
            path = tuple(reversed(digits))
            agg[path] = agg.get(path, 0) + w

    def changed(self, c: int) -> None:
        """Candidate ``c`` was elected or defeated: move on the rows that stopped at it."""
        st = self.count.status[c]
        self.status[c] = st
        if st == _ELECTED:
            self.place[c] = self.count.elected.index(c)
        self.agg.pop(c, None)
        rows = np.flatnonzero(self.leaf == c)
        if st == _ELECTED:
            self.key[rows] = self.key[rows] * self.base + self.place[c] + 1
        self._advance(rows)
        self._tree = None


def _meek_ballots(count: _Count) -> _MeekBallots:
    arrays = _MeekArrays.usable(count.profile)
    if arrays is not None:
        return _MeekArrays(count, *arrays)
    return _MeekBallots(count)


def meek(
    profile: Profile,
    *,
    tie_breaker: TieBreaker | None = None,
    precision: int = 9,
    omega: Fraction | int | str | None = None,
    max_iterations: int = 100_000,
    affiliations: dict[str, str] | None = None,
    max_per_affiliation: int | None = None,
) -> Result:
    """Count by Meek's method, the PR Foundation reference rule (Hill, Wichmann & Woodall).

    Each round iterates: distribute every ballot (a candidate keeps ``weight x keep factor``,
    rounded up, and passes on the rest), set the quota to the votes divided by seats + 1 (truncated,
    plus one unit in the last place), elect everyone at or above it, and adjust the elected
    candidates' keep factors to ``kf x quota / vote`` (each step rounded up), until a candidate is
    elected or the total surplus falls below ``omega`` (or stops falling). Then the lowest hopeful
    candidate is defeated; candidates whose vote is within the total surplus of the lowest count as
    tied with it, and the tie-breaker's order decides. Equal rankings split the weight equally.

    Args:
        profile: candidates, ballots, seats and withdrawn candidates.
        tie_breaker: decides ties for defeat; default ``TieBreaker()`` (candidate order). For the
            PR Foundation rule as Droop runs it, use ``BltMeta.tie_breaker()``.
        precision: decimal places of the fixed-point arithmetic (9 in the reference rule).
        omega: iteration stops when the total surplus is below it; default ``10**-(2*precision//3)``
            (10^-6 at 9 places, as the reference rule says).
        max_iterations: a safety cap per round; reaching it raises TallyError.
        affiliations: candidate name -> affiliation, with ``max_per_affiliation`` the most seats
            one affiliation may hold (``governance.tally.constraints`` states the rule).

    Returns:
        The Result: winners in order of election, one Round per round (the last iteration's votes,
        keep factors, quota, surplus, iterations, residual), every tie-break.

    >>> from governance.tally.core import Profile
    >>> p = Profile.build(["A", "B", "C"], [["A", "B"]] * 4 + [["C"]] * 2 + [["B"]], seats=2)
    >>> r = meek(p)
    >>> r.elected, [x.note for x in r.rounds]  # doctest: +NORMALIZE_WHITESPACE
    (('A', 'B'), ['first preferences', 'elected A (vote >= quota)', 'elected B (vote >= quota)',
                  'defeated remaining candidates (all seats filled)'])
    >>> from governance.tally.core import number_text
    >>> number_text(r.rounds[2].votes["B"]), number_text(r.rounds[2].extra["keep_factors"]["A"])
    ('2.666666664', '0.583333334')
    """
    _check_seats(profile)
    fixed = Fixed(precision)
    one = fixed.one
    omega_v = fixed.of(Fraction(omega)) if omega is not None else 10 ** (precision - 2 * precision // 3)
    if omega_v < 1:
        raise TallyError("omega is smaller than the arithmetic's precision")
    count = _Count(profile, fixed, tie_breaker or TieBreaker())
    count.limit(affiliations, max_per_affiliation)
    caps = count.caps
    names = count.names
    n = len(names)
    seats = profile.seats
    status = count.status
    kf = [one if s == _HOPEFUL else 0 for s in status]
    ballots = _meek_ballots(count)
    total = count.valid * one

    def live() -> list[int]:
        return [i for i in range(n) if status[i] in (_HOPEFUL, _ELECTED)]

    votes = ballots.distribute(kf)
    quota = total // (seats + 1) + 1
    count.rounds.append(
        Round(
            0,
            count.votes_map(votes, live()),
            quota=count.exact(quota),
            exhausted=count.exact(total - sum(votes) - ballots.split_loss),
            note="first preferences",
            extra={"loss_by_fraction": count.exact(ballots.split_loss)},
        )
    )
    round_no = 0
    while caps.electable(count.hopeful()) > count.seats_left() > 0:
        round_no += 1
        last_surplus = total
        iterations = 0
        elected_now: list[int] = []
        doomed: list[int] = []
        stop = ""
        while True:
            iterations += 1
            if iterations > max_iterations:
                raise TallyError(f"round {round_no}: no convergence after {max_iterations} iterations")
            votes = ballots.distribute(kf)
            vote_sum = sum(votes[i] for i in live())
            quota = vote_sum // (seats + 1) + 1
            winners = [i for i in count.hopeful() if votes[i] >= quota]
            chosen, doomed = caps.admit(count.by_vote(winners, votes), votes, round_no, count.seats_left())
            for i in chosen:
                status[i] = _ELECTED
                count.elected.append(i)
                elected_now.append(i)
            doomed += [i for i in caps.full(count.hopeful()) if i not in doomed]
            count.doom(doomed)
            for i in doomed:
                kf[i] = 0
            surplus = max(0, sum(votes[i] - quota for i in count.elected))
            if elected_now:
                stop = "elected"
                break
            if surplus < omega_v:
                stop = "omega"
                break
            if surplus >= last_surplus:
                stop = "stable"
                break
            last_surplus = surplus
            for i in count.elected:
                kf[i] = fixed.div_up(fixed.mul_up(kf[i], quota), votes[i])
        shown = sorted(live() + doomed)
        excluded: list[int] = list(doomed)
        note = ""
        if elected_now:
            note = "elected " + ", ".join(names[i] for i in elected_now) + " (vote >= quota)"
            if doomed:
                note += "; excluded " + ", ".join(f"{names[i]} ({caps.reason(i)})" for i in doomed)
        else:
            hopeful = count.hopeful()
            low = min(votes[i] for i in hopeful)
            tied = [i for i in hopeful if votes[i] <= low + surplus]
            loser = count.choose(tied, "exclude", round_no, "lowest vote, within the total surplus")
            status[loser] = _DEFEATED
            kf[loser] = 0
            count.defeated.append(loser)
            excluded.append(loser)
            why = "surplus below omega" if stop == "omega" else "surplus no longer falling"
            note = f"defeated {names[loser]}: lowest vote ({why}: {fixed.text(surplus)})"
        count.rounds.append(
            Round(
                round_no,
                count.votes_map(votes, shown),
                elected=tuple(names[i] for i in elected_now),
                excluded=tuple(names[i] for i in excluded),
                quota=count.exact(quota),
                exhausted=count.exact(total - sum(votes) - ballots.split_loss),
                surplus=count.exact(surplus),
                note=note,
                extra={
                    "keep_factors": {names[i]: count.exact(kf[i]) for i in count.elected},
                    "iterations": iterations,
                    "stop": stop,
                    "loss_by_fraction": count.exact(ballots.split_loss),
                    **caps.record(doomed),
                },
            )
        )
        for i in elected_now + excluded:
            ballots.changed(i)

    # The last step reports the last iteration's votes, as the reference rule does; a candidate
    # defeated in the last round is listed too, since its ballots were not redistributed.
    last_excluded = excluded if round_no else []
    _finish(count, votes, round_no, shown=sorted(live() + last_excluded))
    return count.result(
        "meek",
        {
            "precision": precision,
            "omega": fixed.exact(omega_v),
            "quota": "votes/(seats+1) truncated + 10^-precision",
        },
        {},
    )
