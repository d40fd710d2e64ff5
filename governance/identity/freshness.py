"""The eligibility evidence a ballot is judged on: as of the poll's opening, and fresh now.

Boundary rule: a service over a session and a ``Forum`` adapter; it flushes and never commits.

The rule (docs/identity.md, "Eligibility at vote time"):

* A member is judged twice: on the facts as of the poll's opening (the newest observation at
  or before it, ``evidence_at``) and on the facts now. Nothing gained after the opening counts
  (a trust level raised, a group joined); anything lost does (suspended, silenced, deactivated,
  deleted, demoted, removed from a group). The account's creation time never changes.
* "Now" means a record read from the forum's API at most ``max_age`` ago (15 minutes by
  default) and not marked stale since by a webhook. An older or stale record is re-read, one
  API call within the request's deadline (the web adapter waits at most ~3 s), before the
  ballot is accepted.
* If the forum cannot answer in time (slow, down, rate limiting, or the platform's share of
  its API limit used up), no ballot is accepted: ``ForumUnavailable`` (503, with a plain
  reason), and nothing is written. Re-trying a minute later normally succeeds, since the
  background sync keeps most records fresh and so most ballots need no call at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from ..copy import N_, Message
from ..errors import ForumUnavailable, NotEligible, NotFound
from ..models import ForumObservation, Member
from . import sessions
from .eligibility import Evidence
from .forum import Forum
from .service import member_evidence, upsert_member

#: A forum record older than this is re-read before a ballot is accepted.
FRESHNESS = timedelta(minutes=15)


def needs_refresh(member: Member, *, now: datetime, max_age: timedelta = FRESHNESS) -> bool:
    """Whether the member's record must be re-read from the forum before it decides a ballot."""
    return (member.refreshed_at is None or member.stale_since is not None or member.forum_created_at is None
            or now - member.refreshed_at > max_age)


def evidence_at(session: Session, forum_user_id: int, at: datetime) -> Evidence | None:
    """The facts the platform held about an account at ``at`` (None if it knew nothing then)."""
    row = session.exec(select(ForumObservation).where(ForumObservation.forum_user_id == forum_user_id,
                                                      ForumObservation.observed_at <= at)
                       .order_by(ForumObservation.observed_at.desc(), ForumObservation.id.desc())).first()
    return Evidence.from_dict(row.evidence) if row is not None else None


def combine(at_opening: Evidence | None, now: Evidence) -> Evidence:
    """What counts: the lesser trust level and the common groups of the two; today's standing.

    >>> from datetime import UTC
    >>> t = datetime(2020, 1, 1, tzinfo=UTC)
    >>> then = Evidence(5, "kim", t, trust_level=1, groups=frozenset({"a", "b"}))
    >>> later = Evidence(5, "kim", t, trust_level=3, groups=frozenset({"a", "c"}), silenced=True)
    >>> e = combine(then, later); (e.trust_level, sorted(e.groups), e.silenced)
    (1, ['a'], True)
    """
    if at_opening is None:
        return now
    return Evidence(
        forum_user_id=now.forum_user_id,
        username=now.username,
        created_at=now.created_at or at_opening.created_at,
        trust_level=min(at_opening.trust_level, now.trust_level),
        groups=at_opening.groups & now.groups,
        suspended=now.suspended or at_opening.suspended,
        silenced=now.silenced or at_opening.silenced,
        staged=now.staged or at_opening.staged,
        active=now.active and at_opening.active,
    )


def fetch_if_stale(member: Member, *, forum: Forum, now: datetime, max_age: timedelta = FRESHNESS):
    """Read the member's forum record if ours is too old or stale: ``(evidence, raw)``, or None when
    ours is fresh. Touches no database, so it can run before a write transaction opens.

    Raises ForumUnavailable when the forum cannot answer in time (no ballot may be accepted), and
    NotFound when the forum no longer has the account (``apply`` records that).
    """
    if not needs_refresh(member, now=now, max_age=max_age):
        return None
    try:
        return forum.evidence(member.forum_user_id)
    except NotFound:
        raise
    except ForumUnavailable as exc:
        age = "never read" if member.refreshed_at is None else (
            f"{int((now - member.refreshed_at).total_seconds() // 60)} minutes old")
        raise ForumUnavailable(
            Message('Your ballot was not recorded: the forum could not confirm in time that your account is in good standing (our record of it is %(age)s; a ballot needs one under %(value)s minutes). Please try again in a minute. (%(message)s)', age=age, value=int(max_age.total_seconds() // 60), message=exc.message)) from None


def apply(session: Session, member: Member, fetched, *, now: datetime, opened_at: datetime | None = None) -> Evidence:
    """Store what ``fetch_if_stale`` read (flushed into ``session``) and return the evidence to judge on.

    ``fetched`` None means the record was fresh. With ``opened_at`` the result combines the facts as
    of the opening with today's (``combine``).
    """
    if fetched is not None:
        evidence, raw = fetched
        member = upsert_member(session=session, evidence=evidence, raw=raw, source="vote", now=now)
    current = member_evidence(member)
    if opened_at is None:
        return current
    return combine(evidence_at(session, member.forum_user_id, opened_at), current)


def account_gone(session: Session, member: Member, *, now: datetime) -> NotEligible:
    """Record that the forum no longer has the account (its sessions end); the error to raise."""
    member.active = False
    member.refreshed_at, member.stale_since = now, None
    session.add(member)
    sessions.revoke_all(session=session, member=member)
    session.flush()
    return NotEligible(N_("Your forum account no longer exists."),
                       ["your forum account was deleted or can no longer be found"])


def fresh_evidence(session: Session, member: Member, *, forum: Forum, now: datetime,
                   max_age: timedelta = FRESHNESS, opened_at: datetime | None = None) -> Evidence:
    """The evidence to judge ``member``'s ballot on, re-reading the forum first if need be.

    ``fetch_if_stale`` then ``apply`` in one call. A voting request calls the two apart: the forum
    read before its write transaction begins (no write lock waits on the forum), the storing in it.

    Raises ForumUnavailable when the record is too old and the forum cannot answer in time (no
    ballot may be accepted), NotEligible when the forum no longer has the account.
    """
    try:
        fetched = fetch_if_stale(member, forum=forum, now=now, max_age=max_age)
    except NotFound:
        raise account_gone(session, member, now=now) from None
    return apply(session, member, fetched, now=now, opened_at=opened_at)


def electorate_at(session: Session, at: datetime) -> list[Evidence]:
    """Every account's facts as the platform held them at ``at`` (a community poll's opening),
    ordered by forum id: the electorate evidence for the audit bundle.

    It is complete at the opening when a sync pass finished before it (every listed account
    observed at least once); each account's facts are then as of its newest observation, at
    most one pass (plus the cron interval) older than the opening, or newer through a webhook.
    """
    rows = session.exec(select(ForumObservation.forum_user_id, ForumObservation.evidence)
                        .where(ForumObservation.observed_at <= at)
                        .order_by(ForumObservation.forum_user_id, ForumObservation.observed_at,
                                  ForumObservation.id)).all()
    latest: dict[int, dict] = {}
    for forum_user_id, evidence in rows:
        latest[forum_user_id] = evidence
    return [Evidence.from_dict(latest[k]) for k in sorted(latest)]
