"""Affiliation caps for the STV counts: at most N seats per affiliation (employer, party, ...).

Boundary rule: pure library code; imports only ``governance.tally.core`` and the standard library.

The rule, as I. D. Hill's "STV with constraints" (Voting matters 9, 1998) treats a maximum, and
as J. Otten's "STV with multiple constraints" (Voting matters 13, 2001) carries it out: a
candidate whose election would break a maximum is *doomed* and excluded at once.

1. Each candidate has at most one affiliation (candidates without one are never limited); each
   affiliation may hold at most ``max_per_affiliation`` seats.
2. When candidates reach the quota together, they are elected in order of their votes (equal votes
   in the tie-breaker's order, recorded as a tie-break); one whose affiliation is already full is
   excluded instead.
3. As soon as an affiliation holds its maximum, its remaining hopeful candidates are excluded, in
   the same round, and their votes transfer on as for any exclusion.
4. The count ends when the candidates that can still be elected (per affiliation, no more hopeful
   candidates than it has seats left; every unaffiliated one) are no more than the seats left:
   they are elected, and the other hopeful candidates excluded (in order of votes, as above).
   So a seat is never left empty while an eligible candidate stands, and the count refuses at
   the start a cap under which the seats cannot be filled.

Every exclusion under the cap is in its round: ``Round.excluded``, a note, and
``Round.extra["constraint"]`` naming each candidate with the reason. When no exclusion under the
cap happens, the count is exactly the count without the cap (a property test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .core import TallyError, TieBreak

__all__ = ["Caps", "check"]


def check(
    candidates: Sequence[str],
    affiliations: Mapping[str, str] | None,
    max_per_affiliation: int | None,
) -> dict[str, str] | None:
    """Validate the options; returns the affiliations by candidate name, or None without a cap."""
    if affiliations is None and max_per_affiliation is None:
        return None
    if affiliations is None or max_per_affiliation is None:
        raise TallyError("affiliations and max_per_affiliation go together: give both or neither")
    if isinstance(max_per_affiliation, bool) or not isinstance(max_per_affiliation, int) or max_per_affiliation < 1:
        raise TallyError(f"max_per_affiliation must be a whole number of at least 1, not {max_per_affiliation!r}")
    if not isinstance(affiliations, Mapping):
        raise TallyError("affiliations must map candidate names to affiliations")
    known = set(candidates)
    out: dict[str, str] = {}
    for name, group in affiliations.items():
        if name not in known:
            raise TallyError(f"affiliation given for {name!r}, who is not a candidate")
        if not isinstance(group, str) or not group.strip():
            raise TallyError(f"the affiliation of {name!r} must be a non-empty text")
        out[name] = group
    return out


class Caps:
    """The cap during one count: who may still be elected, and the exclusions it forces."""

    def __init__(self, count: Any, affiliations: Mapping[str, str] | None, cap: int | None) -> None:
        self.count = count
        self.cap = cap
        self.active = affiliations is not None
        self.group = [affiliations.get(name) if affiliations else None for name in count.names]
        self.notes: list[str] = []
        self.reasons: dict[str, str] = {}

    # --- state --------------------------------------------------------------------------------
    def held(self, group: str) -> int:
        return sum(1 for i in self.count.elected if self.group[i] == group)

    def room(self, i: int) -> bool:
        """Whether candidate ``i`` may be elected now."""
        g = self.group[i]
        return not self.active or g is None or self.held(g) < self.cap

    def electable(self, hopeful: Sequence[int]) -> int:
        """How many of ``hopeful`` can still be elected together."""
        if not self.active:
            return len(hopeful)
        per: dict[str, int] = {}
        free = 0
        for i in hopeful:
            g = self.group[i]
            if g is None:
                free += 1
            else:
                per[g] = per.get(g, 0) + 1
        return free + sum(min(n, self.cap - self.held(g)) for g, n in per.items())

    def feasible(self, hopeful: Sequence[int], seats: int) -> None:
        """Refuse a cap under which ``seats`` cannot be filled from ``hopeful``."""
        if self.active and self.electable(hopeful) < seats:
            raise TallyError(
                f"{seats} seats cannot be filled with at most {self.cap} per affiliation: "
                f"only {self.electable(hopeful)} of the candidates standing can be elected together"
            )

    # --- decisions ----------------------------------------------------------------------------
    def admit(self, ordered: Sequence[int], votes: Sequence[int], round_no: int, seats_left: int) -> tuple[list[int], list[int]]:
        """Split candidates (best first) into those elected now and those excluded by the cap.

        The caller marks the elected ones; this only decides (the count's ``elected`` list is
        extended as it goes, so later candidates see earlier ones' seats).
        """
        elected: list[int] = []
        doomed: list[int] = []
        if not self.active:
            return list(ordered), []
        for i in ordered:
            if len(elected) < seats_left and self.room(i):
                elected.append(i)
                self.count.elected.append(i)
            else:
                doomed.append(i)
        for _ in elected:
            self.count.elected.pop()
        names = self.count.names
        for d in doomed:
            rivals = [e for e in elected if self.group[e] == self.group[d] and votes[e] == votes[d]]
            if rivals:
                self.count.tie_breaks.append(
                    TieBreak(
                        round_no,
                        "elect",
                        tuple(names[k] for k in (*rivals, d)),
                        names[rivals[0]],
                        self.count.tie_breaker.how,
                        f"equal votes; affiliation {self.group[d]!r} had one seat left",
                    )
                )
        return elected, doomed

    def full(self, hopeful: Sequence[int]) -> list[int]:
        """Hopeful candidates whose affiliation holds its maximum."""
        if not self.active:
            return []
        return [i for i in hopeful if self.group[i] is not None and self.held(self.group[i]) >= self.cap]

    def reason(self, i: int) -> str:
        """Why the cap excludes candidate ``i`` (recorded for the round)."""
        g = self.group[i]
        text = f"affiliation {g!r} holds its maximum of {self.cap} seat{'s' if self.cap != 1 else ''}"
        return text

    def finish(self, hopeful: Sequence[int], votes: Sequence[int], seats_left: int, round_no: int) -> tuple[list[int], list[int]]:
        """At the end: the hopeful candidates to elect (best first) and those the cap excludes."""
        ordered = self.count.by_vote(list(hopeful), votes)
        if not self.active:
            return ordered[:seats_left], []
        return self.admit(ordered, votes, round_no, seats_left)

    def record(self, excluded: Sequence[int]) -> dict[str, Any]:
        """``Round.extra`` entries for exclusions by the cap."""
        if not excluded:
            return {}
        names = self.count.names
        return {"constraint": {names[i]: self.reason(i) for i in excluded}}

    def describe(self) -> dict[str, Any]:
        """Parameters to publish with the result (what a re-count needs)."""
        if not self.active:
            return {}
        return {
            "max_per_affiliation": self.cap,
            "affiliations": {n: g for n, g in zip(self.count.names, self.group, strict=True) if g is not None},
        }
