"""Server-side login sessions: the cookie carries a random token, the database its hash.

Logging out revokes the row, so a copied old cookie no longer logs anybody in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, select

from ..models import LoginSession, Member
from ..models.base import utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(*, session: Session, member: Member, lifetime: timedelta) -> str:
    """Open a login session for ``member`` and return its token (to hand to Flask-Login)."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_hash(token), member_id=member.id, expires_at=utcnow() + lifetime))
    session.flush()
    member._session_token = token
    return token


# Built once: every request of a logged-in member runs it.
_RESOLVE = (
    select(Member, LoginSession.expires_at, LoginSession.revoked_at)
    .join(LoginSession, LoginSession.member_id == Member.id)
    .where(LoginSession.token_hash == bindparam("token_hash"))
)


def resolve(*, session: Session, token: str) -> Member | None:
    """The member behind a live session token, or None (unknown, expired or revoked)."""
    if not token or len(token) > 200:
        return None
    found = session.execute(_RESOLVE, {"token_hash": _hash(token)}).first()
    if found is None:
        return None
    member, expires_at, revoked_at = found
    if revoked_at is not None or expires_at <= utcnow():
        return None
    member._session_token = token
    return member


def revoke(*, session: Session, token: str) -> None:
    """End a login session server-side."""
    row = session.exec(select(LoginSession).where(LoginSession.token_hash == _hash(token))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()


def revoke_all(*, session: Session, member: Member) -> int:
    """End every session of a member (e.g. when the forum suspends them); return how many."""
    rows = session.exec(
        select(LoginSession).where(LoginSession.member_id == member.id, LoginSession.revoked_at.is_(None))
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.flush()
    return len(rows)
