"""Optional numpy fast paths for large profiles (exact integer arithmetic only).

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.
numpy is optional: every function here is only called when ``HAVE_NUMPY`` is true, and every
method has a pure-Python path that gives the same answer.

Large elections are held as a *ballot array*: one row per distinct strict ranking, the candidate
indices best first, padded with ``-1``; plus an int64 count per row. ``ArrayProfile`` is a
``Profile`` built straight from such arrays; its ``ballots`` tuple is only materialised when
something asks for it, so the fast methods never pay for a million ``Ballot`` objects.

Exactness: vote totals are summed with ``numpy.bincount``, which works in float64. Sums of
integers stay exact below 2**53, so the fast paths refuse (and the pure paths run) for profiles
whose total weight reaches ``EXACT_LIMIT``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .core import Ballot, Profile, Ranking, TallyError

try:  # numpy is optional; see the module docstring.
    import numpy as np

    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - exercised only where numpy is absent
    np = None  # type: ignore[assignment]
    HAVE_NUMPY = False

__all__ = ["EXACT_LIMIT", "HAVE_NUMPY", "ArrayProfile", "arrays_of", "first_choice_counts", "pairwise_counts"]

#: Totals at or above this are not summed in float64 (see the module docstring).
EXACT_LIMIT = 2**53

#: Profiles with fewer distinct ballots than this are counted in pure Python (numpy's set-up
#: cost is larger than the work).
MIN_ROWS = 2000


class ArrayProfile(Profile):
    """A ``Profile`` backed by a ballot array; ``ballots`` is built lazily on first access.

    >>> import numpy as np
    >>> p = ArrayProfile.from_array(["a", "b", "c"], np.array([[0, 1, -1], [0, 1, -1], [2, -1, -1]]))
    >>> p.total_weight, len(p.codes)
    (3, 3)
    >>> sorted((b.ranking, b.weight) for b in p.ballots)
    [(((0,), (1,)), 2), (((2,),), 1)]
    """

    codes: Any
    counts: Any

    def __init__(
        self,
        candidates: Sequence[str],
        codes: Any,
        counts: Any,
        *,
        seats: int = 1,
        withdrawn: Iterable[int] = (),
        title: str = "",
    ) -> None:
        for name, value in (
            ("candidates", tuple(candidates)),
            ("seats", seats),
            ("withdrawn", frozenset(withdrawn)),
            ("title", title),
            ("codes", codes),
            ("counts", counts),
        ):
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: i.e. ``ballots`` before its first use.
        if name != "ballots":
            raise AttributeError(name)
        merged: dict[Ranking, int] = {}
        for row, w in zip(self.codes.tolist(), self.counts.tolist(), strict=True):
            ranking = tuple((c,) for c in row if c >= 0)
            merged[ranking] = merged.get(ranking, 0) + w
        ballots = tuple(Ballot(r, w) for r, w in merged.items())
        object.__setattr__(self, "ballots", ballots)
        return ballots

    @property
    def total_weight(self) -> int:
        """The number of ballots cast (blank ones included), exact however large the weights."""
        total = self.__dict__.get("_total")
        if total is None:
            counts = self.counts
            if len(counts) and int(counts.max()) * len(counts) >= 2**63:
                total = sum(counts.tolist())  # int64 sums would wrap around
            else:
                total = int(counts.sum())
            object.__setattr__(self, "_total", total)
        return total

    def __eq__(self, other: object) -> bool:
        # The same election as any Profile with equal fields and the same aggregated ballots.
        if not isinstance(other, Profile):
            return NotImplemented
        return (self.candidates, self.seats, self.withdrawn, self.title) == (
            other.candidates,
            other.seats,
            other.withdrawn,
            other.title,
        ) and _merged(self) == _merged(other)

    __hash__ = None  # type: ignore[assignment]

    def with_seats(self, seats: int) -> ArrayProfile:
        """The same ballots counted for another number of seats."""
        return ArrayProfile(
            self.candidates, self.codes, self.counts, seats=seats, withdrawn=self.withdrawn, title=self.title
        )

    @classmethod
    def from_names(
        cls,
        candidates: Sequence[str],
        ballots: Sequence[Sequence[str]],
        **kwargs: Any,
    ) -> ArrayProfile:
        """Build from strict rankings of names (one sequence of names per ballot), fast.

        Takes the keywords of ``from_array``. Equal rankings are not supported here (use
        ``Profile.build``); an unknown name raises TallyError naming the ballot.

        >>> p = ArrayProfile.from_names(["a", "b"], [("b", "a"), ("a",), ("b", "a")])
        >>> sorted((b.ranking, b.weight) for b in p.ballots)
        [(((0,),), 1), (((1,), (0,)), 2)]
        """
        return _from_names(cls, candidates, ballots, kwargs)

    @classmethod
    def from_array(
        cls,
        candidates: Sequence[str],
        rankings: Any,
        *,
        weights: Any = None,
        seats: int = 1,
        withdrawn: Iterable[int] = (),
        title: str = "",
        aggregate: bool = False,
    ) -> ArrayProfile:
        """Validate an integer array of strict rankings (one row per ballot).

        Rows hold candidate indices best first, padded at the end with -1. A value out of range,
        a candidate ranked twice, a gap before a later preference, or a weight below 1 raises
        TallyError naming the ballot (1-based row number). With ``aggregate=True`` identical rows
        are merged first (worth it when many voters cast the same ranking); the counts never need
        it, and ``ballots`` is aggregated whenever it is built.
        """
        if not HAVE_NUMPY:  # pragma: no cover
            raise TallyError("ArrayProfile needs numpy")
        n = len(candidates)
        a = np.asarray(rankings)
        if a.ndim != 2:
            raise TallyError("the ballot array must have one row per ballot")
        if a.shape[0] == 0 or a.shape[1] == 0:
            # No ballots, or only blank ones: at most one (blank) row.
            total = int(np.sum(weights)) if weights is not None else a.shape[0]
            codes = np.full((1 if total else 0, 1), -1, dtype=np.int16)
            counts = np.array([total] if total else [], dtype=np.int64)
            return cls(candidates, codes, counts, seats=seats, withdrawn=withdrawn, title=title)
        a = a.astype(np.int8 if n < 127 else np.int16 if n < 32000 else np.int32, copy=False)
        _check_rows(a, n)
        if not aggregate:
            if weights is None:
                counts = np.ones(a.shape[0], dtype=np.int64)
            else:
                counts = np.asarray(weights, dtype=np.int64)
                if counts.shape != (a.shape[0],):
                    raise TallyError("there must be one weight per ballot")
                bad = np.flatnonzero(counts < 1)
                if bad.size:
                    raise TallyError(f"ballot {int(bad[0]) + 1}: weight must be a whole number of at least 1")
            return cls(candidates, a, counts, seats=seats, withdrawn=withdrawn, title=title)
        base = n + 1
        width = a.shape[1]
        if base**width < 2**63:
            key = np.zeros(a.shape[0], dtype=np.int64)
            for k in range(width):
                key = key * base + (a[:, k].astype(np.int64) + 1)
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        else:
            _, first, inverse = np.unique(a, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        if weights is None:
            counts = np.bincount(inverse, minlength=len(first)).astype(np.int64)
        else:
            w = np.asarray(weights, dtype=np.int64)
            if w.shape != (a.shape[0],):
                raise TallyError("there must be one weight per ballot")
            bad = np.flatnonzero(w < 1)
            if bad.size:
                raise TallyError(f"ballot {int(bad[0]) + 1}: weight must be a whole number of at least 1")
            counts = np.zeros(len(first), dtype=np.int64)
            np.add.at(counts, inverse, w)
        return cls(candidates, a[first], counts, seats=seats, withdrawn=withdrawn, title=title)


def _merged(profile: Profile) -> dict[Ranking, int]:
    out: dict[Ranking, int] = {}
    for b in profile.ballots:
        out[b.ranking] = out.get(b.ranking, 0) + b.weight
    return out


def _from_names(
    cls: type, candidates: Sequence[str], ballots: Sequence[Sequence[str]], kwargs: dict
) -> ArrayProfile:
    index = {name: i for i, name in enumerate(candidates)}
    lengths = np.fromiter(map(len, ballots), dtype=np.int64, count=len(ballots))
    width = int(lengths.max()) if len(ballots) else 1
    try:
        flat = np.fromiter((index[c] for b in ballots for c in b), dtype=np.int32, count=int(lengths.sum()))
    except (KeyError, TypeError):
        for number, ballot in enumerate(ballots, start=1):
            for item in ballot:
                if not isinstance(item, str):
                    raise TallyError(f"ballot {number}: equal rankings need Profile.build") from None
                if item not in index:
                    raise TallyError(f"ballot {number}: unknown candidate {item!r}") from None
        raise
    rows = np.full((len(ballots), max(width, 1)), -1, dtype=np.int32)
    rows[np.arange(rows.shape[1])[None, :] < lengths[:, None]] = flat
    return cls.from_array(candidates, rows, **kwargs)


def _check_rows(a: Any, n: int) -> None:
    def fail(mask: Any, what: str) -> None:
        rows = np.flatnonzero(mask)
        if rows.size:
            raise TallyError(f"ballot {int(rows[0]) + 1}: {what}")

    # Whole-array tests first (fast); rows are located only when something is wrong.
    if a.size and (int(a.min()) < -1 or int(a.max()) >= n):
        fail(((a < -1) | (a >= n)).any(axis=1), "candidate index out of range")
    if a.shape[1] > 1:
        gaps = (a[:, 1:] >= 0) & (a[:, :-1] < 0)
        if gaps.any():
            fail(gaps.any(axis=1), "a preference follows an empty rank")
        if n <= 62:
            # Distinct candidates have distinct bits: the sum of the bits equals their OR.
            kind = np.int32 if n <= 30 else np.int64
            table = np.zeros(n + 1, dtype=kind)  # table[-1] == table[n] == 0 for padding
            table[:n] = np.left_shift(kind(1), np.arange(n, dtype=kind))
            total = np.zeros(a.shape[0], dtype=kind)
            union = np.zeros(a.shape[0], dtype=kind)
            for k in range(a.shape[1]):
                bit = table[a[:, k]]
                total += bit
                union |= bit
            fail(total != union, "a candidate is ranked more than once")
        else:
            s = np.sort(a, axis=1)
            fail(
                ((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(axis=1),
                "a candidate is ranked more than once",
            )


def arrays_of(profile: Profile, *, min_rows: int | None = None) -> tuple[Any, Any] | None:
    """The profile as ``(codes, counts)`` arrays, or None when the pure path should run.

    None when numpy is missing, the profile is small, any ballot ranks candidates equally, or the
    total weight is too large for exact float64 sums.
    """
    if not HAVE_NUMPY:  # pragma: no cover
        return None
    if isinstance(profile, ArrayProfile):
        if profile.total_weight >= EXACT_LIMIT:
            return None
        return profile.codes, profile.counts
    ballots = profile.ballots
    if len(ballots) < (MIN_ROWS if min_rows is None else min_rows) or profile.total_weight >= EXACT_LIMIT:
        return None
    width = 1
    for b in ballots:
        for group in b.ranking:
            if len(group) != 1:
                return None
        width = max(width, len(b.ranking))
    rows = [[g[0] for g in b.ranking] + [-1] * (width - len(b.ranking)) for b in ballots]
    codes = np.array(rows, dtype=np.int16)
    counts = np.array([b.weight for b in ballots], dtype=np.int64)
    return codes, counts


def _exact(values: Any) -> list[int]:
    # float64 sums below EXACT_LIMIT are whole numbers; rint guards against any -0.0.
    return [int(v) for v in np.rint(values).tolist()]


def first_choice_counts(codes: Any, counts: Any, n: int) -> list[int]:
    """Weighted first-choice totals per candidate (blank rows count for nobody)."""
    top = codes[:, 0]
    ok = top >= 0
    return _exact(np.bincount(top[ok], weights=counts[ok], minlength=n))


def pairwise_counts(codes: Any, counts: Any, n: int) -> list[list[int]]:
    """``d[i][j]``: weight of ballots ranking i above j, where ranked beats unranked.

    Builds each ballot's position of every candidate (unranked = past the end) and compares two
    candidates' position columns at a time; with unit weights the comparison is simply counted,
    otherwise it is a dot product with the int64 weights. Both are exact integers.
    """
    m, width = codes.shape
    pos = np.full((n, m), width, dtype=np.int8 if width < 127 else np.int16)
    rows = np.arange(m)
    for k in range(width):
        col = codes[:, k]
        valid = col >= 0
        if not valid.any():
            break
        pos[col[valid].astype(np.intp), rows[valid]] = k
    unit = bool((counts == 1).all())
    # Weighted dot products in int32 when no sum can reach 2**31 (faster than int64), else int64.
    wide = np.int32 if not unit and sum(counts.tolist()) < 2**31 else np.int64
    weights = counts.astype(wide)
    d = [[0] * n for _ in range(n)]
    less = np.empty(m, dtype=bool)  # reused: no allocation per pair
    for i in range(n):
        pi = pos[i]
        for j in range(n):
            if j == i:
                continue
            np.less(pi, pos[j], out=less)
            if unit:
                d[i][j] = int(np.count_nonzero(less))
            else:
                d[i][j] = int(np.dot(less.view(np.uint8).astype(wide), weights))
    return d


class IrvState:
    """Incremental first-choice tally for IRV over a ballot array.

    Each row keeps a pointer to its highest-ranked continuing candidate; excluding a candidate
    only moves the rows that pointed at it, and only their weight moves in the tally.
    """

    def __init__(self, codes: Any, counts: Any, n: int, continuing: Iterable[int]) -> None:
        self.codes = codes
        self.flat = np.ascontiguousarray(codes).reshape(-1)
        self.counts = counts
        self.n = n
        self.cont = np.zeros(n + 1, dtype=bool)  # index n (== -1) is "no candidate"
        self.cont[list(continuing)] = True
        self.ptr = np.zeros(len(codes), dtype=np.int64)
        if self.cont[:n].all():
            self.top = codes[:, 0].astype(np.int16) if len(codes) else np.zeros(0, dtype=np.int16)
        else:
            self.top = np.full(len(codes), -1, dtype=np.int16)
            self._advance(np.arange(len(codes)), start_here=True)
        self.weights = None if bool((counts == 1).all()) else counts  # None: count rows
        self.votes = self._sum(self.top, self.weights)

    def _sum(self, top: Any, weights: Any) -> list[int]:
        ok = top >= 0
        if weights is None:
            return np.bincount(top[ok], minlength=self.n).tolist()
        return _exact(np.bincount(top[ok], weights=weights[ok], minlength=self.n))

    def _advance(self, rows: Any, *, start_here: bool = False) -> None:
        """Move each of ``rows`` to its next continuing candidate (or -1: exhausted).

        Goes one rank at a time over the rows still looking, so the work is proportional to the
        ballots that actually move.
        """
        width = self.codes.shape[1]
        flat = self.flat
        where = self.ptr[rows] + (0 if start_here else 1)
        while rows.size:
            inside = where < width
            if not inside.all():
                self.top[rows[~inside]] = -1
                rows, where = rows[inside], where[inside]
            cand = flat[rows * width + where]
            done = self.cont[cand] | (cand < 0)
            finished = rows[done]
            self.ptr[finished] = where[done]
            self.top[finished] = np.where(cand[done] >= 0, cand[done], -1)
            rows, where = rows[~done], where[~done] + 1

    def tally(self) -> list[int]:
        """Current votes per candidate index."""
        return list(self.votes)

    def exclude(self, candidate: int) -> None:
        """Remove one candidate and move its ballots on."""
        self.cont[candidate] = False
        rows = np.flatnonzero(self.top == candidate)
        self._advance(rows)
        moved = self._sum(self.top[rows], None if self.weights is None else self.weights[rows])
        self.votes = [v + w for v, w in zip(self.votes, moved, strict=True)]
        self.votes[candidate] = 0


def ranking_of(codes_row: Sequence[int]) -> Ranking:
    """A padded array row as a core ``Ranking``."""
    return tuple((int(c),) for c in codes_row if c >= 0)
