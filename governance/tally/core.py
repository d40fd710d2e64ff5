"""Shared data model of the tally engine: profiles, results, rounds and tie-breaking.

Boundary rule: ``governance.tally`` is a pure library. Nothing here imports Flask, SQLModel,
SQLAlchemy or any other ``governance`` package; inputs are plain sequences and frozen
dataclasses, never ORM rows.

Candidates are addressed by their index in ``Profile.candidates`` inside the engine (fast, and the
index order is the ballot-file order that some rules use to break ties); names appear only at
the edges (input parsing and results).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = [
    "Ballot",
    "Profile",
    "Ranking",
    "Result",
    "Round",
    "TallyError",
    "TieBreak",
    "TieBreaker",
    "number_text",
]

#: A ranking is a tuple of groups of candidate indices, best group first. A group with more than
#: one index is a set of equally ranked candidates. Candidates that appear nowhere are unranked.
Ranking = tuple[tuple[int, ...], ...]


class TallyError(ValueError):
    """The ballots or the parameters cannot be tallied as given."""


@dataclass(frozen=True)
class Ballot:
    """One distinct ranking and how many voters cast it (its weight)."""

    ranking: Ranking
    weight: int = 1


@dataclass(frozen=True)
class Profile:
    """Candidates, aggregated ballots and the count's seat number.

    >>> p = Profile.build(["a", "b", "c"], [["a", "b"], ["a", "b"], [["b", "c"], "a"]])
    >>> [(b.ranking, b.weight) for b in p.ballots]
    [(((0,), (1,)), 2), (((1, 2), (0,)), 1)]
    >>> p.total_weight
    3
    """

    candidates: tuple[str, ...]
    ballots: tuple[Ballot, ...]
    seats: int = 1
    withdrawn: frozenset[int] = frozenset()
    title: str = ""

    def __post_init__(self) -> None:
        if len(set(self.candidates)) != len(self.candidates):
            raise TallyError("candidate names must be unique")
        if self.seats < 1:
            raise TallyError("the number of seats must be at least 1")
        n = len(self.candidates)
        for i in self.withdrawn:
            if not 0 <= i < n:
                raise TallyError(f"withdrawn candidate index {i} is out of range")

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        candidates: Sequence[str],
        ballots: Iterable[Sequence[str | Sequence[str]]],
        *,
        weights: Iterable[int] | None = None,
        seats: int = 1,
        withdrawn: Iterable[str] = (),
        title: str = "",
    ) -> Profile:
        """Validate named rankings and aggregate identical ones.

        Each ballot is a sequence whose items are a candidate name or a sequence of names ranked
        equally. An unknown name, a candidate ranked twice or a weight below 1 raises TallyError
        naming the ballot (1-based).
        """
        index = {name: i for i, name in enumerate(candidates)}
        if len(index) != len(candidates):
            raise TallyError("candidate names must be unique")
        counts: dict[Ranking, int] = {}
        weight_iter = iter(weights) if weights is not None else None
        for number, ballot in enumerate(ballots, start=1):
            weight = 1
            if weight_iter is not None:
                try:
                    weight = next(weight_iter)
                except StopIteration:
                    raise TallyError("fewer weights than ballots") from None
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                raise TallyError(f"ballot {number}: weight must be a whole number of at least 1")
            ranking = _ranking_from_names(ballot, index, number)
            counts[ranking] = counts.get(ranking, 0) + weight
        withdrawn_idx = set()
        for name in withdrawn:
            if name not in index:
                raise TallyError(f"withdrawn candidate {name!r} is not a candidate")
            withdrawn_idx.add(index[name])
        return cls(
            candidates=tuple(candidates),
            ballots=tuple(Ballot(r, w) for r, w in counts.items()),
            seats=seats,
            withdrawn=frozenset(withdrawn_idx),
            title=title,
        )

    @classmethod
    def from_indices(
        cls,
        candidates: Sequence[str],
        rankings: Iterable[Ranking],
        *,
        weights: Iterable[int] | None = None,
        seats: int = 1,
        withdrawn: Iterable[int] = (),
        title: str = "",
    ) -> Profile:
        """Aggregate already-validated index rankings (the fast path used by parsers)."""
        counts: dict[Ranking, int] = {}
        if weights is None:
            for r in rankings:
                counts[r] = counts.get(r, 0) + 1
        else:
            for r, w in zip(rankings, weights, strict=True):
                counts[r] = counts.get(r, 0) + w
        return cls(
            candidates=tuple(candidates),
            ballots=tuple(Ballot(r, w) for r, w in counts.items()),
            seats=seats,
            withdrawn=frozenset(withdrawn),
            title=title,
        )

    # --- views -----------------------------------------------------------------------------
    @property
    def total_weight(self) -> int:
        """The number of ballots cast (blank ones included)."""
        return sum(b.weight for b in self.ballots)

    @property
    def hopeful(self) -> tuple[int, ...]:
        """Indices of the candidates that stand (not withdrawn), in ballot-file order."""
        return tuple(i for i in range(len(self.candidates)) if i not in self.withdrawn)

    def names(self, indices: Iterable[int]) -> tuple[str, ...]:
        """Map candidate indices to names."""
        return tuple(self.candidates[i] for i in indices)


def _ranking_from_names(ballot: Sequence[str | Sequence[str]], index: Mapping[str, int], number: int) -> Ranking:
    seen: set[int] = set()
    groups: list[tuple[int, ...]] = []
    for item in ballot:
        names = (item,) if isinstance(item, str) else tuple(item)
        group = []
        for name in names:
            if name not in index:
                raise TallyError(f"ballot {number}: unknown candidate {name!r}")
            i = index[name]
            if i in seen:
                raise TallyError(f"ballot {number}: candidate {name!r} is ranked more than once")
            seen.add(i)
            group.append(i)
        if group:
            groups.append(tuple(sorted(group)))
    return tuple(groups)


# === Results ====================================================================================


@dataclass(frozen=True)
class TieBreak:
    """One tie the count had to break, and how it was broken."""

    round: int
    purpose: str  # "exclude", "elect", "order", "winner"
    tied: tuple[str, ...]
    chosen: str
    how: str  # "earlier round", "seeded random order", "candidate order", ...
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "round": self.round,
            "purpose": self.purpose,
            "tied": list(self.tied),
            "chosen": self.chosen,
            "how": self.how,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Round:
    """One round (stage) of a count.

    ``votes`` holds each hopeful or elected candidate's votes at the end of the round; ``elected``
    and ``excluded`` who was elected or excluded in it; ``extra`` method-specific figures (keep
    factors, surplus, transfers, pairwise counts...). Numbers are ints or Fractions, exact.
    """

    number: int
    votes: Mapping[str, int | Fraction]
    elected: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    quota: int | Fraction | None = None
    exhausted: int | Fraction = 0
    surplus: int | Fraction | None = None
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (exact numbers as decimal strings, see ``number_text``)."""
        out: dict[str, Any] = {
            "round": self.number,
            "votes": {k: number_text(v) for k, v in self.votes.items()},
            "elected": list(self.elected),
            "excluded": list(self.excluded),
            "exhausted": number_text(self.exhausted),
            "note": self.note,
        }
        if self.quota is not None:
            out["quota"] = number_text(self.quota)
        if self.surplus is not None:
            out["surplus"] = number_text(self.surplus)
        if self.extra:
            out["extra"] = _jsonable(self.extra)
        return out


@dataclass(frozen=True)
class Result:
    """The outcome of a count: winners in order, every round, every tie-break, the parameters.

    ``elected`` is in order of election (or of final ranking for single-winner methods).
    ``tied`` is non-empty when the count ended in a tie that no tie-breaker was allowed to
    resolve; the tied candidates are then reported, never silently dropped.
    """

    method: str
    seats: int
    elected: tuple[str, ...]
    rounds: tuple[Round, ...] = ()
    tie_breaks: tuple[TieBreak, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    tied: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()
    ballots: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the whole result."""
        return {
            "method": self.method,
            "seats": self.seats,
            "candidates": list(self.candidates),
            "ballots": self.ballots,
            "elected": list(self.elected),
            "tied": list(self.tied),
            "parameters": _jsonable(self.parameters),
            "rounds": [r.to_dict() for r in self.rounds],
            "tie_breaks": [t.to_dict() for t in self.tie_breaks],
            "details": _jsonable(self.details),
        }


def number_text(value: int | Fraction | float, places: int = 9) -> str:
    """Render an exact number for people and JSON: integers as-is, fractions to ``places`` decimals.

    Fractions are truncated (never rounded up), as the fixed-point counting rules do, and a
    fraction that is not exact at that precision keeps its exact form after a ``~``.

    >>> number_text(3), number_text(Fraction(7, 2)), number_text(Fraction(1, 3), 4)
    ('3', '3.5', '0.3333~1/3')
    """
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    frac = Fraction(value)
    if frac.denominator == 1:
        return str(frac.numerator)
    sign = "-" if frac < 0 else ""
    frac = abs(frac)
    scaled = frac.numerator * 10**places // frac.denominator
    whole, part = divmod(scaled, 10**places)
    text = f"{sign}{whole}.{part:0{places}d}".rstrip("0").rstrip(".")
    if Fraction(scaled, 10**places) != frac:
        text += f"~{frac.numerator}/{frac.denominator}"
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, Fraction):
        return number_text(value)
    return value


# === Tie-breaking ===============================================================================


@dataclass(frozen=True)
class TieBreaker:
    """An explicit, reproducible tie-breaking policy.

    Counts first look back at earlier rounds (where the method allows it); what still ties is
    broken by a fixed total order of the candidates:

    * with a ``seed`` (published when the poll opens, before any ballot is seen): candidates are
      ordered by SHA-256 of ``"<seed>:<name>"``, lowest digest first. Anyone can recompute it.
    * with an explicit ``order``: that order (e.g. a BLT ``[tie ...]`` line).
    * with neither: ballot-file (candidate) order.

    ``first_in_order`` is the candidate favoured (elected, or kept when excluding). With
    ``exclude_first`` the first candidate in the order is the one *chosen* whatever the purpose, so
    it is also the one excluded: the convention of the PR Foundation reference rules ("choose the
    tied candidate who is earliest in a predetermined random tiebreaking order") and of Droop.

    >>> TieBreaker(seed="abc").order(["x", "y", "z"]) == TieBreaker(seed="abc").order(["z", "y", "x"])
    True
    >>> TieBreaker().favoured(["b", "a"], candidates=("a", "b"))
    'a'
    >>> TieBreaker().disfavoured(["b", "a"], candidates=("a", "b"))
    'b'
    >>> TieBreaker(exclude_first=True).disfavoured(["b", "a"], candidates=("a", "b"))
    'a'
    """

    seed: str | None = None
    order_names: tuple[str, ...] | None = None
    look_back: bool = True
    exclude_first: bool = False

    def order(self, candidates: Sequence[str]) -> tuple[str, ...]:
        """The policy's total order over ``candidates``, favoured first."""
        if self.order_names is not None:
            pos = {name: i for i, name in enumerate(self.order_names)}
            return tuple(sorted(candidates, key=lambda c: (pos.get(c, len(pos)), candidates.index(c))))
        if self.seed is not None:
            return tuple(sorted(candidates, key=lambda c: (self.digest(c), c)))
        return tuple(candidates)

    def digest(self, name: str) -> str:
        """The seeded sort key of one candidate."""
        return hashlib.sha256(f"{self.seed}:{name}".encode()).hexdigest()

    def favoured(self, tied: Iterable[str], *, candidates: Sequence[str]) -> str:
        """The tied candidate this policy favours."""
        tied_set = set(tied)
        for name in self.order(tuple(candidates)):
            if name in tied_set:
                return name
        raise TallyError("tie among candidates that are not in the count")

    def disfavoured(self, tied: Iterable[str], *, candidates: Sequence[str]) -> str:
        """The tied candidate this policy disfavours (to be excluded)."""
        tied_set = set(tied)
        order = self.order(tuple(candidates))
        for name in order if self.exclude_first else reversed(order):
            if name in tied_set:
                return name
        raise TallyError("tie among candidates that are not in the count")

    @property
    def how(self) -> str:
        """Plain words for the last resort this policy uses."""
        if self.order_names is not None:
            return "explicit tie order"
        if self.seed is not None:
            return "seeded random order"
        return "candidate order"

    def describe(self) -> dict[str, Any]:
        """Parameters to publish with a result."""
        return {
            "look_back": self.look_back,
            "last_resort": self.how,
            "seed": self.seed,
            "order": list(self.order_names) if self.order_names is not None else None,
            "exclude_first": self.exclude_first,
        }
