"""Login with DiscourseConnect and the member records it keeps fresh.

Boundary rule: services take a session, flush, and never commit; they raise domain errors.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, select

from ..copy import N_, Message
from ..errors import ForumUnavailable, InvalidInput
from ..models import ForumObservation, LoginNonce, Member
from ..models.base import utcnow
from . import discourse
from .eligibility import Evidence
from .forum import Forum

NONCE_TTL = timedelta(minutes=10)


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def begin_login(*, session: Session, browser_token: str, next_path: str) -> str:
    """Create a single-use nonce bound to this browser; return it."""
    nonce = secrets.token_urlsafe(24)
    now = utcnow()
    session.add(LoginNonce(nonce_hash=_h(nonce), browser_hash=_h(browser_token), next_path=next_path,
                           created_at=now, expires_at=now + NONCE_TTL))
    session.execute(delete(LoginNonce).where(LoginNonce.expires_at < now - NONCE_TTL))
    session.flush()
    return nonce


def answer_account(*, session: Session, secret: str, sso: str | None, sig: str | None,
                   browser_token: str | None) -> int | None:
    """The forum account a DiscourseConnect answer logs in, if it would be accepted so far: a good
    signature and a live nonce issued to this browser (read only). None otherwise, and
    ``complete_login`` will refuse it with the reason.

    The login limit counts a login against the account only then, so a captured old answer
    replayed by someone else cannot use up the member's limit.
    """
    try:
        user = discourse.parse_user(discourse.verify(secret, sso, sig))
    except discourse.ConnectError:
        return None
    if not browser_token:
        return None
    with Session(session.get_bind()) as reader:
        row = reader.get(LoginNonce, _h(user.nonce))
    if row is None or row.browser_hash != _h(browser_token) or row.expires_at <= utcnow():
        return None
    return user.external_id


def complete_login(*, session: Session, forum: Forum, secret: str, sso: str | None, sig: str | None,
                   browser_token: str | None, return_url: str) -> tuple[Member, str]:
    """Verify the forum's answer, consume the nonce and record the member; return (member, next).

    The signed answer carries the account's id, username, name, email, avatar, admin and
    moderator flags and every group (``trust_level_N`` ones too, hence the trust level), and
    Discourse answers only for an account that is active and not suspended at that moment. The
    admin API is asked only for what the answer lacks and may have changed: the creation time of
    an account never seen here (cached for good: it never changes), and the whole record when
    what we hold contradicts the answer (we hold it suspended, deactivated or staged). A forum
    too slow or out of API budget for that call does not lose the login: the member is logged
    in with the record marked stale, to be completed before any ballot (``freshness``).
    Nothing is written unless every check passes.
    """
    try:
        user = discourse.parse_user(discourse.verify(secret, sso, sig))
    except discourse.ConnectError as exc:
        raise InvalidInput(Message('Login failed: %(exc)s.', exc=exc)) from None
    if user.return_sso_url != return_url:
        raise InvalidInput(N_("Login failed: the forum's answer was meant for another site."))
    if not browser_token:
        raise InvalidInput(N_("Login failed: this browser did not start the login (cookies blocked?). Please try again."))
    # Read in a short session of its own: no transaction stays open while the forum is asked,
    # and the writes below start a fresh one (on SQLite a read transaction that later writes
    # fails with "database is locked" when a concurrent callback committed meanwhile).
    with Session(session.get_bind()) as reader:
        row = reader.get(LoginNonce, _h(user.nonce))
        known = reader.exec(select(Member).where(Member.forum_user_id == user.external_id)).first()
        needs_record = (known is None or known.forum_created_at is None or known.suspended
                        or not known.active or known.staged)
    if row is None or row.browser_hash != _h(browser_token) or row.expires_at <= utcnow():
        raise InvalidInput(N_("Login failed: the login link has expired or was already used. Please log in again."))
    next_path = row.next_path
    fetched = None
    if needs_record:
        try:
            fetched = forum.evidence(user.external_id)  # NotFound propagates: the account is gone
        except ForumUnavailable:
            fetched = None  # the forum did answer the login: keep it, complete the record later
    # Consume atomically: of two concurrent callbacks with the same nonce only one deletes the row.
    consumed = session.execute(delete(LoginNonce).where(LoginNonce.nonce_hash == _h(user.nonce),
                                                        LoginNonce.browser_hash == _h(browser_token)))
    if consumed.rowcount != 1:
        raise InvalidInput(N_("Login failed: the login link was already used. Please log in again."))
    if fetched is not None:
        evidence, raw = fetched
        member = upsert_member(session=session, evidence=evidence, raw=raw, name=user.name,
                               avatar_url=user.avatar_url, source="login")
    else:
        member = apply_connect(session=session, user=user)
    return member, next_path


def is_known(session: Session, forum_user_id: int) -> bool:
    """Whether the account has logged in or been synced here before."""
    return session.exec(select(Member.id).where(Member.forum_user_id == int(forum_user_id))).first() is not None


def trust_level_of(groups: tuple[str, ...] | frozenset[str]) -> int | None:
    """The trust level that Discourse's automatic ``trust_level_N`` groups imply, or None.

    >>> trust_level_of(("trust_level_0", "trust_level_1", "sig-release"))
    1
    """
    levels = [int(g.removeprefix("trust_level_")) for g in groups
              if g.startswith("trust_level_") and g.removeprefix("trust_level_") in ("0", "1", "2", "3", "4")]
    return max(levels) if levels else None


def apply_connect(*, session: Session, user: discourse.ConnectUser) -> Member:
    """Record what a verified DiscourseConnect answer carries, without asking the API.

    What the answer does not carry stays as last read from the API (silencing; the creation
    time, cached). An account new to us gets ``stale_since`` now: its record is incomplete.
    """
    now = utcnow()
    member = session.exec(select(Member).where(Member.forum_user_id == user.external_id)).first()
    before = None
    if member is None:
        member = Member(forum_user_id=user.external_id, username=user.username, stale_since=now)
    else:
        before = member_evidence(member).to_dict(), _roles(member)
    member.username = user.username
    member.name = user.name or member.name or ""
    member.avatar_url = user.avatar_url or member.avatar_url
    member.admin, member.moderator = user.admin, user.moderator
    member.groups = sorted(user.groups)
    level = trust_level_of(user.groups)
    if level is not None:
        member.trust_level = level
    # Discourse answers only for an active, unsuspended account, but a record held here that says
    # otherwise is newer than the answer (a webhook raced it) or was re-read above: keep it.
    if member.forum_created_at is None and member.stale_since is None:
        member.stale_since = now
    session.add(member)
    session.flush()
    _after_change(session, member, before, source="login", now=now)
    return member


def upsert_member(*, session: Session, evidence: Evidence, raw: dict[str, Any] | None = None,
                  name: str | None = None, avatar_url: str | None = None, source: str = "sync",
                  now: datetime | None = None, mark_read: bool = True) -> Member:
    """Create or refresh the member for a forum account (keyed on the forum's user id) from an
    API record; the record is fresh as of ``now``, so any staleness is cleared.

    With ``mark_read=False`` the caller sets ``refreshed_at`` itself (the sync does it for a whole
    page in one statement), so an unchanged account is not written at all.
    """
    raw = raw or {}
    now = now or utcnow()
    member = session.exec(select(Member).where(Member.forum_user_id == evidence.forum_user_id)).first()
    before = None
    if member is None:
        member = Member(forum_user_id=evidence.forum_user_id, username=evidence.username)
    else:
        before = member_evidence(member).to_dict(), _roles(member)
    member.username = evidence.username
    member.name = name if name is not None else (raw.get("name") or member.name or "")
    avatar = avatar_url if avatar_url is not None else raw.get("avatar_template", "")
    if avatar and "{size}" in avatar:
        avatar = avatar.replace("{size}", "96")
    member.avatar_url = avatar or member.avatar_url
    member.forum_created_at = evidence.created_at or member.forum_created_at
    member.trust_level = evidence.trust_level
    member.admin = bool(raw.get("admin", member.admin))
    member.moderator = bool(raw.get("moderator", member.moderator))
    member.suspended = evidence.suspended
    member.silenced = evidence.silenced
    member.staged = evidence.staged
    member.active = evidence.active
    member.groups = sorted(evidence.groups)
    zone = (raw.get("user_option") or {}).get("timezone") or raw.get("timezone")
    if isinstance(zone, str) and 0 < len(zone) <= 64:
        member.timezone = zone
    if mark_read or member.refreshed_at is None:
        member.refreshed_at = now
    if member.stale_since is not None and member.stale_since <= now:
        member.stale_since = None
    session.add(member)
    session.flush()
    _after_change(session, member, before, source=source, now=now)
    return member


def _after_change(session: Session, member: Member, before, *, source: str, now: datetime) -> None:
    """Keep the observation history and log role changes (a governance event)."""
    facts = member_evidence(member).to_dict()
    if before is None or before[0] != facts:
        session.add(ForumObservation(forum_user_id=member.forum_user_id, observed_at=now, source=source,
                                     evidence=facts))
        session.flush()
    after = _roles(member)
    if before is not None and before[1] != after:
        from ..audit import log

        log.record(session=session, type="member.roles_changed", actor=None, payload={
            "username": member.username, "forum_user_id": member.forum_user_id,
            "groups_added": sorted(set(after[0]) - set(before[1][0])),
            "groups_removed": sorted(set(before[1][0]) - set(after[0])),
            "admin": after[1], "moderator": after[2]})


def _roles(member: Member) -> tuple[list[str], bool, bool]:
    """What a member's roles derive from: custom groups (not automatic trust-level ones), staff flags."""
    groups = sorted(g for g in (member.groups or []) if not g.startswith("trust_level_"))
    return groups, bool(member.admin), bool(member.moderator)


def member_evidence(member: Member) -> Evidence:
    """The eligibility evidence held for a member (as last refreshed from the forum)."""
    return Evidence(
        forum_user_id=member.forum_user_id,
        username=member.username,
        created_at=member.forum_created_at,
        trust_level=member.trust_level,
        groups=frozenset(member.groups or ()),
        suspended=member.suspended,
        silenced=member.silenced,
        staged=member.staged,
        active=member.active,
    )
