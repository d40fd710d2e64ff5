"""Login with DiscourseConnect and the member records it keeps fresh.

Boundary rule: services take a session, flush, and never commit; they raise domain errors.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, select

from ..errors import ForumUnavailable, InvalidInput
from ..models import LoginNonce, Member
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


def complete_login(*, session: Session, forum: Forum, secret: str, sso: str | None, sig: str | None,
                   browser_token: str | None, return_url: str) -> tuple[Member, str]:
    """Verify the forum's answer, consume the nonce and refresh the member; return (member, next).

    Nothing is written unless every check passes and the forum's API confirmed the account.
    """
    try:
        user = discourse.parse_user(discourse.verify(secret, sso, sig))
    except discourse.ConnectError as exc:
        raise InvalidInput(f"Login failed: {exc}.") from None
    if user.return_sso_url != return_url:
        raise InvalidInput("Login failed: the forum's answer was meant for another site.")
    if not browser_token:
        raise InvalidInput("Login failed: this browser did not start the login (cookies blocked?). Please try again.")
    # Read the nonce in a short session of its own: no transaction stays open while the forum is
    # asked, and the writes below start a fresh one (on SQLite a read transaction that later
    # writes fails with "database is locked" when a concurrent callback committed meanwhile).
    with Session(session.get_bind()) as reader:
        row = reader.get(LoginNonce, _h(user.nonce))
    if row is None or row.browser_hash != _h(browser_token) or row.expires_at <= utcnow():
        raise InvalidInput("Login failed: the login link has expired or was already used. Please log in again.")
    next_path = row.next_path
    evidence, raw = forum.evidence(user.external_id)  # ForumUnavailable propagates: nothing written
    if evidence.username.lower() != user.username.lower() and raw.get("username") is None:
        raise ForumUnavailable("The forum's records disagree about this account; please try again.")
    # Consume atomically: of two concurrent callbacks with the same nonce only one deletes the row.
    consumed = session.execute(delete(LoginNonce).where(LoginNonce.nonce_hash == _h(user.nonce),
                                                        LoginNonce.browser_hash == _h(browser_token)))
    if consumed.rowcount != 1:
        raise InvalidInput("Login failed: the login link was already used. Please log in again.")
    member = upsert_member(session=session, evidence=evidence, raw=raw,
                           name=user.name, avatar_url=user.avatar_url)
    return member, next_path


def upsert_member(*, session: Session, evidence: Evidence, raw: dict[str, Any] | None = None,
                  name: str | None = None, avatar_url: str | None = None) -> Member:
    """Create or refresh the member for a forum account (keyed on the forum's user id)."""
    raw = raw or {}
    member = session.exec(select(Member).where(Member.forum_user_id == evidence.forum_user_id)).first()
    before = None
    if member is None:
        member = Member(forum_user_id=evidence.forum_user_id, username=evidence.username)
    else:
        before = _roles(member)
    member.username = evidence.username
    member.name = name if name is not None else (raw.get("name") or member.name or "")
    avatar = avatar_url if avatar_url is not None else raw.get("avatar_template", "")
    if avatar and "{size}" in avatar:
        avatar = avatar.replace("{size}", "96")
    member.avatar_url = avatar or member.avatar_url
    member.forum_created_at = evidence.created_at
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
    member.refreshed_at = utcnow()
    session.add(member)
    session.flush()
    after = _roles(member)
    if before is not None and before != after:
        # Roles come from forum groups and staff flags: a change is a governance event.
        from ..audit import log

        log.record(session=session, type="member.roles_changed", actor=None, payload={
            "username": member.username, "forum_user_id": member.forum_user_id,
            "groups_added": sorted(set(after[0]) - set(before[0])),
            "groups_removed": sorted(set(before[0]) - set(after[0])),
            "admin": after[1], "moderator": after[2]})
    return member


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
