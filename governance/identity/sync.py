"""Bring every known member's record up to date with the forum, in bulk (``flask forum sync``).

Boundary rule: a service over a database session and a ``Forum`` adapter; it flushes and never
commits, and it raises ``ForumUnavailable`` (a domain error) when the forum fails.

The work runs in two phases. First every forum call is made: the groups, each custom group's
members (paged through ``meta.total``) and ``/admin/users/{id}.json`` for each known member.
These calls are spaced by a ``Pacer``, so the admin API key's per-minute limit is respected.
No transaction is open while this happens. Only when every answer is in hand are the member
rows rewritten. So a forum that fails half way through changes nothing, and the next run starts
from scratch.

Members whose forum account is now suspended or deactivated, or was deleted, have every login
session ended (``sessions.revoke_all``): the forum's verdict takes effect at once, not when the
cookie runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from sqlmodel import Session, select

from ..errors import ForumUnavailable, NotFound
from ..models import Member
from . import sessions
from .eligibility import Evidence
from .forum import Forum
from .service import upsert_member

#: The facts compared to tell whether a refresh changed a member.
_FACTS = (
    "username",
    "name",
    "forum_created_at",
    "trust_level",
    "admin",
    "moderator",
    "suspended",
    "silenced",
    "staged",
    "active",
    "groups",
)


class Pacer:
    """Spaces forum calls to at most ``per_minute`` a minute, within a total time budget.

    Call the pacer before each forum call. It sleeps just long enough since the previous call,
    and it raises ``ForumUnavailable`` once the budget of ``max_seconds`` would be overrun.

    >>> slept = []
    >>> pace = Pacer(per_minute=30, max_seconds=600, clock=lambda: 0.0, sleep=slept.append)
    >>> pace(); pace(); slept
    [2.0]
    """

    def __init__(
        self,
        *,
        per_minute: int = 50,
        max_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 0 or max_seconds <= 0:
            raise ValueError("per_minute must be >= 0 and max_seconds > 0")
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.max_seconds = max_seconds
        self._clock = clock
        self._sleep = sleep
        self._started = clock()
        self._last: float | None = None
        self.calls = 0

    def elapsed(self) -> float:
        """Seconds since the pacer was made."""
        return self._clock() - self._started

    def __call__(self) -> None:
        now = self._clock()
        wait = 0.0 if self._last is None else self._last + self.interval - now
        if now + max(wait, 0.0) - self._started > self.max_seconds:
            raise ForumUnavailable(
                f"The sync would take longer than its limit of {self.max_seconds:g} seconds "
                "(raise it with --max-time)."
            )
        if wait > 0:
            self._sleep(wait)
            now = self._clock()
        self._last = now
        self.calls += 1


@dataclass(frozen=True)
class GroupListing:
    """One custom group as the forum listed it."""

    name: str
    member_ids: frozenset[int]


@dataclass(frozen=True)
class ForumAnswers:
    """Everything the forum said during one sync (the fetch phase's result)."""

    groups: tuple[GroupListing, ...]
    users: dict[int, tuple[Evidence, dict[str, Any]]]  # evidence and the raw admin record
    gone: frozenset[int]


@dataclass
class SyncReport:
    """What a sync changed, for the operator."""

    refreshed: int = 0
    changed: list[str] = field(default_factory=list)
    newly_suspended: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    sessions_ended: int = 0
    groups: list[tuple[str, int, list[str]]] = field(default_factory=list)
    calls: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The summary printed by ``flask forum sync``."""
        out = [
            f"Refreshed {self.refreshed} member(s) from the forum "
            f"({self.calls} API call(s), {self.seconds:.0f} s)."
        ]
        out.append(f"  changed: {', '.join(self.changed) if self.changed else 'none'}")
        if self.newly_suspended:
            out.append(f"  newly suspended: {', '.join(self.newly_suspended)}")
        if self.gone:
            out.append(f"  no longer on the forum (marked inactive): {', '.join(self.gone)}")
        out.append(f"  login sessions ended: {self.sessions_ended}")
        for name, total, known in self.groups:
            out.append(
                f"  group {name}: {total} member(s) on the forum, {len(known)} known here"
                + (f" ({', '.join(known)})" if known else "")
            )
        return out


def known_forum_ids(session: Session) -> list[int]:
    """The forum user ids of every member the platform knows, in a short read of its own."""
    with Session(session.get_bind()) as reader:
        return sorted(reader.exec(select(Member.forum_user_id)).all())


def fetch(*, forum: Forum, user_ids: list[int], pace: Pacer) -> ForumAnswers:
    """Ask the forum about the custom groups and every listed account; write nothing.

    Raises ForumUnavailable when the forum cannot answer (after the adapter's bounded 429 waits).
    """
    pace()
    listed = forum.groups()
    listings = []
    for group in listed:
        if group.get("automatic") or not group.get("name"):
            continue  # trust-level and staff groups follow each account's own record
        pace()
        try:
            members = forum.group_members(group["name"])  # pages are spaced by the adapter's page_interval
        except NotFound:
            continue  # deleted since the list was read
        try:
            ids = frozenset(int(m["id"]) for m in members)
        except (KeyError, TypeError, ValueError):
            raise ForumUnavailable(f"The forum gave an unexpected answer (members of {group['name']}).") from None
        listings.append(GroupListing(group["name"], ids))
    users: dict[int, tuple[Evidence, dict[str, Any]]] = {}
    gone: set[int] = set()
    for user_id in user_ids:
        pace()
        try:
            users[user_id] = forum.evidence(user_id)
        except NotFound:
            gone.add(user_id)
    return ForumAnswers(groups=tuple(listings), users=users, gone=frozenset(gone))


def apply(*, session: Session, answers: ForumAnswers, forum_url: str) -> SyncReport:
    """Rewrite member rows from the forum's answers and end the sessions of barred members."""
    report = SyncReport()
    members = session.exec(select(Member).order_by(Member.username)).all()
    by_forum_id = {m.forum_user_id: m for m in members}
    for member in members:
        before = {name: getattr(member, name) for name in _FACTS}
        if member.forum_user_id in answers.gone:
            member.active = False
            session.add(member)
            report.gone.append(member.username)
        elif member.forum_user_id in answers.users:
            evidence, raw = answers.users[member.forum_user_id]
            upsert_member(
                session=session,
                evidence=evidence,
                raw=raw,
                avatar_url=_avatar(raw, forum_url),
            )
            report.refreshed += 1
            if member.suspended and not before["suspended"]:
                report.newly_suspended.append(member.username)
        else:
            continue  # joined after the fetch began: its login just refreshed it
        if any(getattr(member, name) != before[name] for name in _FACTS):
            report.changed.append(member.username)
        if member.suspended or not member.active:
            report.sessions_ended += sessions.revoke_all(session=session, member=member)
    for listing in answers.groups:
        known = sorted(by_forum_id[i].username for i in listing.member_ids if i in by_forum_id)
        report.groups.append((listing.name, len(listing.member_ids), known))
    session.flush()
    return report


def sync_members(*, session: Session, forum: Forum, pace: Pacer) -> SyncReport:
    """Refresh every known member from the forum; flush, don't commit.

    Raises ForumUnavailable, having changed nothing, when the forum fails or the time budget runs out.
    """
    answers = fetch(forum=forum, user_ids=known_forum_ids(session), pace=pace)
    report = apply(session=session, answers=answers, forum_url=forum.url)
    report.calls = pace.calls
    report.seconds = pace.elapsed()
    return report


def _avatar(raw: dict[str, Any], forum_url: str) -> str:
    """The absolute avatar URL (Discourse gives a template relative to the forum, with ``{size}``)."""
    template = raw.get("avatar_template") or ""
    if not template:
        return ""
    return urljoin(forum_url + "/", template.replace("{size}", "96"))
