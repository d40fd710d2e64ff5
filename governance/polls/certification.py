"""Certification before publication: the election officers certify a count, or void it with a reason.

Boundary rule: a service (takes a session, flushes, never commits; raises domain errors).

Where the poll's rules require it (the charter's ``certification {required, days}`` for the
body, frozen on the poll), the clock's count step (``counting.publish``) decodes and counts the
ballots as always, but ``hold`` stores the decoded ballots and the result for the officers only:
the poll is ``certifying``, nothing about the result is logged, no ballot or result page,
download or bundle exists, and the forum is told only that the count awaits certification.
One of the poll's election officers (never a candidate of the election) then, within the
period:

* **certifies**: the result is published as any other (``counting.release``: the
  ``poll.decrypted`` and ``poll.tallied`` entries, then ``poll.certified`` naming the officer and
  the groups that made them one, then ``results.published``, the signed head, the forum's
  results post); or
* **voids** it with a stated reason: the poll is cancelled, the decoded ballots and the result
  are deleted unpublished, ``poll.voided`` is logged and the forum told.

A period that ends without either voids the count in the same way (``poll.certification_lapsed``,
by the clock). ``governance-audit verify`` checks that a required certification came after the
count and before the publication, by an officer, within the period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message, plural
from ..errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..models import Certification, DecodedBallot, Member, Outbox, Poll, PollOption
from . import rules as poll_rules

#: The outbox job of the forum notices (``payload = {"poll", "stage": counted|voided|lapsed}``).
JOB_KIND = "certification"
MAX_REASON = 1000


def _t(value: datetime | None) -> str | None:
    return None if value is None else log.format_time(value)


def pending(session: Session, poll: Poll) -> Certification | None:
    """The poll's certification record (waiting or decided), if its count was held for one."""
    return session.get(Certification, poll.id)


def officer_groups(poll: Poll, member: Any) -> list[str]:
    """The groups that make ``member`` an election officer of the poll (empty: not one)."""
    if member is None or not getattr(member, "is_authenticated", False):
        return []
    return poll_rules.officer_groups(poll.rules or {}, member.groups)


def _candidate(session: Session, poll: Poll, member: Member) -> bool:
    return session.exec(select(PollOption.id).where(PollOption.poll_id == poll.id,
                                                    PollOption.member_id == member.id)).first() is not None


def may_see(session: Session, poll: Poll, member: Any) -> bool:
    """Whether ``member`` may see a count waiting for certification: an officer who is no candidate."""
    return bool(officer_groups(poll, member)) and not _candidate(session, poll, member)


def hold(*, session: Session, poll: Poll, result: dict[str, Any], now: datetime) -> Poll:
    """Keep a count for the officers (the decoded ballots are stored already); the poll waits."""
    days = poll_rules.certification_days(poll.rules or {})
    due = now + timedelta(days=days) if days else None
    session.add(Certification(poll_id=poll.id, result=result, counted_at=now, due_at=due))
    poll.status = "certifying"
    session.add(poll)
    # Nothing here may tell the result (no hash either: a small poll's result could be guessed from it).
    log.record(session=session, created_at=now, type="poll.counted", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "certify_by": _t(due), "officers": poll_rules.officers(poll.rules)})
    session.add(Outbox(kind=JOB_KIND, poll_id=poll.id, payload={"poll": poll.id, "stage": "counted"}))
    session.flush()
    return poll


def _decide(session: Session, poll: Poll, officer: Member, now: datetime) -> tuple[Poll, Certification, list[str]]:
    """Check that ``officer`` may decide now; return the poll (locked), its record and the officer's groups."""
    from .service import _lock_poll

    groups = officer_groups(poll, officer)
    if not groups:
        named = ", ".join(poll_rules.officers(poll.rules or {})) or "nobody"
        raise NotAllowed(Message("Only this poll's election officers (members of %(named)s) certify its count.", named=named))
    if _candidate(session, poll, officer):
        raise NotAllowed(N_("You stood in this election: another election officer must certify its count."))
    poll = _lock_poll(session, poll, exclusive=True)
    row = pending(session, poll)
    if poll.status != "certifying" or row is None or row.decision:
        raise Conflict(N_("This poll has no count waiting for certification."))
    if row.due_at is not None and now >= row.due_at:
        raise Conflict(N_("The period for certifying this count is over; the count lapses."))
    return poll, row, groups


def certify(*, session: Session, poll: Poll, officer: Member, now: datetime) -> Poll:
    """An election officer certifies the count: it is published with the certification."""
    from . import counting

    poll, row, groups = _decide(session, poll, officer, now)
    result = dict(row.result or {})
    row.decision, row.decided_at, row.officer_id, row.officer, row.officer_groups = (
        "certified", now, officer.id, officer.username, groups)
    row.result = None  # it becomes the poll's result
    session.add(row)
    decoded = counting.decoded_ballots(session, poll)
    return counting.release(session=session, poll=poll, decoded=decoded, result=result, now=now, officer=officer,
                            certified={"officer_groups": groups, "counted_at": _t(row.counted_at),
                                       "certify_by": _t(row.due_at)})


def _cancel(session: Session, poll: Poll, row: Certification, *, decision: str, reason: str, now: datetime,
            officer: Member | None, groups: list[str]) -> Poll:
    row.decision, row.decided_at, row.reason = decision, now, reason
    row.officer_id, row.officer, row.officer_groups = (getattr(officer, "id", None), getattr(officer, "username", ""),
                                                       groups)
    row.result = None
    session.add(row)
    session.execute(delete(DecodedBallot).where(DecodedBallot.poll_id == poll.id))
    poll.status = "cancelled"
    poll.cancel_reason = (f"The election officers voided the count: {reason}" if decision == "voided" else reason)[:1000]
    session.add(poll)
    payload = {"poll": poll.id, "reason": reason, "counted_at": _t(row.counted_at), "certify_by": _t(row.due_at)}
    if groups:
        payload["officer_groups"] = groups
    log.record(session=session, created_at=now, type="poll.voided" if decision == "voided" else
               "poll.certification_lapsed", actor=officer, poll_id=poll.id, payload=payload)
    log.make_head(session=session, reason=f"poll {poll.id} {decision}", now=now)
    session.add(Outbox(kind=JOB_KIND, poll_id=poll.id, payload={"poll": poll.id, "stage": decision}))
    session.flush()
    return poll


def void(*, session: Session, poll: Poll, officer: Member, reason: str, now: datetime) -> Poll:
    """An election officer voids the count with a stated reason: the poll is cancelled, nothing published."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput([("reason", N_("say why the count is voided; the reason is published"))])
    if len(text) > MAX_REASON:
        raise InvalidInput([("reason", Message('the reason is longer than %(MAX_REASON)s characters', MAX_REASON=MAX_REASON))])
    poll, row, groups = _decide(session, poll, officer, now)
    return _cancel(session, poll, row, decision="voided", reason=text, now=now, officer=officer, groups=groups)


def lapse_if_due(*, session: Session, poll: Poll, now: datetime) -> str | None:
    """The clock: a count nobody certified within the period is voided; returns the step's name."""
    from .service import _lock_poll

    poll = _lock_poll(session, poll, exclusive=True)
    row = pending(session, poll)
    if poll.status != "certifying" or row is None or row.decision or row.due_at is None or now < row.due_at:
        return None
    days = poll_rules.certification_days(poll.rules or {})
    _cancel(session, poll, row, decision="lapsed", now=now, officer=None, groups=[],
            reason=f"No election officer certified the count within {plural(days, 'day')}; it lapsed unpublished.")
    return "certification-lapsed"


def is_due(session: Session, poll: Poll, now: datetime) -> bool:
    """Whether a certifying poll's period is over (the clock then lapses it)."""
    row = pending(session, poll)
    return bool(poll.status == "certifying" and row is not None and not row.decision and row.due_at is not None
                and now >= row.due_at)


def held_result(session: Session, poll: Poll, member: Any) -> dict[str, Any]:
    """The count waiting for certification, for an officer who may see it; NotAllowed otherwise."""
    if not may_see(session, poll, member):
        raise NotAllowed(N_("Until it is certified, the count is shown only to the poll's election officers "
                         "(who are not candidates)."))
    row = pending(session, poll)
    if poll.status != "certifying" or row is None or row.result is None:
        raise NotFound(N_("This poll has no count waiting for certification."))
    return row.result


def notice(session: Session, job: Outbox, base_url: str) -> dict[str, Any] | None:
    """The reply in the poll's forum topic that a count awaits certification, or was voided."""
    poll = session.get(Poll, job.payload.get("poll"))
    row = session.get(Certification, job.payload.get("poll"))
    if poll is None or row is None:
        return {"call": None}
    if poll.forum_topic_id is None:
        return None  # the announcement has not gone out yet
    url = f"{base_url.rstrip('/')}/polls/{poll.id}"
    stage = job.payload.get("stage")
    officers = ", ".join(poll_rules.officers(poll.rules or {}))
    if stage == "counted":
        by = f" by {row.due_at.strftime('%d %B %Y %H:%M UTC')}" if row.due_at else ""
        raw = (f"The ballots of **{poll.title}** are counted. The charter requires the election officers "
               f"({officers}) to certify the count before it is published{by}; until then the result is not "
               f"public. {url}")
    elif stage == "voided":
        raw = (f"The count of **{poll.title}** was voided by {row.officer}, an election officer, and will not be "
               f"published. Their reason: {row.reason}\n\n{url}")
    else:
        raw = f"The count of **{poll.title}** lapsed unpublished: {row.reason}\n\n{url}"
    return {"call": "reply", "kwargs": {"topic_id": poll.forum_topic_id, "raw": raw}}
