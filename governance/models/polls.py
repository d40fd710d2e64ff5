"""Charter versions, polls, options, nominations, the frozen electorate, participation and ballots.

Secrecy by construction: ``Ballot`` has no voter column and no time column, and a random primary
key (no insertion order). ``Participation`` (who voted) lives apart. While a poll is open the only
bridge is ``Ballot.voter_link``, a keyed hash under the per-poll ``PollKey``; closing deletes the
key and clears every link.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_field, time_field

POLL_KINDS = ("election", "decision", "referendum")
POLL_STATUSES = ("draft", "nominations", "scheduled", "open", "closed", "published", "cancelled")


class CharterVersion(SQLModel, table=True):
    """One immutable version of the governance charter (bodies, their powers, document rules)."""

    __tablename__ = "charter_version"

    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True)
    data: dict = json_field()
    sha256: str = Field(max_length=64)
    note: str = Field(default="", max_length=500)
    author_id: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = time_field(default_now=True)


class Poll(SQLModel, table=True):
    """A decision of one body: an election, a decision among options, or a referendum."""

    __tablename__ = "poll"

    id: int | None = Field(default=None, primary_key=True)
    body: str = Field(max_length=100, index=True)
    kind: str = Field(max_length=20)
    method: str = Field(max_length=30)
    title: str = Field(max_length=200)
    description_md: str = Field(default="", sa_type=Text)
    description_html: str = Field(default="", sa_type=Text)
    seats: int = 1
    status: str = Field(default="draft", max_length=20, index=True)
    eligibility: dict = json_field()
    # Referendum bars: quorum (votes cast incl. abstentions), threshold as "p/q", strict (>) or not (>=).
    quorum: int = 0
    threshold: str = Field(default="1/2", max_length=20)
    threshold_strict: bool = True
    # Decisions: an optional default option ("None of the above / further discussion").
    default_option: bool = False
    nominations_open_at: datetime | None = time_field(nullable=True)
    nominations_close_at: datetime | None = time_field(nullable=True)
    opens_at: datetime | None = time_field(nullable=True)
    closes_at: datetime | None = time_field(nullable=True)
    opened_at: datetime | None = time_field(nullable=True)
    closed_at: datetime | None = time_field(nullable=True)
    published_at: datetime | None = time_field(nullable=True)
    tie_seed: str = Field(default="", max_length=64)
    electorate_hash: str = Field(default="", max_length=64)
    electorate_size: int | None = None
    ballots_hash: str = Field(default="", max_length=64)
    result: dict | None = Field(default=None, sa_type=JSON, nullable=True)
    result_hash: str = Field(default="", max_length=64)
    cancel_reason: str = Field(default="", max_length=1000)
    forum_topic_id: int | None = None
    # Referendums on a document amendment: the amendment and the hashes the vote is bound to.
    amendment_id: int | None = Field(default=None, index=True)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = time_field(default_now=True)


class PollOption(SQLModel, table=True):
    """An option (candidate, choice, or yes/no/abstain) of a poll, in ballot-file order."""

    __tablename__ = "poll_option"
    __table_args__ = (UniqueConstraint("poll_id", "label"), UniqueConstraint("poll_id", "position"))

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    position: int
    label: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    is_default: bool = False


class Nomination(SQLModel, table=True):
    """A candidacy in an election: a statement, a conflict-of-interest declaration, acceptance."""

    __tablename__ = "nomination"
    __table_args__ = (UniqueConstraint("poll_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    nominated_by: int = Field(foreign_key="member.id")
    statement_md: str = Field(default="", sa_type=Text)
    statement_html: str = Field(default="", sa_type=Text)
    conflicts_md: str = Field(default="", sa_type=Text)
    conflicts_html: str = Field(default="", sa_type=Text)
    accepted_at: datetime | None = time_field(nullable=True)
    withdrawn_at: datetime | None = time_field(nullable=True)
    created_at: datetime = time_field(default_now=True)


class ElectorateEntry(SQLModel, table=True):
    """One member of a poll's electorate as frozen when it opened (group polls), with evidence."""

    __tablename__ = "electorate_entry"
    __table_args__ = (UniqueConstraint("poll_id", "forum_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    forum_user_id: int
    username: str = Field(max_length=60)
    evidence: dict = json_field()


class Participation(SQLModel, table=True):
    """Who voted (never what): one row per voter per poll, with their eligibility evidence.

    ``last_cast_at`` lets a voter see when they last voted while the poll is open; it is cleared
    when the poll closes, so no time remains to line voters up against the ballot log.
    """

    __tablename__ = "participation"
    __table_args__ = (UniqueConstraint("poll_id", "member_id"),)  # also serves lookups by poll

    id: str = Field(primary_key=True, max_length=32)
    poll_id: int = Field(foreign_key="poll.id")
    member_id: int = Field(foreign_key="member.id")
    evidence: dict = json_field()
    last_cast_at: datetime | None = time_field(nullable=True)


class PollKey(SQLModel, table=True):
    """The per-poll key for voter links; deleted when the poll closes."""

    __tablename__ = "poll_key"

    poll_id: int = Field(foreign_key="poll.id", primary_key=True)
    key: str = Field(max_length=64)


class Ballot(SQLModel, table=True):
    """What was voted, with no voter and no time. ``ranking`` holds option labels, best group first."""

    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("poll_id", "voter_link"),
        UniqueConstraint("poll_id", "tracker"),  # both also serve lookups by poll (migration 0004)
    )

    id: str = Field(primary_key=True, max_length=32)
    poll_id: int = Field(foreign_key="poll.id")
    tracker: str = Field(max_length=32)
    ranking: list = json_field(list)
    voter_link: str | None = Field(default=None, max_length=64, nullable=True)


class Outbox(SQLModel, table=True):
    """Forum posts to make (announcements, result replies, receipts), retried until they succeed."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)  # topic, reply, message
    poll_id: int | None = Field(default=None, index=True)
    payload: dict = json_field()
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)
    next_attempt_at: datetime = time_field(default_now=True)
    done_at: datetime | None = time_field(nullable=True)
    created_at: datetime = time_field(default_now=True)
