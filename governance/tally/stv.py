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
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from typing import Any

from ._fast import EXACT_LIMIT, HAVE_NUMPY, MIN_ROWS, ArrayProfile, arrays_of
from ._fixed import Fixed
from .constraints import Caps, check
from .core import Profile, Result, Round, TallyError, TieBreak, TieBreaker

if HAVE_NUMPY:
    import numpy as np

__all__ = ["meek", "scottish", "wigm"]

_HOPEFUL, _ELECTED, _DEFEATED, _WITHDRAWN, _PENDING = 0, 1, 2, 3, 4


@dataclass
class _Count:
    """State shared by the rules: names, statuses, order of events, the trail."""

    profile: Profile
    fixed: Fixed
    tie_breaker: TieBreaker

    def __post_init__(self) -> None:
        n = len(self.profile.candidates)
        self.names = self.profile.candidates
        self.status = [_WITHDRAWN if i in self.profile.withdrawn else _HOPEFUL for i in range(n)]
        self.elected: list[int] = []
        self.defeated: list[int] = []
        self.rounds: list[Round] = []
        self.tie_breaks: list[TieBreak] = []
        self.valid = 0  # set by the ballot structure (blank ballots are not valid)
        hopeful = [i for i in range(n) if self.status[i] == _HOPEFUL]
        if len(hopeful) < 1:
            raise TallyError("no candidate stands: every candidate is withdrawn")
        self.caps = Caps(self, None, None)

    def limit(self, affiliations, cap) -> None:
        """Apply an affiliation cap (``constraints``); refuses one under which the seats cannot be filled."""
        groups = check(self.names, affiliations, cap)
        self.caps = Caps(self, groups, cap)
        self.caps.feasible(self.hopeful(), self.profile.seats)

    def doom(self, candidates: list[int]) -> None:
        """Exclude candidates the cap rules out (their votes transfer on as for any exclusion)."""
        for i in candidates:
            self.status[i] = _DEFEATED
            self.defeated.append(i)

    # --- helpers ---------------------------------------------------------------------------
    def hopeful(self) -> list[int]:
        return [i for i, s in enumerate(self.status) if s == _HOPEFUL]

    def seats_left(self) -> int:
        return self.profile.seats - len(self.elected)

    def exact(self, v: int) -> Fraction | int:
        f = self.fixed.exact(v)
        return f.numerator if f.denominator == 1 else f

    def votes_map(self, votes: Sequence[int], who: Sequence[int]) -> dict[str, Fraction | int]:
        return {self.names[i]: self.exact(votes[i]) for i in who}

    def by_vote(self, who: Sequence[int], votes: Sequence[int]) -> list[int]:
        """Highest vote first; equal votes in the tie-breaker's favoured order."""
        order = {name: k for k, name in enumerate(self.tie_breaker.order(self.names))}
        return sorted(who, key=lambda i: (-votes[i], order[self.names[i]]))

    def choose(self, tied: Sequence[int], purpose: str, round_no: int, detail: str = "") -> int:
        """Break a tie by the tie-breaker's fixed order and record it."""
        if len(tied) == 1:
            return tied[0]
        names = [self.names[i] for i in tied]
        if purpose == "exclude":
            chosen = self.tie_breaker.disfavoured(names, candidates=self.names)
        else:
            chosen = self.tie_breaker.favoured(names, candidates=self.names)
        self.tie_breaks.append(
            TieBreak(round_no, purpose, tuple(names), chosen, self.tie_breaker.how, detail)
        )
        return self.names.index(chosen)

    def result(self, method: str, parameters: dict[str, Any], details: dict[str, Any]) -> Result:
        params = {
            "seats": self.profile.seats,
            "tie_breaker": self.tie_breaker.describe(),
            **parameters,
            **self.caps.describe(),
        }
        info = {
            "valid_ballots": self.valid,
            "defeated": [self.names[i] for i in self.defeated],
            "withdrawn": [self.names[i] for i in sorted(self.profile.withdrawn)],
            **details,
        }
        return Result(
            method=method,
            seats=self.profile.seats,
            elected=tuple(self.names[i] for i in self.elected),
            rounds=tuple(self.rounds),
            tie_breaks=tuple(self.tie_breaks),
            parameters=params,
            details=info,
            candidates=self.profile.candidates,
            ballots=self.profile.total_weight,
        )


def _check_seats(profile: Profile) -> None:
    if profile.seats < 1:  # pragma: no cover - Profile already refuses this
        raise TallyError("the number of seats must be at least 1")


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


def _finish(count: _Count, votes: list[int], round_no: int, shown: list[int]) -> None:
    """Elect or defeat the remaining hopeful candidates, as one last recorded step."""
    hopeful = count.hopeful()
    if not hopeful:
        return
    names = count.names
    caps = count.caps
    doomed: list[int] = []
    if count.seats_left() > 0:
        chosen, doomed = caps.finish(hopeful, votes, count.seats_left(), round_no + 1)
        for i in chosen:
            count.status[i] = _ELECTED
            count.elected.append(i)
        count.doom(doomed)
        elected, excluded, note = chosen, doomed, "elected remaining candidates (no more than the seats left)"
        if doomed:
            note = (
                "elected remaining candidates (no more than the seats left under the cap); excluded "
                + ", ".join(f"{names[i]} ({caps.reason(i)})" for i in doomed)
            )
    else:
        chosen = sorted(hopeful, key=lambda i: votes[i])
        for i in chosen:
            count.status[i] = _DEFEATED
            count.defeated.append(i)
        elected, excluded, note = [], chosen, "defeated remaining candidates (all seats filled)"
    last = count.rounds[-1]
    count.rounds.append(
        Round(
            round_no + 1,
            count.votes_map(votes, shown),
            elected=tuple(names[i] for i in elected),
            excluded=tuple(names[i] for i in excluded),
            quota=last.quota,
            exhausted=last.exhausted,
            surplus=last.surplus,
            note=note,
            extra={"loss_by_fraction": last.extra.get("loss_by_fraction", 0), **caps.record(doomed)},
        )
    )


# === Gregory methods: WIGM and Scottish STV =========================================================


class _Piles:
    """Ballot papers (aggregated by ranking and weight) in the piles of the candidates holding them."""

    def __init__(self, count: _Count, method: str) -> None:
        self.count = count
        n = len(count.names)
        self.piles: list[list[list[int]]] = [[] for _ in range(n)]  # item: [pos, weight, mult, ballot idx]
        self.rankings: list[tuple[int, ...]] = []
        self.votes = [0] * n
        self.exhausted = 0
        one = count.fixed.one
        for ballot in count.profile.ballots:
            if not ballot.ranking:
                continue
            if any(len(g) > 1 for g in ballot.ranking):
                raise TallyError(f"{method} does not accept equal rankings on a ballot")
            self.rankings.append(tuple(g[0] for g in ballot.ranking))
            self._place([-1, one, ballot.weight, len(self.rankings) - 1], {})

    def _place(self, item: list[int], moved: dict[int, int]) -> None:
        ranking = self.rankings[item[3]]
        status = self.count.status
        pos = item[0] + 1
        while pos < len(ranking):
            c = ranking[pos]
            if status[c] == _HOPEFUL:
                item[0] = pos
                self.piles[c].append(item)
                value = item[1] * item[2]
                self.votes[c] += value
                moved[c] = moved.get(c, 0) + value
                return
            pos += 1
        self.exhausted += item[1] * item[2]
        moved[-1] = moved.get(-1, 0) + item[1] * item[2]

    def transfer(self, c: int, new_weight) -> dict[int, int]:
        """Move every paper in ``c``'s pile to its next hopeful candidate, reweighted by ``new_weight``."""
        moved: dict[int, int] = {}
        items = self.piles[c]
        self.piles[c] = []
        for item in items:
            if new_weight is not None:
                item[1] = new_weight(item[1])
            self._place(item, moved)
        return moved


def _gregory(
    profile: Profile,
    *,
    method: str,
    fixed: Fixed,
    tie_breaker: TieBreaker,
    quota: int,
    reweigh,
    look_back: bool,
    parameters: dict[str, Any],
    sure_losers: bool = False,
    affiliations: dict[str, str] | None = None,
    max_per_affiliation: int | None = None,
) -> Result:
    count = _Count(profile, fixed, tie_breaker)
    count.limit(affiliations, max_per_affiliation)
    caps = count.caps
    doomed_queue: list[int] = []  # excluded by the cap, papers not yet transferred
    just_doomed: list[int] = []  # excluded by the cap since the last recorded stage
    count.valid = sum(b.weight for b in profile.ballots if b.ranking)
    names = count.names
    status = count.status
    piles = _Piles(count, method)
    votes = piles.votes
    pending: list[int] = []
    history: list[list[int]] = []
    total = count.valid * fixed.one

    def shown() -> list[int]:
        # Also a defeated candidate still holding papers (sure losers defeated as the count ends).
        return [i for i in range(len(names)) if status[i] in (_HOPEFUL, _ELECTED, _PENDING) or votes[i]]

    def record(
        number: int,
        note: str,
        elected: list[int],
        excluded: list[int],
        surplus: int | None,
        extra: dict[str, Any],
    ) -> None:
        held = sum(votes[i] for i in range(len(names)))
        extra = {
            **extra,
            "pending": [names[i] for i in pending],
            "loss_by_fraction": count.exact(total - held - piles.exhausted),
            **caps.record(just_doomed),
        }
        if just_doomed:
            excluded = [*excluded, *just_doomed]
            note += ("; " if note else "") + "excluded " + ", ".join(
                f"{names[i]} ({caps.reason(i)})" for i in just_doomed
            )
            just_doomed.clear()
        count.rounds.append(
            Round(
                number,
                count.votes_map(votes, shown()),
                elected=tuple(names[i] for i in elected),
                excluded=tuple(names[i] for i in excluded),
                quota=count.exact(quota),
                exhausted=count.exact(piles.exhausted),
                surplus=None if surplus is None else count.exact(surplus),
                note=note,
                extra=extra,
            )
        )
        history.append(list(votes))

    def elect_reaching_quota() -> list[int]:
        winners = [i for i in range(len(names)) if status[i] == _HOPEFUL and votes[i] >= quota]
        ordered = sorted(
            winners, key=lambda i: (-votes[i], -i)
        )  # Droop lists equal votes in reverse file order
        ordered, doomed = caps.admit(ordered, votes, len(history), count.seats_left())
        for i in ordered:
            status[i] = _PENDING
            pending.append(i)
            count.elected.append(i)
        doomed += [i for i in caps.full(count.hopeful()) if i not in doomed]
        count.doom(doomed)
        doomed_queue.extend(doomed)
        just_doomed.extend(doomed)
        return ordered

    def complete() -> bool:
        hopeful = count.hopeful()
        return count.seats_left() <= 0 or caps.electable(hopeful) <= count.seats_left()

    def break_tie(tied: list[int], purpose: str, round_no: int) -> int:
        if len(tied) == 1:
            return tied[0]
        if look_back and tie_breaker.look_back:
            candidates = tied
            for stage in range(len(history) - 1, -1, -1):
                past = history[stage]
                extreme = min(past[i] for i in tied) if purpose == "exclude" else max(past[i] for i in tied)
                candidates = [i for i in tied if past[i] == extreme]
                if len(candidates) == 1:
                    count.tie_breaks.append(
                        TieBreak(
                            round_no,
                            purpose,
                            tuple(names[i] for i in tied),
                            names[candidates[0]],
                            "earlier round",
                            f"votes at the end of stage {stage}",
                        )
                    )
                    return candidates[0]
            return count.choose(candidates, purpose, round_no, "equal at every stage: by lot")
        return count.choose(tied, purpose, round_no)

    def step(round_no: int) -> tuple[str, list[int], int | None, dict[str, Any]]:
        """Transfer the largest surplus or, with none pending, exclude the lowest candidate.

        Papers of candidates the affiliation cap excluded go on first, one candidate per stage.
        """
        while doomed_queue and not piles.piles[doomed_queue[0]]:
            doomed_queue.pop(0)
        if doomed_queue:
            c = doomed_queue.pop(0)
            value = votes[c]
            moved = piles.transfer(c, None)
            votes[c] = 0
            to = {("nontransferable" if k < 0 else names[k]): count.exact(v) for k, v in moved.items()}
            note = f"transferred the papers of {names[c]} (excluded: {caps.reason(c)})"
            extra = {"transfer": {"from": names[c], "kind": "exclusion", "value": count.exact(value), "to": to}}
            return note, [], None, extra
        if pending:
            high = max(votes[i] for i in pending)
            c = break_tie([i for i in pending if votes[i] == high], "surplus", round_no)
            pending.remove(c)
            status[c] = _ELECTED
            vote = votes[c]
            surplus = vote - quota
            moved = piles.transfer(c, lambda w, s=surplus, v=vote: reweigh(w, s, v))
            votes[c] = quota
            kind, value, excluded = "surplus", surplus, []
            note = f"transferred the surplus of {names[c]} ({fixed.text(surplus)})"
        else:
            hopeful = count.hopeful()
            low = min(votes[i] for i in hopeful)
            c = break_tie([i for i in hopeful if votes[i] == low], "exclude", round_no)
            status[c] = _DEFEATED
            count.defeated.append(c)
            value = votes[c]
            moved = piles.transfer(c, None)
            votes[c] = 0
            kind, excluded = "exclusion", [c]
            note = f"excluded {names[c]} (lowest vote {fixed.text(value)}) and transferred its papers"
        to = {("nontransferable" if k < 0 else names[k]): count.exact(v) for k, v in moved.items()}
        extra = {"transfer": {"from": names[c], "kind": kind, "value": count.exact(value), "to": to}}
        return note, excluded, (value if kind == "surplus" else None), extra

    def find_sure_losers() -> list[int]:
        """PRF WIGM B.2: the largest low group whose votes plus all surpluses stay below the next."""
        surplus = sum(votes[c] - quota for c in pending)
        ordered = sorted(count.hopeful(), key=lambda c: votes[c])
        groups: list[list[int]] = []
        group: list[int] = []
        base = 0
        for c in ordered:  # candidates within the surplus of a group's first are not separated
            if base + surplus >= votes[c]:
                group.append(c)
            else:
                if group:
                    groups.append(group)
                group, base = [c], votes[c]
        if group:
            groups.append(group)
        most = len(ordered) - count.seats_left()
        total = taken = 0
        last = None
        for g in range(len(groups) - 1):
            taken += len(groups[g])
            if taken > most:
                break
            total += sum(votes[c] for c in groups[g])
            if total + surplus < votes[groups[g + 1][0]]:
                last = g
        return sorted(c for g in groups[: last + 1] for c in g) if last is not None else []

    round_no = 0
    if method == "wigm":
        # PRF WIGM: each round first elects (B.1), then transfers one surplus or defeats one (B.3/B.4).
        record(0, "first preferences", [], [], None, {})
        while not complete():
            round_no += 1
            newly = elect_reaching_quota()
            losers = find_sure_losers() if sure_losers else []
            if losers and caps.electable([c for c in count.hopeful() if c not in losers]) < count.seats_left():
                losers = []  # the cap needs some of them: defeat one at a time
            if losers:
                for c in losers:
                    status[c] = _DEFEATED
                    count.defeated.append(c)
                note = "defeated sure losers " + ", ".join(names[c] for c in losers)
                if complete():
                    record(round_no, note, newly, losers, None, {})
                    break
                moved: dict[int, int] = {}
                for c in losers:
                    for k, v in piles.transfer(c, None).items():
                        moved[k] = moved.get(k, 0) + v
                    votes[c] = 0
                to = {("nontransferable" if k < 0 else names[k]): count.exact(v) for k, v in moved.items()}
                record(
                    round_no,
                    note + " and transferred their papers",
                    newly,
                    losers,
                    None,
                    {"transfer": {"from": [names[c] for c in losers], "kind": "exclusion", "to": to}},
                )
                continue
            note, excluded, transferred, extra = step(round_no)
            record(round_no, note, newly, excluded, transferred, extra)
    else:
        # Scottish rules: elect at every stage (47); stop as soon as the continuing candidates
        # can fill the vacancies left (52), even before electing by quota after an exclusion.
        record(0, "first preferences", elect_reaching_quota(), [], None, {})
        while not complete():
            round_no += 1
            was_surplus = bool(pending)
            note, excluded, transferred, extra = step(round_no)
            newly = elect_reaching_quota() if was_surplus or not complete() else []
            record(round_no, note, newly, excluded, transferred, extra)
    # Finish: pending candidates are elected; the rest elected or defeated by the seats left.
    for i in pending:
        status[i] = _ELECTED
    pending.clear()
    _finish(count, votes, round_no, shown())
    return count.result(method, parameters, {})


def wigm(
    profile: Profile,
    *,
    tie_breaker: TieBreaker | None = None,
    precision: int = 4,
    defeat_sure_losers: bool = False,
    affiliations: dict[str, str] | None = None,
    max_per_affiliation: int | None = None,
) -> Result:
    """Count by the PR Foundation's Weighted Inclusive Gregory Method reference rule (single defeats).

    Quota = valid ballots / (seats + 1), truncated, plus one unit in the last place; a candidate at
    or above it is elected (in order of vote). The largest surplus is transferred first: every
    paper the candidate holds goes on at ``weight x surplus / vote`` (each operation truncated).
    With no surplus to transfer the lowest hopeful candidate is defeated and its papers go on at
    their weight. Ties are broken by the tie-breaker's order.

    Args:
        profile: candidates, ballots, seats, withdrawn candidates (no equal rankings).
        tie_breaker: default ``TieBreaker()``; ``BltMeta.tie_breaker()`` for the reference rule's
            "earliest in a predetermined order" convention.
        precision: decimal places (4 in the reference rule).
        defeat_sure_losers: the reference rule's optional step B.2 ("wigm-prf-batch"): before
            transferring, defeat at once the largest group of lowest candidates whose votes plus
            all surpluses are below the next candidate's vote, leaving enough for the seats.

    >>> from governance.tally.core import Profile
    >>> p = Profile.build(["A", "B", "C"], [["A", "B"]] * 4 + [["C"]] * 2 + [["B"]], seats=2)
    >>> r = wigm(p)
    >>> r.elected, r.rounds[1].votes
    (('A', 'B'), {'A': Fraction(11667, 5000), 'B': Fraction(3333, 1250), 'C': 2})
    """
    _check_seats(profile)
    fixed = Fixed(precision)
    one = fixed.one
    valid = sum(b.weight for b in profile.ballots if b.ranking)
    quota = fixed.div_down(valid * one, (profile.seats + 1) * one) + 1

    def reweigh(w: int, surplus: int, vote: int) -> int:
        return fixed.div_down(fixed.mul_down(w, surplus), vote)

    return _gregory(
        profile,
        method="wigm",
        fixed=fixed,
        tie_breaker=tie_breaker or TieBreaker(),
        quota=quota,
        reweigh=reweigh,
        look_back=False,
        sure_losers=defeat_sure_losers,
        affiliations=affiliations,
        max_per_affiliation=max_per_affiliation,
        parameters={
            "precision": precision,
            "quota": "valid/(seats+1) truncated + 10^-precision",
            "defeat_sure_losers": defeat_sure_losers,
        },
    )


def scottish(
    profile: Profile,
    *,
    tie_breaker: TieBreaker | None = None,
    affiliations: dict[str, str] | None = None,
    max_per_affiliation: int | None = None,
) -> Result:
    """Count by Scottish STV (The Scottish Local Government Elections Order 2007, rules 45-52).

    Quota = valid ballots / (seats + 1), ignoring decimals, plus 1 (rule 46). Surpluses go first,
    largest first (rule 49); each paper's transfer value is ``surplus x its value / total vote``
    truncated to five places (rule 48(3)). Otherwise the lowest candidate is excluded and its papers
    go on at their value (rule 50). Ties look back to the most recent stage at which the tied
    candidates had unequal votes, and are otherwise decided "by lot" (rules 49(2)-(3), 51): the
    tie-breaker's fixed order stands in for the lot. When the continuing candidates are no more than
    the vacancies left, they are elected (rule 52).

    >>> from governance.tally.core import Profile
    >>> p = Profile.build(["A", "B", "C", "D"], [["A"]] * 3 + [["B"]] * 3 + [["C"]] * 2 + [["D", "C"]], seats=2)
    >>> r = scottish(p)
    >>> r.elected, r.details["defeated"], [t.how for t in r.tie_breaks]
    (('A', 'B'), ['D', 'C'], ['earlier round'])
    """
    _check_seats(profile)
    fixed = Fixed(5)
    valid = sum(b.weight for b in profile.ballots if b.ranking)
    quota = (valid // (profile.seats + 1) + 1) * fixed.one

    def reweigh(w: int, surplus: int, vote: int) -> int:
        return w * surplus // vote

    return _gregory(
        profile,
        method="scottish",
        fixed=fixed,
        tie_breaker=tie_breaker or TieBreaker(),
        quota=quota,
        reweigh=reweigh,
        look_back=True,
        affiliations=affiliations,
        max_per_affiliation=max_per_affiliation,
        parameters={"precision": 5, "quota": "floor(valid/(seats+1)) + 1 (SSI 2007/42 rule 46)"},
    )
