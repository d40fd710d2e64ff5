"""Keep every forum account's record in step with the forum, in resumable passes (``flask forum sync``).

Boundary rule: a service over an engine and a ``Forum`` adapter. Each page is written in a short
transaction of its own together with the pass's cursor (``forum_sync_pass``), and no
transaction is open while the forum is asked; it raises ``ForumUnavailable`` only for a forum
that refuses outright.

One pass reads, oldest first, every page of ``/admin/users/list/active.json`` (100 accounts a
call: 300 calls for 30,000 accounts) after the custom groups' member lists (up to 1,000 a call),
then asks ``/admin/users/{id}.json`` about each known account the pass did not list (deleted,
deactivated or staged since: few). Only accounts whose facts changed are written. A run stops
cleanly when its time is up and the next run continues the same pass from its next page; a
run that is killed loses at most the page it was reading. Calls draw on the shared API budget
as background work (``budget``), so members' logins and ballots keep their reserve.

Accounts now suspended, deactivated or gone have every login session ended (``sessions``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ..errors import ForumUnavailable, NotFound
from ..models import ForumSyncPass, Member
from ..models.base import utcnow
from . import sessions
from .eligibility import Evidence
from .forum import Forum, evidence_from_admin
from .service import upsert_member

PAGE_SIZE = 100  # AdminUserIndexQuery's page


class Paced:
    """A budget that waits (sleeps through full windows) instead of refusing, until ``deadline``."""

    def __init__(self, budget: Any, *, deadline: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.budget = budget
        self.deadline = deadline
        self.sleep = sleep

    def take(self) -> float:
        while True:
            wait = self.budget.take()
            if wait == 0.0:
                return 0.0
            if self.budget.clock() + wait > self.deadline:
                return wait  # the adapter raises ForumUnavailable: out of time
            self.sleep(wait)


@dataclass
class SyncReport:
    """What one run did, for the operator."""

    pass_id: int = 0
    pages: int = 0
    accounts: int = 0
    changed: list[str] = field(default_factory=list)
    newly_suspended: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    sessions_ended: int = 0
    groups: list[tuple[str, int]] = field(default_factory=list)
    calls: int = 0
    seconds: float = 0.0
    finished: bool = False
    next_page: int = 1
    stopped: str = ""

    def lines(self) -> list[str]:
        """The summary printed by ``flask forum sync``."""
        state = (f"pass {self.pass_id} finished" if self.finished else
                 f"pass {self.pass_id} stopped at page {self.next_page} ({self.stopped}); run again to continue")
        out = [f"Read {self.accounts} account(s) on {self.pages} page(s) in {self.seconds:.0f} s, "
               f"{self.calls} API call(s): {state}."]
        shown = ", ".join(self.changed[:20]) + (f" and {len(self.changed) - 20} more" if len(self.changed) > 20 else "")
        out.append(f"  changed: {len(self.changed)}{' (' + shown + ')' if self.changed else ''}")
        if self.newly_suspended:
            out.append(f"  newly suspended: {', '.join(self.newly_suspended)}")
        if self.gone:
            out.append(f"  no longer on the forum or deactivated: {', '.join(self.gone)}")
        out.append(f"  login sessions ended: {self.sessions_ended}")
        for name, total in self.groups:
            out.append(f"  group {name}: {total} member(s) on the forum")
        return out


def _auto_groups(trust_level: int, admin: bool, moderator: bool) -> list[str]:
    names = (["admins"] if admin else []) + (["moderators"] if moderator else [])
    if admin or moderator:
        names.append("staff")
    return names + [f"trust_level_{n}" for n in range(trust_level + 1)]


def _current_pass(engine: Engine) -> ForumSyncPass:
    with Session(engine, expire_on_commit=False) as db:
        row = db.exec(select(ForumSyncPass).where(ForumSyncPass.finished_at.is_(None))
                      .order_by(ForumSyncPass.id.desc())).first()
        if row is None:
            row = ForumSyncPass()
            db.add(row)
            db.commit()
        return row


def _group_lists(forum: Forum, report: SyncReport) -> dict[int, set[str]]:
    """user id -> custom groups, from every custom group's member list."""
    by_user: dict[int, set[str]] = {}
    for group in forum.groups():
        if group.get("automatic") or not group.get("name"):
            continue  # trust-level and staff groups follow each account's own record
        try:
            members = forum.group_members(group["name"], limit=1000)
        except NotFound:
            continue  # deleted since the list was read
        try:
            ids = [int(m["id"]) for m in members]
        except (KeyError, TypeError, ValueError):
            raise ForumUnavailable(f"The forum gave an unexpected answer (members of {group['name']}).") from None
        report.groups.append((group["name"], len(ids)))
        for user_id in ids:
            by_user.setdefault(user_id, set()).add(group["name"])
    return by_user


def _apply(db: Session, member: Member | None, evidence: Evidence, raw: dict[str, Any], forum_url: str,
           report: SyncReport, now: datetime, *, mark_read: bool = True) -> Member:
    before = None if member is None else (member.username, member.name, member.forum_created_at,
                                          member.trust_level, member.admin, member.moderator, member.suspended,
                                          member.silenced, member.staged, member.active, sorted(member.groups or []))
    was_suspended = bool(member and member.suspended)
    member = upsert_member(session=db, evidence=evidence, raw=raw, avatar_url=_avatar(raw, forum_url),
                           source="sync", now=now, mark_read=mark_read)
    after = (member.username, member.name, member.forum_created_at, member.trust_level, member.admin,
             member.moderator, member.suspended, member.silenced, member.staged, member.active,
             sorted(member.groups or []))
    if before is not None and before != after:
        report.changed.append(member.username)
    if member.suspended and not was_suspended and before is not None:
        report.newly_suspended.append(member.username)
    if member.suspended or not member.active:
        report.sessions_ended += sessions.revoke_all(session=db, member=member)
    return member


def run(*, engine: Engine, forum: Forum, max_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic,
        progress: Callable[[SyncReport], None] | None = None, max_pages: int | None = None) -> SyncReport:
    """Continue (or start) a pass until it finishes or ``max_seconds`` run out; return the report.

    Raises ForumUnavailable, after committing every page read so far, when the forum fails.
    """
    started = clock()
    report = SyncReport()
    current = _current_pass(engine)
    report.pass_id, report.next_page = current.id, current.next_page
    calls_before = forum.calls

    def out_of_time() -> bool:
        return clock() - started >= max_seconds or (max_pages is not None and report.pages >= max_pages)

    try:
        groups = _group_lists(forum, report)
        page = current.next_page
        while current.phase == "accounts":
            if out_of_time():
                report.stopped = "time is up"
                return report
            rows = forum.users_page(page)
            now = utcnow()
            with Session(engine, expire_on_commit=False) as db:
                ids = [int(r["id"]) for r in rows if isinstance(r, dict) and "id" in r]
                known = {m.forum_user_id: m for m in db.exec(select(Member).where(Member.forum_user_id.in_(ids)))}
                for raw in rows:
                    user_id = int(raw["id"])
                    if user_id <= 0:
                        continue
                    level = int(raw.get("trust_level") or 0)
                    names = _auto_groups(level, bool(raw.get("admin")), bool(raw.get("moderator")))
                    evidence = evidence_from_admin(raw, groups=frozenset(names) | groups.get(user_id, set()))
                    _apply(db, known.get(user_id), evidence, raw, forum.url, report, now, mark_read=False)
                # Read now, seen by this pass: one statement for the page, not a write per account.
                db.execute(update(Member).where(Member.forum_user_id.in_(ids))
                           .values(refreshed_at=now, seen_pass=current.id))
                report.accounts += len(rows)
                report.pages += 1
                page += 1
                done = len(rows) < PAGE_SIZE
                db.execute(update(ForumSyncPass).where(ForumSyncPass.id == current.id).values(
                    next_page=page, updated_at=now, phase="missing" if done else "accounts",
                    accounts=ForumSyncPass.accounts + len(rows),
                    calls=ForumSyncPass.calls + 1))
                db.commit()
            current.next_page, report.next_page = page, page
            if done:
                current.phase = "missing"
            if progress:
                report.calls, report.seconds = forum.calls - calls_before, clock() - started
                progress(report)
        _sweep_missing(engine, forum, current, report, out_of_time)
    finally:
        report.calls = forum.calls - calls_before
        report.seconds = clock() - started
    return report


def _sweep_missing(engine: Engine, forum: Forum, current: ForumSyncPass, report: SyncReport, out_of_time) -> None:
    """Ask about each known account the pass did not list, then close the pass."""
    with Session(engine) as db:
        missing = db.exec(select(Member.forum_user_id).where(
            (Member.seen_pass.is_(None)) | (Member.seen_pass != current.id), Member.active.is_(True),
            Member.forum_user_id > 0)).all()
    for user_id in missing:
        if out_of_time():
            report.stopped = "time is up"
            return
        try:
            evidence, raw = forum.evidence(user_id)
            gone = False
        except NotFound:
            gone, evidence, raw = True, None, None
        now = utcnow()
        with Session(engine, expire_on_commit=False) as db:
            member = db.exec(select(Member).where(Member.forum_user_id == user_id)).first()
            if member is None:
                continue
            if gone:
                member.active = False
                member.refreshed_at, member.stale_since = now, None
                db.add(member)
                report.gone.append(member.username)
                report.sessions_ended += sessions.revoke_all(session=db, member=member)
            else:
                member = _apply(db, member, evidence, raw, forum.url, report, now)
                if not member.active or member.staged:
                    report.gone.append(member.username)
            member.seen_pass = current.id
            db.add(member)
            db.commit()
    with Session(engine) as db:
        db.execute(update(ForumSyncPass).where(ForumSyncPass.id == current.id).values(
            phase="done", finished_at=utcnow(), changed=len(report.changed)))
        db.commit()
    report.finished = True


def refresh_stale(*, engine: Engine, forum: Forum, limit: int = 50) -> int:
    """Re-read, one API call each, the members a webhook or a login marked stale; return how many."""
    with Session(engine) as db:
        ids = db.exec(select(Member.forum_user_id).where(Member.stale_since.is_not(None))
                      .order_by(Member.stale_since).limit(limit)).all()
    done = 0
    for user_id in ids:
        try:
            evidence, raw = forum.evidence(user_id)
        except NotFound:
            evidence = raw = None
        with Session(engine, expire_on_commit=False) as db:
            member = db.exec(select(Member).where(Member.forum_user_id == user_id)).first()
            if member is None:
                continue
            if evidence is None:
                member.active, member.stale_since, member.refreshed_at = False, None, utcnow()
                db.add(member)
                sessions.revoke_all(session=db, member=member)
            else:
                _apply(db, member, evidence, raw, forum.url, SyncReport(), utcnow())
            db.commit()
        done += 1
    return done


def _avatar(raw: dict[str, Any], forum_url: str) -> str:
    """The absolute avatar URL (Discourse gives a template relative to the forum, with ``{size}``)."""
    template = raw.get("avatar_template") or ""
    if not template:
        return ""
    return urljoin(forum_url + "/", template.replace("{size}", "96"))
