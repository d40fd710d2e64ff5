"""Eligibility exceptions: a member the poll's rule leaves out asks to vote, the election officers decide.

Boundary rule: a service (takes a session, flushes, never commits; raises domain errors).

The rule of an exception (docs/identity.md, "Eligibility exceptions"):

* A member asks, with a reason, while the poll is scheduled (or taking nominations) and before
  the charter's deadline (``exceptions.deadline_days_before_opening`` days before voting opens),
  if the body's rules allow exceptions and the poll's rule leaves them out.
* An exception waives the poll's own requirements: its groups, its minimum trust level and its
  minimum account age. It never waives the standing every voter needs (an account of a person,
  activated, not staged, not suspended, not silenced, created before the poll opened): that is
  checked with the empty rule, ``Rule()``, when the member asks, at the opening and at vote time.
* One of the poll's election officers (a member of a group the body's ``officers`` name), never
  the member asking, accepts or refuses with a reason until voting opens. Requests still
  pending at the opening lapse. The member is told each decision by forum message.
* A group poll's electorate is frozen at the opening: a member with an accepted exception joins
  it then, with their forum record at that moment, marked with the exception's id; a
  community-wide poll's electorate is its rule, and an accepted exception lets the member vote
  on the standing rule alone.

Every request and decision is an audit event (``exception.requested``, ``.withdrawn``,
``.accepted``, ``.refused``, ``.lapsed``); the poll's bundle lists them all with their reasons,
and ``governance-audit verify`` re-applies rule plus exceptions to every participant. Nothing
here concerns a ballot: who may vote is never linked to what anyone voted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message, plural
from ..errors import Conflict, InvalidInput, NotAllowed, NotEligible, NotFound
from ..identity.eligibility import Eligibility, Evidence, Rule, check
from ..models import EligibilityException, Member, Outbox, Poll
from ..models.base import MAX_ID
from . import rules as poll_rules

#: The outbox job that tells a member the officers' decision (``payload = {"poll", "exception"}``).
JOB_KIND = "exception"
MAX_REASON = 2000
#: The poll statuses in which exceptions are asked for and decided.
OPEN_FOR_REQUESTS = ("nominations", "scheduled")


def deadline(poll: Poll) -> datetime | None:
    """The last moment a member may ask (None: the poll has no opening time yet)."""
    if poll.opens_at is None:
        return None
    return poll.opens_at - timedelta(days=poll_rules.exception_deadline_days(poll.rules or {}))


def may_ask(poll: Poll, now: datetime) -> bool:
    """Whether requests are open for this poll now."""
    limit = deadline(poll)
    return (poll_rules.exceptions_allowed(poll.rules or {}) and poll.status in OPEN_FOR_REQUESTS
            and limit is not None and now < limit)


def standing(evidence: Evidence, opens_at: datetime) -> Eligibility:
    """What no exception waives: the standing every voter needs (``Rule()``, the empty rule)."""
    return check(Rule(), evidence, opens_at=opens_at)


def is_officer(poll: Poll, member: Any) -> bool:
    """Whether ``member`` is one of the poll's election officers."""
    return bool(member is not None and getattr(member, "is_authenticated", False)
                and poll_rules.officer_groups(poll.rules or {}, member.groups))


def _text(value: str, field: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput([(field, Message('give %(what)s; it is published with the decision', what=what))])
    if len(text) > MAX_REASON:
        raise InvalidInput([(field, Message('%(what)s is longer than %(MAX_REASON)s characters', what=what, MAX_REASON=MAX_REASON))])
    if any(ord(c) < 32 and c not in "\t\n\r" or 0x7f <= ord(c) < 0xa0 for c in text):
        raise InvalidInput([(field, Message('%(what)s contains control characters', what=what))])
    return text


# === Reading ====================================================================================


def get(session: Session, poll: Poll, exception_id: int) -> EligibilityException:
    """One request of this poll, or NotFound."""
    row = session.get(EligibilityException, exception_id) if 0 < exception_id <= MAX_ID else None
    if row is None or row.poll_id != poll.id:
        raise NotFound(Message('Poll %(id)s has no exception request %(exception_id)s.', id=poll.id, exception_id=exception_id))
    return row


def for_poll(session: Session, poll: Poll) -> list[EligibilityException]:
    """Every request of the poll, oldest first."""
    return list(session.exec(select(EligibilityException).where(EligibilityException.poll_id == poll.id)
                             .order_by(EligibilityException.id)).all())


def of_member(session: Session, poll: Poll, member: Member) -> EligibilityException | None:
    """The member's request in this poll, if they made one."""
    return session.exec(select(EligibilityException).where(EligibilityException.poll_id == poll.id,
                                                            EligibilityException.member_id == member.id)).first()


def excepted(session: Session, poll: Poll, member: Member) -> bool:
    """Whether the member holds an accepted exception in this poll."""
    return session.exec(select(EligibilityException.id).where(
        EligibilityException.poll_id == poll.id, EligibilityException.member_id == member.id,
        EligibilityException.status == "accepted")).first() is not None


def accepted(session: Session, poll: Poll) -> dict[int, int]:
    """The accepted exceptions of a poll: exception id by forum user id."""
    rows = session.exec(select(EligibilityException.forum_user_id, EligibilityException.id).where(
        EligibilityException.poll_id == poll.id, EligibilityException.status == "accepted")).all()
    return {forum_user_id: exception_id for forum_user_id, exception_id in rows}


def eligible_entry(rule: Rule, evidence: dict[str, Any], username: str, opens_at: datetime,
                   exception_id: int | None) -> dict[str, Any] | None:
    """A group poll's electorate entry as frozen at opening, or None when the member is not in it.

    The rule decides; a member it leaves out who holds an accepted exception (``exception_id``)
    is in it on the standing rule alone, and the entry names the exception. ``open_poll`` and the
    audit export both build the electorate with this, so its hash is the same.
    """
    facts = Evidence.from_dict(evidence)
    if check(rule, facts, opens_at=opens_at).ok:
        return {"username": username, "evidence": evidence}
    if exception_id is not None and standing(facts, opens_at).ok:
        return {"username": username, "evidence": evidence, "exception": exception_id}
    return None


def bundle_list(session: Session, poll: Poll) -> list[dict[str, Any]]:
    """Every request with its reasons and decision, for the audit bundle's ``election.json``.

    ``username`` is the member's name now (as participants are listed); ``forum_user_id`` never
    changes.
    """
    from ..audit.chain import format_time

    names = dict(session.exec(select(Member.id, Member.username).join(
        EligibilityException, EligibilityException.member_id == Member.id)
        .where(EligibilityException.poll_id == poll.id)).all())
    return [{
        "id": row.id, "username": names.get(row.member_id, row.username), "forum_user_id": row.forum_user_id,
        "reason": row.reason, "rule_reasons": list(row.rule_reasons), "status": row.status,
        "decided_by": row.decided_by_username or None, "decided_as": list(row.decided_as),
        "decision_reason": row.decision_reason or None, "requested_at": format_time(row.created_at),
        "decided_at": format_time(row.decided_at) if row.decided_at else None,
    } for row in for_poll(session, poll)]


# === Asking =====================================================================================


def request(*, session: Session, poll: Poll, member: Member, reason: str, now: datetime) -> EligibilityException:
    """Ask the election officers to let ``member`` vote although the poll's rule leaves them out."""
    from ..identity.service import member_evidence
    from .service import eligibility_now

    if not poll_rules.exceptions_allowed(poll.rules or {}):
        raise Conflict(N_("This poll's rules allow no eligibility exceptions."))
    if poll.status not in OPEN_FOR_REQUESTS:
        raise Conflict(N_("Exceptions are asked for before voting opens."))
    if not may_ask(poll, now):
        days = plural(poll_rules.exception_deadline_days(poll.rules), "day")
        raise Conflict(Message('Requests for an exception closed %(days)s before voting opens.', days=days))
    verdict = eligibility_now(poll, member, now)
    if verdict.ok:
        raise Conflict(N_("By your forum record you may vote in this poll already; you need no exception."))
    base = standing(member_evidence(member), poll.opens_at)
    if not base.ok:
        raise NotEligible(N_("An exception cannot help: it waives the poll's groups, trust level and account age, "
                          "never the standing every voter needs."), list(base.reasons))
    text = _text(reason, "reason", "a reason")
    row = of_member(session, poll, member)
    if row is not None and row.status not in ("withdrawn",):
        raise Conflict(Message('You asked already; your request is %(status)s.', status=row.status))
    row = row or EligibilityException(poll_id=poll.id, member_id=member.id, forum_user_id=member.forum_user_id,
                                      username=member.username, reason=text)
    row.reason, row.rule_reasons, row.status = text, list(verdict.reasons), "pending"
    row.username, row.created_at = member.username, now
    row.decided_by, row.decided_by_username, row.decided_as, row.decision_reason, row.decided_at = None, "", [], "", None
    session.add(row)
    session.flush()
    log.record(session=session, created_at=now, type="exception.requested", actor=member, poll_id=poll.id,
               payload={"poll": poll.id, "exception": row.id, "username": member.username,
                        "forum_user_id": member.forum_user_id, "reason": text, "rule_reasons": list(verdict.reasons)})
    return row


def withdraw(*, session: Session, poll: Poll, member: Member, now: datetime) -> EligibilityException:
    """The member withdraws their pending request."""
    row = of_member(session, poll, member)
    if row is None or row.status != "pending":
        raise NotFound(N_("You have no pending request for an exception in this poll."))
    row.status = "withdrawn"
    session.add(row)
    log.record(session=session, created_at=now, type="exception.withdrawn", actor=member, poll_id=poll.id,
               payload={"poll": poll.id, "exception": row.id, "username": row.username,
                        "forum_user_id": row.forum_user_id})
    session.flush()
    return row


# === Deciding ===================================================================================


def decide(*, session: Session, poll: Poll, officer: Member, exception_id: int, accept: bool, reason: str,
           now: datetime) -> EligibilityException:
    """An election officer accepts or refuses a pending request, with a reason; the member is told."""
    from .service import _lock_poll

    groups = poll_rules.officer_groups(poll.rules or {}, officer.groups)
    if not groups:
        named = ", ".join(poll_rules.officers(poll.rules or {})) or "nobody"
        raise NotAllowed(Message("Only this poll's election officers (members of %(named)s) decide exceptions.", named=named))
    poll = _lock_poll(session, poll, exclusive=True)  # the opening takes the same lock
    row = get(session, poll, exception_id)
    if row.member_id == officer.id:
        raise NotAllowed(N_("You cannot decide your own request; another election officer must."))
    if poll.status not in OPEN_FOR_REQUESTS or poll.opens_at is None or now >= poll.opens_at:
        raise Conflict(N_("Exceptions are decided before voting opens; this poll's electorate is fixed."))
    if row.status != "pending":
        raise Conflict(Message('This request is %(status)s already.', status=row.status))
    text = _text(reason, "reason", "the reason for your decision")
    row.status = "accepted" if accept else "refused"
    row.decided_by, row.decided_by_username, row.decided_as = officer.id, officer.username, groups
    row.decision_reason, row.decided_at = text, now
    session.add(row)
    log.record(session=session, created_at=now, type=f"exception.{row.status}", actor=officer, poll_id=poll.id,
               payload={"poll": poll.id, "exception": row.id, "username": row.username,
                        "forum_user_id": row.forum_user_id, "reason": text, "officer_groups": groups})
    session.add(Outbox(kind=JOB_KIND, poll_id=poll.id, payload={"poll": poll.id, "exception": row.id}))
    session.flush()
    return row


def lapse_pending(session: Session, poll: Poll, now: datetime) -> int:
    """At the opening: requests nobody decided lapse (and their members are told); returns how many."""
    rows = [r for r in for_poll(session, poll) if r.status == "pending"]
    for row in rows:
        row.status, row.decided_at = "lapsed", now
        row.decision_reason = "no election officer decided before voting opened"
        session.add(row)
        log.record(session=session, created_at=now, type="exception.lapsed", actor=None, poll_id=poll.id,
                   payload={"poll": poll.id, "exception": row.id, "username": row.username,
                            "forum_user_id": row.forum_user_id})
        session.add(Outbox(kind=JOB_KIND, poll_id=poll.id, payload={"poll": poll.id, "exception": row.id}))
    session.flush()
    return len(rows)


def message(session: Session, job: Outbox, base_url: str) -> dict[str, Any]:
    """The forum message telling a member what became of their request (an outbox plan)."""
    poll = session.get(Poll, job.payload.get("poll"))
    row = session.get(EligibilityException, job.payload.get("exception"))
    if poll is None or row is None or row.status in ("pending", "withdrawn"):
        return {"call": None}
    url = f"{base_url.rstrip('/')}/polls/{poll.id}"
    if row.status == "accepted":
        head = (f"Your request to vote in **{poll.title}** was accepted by {row.decided_by_username}, an election "
                f"officer. You may vote when voting opens: {url}")
    elif row.status == "refused":
        head = f"Your request to vote in **{poll.title}** was refused by {row.decided_by_username}, an election officer."
    else:
        head = f"Your request to vote in **{poll.title}** lapsed: no election officer decided it before voting opened."
    raw = head + (f"\n\nTheir reason: {row.decision_reason}" if row.status in ("accepted", "refused") else "") + \
        f"\n\nThe request and the decision are in the poll's public audit log: {url}/exceptions"
    member = session.get(Member, row.member_id)
    return {"call": "private_message", "kwargs": {"usernames": [member.username if member else row.username],
                                                   "title": f"Your eligibility exception: {poll.title}"[:250],
                                                   "raw": raw}}
