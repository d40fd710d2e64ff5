"""Members (forum accounts seen here), login sessions, login nonces and rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from pydantic import PrivateAttr
from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_field, time_field


class Member(SQLModel, table=True):
    """A forum account that has logged in or was synced; keyed on the forum's user id."""

    __tablename__ = "member"

    id: int | None = Field(default=None, primary_key=True)
    forum_user_id: int = Field(unique=True, index=True)
    username: str = Field(max_length=60, index=True)
    name: str = Field(default="", max_length=255)
    avatar_url: str = Field(default="", max_length=1000)
    forum_created_at: datetime | None = time_field(nullable=True)
    trust_level: int = 0
    admin: bool = False
    moderator: bool = False
    suspended: bool = False
    silenced: bool = False
    staged: bool = False
    active: bool = True
    groups: list[str] = json_field(list)
    timezone: str = Field(default="", max_length=64)
    refreshed_at: datetime | None = time_field(nullable=True)  # standing last read from the API
    # A webhook or a login told us the standing may have changed since refreshed_at.
    stale_since: datetime | None = time_field(nullable=True)
    seen_pass: int | None = None  # the last sync pass that listed the account
    created_at: datetime = time_field(default_now=True)

    # Flask-Login protocol. The id handed to Flask-Login is the login session token (set by
    # identity.sessions at login), so that logging out revokes the session server-side.
    _session_token: str | None = PrivateAttr(default=None)

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active and not self.suspended

    def get_id(self) -> str:
        token = self._session_token
        if not token:
            raise AttributeError("member has no login session")
        return token


class LoginSession(SQLModel, table=True):
    """A server-side login session; the cookie holds only its random token."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    member_id: int = Field(foreign_key="member.id", index=True)
    created_at: datetime = time_field(default_now=True)
    expires_at: datetime = time_field()
    revoked_at: datetime | None = time_field(nullable=True)


class LoginNonce(SQLModel, table=True):
    """A DiscourseConnect nonce, single use, bound to the browser that asked for it."""

    __tablename__ = "login_nonce"

    nonce_hash: str = Field(primary_key=True, max_length=64)
    browser_hash: str = Field(max_length=64)
    next_path: str = Field(default="/", max_length=2000)
    created_at: datetime = time_field(default_now=True)
    expires_at: datetime = time_field(index=True)


class RateLimitCounter(SQLModel, table=True):
    """Fixed-window request counters shared by every worker and host."""

    __tablename__ = "rate_limit_counter"

    __table_args__ = (UniqueConstraint("key", "window_start"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    window_start: int = Field(index=True)
    count: int = 0


class ForumObservation(SQLModel, table=True):
    """What the platform learnt about an account's standing, and when (append-only).

    A row is added only when the facts differ from the previous row, so "the facts as of the
    opening" of a poll are the newest row at or before the opening.
    """

    __tablename__ = "forum_observation"

    __table_args__ = (Index("ix_forum_observation_account_time", "forum_user_id", "observed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    forum_user_id: int
    observed_at: datetime = time_field()
    source: str = Field(max_length=16)  # login, sync, webhook, vote
    evidence: dict = json_field(dict)


class ForumSyncPass(SQLModel, table=True):
    """One pass of ``flask forum sync`` over the forum's accounts: its cursor and its counts.

    Each page's rows and the cursor are committed together, so a pass that was stopped
    continues from ``next_page``.
    """

    __tablename__ = "forum_sync_pass"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = time_field(default_now=True)
    updated_at: datetime = time_field(default_now=True)
    finished_at: datetime | None = time_field(nullable=True)
    phase: str = Field(default="accounts", max_length=16)  # accounts, groups, missing, done
    next_page: int = 1
    accounts: int = 0
    changed: int = 0
    calls: int = 0


class ForumWebhookDelivery(SQLModel, table=True):
    """A webhook delivery the forum made and we accepted (its event id, to refuse replays)."""

    __tablename__ = "forum_webhook_delivery"

    event_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    event: str = Field(max_length=64)
    forum_user_id: int | None = None
    received_at: datetime = time_field(index=True)
