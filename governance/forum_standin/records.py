"""The stand-in forum's records: users, groups, categories, topics and posts, as Discourse keeps them.

Boundary rule: plain Python only (as ``store``, which holds them and their controls).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["Category", "ForumError", "Group", "Membership", "Post", "Topic", "User", "cook", "slugify", "utcnow"]


class ForumError(Exception):
    """A request the forum refuses; `kind` picks the Discourse error shape and status."""

    def __init__(self, message: str, *, kind: str = "invalid_parameters", status: int = 422):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass
class User:
    """One forum account, with the fields Discourse's serializers draw on."""

    id: int
    username: str
    name: str | None
    email: str
    created_at: datetime
    trust_level: int = 1
    admin: bool = False
    moderator: bool = False
    active: bool = True
    staged: bool = False
    title: str | None = None
    timezone: str = "UTC"
    locale: str | None = None  # the interface language the member chose; None: the site's default
    last_seen_at: datetime | None = None
    last_posted_at: datetime | None = None
    suspended_at: datetime | None = None
    suspended_till: datetime | None = None
    suspend_reason: str | None = None
    silenced_till: datetime | None = None
    silence_reason: str | None = None
    avatar_url: str | None = None
    days_visited: int = 0
    posts_read_count: int = 0
    time_read: int = 0

    @property
    def suspended(self) -> bool:
        """Whether a suspension is in force now."""
        return self.suspended_till is not None and self.suspended_till > utcnow()

    @property
    def silenced(self) -> bool:
        """Whether a silence is in force now."""
        return self.silenced_till is not None and self.silenced_till > utcnow()

    @property
    def staff(self) -> bool:
        """Admins and moderators are staff."""
        return self.admin or self.moderator

    @property
    def human(self) -> bool:
        """Discourse's bots (system, discobot) have ids below 1."""
        return self.id > 0


@dataclass
class Membership:
    """A user's place in a custom group."""

    user_id: int
    added_at: datetime
    owner: bool = False


@dataclass
class Group:
    """A custom group; automatic groups are computed from users instead."""

    id: int
    name: str
    full_name: str | None = None
    bio: str | None = None
    title: str | None = None
    visibility_level: int = 0
    members: dict[int, Membership] = field(default_factory=dict)


@dataclass
class Category:
    """A forum category."""

    id: int
    name: str
    slug: str
    color: str = "0088CC"
    text_color: str = "FFFFFF"
    description: str | None = None
    position: int = 0
    read_restricted: bool = False


@dataclass
class Post:
    """One post; `raw` is the Markdown source, `cooked` its HTML."""

    id: int
    topic_id: int
    user_id: int
    post_number: int
    raw: str
    cooked: str
    created_at: datetime
    reply_to_post_number: int | None = None
    via_api: bool = False


@dataclass
class Topic:
    """A topic or, when `archetype` is "private_message", a personal message."""

    id: int
    title: str
    slug: str
    user_id: int
    created_at: datetime
    category_id: int | None
    archetype: str = "regular"
    pinned: bool = False
    allowed_user_ids: list[int] = field(default_factory=list)
    post_ids: list[int] = field(default_factory=list)
    via_api: bool = False

    @property
    def private(self) -> bool:
        """Whether this is a personal message rather than a public topic."""
        return self.archetype == "private_message"


def slugify(title: str) -> str:
    """Make a Discourse-like slug from a title ("topic" when nothing is left)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:80] or "topic"


def cook(raw: str) -> str:
    """Render raw post text to simple HTML: escaped paragraphs, nothing more."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", raw) if p.strip()]
    return "\n".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
