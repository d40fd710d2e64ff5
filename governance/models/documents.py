"""Governed documents (the roadmap, the values ...), their immutable versions, and amendments.

Append-only in spirit: a ``DocumentVersion`` row is never edited once written, and a document's
text only changes by adding a version. An ``Amendment`` keeps its proposed text; its status moves
along its lifecycle (each move is written to the audit log and to ``history``), and a rebase onto a
newer version replaces its base and text only together with a logged ``amendment.rebased`` event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_field, time_field

CHANGE_KINDS = ("charter", "document", "poll")
CHANGE_STATUSES = ("pending", "approved", "applied", "objected", "withdrawn", "lapsed")
#: Statuses of a direct publication that may still take effect.
OPEN_CHANGE_STATUSES = ("pending", "approved")
AMENDMENT_STATUSES = ("draft", "discussion", "voting", "adopted", "rejected", "conflicted", "withdrawn")
#: Statuses of an amendment that is still on its way (rebased or conflicted when the text moves on).
PENDING_STATUSES = ("draft", "discussion", "voting")


class Document(SQLModel, table=True):
    """A governed document; its text is its newest version (``current_version``, 0 before the first)."""

    __tablename__ = "document"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=100, unique=True, index=True)
    title: str = Field(max_length=200)
    current_version: int = 0
    created_at: datetime = time_field(default_now=True)


class DocumentVersion(SQLModel, table=True):
    """One immutable version: the Markdown, its rendered HTML, its hash, and what adopted it.

    ``adopted_by`` is ``"committee"`` (a direct publication the charter allows) or ``"poll"``
    (``poll_id`` names the referendum, ``result_hash`` its published result). ``classification``
    is how this version relates to the previous one (empty for the first version).
    """

    __tablename__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    number: int
    source_md: str = Field(sa_type=Text)
    html: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64)
    author_id: int | None = Field(default=None, foreign_key="member.id")
    adopted_by: str = Field(max_length=20)
    poll_id: int | None = Field(default=None, foreign_key="poll.id")
    result_hash: str = Field(default="", max_length=64)
    amendment_id: int | None = Field(default=None, foreign_key="amendment.id")
    note: str = Field(default="", max_length=500)
    classification: dict = json_field()
    # A committee publication: the two-person request it went through (``PendingChange``).
    change_id: int | None = Field(default=None, foreign_key="pending_change.id")
    created_at: datetime = time_field(default_now=True)


class Amendment(SQLModel, table=True):
    """A proposed change to a document, against a named base version.

    The server classifies it (``kind`` detail or revision, the full report in ``classification``).
    ``history`` lists every status change and rebase as ``{"at", "event", ...}`` for the page.
    """

    __tablename__ = "amendment"

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    base_number: int
    base_sha256: str = Field(max_length=64)
    proposer_id: int = Field(foreign_key="member.id")
    title: str = Field(max_length=200)
    rationale_md: str = Field(default="", sa_type=Text)
    rationale_html: str = Field(default="", sa_type=Text)
    source_md: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64)
    kind: str = Field(max_length=20)
    classification: dict = json_field()
    status: str = Field(default="draft", max_length=20, index=True)
    # Discussion: the forum topic, or the time it was asked for while it waits to be posted.
    forum_topic_id: int | None = None
    topic_requested_at: datetime | None = time_field(nullable=True)
    topic_error: str = Field(default="", max_length=500)
    poll_id: int | None = Field(default=None, foreign_key="poll.id")
    # The text as first proposed (kept when a rebase moves the amendment onto a newer version).
    original_base_number: int
    original_sha256: str = Field(max_length=64)
    supersedes_id: int | None = Field(default=None, foreign_key="amendment.id")
    adopted_version: int | None = None
    history: list = json_field(list)
    created_at: datetime = time_field(default_now=True)


class PendingChange(SQLModel, table=True):
    """A direct publication by the committee waiting for the two-person rule and the forum notice.

    ``kind`` is ``charter`` (charter detail: ``payload["data"]``), ``document`` (document
    detail: ``payload["source"]``) or ``poll`` (scheduling the draft ``poll_id``; ``sha256`` is
    the hash of the poll as it was asked for, so an edit after the request makes it lapse). It
    takes effect once the forum has been told (``announced_at``) and a second member approved it,
    or, where the charter allows, ``effective_after`` passed without an objection. ``history``
    lists every step for the page; each step is also an audit event.
    """

    __tablename__ = "pending_change"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    document: str | None = Field(default=None, max_length=100, index=True)
    poll_id: int | None = Field(default=None, foreign_key="poll.id", index=True)
    base_number: int | None = None
    title: str = Field(max_length=300)
    payload: dict = json_field()
    sha256: str = Field(max_length=64)
    classification: dict = json_field()
    status: str = Field(default="pending", max_length=20, index=True)
    requested_by: int = Field(foreign_key="member.id")
    approved_by: int | None = Field(default=None, foreign_key="member.id")
    objected_by: int | None = Field(default=None, foreign_key="member.id")
    reason: str = Field(default="", max_length=1000)
    waiting_days: int | None = None
    effective_after: datetime | None = time_field(nullable=True)
    announced_at: datetime | None = time_field(nullable=True)
    forum_topic_id: int | None = None
    applied_at: datetime | None = time_field(nullable=True)
    result: dict = json_field()
    history: list = json_field(list)
    created_at: datetime = time_field(default_now=True)
