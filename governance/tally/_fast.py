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
    (3, 2)
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
        ballots = tuple(
            Ballot(tuple((int(c),) for c in row if c >= 0), int(w))
            for row, w in zip(self.codes.tolist(), self.counts.tolist(), strict=True)
        )
        object.__setattr__(self, "ballots", ballots)
        return ballots

    @property
    def total_weight(self) -> int:
        """The number of ballots cast (blank ones included)."""
        return int(self.counts.sum())

    def with_seats(self, seats: int) -> ArrayProfile:
        """The same ballots counted for another number of seats."""
        return ArrayProfile(
            self.candidates, self.codes, self.counts, seats=seats, withdrawn=self.withdrawn, title=self.title
        )

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
    ) -> ArrayProfile:
        """Validate and aggregate an integer array of strict rankings (one row per ballot).

        Rows hold candidate indices best first, padded at the end with -1. A value out of range,
        a candidate ranked twice, a gap before a later preference, or a weight below 1 raises
        TallyError naming the ballot (1-based row number).
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
        a = a.astype(np.int16 if n < 32000 else np.int32, copy=False)
        _check_rows(a, n)
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


def _check_rows(a: Any, n: int) -> None:
    def fail(mask: Any, what: str) -> None:
        rows = np.flatnonzero(mask)
        if rows.size:
            raise TallyError(f"ballot {int(rows[0]) + 1}: {what}")

    fail(((a < -1) | (a >= n)).any(axis=1), "candidate index out of range")
    if a.shape[1] > 1:
        fail(((a[:, 1:] >= 0) & (a[:, :-1] < 0)).any(axis=1), "a preference follows an empty rank")
        s = np.sort(a, axis=1)
        fail(((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(axis=1), "a candidate is ranked more than once")


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

    For strict rankings, ``d[i][j] = W_i - R[j][i]`` with ``W_i`` the weight of ballots that rank
    i, and ``R[j][i]`` the weight ranking both with j above i; R is summed one position pair at a
    time, so memory stays at one column.
    """
    width = codes.shape[1]
    cols = [codes[:, k].astype(np.int64) for k in range(width)]
    ranked = np.zeros(n, dtype=np.float64)
    both = np.zeros(n * n, dtype=np.float64)
    for k2 in range(width):
        valid = cols[k2] >= 0
        if not valid.any():
            break
        w = counts[valid]
        b = cols[k2][valid]
        ranked += np.bincount(b, weights=w, minlength=n)
        for k1 in range(k2):
            both += np.bincount(cols[k1][valid] * n + b, weights=w, minlength=n * n)
    w_i = _exact(ranked)
    r = _exact(both)
    return [[0 if i == j else w_i[i] - r[j * n + i] for j in range(n)] for i in range(n)]


class IrvState:
    """Incremental first-choice tally for IRV over a ballot array.

    Each row keeps a pointer to its highest-ranked continuing candidate; excluding a candidate
    only moves the rows that pointed at it.
    """

    def __init__(self, codes: Any, counts: Any, n: int, continuing: Iterable[int]) -> None:
        self.codes = codes
        self.counts = counts.astype(np.float64)
        self.n = n
        self.cont = np.zeros(n + 1, dtype=bool)  # index n (== -1) is "no candidate"
        self.cont[list(continuing)] = True
        self.ptr = np.zeros(len(codes), dtype=np.int64)
        self.top = np.full(len(codes), -1, dtype=np.int64)
        self._advance(np.arange(len(codes)), start_here=True)

    def _advance(self, rows: Any, *, start_here: bool = False) -> None:
        if rows.size == 0:
            return
        sub = self.codes[rows]
        pos = np.arange(sub.shape[1])[None, :]
        start = self.ptr[rows][:, None] + (0 if start_here else 1)
        mask = self.cont[sub] & (pos >= start)
        has = mask.any(axis=1)
        first = mask.argmax(axis=1)
        self.ptr[rows] = first
        self.top[rows] = np.where(has, sub[np.arange(len(rows)), first], -1)

    def tally(self) -> list[int]:
        """Current votes per candidate index."""
        ok = self.top >= 0
        return _exact(np.bincount(self.top[ok], weights=self.counts[ok], minlength=self.n))

    def exclude(self, candidate: int) -> None:
        """Remove one candidate and move its ballots on."""
        self.cont[candidate] = False
        self._advance(np.flatnonzero(self.top == candidate))


def ranking_of(codes_row: Sequence[int]) -> Ranking:
    """A padded array row as a core ``Ranking``."""
    return tuple((int(c),) for c in codes_row if c >= 0)
