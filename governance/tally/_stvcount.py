"""What the STV counts share: the state of one count (statuses, order of events, the trail) and its last step.

Boundary rule: pure library code; imports only ``governance.tally`` modules and the standard library.
``stv`` (Meek) and ``gregory`` (WIGM, Scottish STV) build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ._fixed import Fixed
from .constraints import Caps, check
from .core import Profile, Result, Round, TallyError, TieBreak, TieBreaker

_HOPEFUL, _ELECTED, _DEFEATED, _WITHDRAWN, _PENDING = 0, 1, 2, 3, 4


@dataclass
class Count:
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


def check_seats(profile: Profile) -> None:
    if profile.seats < 1:  # pragma: no cover - Profile already refuses this
        raise TallyError("the number of seats must be at least 1")


def finish(count: Count, votes: list[int], round_no: int, shown: list[int]) -> None:
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
