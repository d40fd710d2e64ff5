"""An election's nominations: standing, nominating another member, accepting, withdrawing.

Boundary rule: services take a session and ``now``, flush and never commit; they raise domain
errors. Every change writes its audit event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message
from ..errors import Conflict, InvalidInput, NotEligible, NotFound
from ..models import Member, Nomination, Poll
from ..proposals.render import render
from . import rules as poll_rules
from .service import MAX_TEXT, eligibility_now, options


def nominations(session: Session, poll: Poll, *, include_withdrawn: bool = True) -> list[tuple[Nomination, Member]]:
    """An election's nominations with their nominees."""
    query = select(Nomination, Member).join(Member, Member.id == Nomination.member_id) \
        .where(Nomination.poll_id == poll.id).order_by(Member.username)
    rows = [(n, m) for n, m in session.exec(query).all()]
    return rows if include_withdrawn else [(n, m) for n, m in rows if n.withdrawn_at is None]


def nominate(*, session: Session, actor: Member, poll: Poll, nominee: Member, statement: str, conflicts: str,
             now: datetime, affiliation: str | None = None) -> Nomination:
    """Nominate a member (oneself: accepted at once; someone else: they must accept).

    Only a member who may vote in the election may nominate (themselves or another), and only a
    member who may vote in it may be nominated: both judged by the poll's rule on the forum
    record as last refreshed (login, sync, webhook), as of the opening (``eligibility_now``).

    ``affiliation`` is what a member standing themselves declares ("" for none; None: not
    declared, refused when the election caps seats per affiliation). A nominee declares theirs
    when they accept.
    """
    if poll.kind != "election":
        raise Conflict(N_("Only elections take nominations."))
    if poll.status != "nominations" or not _in_nomination_period(poll, now):
        raise Conflict(N_("Nominations are not open for this election."))
    own = actor.id == nominee.id
    _check_statements(statement, conflicts, required=own)
    if own:
        affiliation = _check_affiliation(poll, affiliation)
    mine = eligibility_now(poll, actor, now)
    if not mine.ok:
        raise NotEligible(N_("Only members who may vote in this election may nominate, and you may not:"),
                          list(mine.reasons))
    verdict = eligibility_now(poll, nominee, now)
    if not verdict.ok:
        raise NotEligible(Message('%(username)s cannot stand in this election.', username=nominee.username),
                          list(verdict.reasons))
    existing = session.exec(select(Nomination).where(Nomination.poll_id == poll.id,
                                                      Nomination.member_id == nominee.id)).first()
    if existing is not None and existing.withdrawn_at is None:
        raise Conflict(Message('%(username)s is already nominated.', username=nominee.username))
    nomination = existing or Nomination(poll_id=poll.id, member_id=nominee.id, nominated_by=actor.id)
    nomination.nominated_by = actor.id
    nomination.withdrawn_at = None
    _set_statements(nomination, statement, conflicts)
    nomination.accepted_at = now if own else None
    nomination.affiliation = affiliation if own else None
    session.add(nomination)
    session.flush()
    payload = {"poll": poll.id, "nominee": nominee.username, "accepted": nomination.accepted_at is not None}
    if own:
        payload["affiliation"] = nomination.affiliation
    log.record(session=session, created_at=now, type="nomination.made", actor=actor, poll_id=poll.id, payload=payload)
    return nomination


MAX_AFFILIATION = 100


def _check_affiliation(poll: Poll, affiliation: str | None) -> str | None:
    """The declared affiliation, tidied; InvalidInput when it is unusable or missing under a cap."""
    if affiliation is None:
        if poll_rules.cap(poll.rules or {}) is not None:
            raise InvalidInput([("affiliation", N_("this election limits the seats one affiliation may hold: declare "
                                                   "your affiliation (your employer, for example), or that you have none"))])
        return None
    text = " ".join(affiliation.split())
    if len(text) > MAX_AFFILIATION:
        raise InvalidInput([("affiliation", Message('the affiliation is longer than %(MAX_AFFILIATION)s characters',
                                                    MAX_AFFILIATION=MAX_AFFILIATION))])
    if any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in text):
        raise InvalidInput([("affiliation", N_("the affiliation contains control characters"))])
    return text


def _check_statements(statement: str, conflicts: str, *, required: bool) -> None:
    problems = []
    if required and not statement.strip():
        problems.append(("statement", N_("write a short statement for voters")))
    if len(statement) > MAX_TEXT or len(conflicts) > MAX_TEXT:
        problems.append(("statement", Message('statements are limited to %(MAX_TEXT)s characters', MAX_TEXT=MAX_TEXT)))
    if problems:
        raise InvalidInput(problems)


def _set_statements(nomination: Nomination, statement: str, conflicts: str) -> None:
    nomination.statement_md, nomination.statement_html = statement, render(statement) if statement.strip() else ""
    nomination.conflicts_md, nomination.conflicts_html = conflicts, render(conflicts) if conflicts.strip() else ""


def accept_nomination(*, session: Session, actor: Member, poll: Poll, statement: str, conflicts: str,
                      now: datetime, affiliation: str | None = None) -> Nomination:
    """The nominee accepts (with their own statement, declaration and affiliation; "" for none)."""
    nomination = _own_nomination(session, actor, poll)
    if poll.status != "nominations" or not _in_nomination_period(poll, now):
        raise Conflict(N_("Nominations are closed."))
    _check_statements(statement, conflicts, required=True)
    affiliation = _check_affiliation(poll, affiliation)
    _set_statements(nomination, statement, conflicts)
    nomination.accepted_at = now
    nomination.affiliation = affiliation
    session.add(nomination)
    log.record(session=session, created_at=now, type="nomination.accepted", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "nominee": actor.username, "affiliation": affiliation})
    session.flush()
    return nomination


def withdraw_nomination(*, session: Session, actor: Member, poll: Poll, now: datetime) -> Nomination:
    """A candidate withdraws; allowed until voting opens."""
    nomination = _own_nomination(session, actor, poll)
    if poll.status not in ("nominations", "scheduled"):
        raise Conflict(N_("Candidates can withdraw only until voting opens."))
    nomination.withdrawn_at = now
    session.add(nomination)
    log.record(session=session, created_at=now, type="nomination.withdrawn", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "nominee": actor.username})
    session.flush()
    return nomination


def _own_nomination(session: Session, actor: Member, poll: Poll) -> Nomination:
    row = session.exec(select(Nomination).where(Nomination.poll_id == poll.id,
                                                Nomination.member_id == actor.id)).first()
    if row is None or row.withdrawn_at is not None:
        raise NotFound(N_("You have no standing nomination in this election."))
    return row


def _in_nomination_period(poll: Poll, now: datetime) -> bool:
    return bool(poll.nominations_open_at and poll.nominations_close_at
                and poll.nominations_open_at <= now < poll.nominations_close_at)


def affiliations(session: Session, poll: Poll) -> dict[str, str]:
    """The candidates' affiliations as the count compares them (``rules.affiliation_key``), by label;
    candidates who declared none are left out (never limited)."""
    return {o.label: poll_rules.affiliation_key(o.affiliation) for o in options(session, poll)
            if o.affiliation and o.affiliation.strip()}
