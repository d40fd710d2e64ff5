"""Reminders: a forum message to each eligible member who has not voted, at the times the poll states.

Boundary rule: a service over sessions (``start_due`` and ``deliver`` run their own short
transactions, as the clock does; forum calls happen outside any transaction).

The rule (docs/secrecy.md, "Reminders"):

* A poll states its reminder days (``Poll.rules["reminders_days_before_close"]``, by default the
  charter's, e.g. 3 and 1 days before the close). A round starts when its time has come while the
  poll is open (``reminders.started`` is logged: the poll and the days, nothing about anyone). A
  round whose time passed before the poll opened is not sent; when the clock finds several
  rounds due at once, only the latest is sent (``reminders.skipped`` for the others), so nobody
  gets two reminders back to back.
* A round goes through the electorate in forum-id order: a group poll's frozen electorate, or
  for a community-wide poll every member the platform knows (accounts it has seen at a login or
  a sync). At each step it computes, then and there, the next member who may vote, has not voted
  and has not opted out, and sends them one private message. The list is never stored: the round
  keeps only the forum id it has reached (``ReminderRound.cursor``), so nobody gets a round's
  reminder twice, and a crash between the forum's answer and storing the cursor (the same window
  as every forum post, ``polls.outbox``) is the only way to get one twice.
* The rounds are deleted at the close, with the poll's other voter-linked state
  (``counting.forget_secrets``). Forum admins can read the messages: who was reminded when, that
  is, who had not voted by then (docs/secrecy.md).
* A member may opt out of every reminder (``ReminderOptOut``), on the reminders page.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..audit import log
from ..catalogue import texts
from ..errors import GovernanceError
from ..identity.eligibility import Evidence, check
from ..models import ElectorateEntry, Member, Participation, Poll, ReminderOptOut, ReminderRound
from . import rules as poll_rules

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)
#: Members looked at per query while searching for the next one to remind.
BATCH = 200


# === When ========================================================================================


def due_days(poll: Poll, now: datetime) -> list[int]:
    """The poll's reminder rounds whose time has come (latest last), for an open poll.

    >>> from datetime import UTC
    >>> p = Poll(status="open", opened_at=datetime(2026, 1, 1, tzinfo=UTC), closes_at=datetime(2026, 1, 8, tzinfo=UTC),
    ...          rules={"reminders_days_before_close": [3, 1, 10]})
    >>> due_days(p, datetime(2026, 1, 5, 1, tzinfo=UTC)), due_days(p, datetime(2026, 1, 7, 1, tzinfo=UTC))
    ([3], [3, 1])
    """
    if poll.status != "open" or poll.closes_at is None or poll.opened_at is None or now >= poll.closes_at:
        return []
    out = []
    for days in poll_rules.reminder_days(poll.rules or {}):
        at = poll.closes_at - timedelta(days=days)
        if days > 0 and poll.opened_at <= at <= now:
            out.append(days)
    return out


def closes_in(closes_at: datetime | None, now: datetime) -> str:
    """How long until the close, in words ("2 days 4 hours"; "" once closed).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> closes_in(t + timedelta(days=2, hours=4, minutes=5), t), closes_in(t + timedelta(minutes=90), t)
    ('2 days 4 hours', '1 hour 30 minutes')
    >>> closes_in(t + timedelta(seconds=30), t), closes_in(t, t)
    ('less than a minute', '')
    """
    if closes_at is None or closes_at <= now:
        return ""
    left = int((closes_at - now).total_seconds())
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
    return unit(minutes, "minute") if minutes else "less than a minute"


# === Starting rounds ==============================================================================


def start_due(*, engine: Engine, immediate: Engine, now: datetime) -> list[tuple[int, int]]:
    """Start every reminder round whose time has come; return (poll id, days) for each started."""
    with Session(engine) as reader:
        # A test poll sends no reminders: it posts nothing to the forum (docs/polls.md).
        polls = reader.exec(select(Poll).where(Poll.status == "open", Poll.is_test.is_(False))).all()
        wanted = [(p.id, due_days(p, now)) for p in polls]
        started = {(r.poll_id, r.days) for r in reader.exec(select(ReminderRound)).all()}
    out = []
    for poll_id, days in wanted:
        if not days or (poll_id, days[-1]) in started:
            continue
        with Session(immediate) as writer:
            try:
                out += _start(writer, poll_id, days, now)
                writer.commit()
            except IntegrityError:  # another host started it first
                writer.rollback()
    return out


def _start(session: Session, poll_id: int, days: list[int], now: datetime) -> list[tuple[int, int]]:
    from .service import _lock_poll

    poll = _lock_poll(session, session.get(Poll, poll_id), exclusive=True)
    if due_days(poll, now) != days:
        return []
    have = {r.days for r in session.exec(select(ReminderRound).where(ReminderRound.poll_id == poll_id)).all()}
    latest = days[-1]
    if latest in have:
        return []
    for skipped in days[:-1]:
        if skipped not in have:
            session.add(ReminderRound(poll_id=poll_id, days=skipped, done_at=now, last_error="skipped"))
            log.record(session=session, created_at=now, type="reminders.skipped", actor=None, poll_id=poll_id,
                       payload={"poll": poll_id, "days_before_close": skipped,
                                "why": "a later reminder was due at the same time"})
    session.add(ReminderRound(poll_id=poll_id, days=latest, next_attempt_at=now))
    session.flush()
    log.record(session=session, created_at=now, type="reminders.started", actor=None, poll_id=poll_id,
               payload={"poll": poll_id, "days_before_close": latest})
    return [(poll_id, latest)]


# === Who is next =================================================================================


def opted_out(session: Session, member: Member) -> bool:
    """Whether the member asked for no reminders."""
    return session.get(ReminderOptOut, member.id) is not None


def set_reminders(*, session: Session, member: Member, wanted: bool) -> None:
    """Turn the member's reminders on or off (for every poll)."""
    row = session.get(ReminderOptOut, member.id)
    if wanted and row is not None:
        session.delete(row)
    elif not wanted and row is None:
        session.add(ReminderOptOut(member_id=member.id))
    session.flush()


def _wants_reminder(session: Session, poll: Poll, member: Member | None, evidence: dict | None) -> bool:
    """Whether this member (or a frozen electorate entry without a member row) is to be reminded."""
    from .service import eligibility, rule_of

    if member is None:  # never logged in here: cannot have voted, opted out or been excepted
        return evidence is not None and check(rule_of(poll), Evidence.from_dict(evidence),
                                              opens_at=poll.opens_at or poll.opened_at).ok
    if session.get(ReminderOptOut, member.id) is not None:
        return False
    voted = session.exec(select(Participation.id).where(Participation.poll_id == poll.id,
                                                        Participation.member_id == member.id)).first()
    return voted is None and eligibility(session, poll, member).ok


def next_recipient(session: Session, poll: Poll, cursor: int) -> tuple[tuple[int, str] | None, int, bool]:
    """The next member after forum id ``cursor`` to remind: ``(forum id, username)`` or None, the
    forum id looked at last, and whether the electorate is exhausted. Looks at most ``BATCH``."""
    from .service import rule_of

    if rule_of(poll).groups:
        entries = session.exec(select(ElectorateEntry).where(ElectorateEntry.poll_id == poll.id,
                                                             ElectorateEntry.forum_user_id > cursor)
                               .order_by(ElectorateEntry.forum_user_id).limit(BATCH)).all()
        members = {m.forum_user_id: m for m in session.exec(select(Member).where(
            Member.forum_user_id.in_([e.forum_user_id for e in entries] or [0]))).all()}
        rows = [(e.forum_user_id, members.get(e.forum_user_id), e.evidence, e.username) for e in entries]
    else:
        found = session.exec(select(Member).where(Member.forum_user_id > cursor)
                             .order_by(Member.forum_user_id).limit(BATCH)).all()
        rows = [(m.forum_user_id, m, None, m.username) for m in found]
    for forum_user_id, member, evidence, username in rows:
        if _wants_reminder(session, poll, member, evidence):
            return (forum_user_id, member.username if member else username), forum_user_id, False
    last = rows[-1][0] if rows else cursor
    return None, last, len(rows) < BATCH


# === Sending ======================================================================================


def message(poll: Poll, days: int, base_url: str, now: datetime, language: str | None = None) -> tuple[str, str]:
    """Title and Markdown of a reminder (in English unless ``language`` names a shipped one: the
    clock sends reminders to members whose language it does not know)."""
    t = texts(language)
    url = f"{base_url.rstrip('/')}/polls/{poll.id}"
    left = closes_in(poll.closes_at, now) or f"{days} day{'s' if days != 1 else ''}"
    closes = poll.closes_at.strftime("%d %B %Y %H:%M UTC") if poll.closes_at else ""
    settings = base_url.rstrip("/") + "/polls/reminders"
    raw = t.gettext("Voting in **%(title)s** closes in %(left)s (%(closes)s), and you have not voted yet.\n\n"
                    "Vote here: %(url)s\n\n"
                    "You get this message because you may vote in this poll and had not voted when it was sent. "
                    "The platform keeps no list of whom it reminded.\n\n"
                    "To stop these reminders (for every poll): %(settings)s",
                    title=poll.title, left=left, closes=closes, url=url,
                    settings=settings)
    return t.gettext("Reminder: %(title)s closes in %(left)s", title=poll.title, left=left)[:250], raw


def deliver(*, engine: Engine, immediate: Engine, forum: Any, now: datetime, base_url: str,
            max_messages: int = 50) -> tuple[int, int]:
    """Send reminders of the rounds under way, at most ``max_messages`` in all; return (sent, failed)."""
    with Session(immediate) as writer:
        query = select(ReminderRound).where(ReminderRound.done_at.is_(None), ReminderRound.next_attempt_at <= now)
        if writer.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rounds = [r for r in writer.exec(query.order_by(ReminderRound.id)).all()
                  if r.lease_until is None or r.lease_until <= now]
        for row in rounds:  # leased to this worker: another host does not take the same round
            row.lease_until = now + LEASE
            writer.add(row)
        writer.commit()
        ids = [r.id for r in rounds]
    sent = failed = 0
    for round_id in ids:
        budget = max_messages - sent
        done, failure = _deliver_round(engine, immediate, forum, round_id, now, base_url, budget) if budget > 0 \
            else (0, False)
        sent += done
        failed += int(failure)
        with Session(immediate) as writer:  # give the lease back (a finished round is marked done already)
            row = writer.get(ReminderRound, round_id)
            if row is not None:
                row.lease_until = None
                writer.add(row)
                writer.commit()
    return sent, failed


def _deliver_round(engine: Engine, immediate: Engine, forum: Any, round_id: int, now: datetime, base_url: str,
                   budget: int) -> tuple[int, bool]:
    sent = 0
    while sent < budget:
        with Session(engine) as reader:
            row = reader.get(ReminderRound, round_id)
            poll = reader.get(Poll, row.poll_id) if row is not None else None
            if row is None or poll is None or poll.status != "open" or now >= (poll.closes_at or now):
                return sent, False  # closed meanwhile: the close deletes the round
            recipient, reached, finished = next_recipient(reader, poll, row.cursor)
            cursor, days = row.cursor, row.days
            if recipient is not None:
                title, raw = message(poll, days, base_url, now)
        if recipient is None:
            with Session(immediate) as writer:
                if _advance(writer, round_id, cursor, reached, now, finished=finished):
                    writer.commit()
            if finished:
                return sent, False
            continue
        try:
            forum.private_message(usernames=[recipient[1]], title=title, raw=raw)
        except GovernanceError as exc:
            with Session(immediate) as writer:
                row = writer.get(ReminderRound, round_id)
                if row is not None:
                    row.attempts += 1
                    row.last_error = exc.message[:500]
                    row.next_attempt_at = now + min(MAX_BACKOFF, timedelta(seconds=30 * 2 ** min(row.attempts, 10)))
                    writer.add(row)
                    writer.commit()
            logger.warning("reminder of poll %s not sent: %s", poll.id, exc.message)
            return sent, True
        with Session(immediate) as writer:
            if not _advance(writer, round_id, cursor, recipient[0], now, finished=False, sent=True):
                return sent + 1, False  # someone else moved the round on (its lease had run out)
            writer.commit()
        sent += 1
    return sent, False


def _advance(session: Session, round_id: int, expected: int, cursor: int, now: datetime, *, finished: bool,
             sent: bool = False) -> bool:
    """Move a round's cursor from ``expected`` to ``cursor`` (compare and set); False if it moved meanwhile."""
    query = select(ReminderRound).where(ReminderRound.id == round_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None or row.cursor != expected or row.done_at is not None:
        return False
    row.cursor = cursor
    row.sent += int(sent)
    row.lease_until = now + LEASE
    row.attempts, row.last_error = 0, ""
    if finished:
        row.done_at = now
    session.add(row)
    session.flush()
    return True


def forget(session: Session, poll: Poll) -> None:
    """At the close (or cancellation): delete the poll's reminder rounds."""
    from sqlalchemy import delete

    session.execute(delete(ReminderRound).where(ReminderRound.poll_id == poll.id))
