"""The chair's controls on a poll's times: open now, close early, extend.

Boundary rule: services take a session and ``now``, flush and never commit; they raise domain
errors. Every request, decision and change is an audit event in the same transaction.

The two-person rule, as for scheduling (``polls.approvals``): one manager of the poll's body
*requests* (checked as if it took effect now; nothing changes yet), a second, different manager
*approves* (it takes effect at once) or *refuses* with a reason; the requester may *withdraw*.

The charter's rules:

* **Open now**: a scheduled poll (nominations over, not open yet) opens at once: its opening time
  becomes now and the clock's normal opening path does the rest (electorate frozen, keys, the
  forum announcement); a trustee poll still waits for its key ceremony.
* **Close early**: only with a reason, and never before the poll has been open for the charter's
  minimum voting period (``minimum_period``): the one hour every poll stays open, or a referendum
  on a document amendment's full voting days. Its closing time becomes now; the clock closes it.
* **Extend**: only while open, with a reason, to a later closing time (never earlier) at most
  doubling the voting period as scheduled (``latest_close``).

The change itself is one ``poll.times_changed`` event naming the field, its old and new time and
the request; ``governance-audit verify`` replays these against the times ``election.json`` states.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message, capital, moment, plural
from ..errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..models import Member, Poll, TimingChange
from ..models.base import MAX_ID
from . import charter as charters
from .service import _lock_poll

KINDS = {"open_now": N_("open voting now"), "close_early": N_("close voting early"), "extend": N_("extend voting")}
#: Every poll stays open at least this long (the one-hour minimum the poll form states).
MIN_OPEN = timedelta(hours=1)
#: An extension may at most double the voting period as scheduled.
MAX_FACTOR = 2
MAX_REASON = 1000
CHANGED = "poll.times_changed"


# === Reading ====================================================================================


def get(session: Session, change_id: int) -> TimingChange:
    """A timing request, or NotFound."""
    change = session.get(TimingChange, change_id) if 1 <= change_id <= MAX_ID else None
    if change is None:
        raise NotFound(Message("There is no request %(change_id)s to change a poll's times.", change_id=change_id))
    return change


def for_poll(session: Session, poll: Poll) -> list[TimingChange]:
    """The poll's timing requests, oldest first."""
    return list(session.exec(select(TimingChange).where(TimingChange.poll_id == poll.id)
                             .order_by(TimingChange.id)).all())


def applied(session: Session, poll: Poll) -> list[TimingChange]:
    """The changes that took effect, oldest first (the poll page tells voters of each)."""
    return [c for c in for_poll(session, poll) if c.status == "applied"]


def waiting(session: Session, poll: Poll, now: datetime) -> TimingChange | None:
    """The request waiting for a second manager, if it can still take effect."""
    for change in for_poll(session, poll):
        if change.status == "pending" and not _problem(poll, change.kind, change.closes_at, now):
            return change
    return None


def scheduled_close(session: Session, poll: Poll) -> datetime | None:
    """The closing time as scheduled, before any change."""
    done = applied(session, poll)
    for change in done:
        if change.applied.get("field") == "closes_at":
            return _parse(change.applied["from"])
    return poll.closes_at


def opening(poll: Poll) -> datetime | None:
    """When voting actually opened (the later of the opening time and the clock's opening)."""
    times = [t for t in (poll.opens_at, poll.opened_at) if t is not None]
    return max(times) if times else None


def minimum_period(session: Session, poll: Poll) -> tuple[timedelta, str]:
    """The charter's minimum voting period for this poll, and the rule in words."""
    if poll.amendment_id is not None and poll.opens_at is not None:
        scheduled = scheduled_close(session, poll)
        period = max(MIN_OPEN, scheduled - poll.opens_at) if scheduled else MIN_OPEN
        days = round(period / timedelta(days=1))
        return period, Message("a referendum on a document amendment stays open for the charter's full voting "
                               "period (%(days)s); it cannot close early", days=plural(days, "day"))
    return MIN_OPEN, N_("every poll stays open for at least an hour")


def earliest_close(session: Session, poll: Poll) -> datetime | None:
    """The earliest time an early close may take effect (None before the opening)."""
    start = opening(poll)
    return None if start is None else start + minimum_period(session, poll)[0]


def latest_close(session: Session, poll: Poll) -> datetime | None:
    """The latest closing time an extension may set: the voting period as scheduled, doubled."""
    scheduled = scheduled_close(session, poll)
    if poll.opens_at is None or scheduled is None:
        return None
    return poll.opens_at + MAX_FACTOR * (scheduled - poll.opens_at)


def rules_text(session: Session, poll: Poll) -> dict[str, str]:
    """The rules in words, for the page beside each control."""
    latest = latest_close(session, poll)
    return {
        "open_now": N_("A scheduled poll opens at once once a second manager approves; the clock then freezes the "
                       "electorate and announces the poll as at any opening."),
        "close_early": Message("Only with a reason, approved by a second manager, and not before %(minimum)s.",
                               minimum=minimum_period(session, poll)[1]),
        "extend": (Message("Only while voting is open, with a reason, approved by a second manager: to a later "
                           "closing time, at most doubling the voting period as scheduled (no later than "
                           "%(latest)s).", latest=moment(latest)) if latest else
                   N_("Only while voting is open, with a reason, approved by a second manager: to a later closing "
                      "time, at most doubling the voting period as scheduled.")),
    }


# === Requesting =================================================================================


def request(*, session: Session, actor: Member, charter, poll: Poll, kind: str, reason: str, now: datetime,
            closes_at: datetime | None = None) -> TimingChange:
    """A manager asks to open the poll now, close it early or extend it; a second manager decides."""
    if kind not in KINDS:
        raise InvalidInput([("kind", N_("choose to open voting now, close it early or extend it"))])
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed(Message("Only the managers of this poll's body may %(action)s.", action=KINDS[kind]))
    reason = (reason or "").strip()
    if kind != "open_now" and not reason:
        raise InvalidInput([("reason", N_("say why; voters are told the reason"))])
    if len(reason) > MAX_REASON:
        raise InvalidInput([("reason", Message("the reason is longer than %(MAX_REASON)s characters",
                                               MAX_REASON=MAX_REASON))])
    if kind == "extend" and closes_at is None:
        raise InvalidInput([("closes_at", N_("give the new closing time"))])
    poll = _lock_poll(session, poll, exclusive=True)
    problem = _problem(poll, kind, closes_at, now, session=session)
    if problem:
        raise (InvalidInput([problem]) if problem[0] == "closes_at" else Conflict(problem[1]))
    if waiting(session, poll, now) is not None:
        raise Conflict(N_("A request to change this poll's times is already waiting for a second manager: "
                          "approve, refuse or withdraw it first."))
    change = TimingChange(poll_id=poll.id, kind=kind, reason=reason, requested_by=actor.id, created_at=now,
                          closes_at=closes_at if kind == "extend" else None)
    session.add(change)
    session.flush()
    log.record(session=session, created_at=now, type="timing.requested", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "request": change.id, "kind": kind, "reason": reason,
                        "closes_at": _t(change.closes_at)})
    return change


def _problem(poll: Poll, kind: str, closes_at: datetime | None, now: datetime, *,
             session: Session | None = None) -> tuple[str, str] | None:
    """Why ``kind`` cannot take effect now, as (field, message); None when it can."""
    if kind == "open_now":
        if poll.status != "scheduled":
            return "", {"draft": N_("The poll is a draft: schedule it first."),
                        "nominations": N_("Nominations are still open: voting can open only after they close."),
                        }.get(poll.status, Message("Only a scheduled poll can open early; this poll is %(status)s.",
                                                   status=poll.status))
        if poll.opens_at is not None and poll.opens_at <= now:
            return "", N_("Voting is due to open already; the clock opens it.")
        return None
    if poll.status != "open" or (poll.closes_at is not None and poll.closes_at <= now):
        return "", N_("Voting is not open: only an open poll's closing time can change.")
    if session is None:
        return None
    if kind == "close_early":
        earliest = earliest_close(session, poll)
        if earliest is not None and now < earliest:
            return "", Message("Voting cannot close before %(earliest)s: %(rule)s.", earliest=moment(earliest),
                               rule=minimum_period(session, poll)[1])
        return None
    latest = latest_close(session, poll)
    if closes_at is None or poll.closes_at is None:
        return "closes_at", N_("give the new closing time")
    if closes_at <= poll.closes_at:
        return "closes_at", Message("an extension must close later than now scheduled (%(closes)s); to close "
                                    "earlier, close early", closes=moment(poll.closes_at))
    if latest is not None and closes_at > latest:
        return "closes_at", Message("an extension may at most double the voting period as scheduled: close no "
                                    "later than %(latest)s", latest=moment(latest))
    return None


# === Deciding ===================================================================================


def approve(*, session: Session, actor: Member, charter, change: TimingChange, now: datetime) -> TimingChange:
    """A second manager approves: the change takes effect at once (or nothing changes, with the reason)."""
    change = _locked(session, change)
    poll = _lock_poll(session, session.get(Poll, change.poll_id), exclusive=True)
    _decidable(change, actor, charter, poll)
    if actor.id == change.requested_by:
        raise NotAllowed(N_("The two-person rule: a second manager must approve, not the one who asked."))
    problem = _problem(poll, change.kind, change.closes_at, now, session=session)
    if problem:
        raise Conflict(Message("This request can no longer take effect. %(problem)s", problem=capital(problem[1])))
    requester = session.get(Member, change.requested_by)
    field = "opens_at" if change.kind == "open_now" else "closes_at"
    before = getattr(poll, field)
    after = change.closes_at if change.kind == "extend" else now
    change.status, change.decided_by, change.decided_at = "applied", actor.id, now
    change.applied = {"field": field, "from": _t(before), "to": _t(after)}
    setattr(poll, field, after)
    session.add_all([change, poll])
    log.record(session=session, created_at=now, type="timing.approved", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "request": change.id})
    log.record(session=session, created_at=now, type=CHANGED, actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "request": change.id, "kind": change.kind, "field": field,
                        "from": _t(before), "to": _t(after), "reason": change.reason,
                        "requested_by": getattr(requester, "username", None), "approved_by": actor.username})
    if change.kind != "open_now" and poll.forum_topic_id is not None and not poll.is_test:
        from ..models import Outbox

        session.add(Outbox(kind="timing", poll_id=poll.id, payload={"poll": poll.id, "change": change.id},
                           next_attempt_at=now))
    session.flush()
    return change


def refuse(*, session: Session, actor: Member, charter, change: TimingChange, reason: str,
           now: datetime) -> TimingChange:
    """A second manager refuses (the requester withdraws): nothing changes; the reason is recorded."""
    change = _locked(session, change)
    poll = session.get(Poll, change.poll_id)
    _decidable(change, actor, charter, poll)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput([("decision_reason", N_("say why; the reason is recorded in the event log"))])
    if len(reason) > MAX_REASON:
        raise InvalidInput([("decision_reason", Message("the reason is longer than %(MAX_REASON)s characters",
                                                        MAX_REASON=MAX_REASON))])
    change.status = "withdrawn" if actor.id == change.requested_by else "refused"
    change.decided_by, change.decided_at, change.decision_reason = actor.id, now, reason
    session.add(change)
    log.record(session=session, created_at=now, type=f"timing.{change.status}", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "request": change.id, "reason": reason})
    session.flush()
    return change


def _decidable(change: TimingChange, actor: Member, charter, poll: Poll) -> None:
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed(N_("Only the managers of this poll's body may decide on its times."))
    if change.status != "pending":
        raise Conflict(Message("This request is %(status)s already; nothing more can be decided on it.",
                               status=change.status))


def _locked(session: Session, change: TimingChange) -> TimingChange:
    query = select(TimingChange).where(TimingChange.id == change.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).one()


# === The forum ==================================================================================


def forum_reply(session: Session, change_id: int, base_url: str) -> dict[str, Any] | None:
    """The reply to the poll's forum topic telling voters of a changed closing time (None: nothing owed)."""
    change = session.get(TimingChange, change_id)
    poll = session.get(Poll, change.poll_id) if change is not None else None
    if change is None or poll is None or change.status != "applied" or poll.is_test:
        return {"call": None}
    if poll.forum_topic_id is None:
        return None
    when = _parse(change.applied["to"])
    was = _parse(change.applied["from"])
    # A public post, marked for translation like the platform's other forum posts; it goes out in English.
    if change.kind == "extend":
        head = Message("Voting in **%(title)s** is extended: it now closes on %(when)s (it was to close on %(was)s).",
                       title=poll.title, when=moment(when), was=moment(was))
    else:
        head = Message("Voting in **%(title)s** closed early, on %(when)s (it was to close on %(was)s).",
                       title=poll.title, when=moment(when), was=moment(was))
    page = f"{base_url.rstrip('/')}/polls/{poll.id}"
    raw = "\n".join([head, "", Message("Reason: %(reason)s", reason=change.reason), "",
                     Message("Approved by two managers; the change is in the audit log: %(url)s", url=page)])
    return {"call": "reply", "kwargs": {"topic_id": poll.forum_topic_id, "raw": raw}}


def _t(value: datetime | None) -> str | None:
    return None if value is None else log.format_time(value)


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))
