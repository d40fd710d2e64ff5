"""Instant-runoff voting (single winner), counted exactly with a round-by-round trail.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

Rules, in the words an election official would use:

* Each round, every ballot counts for its highest-ranked continuing candidate. Candidates who are
  withdrawn (``Profile.withdrawn``) never continue; preferences for them are skipped.
* A candidate with **more than half** of the continuing votes (votes not exhausted) wins.
  The threshold shown in each round is that half; a candidate needs strictly more.
* Otherwise the candidate with the fewest votes is excluded and their ballots move on. A ballot
  with no continuing candidate left is exhausted and counts for nobody from then on.
* **Equal rankings** (a ballot's highest group holding several continuing candidates, i.e. an
  overvote): with ``equal_rank="exhaust"`` (the default) the ballot is exhausted at that point,
  as RCTab's ``exhaustIfMultipleContinuing`` rule and most US statutes do for overvotes. With
  ``equal_rank="split"`` the ballot is shared equally among those candidates as exact
  ``Fraction`` votes, so no ballot loses its voice.
* **Ties for exclusion**: first look back (``TieBreaker.look_back``) to the most recent earlier
  round in which the tied candidates had different votes and exclude the one with fewest there
  (repeating further back while some are still tied); then the tie-breaker's order (seeded, or
  explicit, or candidate order when ``tie_breaker`` is None). Every such decision is a
  ``TieBreak`` in ``Result.tie_breaks``.
* **A tie for the win** (the last two continuing candidates have equal votes, or no ballot is
  left) is broken only by an explicit ``tie_breaker``; without one the count ends with
  ``Result.tied`` naming them and ``Result.elected`` empty.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from . import _fast
from .core import Profile, Result, Round, TallyError, TieBreak, TieBreaker

__all__ = ["EQUAL_RANK_RULES", "irv"]

#: The accepted values of ``equal_rank``.
EQUAL_RANK_RULES = ("exhaust", "split")

Number = int | Fraction


def irv(profile: Profile, *, tie_breaker: TieBreaker | None = None, equal_rank: str = "exhaust") -> Result:
    """Count a single-winner instant-runoff election.

    Args:
        profile: the ballots; ``profile.seats`` is ignored (one winner).
        tie_breaker: policy for ties (see the module docstring); None breaks exclusion ties by
            looking back, then by candidate order, and leaves a tie for the win unresolved.
        equal_rank: ``"exhaust"`` or ``"split"``, for ballots ranking continuing candidates equal.

    Returns:
        A ``Result`` with one ``Round`` per round (votes of continuing candidates, the exhausted
        total, the exclusion or election), ``details["exclusion_order"]`` and every tie-break.

    >>> p = Profile.build(["a", "b", "c"], [["a"], ["a"], ["b", "a"], ["c", "b"], ["c", "b"]])
    >>> r = irv(p)
    >>> r.elected, [dict(x.votes) for x in r.rounds], [x.excluded for x in r.rounds]
    (('a',), [{'a': 2, 'b': 1, 'c': 2}, {'a': 3, 'c': 2}], [('b',), ()])
    """
    if equal_rank not in EQUAL_RANK_RULES:
        raise TallyError(f"equal_rank must be one of {', '.join(EQUAL_RANK_RULES)}, not {equal_rank!r}")
    names = profile.candidates
    continuing = list(profile.hopeful)
    if not continuing:
        raise TallyError("there are no candidates to count")
    policy = tie_breaker if tie_breaker is not None else TieBreaker()
    fast = _fast.arrays_of(profile)
    state = _fast.IrvState(fast[0], fast[1], len(names), continuing) if fast is not None else None
    blank = sum(b.weight for b in profile.ballots if not b.ranking) if state is None else _blank(fast)
    total = profile.total_weight

    rounds: list[Round] = []
    history: list[dict[int, Number]] = []
    tie_breaks: list[TieBreak] = []
    exclusion_order: list[str] = []
    elected: tuple[str, ...] = ()
    tied: tuple[str, ...] = ()
    dead: set[int] = set()
    number = 0
    while True:
        number += 1
        if state is not None:
            all_votes = state.tally()
            votes: dict[int, Number] = {c: all_votes[c] for c in continuing}
        else:
            votes = _tally(profile, set(continuing), equal_rank, dead)
        history.append(votes)
        active = sum(votes.values())
        exhausted = total - blank - active
        shown = {names[c]: votes[c] for c in continuing}
        threshold = Fraction(active, 2) if active else 0
        base = dict(number=number, votes=shown, quota=threshold, exhausted=exhausted)
        extra = {"active": active, "blank": blank}

        if active == 0 and len(continuing) == 1:
            elected = (names[continuing[0]],)
            note = f"{elected[0]} is the only continuing candidate"
            rounds.append(Round(**base, elected=elected, note=note, extra=extra))
            break
        if active == 0:
            tied, elected = _win_tie(continuing, names, number, policy, tie_breaker, tie_breaks)
            note = "no continuing votes are left"
            rounds.append(Round(**base, elected=elected, note=note, extra=extra))
            break
        leader = max(continuing, key=lambda c: votes[c])
        if votes[leader] * 2 > active:
            elected = (names[leader],)
            note = f"{names[leader]} has more than half of the {active} continuing votes"
            rounds.append(Round(**base, elected=elected, note=note, extra=extra))
            break
        low = min(votes[c] for c in continuing)
        lowest = [c for c in continuing if votes[c] == low]
        if len(continuing) == 2 and len(lowest) == 2:
            tied, elected = _win_tie(continuing, names, number, policy, tie_breaker, tie_breaks)
            note = "the last two candidates have equal votes"
            rounds.append(Round(**base, elected=elected, note=note, extra=extra))
            break
        loser = lowest[0]
        note = f"{names[loser]} has the fewest votes ({low}) and is excluded"
        if len(lowest) > 1:
            loser, how, detail = _break_exclusion_tie(lowest, history, policy, names)
            tie_breaks.append(
                TieBreak(number, "exclude", tuple(names[c] for c in lowest), names[loser], how, detail)
            )
            note = f"{', '.join(names[c] for c in lowest)} tie with {low} votes; {names[loser]} is excluded ({how})"
        rounds.append(Round(**base, excluded=(names[loser],), note=note, extra=extra))
        exclusion_order.append(names[loser])
        continuing.remove(loser)
        if state is not None:
            state.exclude(loser)

    return Result(
        method="irv",
        seats=1,
        elected=elected,
        rounds=_with_transfers(rounds),
        tie_breaks=tuple(tie_breaks),
        parameters={"equal_rank": equal_rank, "tie_breaker": policy.describe(), "majority": "more than half"},
        tied=tied,
        details={"exclusion_order": exclusion_order, "blank": blank},
        candidates=names,
        ballots=total,
    )


def _with_transfers(rounds: list[Round]) -> tuple[Round, ...]:
    """Add ``extra["transfers"]`` to each round that excluded someone: where the votes went.

    Read off the next round's figures: each continuing candidate's gain, and the ballots that
    became exhausted (key ``"exhausted"``), so the figures add up to the excluded candidate's votes.
    """
    out = []
    for k, rnd in enumerate(rounds):
        if rnd.excluded and k + 1 < len(rounds):
            nxt = rounds[k + 1]
            moves: dict[str, int | Fraction] = {
                name: nxt.votes[name] - rnd.votes[name]
                for name in nxt.votes
                if nxt.votes[name] != rnd.votes[name]
            }
            if nxt.exhausted != rnd.exhausted:
                moves["exhausted"] = nxt.exhausted - rnd.exhausted
            rnd = dataclasses.replace(rnd, extra={**rnd.extra, "transfers": moves})
        out.append(rnd)
    return tuple(out)


def _blank(arrays: tuple) -> int:
    codes, counts = arrays
    return int(counts[codes[:, 0] < 0].sum())


def _tally(profile: Profile, continuing: set[int], equal_rank: str, dead: set[int]) -> dict[int, Number]:
    """Votes per continuing candidate; ballots exhausted by an overvote are added to ``dead``."""
    votes: dict[int, Number] = dict.fromkeys(sorted(continuing), 0)
    for k, ballot in enumerate(profile.ballots):
        if k in dead:
            continue
        for group in ballot.ranking:
            live = [c for c in group if c in continuing]
            if not live:
                continue
            if len(live) == 1:
                votes[live[0]] += ballot.weight
            elif equal_rank == "split":
                share = Fraction(ballot.weight, len(live))
                for c in live:
                    votes[c] += share
            else:
                # An overvote among continuing candidates exhausts the ballot for good: it does
                # not come back when all but one of them are later excluded.
                dead.add(k)
            break
    return votes


def _break_exclusion_tie(
    lowest: list[int], history: list[dict[int, Number]], policy: TieBreaker, names: tuple[str, ...]
) -> tuple[int, str, str]:
    tied = list(lowest)
    if policy.look_back:
        for back in range(len(history) - 2, -1, -1):
            earlier = history[back]
            low = min(earlier.get(c, 0) for c in tied)
            fewest = [c for c in tied if earlier.get(c, 0) == low]
            if len(fewest) < len(tied):
                tied = fewest
                if len(tied) == 1:
                    return tied[0], "earlier round", f"fewest votes in round {back + 1}"
    loser_name = policy.disfavoured((names[c] for c in tied), candidates=names)
    detail = (
        ""
        if len(tied) == len(lowest)
        else f"still tied after looking back: {', '.join(names[c] for c in tied)}"
    )
    return names.index(loser_name), policy.how, detail


def _win_tie(
    continuing: list[int],
    names: tuple[str, ...],
    number: int,
    policy: TieBreaker,
    explicit: TieBreaker | None,
    tie_breaks: list[TieBreak],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tied = tuple(names[c] for c in continuing)
    if explicit is None or len(tied) == 0:
        return tied, ()
    winner = policy.favoured(tied, candidates=names)
    tie_breaks.append(TieBreak(number, "winner", tied, winner, policy.how, "tie for the win"))
    return (), (winner,)
