"""Gregory STV methods: WIGM (PR Foundation reference rule) and Scottish STV (SSI 2007/42 rules 45-52).

Boundary rule: pure library code; imports only ``governance.tally`` modules and the standard library.
See ``governance.tally.stv`` for what the three STV rules share; ``stv`` re-exports both functions.
"""

from __future__ import annotations

from typing import Any

from ._fixed import Fixed
from ._stvcount import _DEFEATED, _ELECTED, _HOPEFUL, _PENDING
from ._stvcount import Count as _Count
from ._stvcount import check_seats as _check_seats
from ._stvcount import finish as _finish
from .core import Profile, Result, Round, TallyError, TieBreak, TieBreaker

__all__ = ["scottish", "wigm"]


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
