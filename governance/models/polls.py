"""Charter versions, polls, options, nominations, the frozen electorate, participation and ballots.

Encrypted ballots, the per-poll secrets, trustees, mixes and decryption shares are in
``models.ballots``. ``Participation`` (who voted) holds no time and nothing that names a ballot.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_field, time_field

POLL_KINDS = ("election", "decision", "referendum")
POLL_STATUSES = ("draft", "nominations", "scheduled", "open", "closed", "certifying", "published", "cancelled")


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
    # Encrypted ballots: who holds the decryption key ("platform" or "trustees"), the trustees'
    # threshold, and the election parameters frozen at opening (governance.crypto's
    # ElectionParams as a dict) with their fingerprint.
    key_mode: str = Field(default="platform", max_length=20)
    trustee_threshold: int = 1
    election_params: dict | None = Field(default=None, sa_type=JSON, nullable=True)
    fingerprint: str = Field(default="", max_length=64)
    #: Trustee mode: the key ceremony's setup (docs/crypto.md §8), fixed at scheduling.
    ceremony: dict | None = Field(default=None, sa_type=JSON, nullable=True)
    #: Trustee mode: an election officer ended the mixing with at least the threshold's mixes.
    mixing_ended: bool = False
    electorate_hash: str = Field(default="", max_length=64)
    electorate_size: int | None = None
    ballots_hash: str = Field(default="", max_length=64)
    result: dict | None = Field(default=None, sa_type=JSON, nullable=True)
    result_hash: str = Field(default="", max_length=64)
    cancel_reason: str = Field(default="", max_length=1000)
    forum_topic_id: int | None = None
    # Referendums on a document amendment: the amendment and the hashes the vote is bound to.
    amendment_id: int | None = Field(default=None, index=True)
    #: The rules of its body the poll follows (``polls.rules``): election officers, certification,
    #: eligibility exceptions, reminder days, the cap on seats per affiliation. Frozen from the
    #: charter at scheduling; ``{}`` for polls scheduled before these rules existed.
    rules: dict = json_field()
    #: A test poll (rehearsing the ceremony, trying the ballot): marked on every page, left out of
    #: the public lists, the audit index and the forum; its result is no decision of the body.
    is_test: bool = False
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
    #: An election candidate's declared affiliation, frozen at opening (None: none declared).
    affiliation: str | None = Field(default=None, max_length=100, nullable=True)


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
    #: The affiliation (employer, ...) the candidate declared; "" when they declared none, None
    #: when they have not declared yet (a nominee who has not accepted).
    affiliation: str | None = Field(default=None, max_length=100, nullable=True)
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
    """Who voted (never what, never when): one row per voter per poll, with their eligibility evidence.

    No time, no credential, no tracker: nothing here lines a voter up with the bulletin board.
    The random primary key (and, on SQLite, a table without rowid) keeps no insertion order.
    """

    __tablename__ = "participation"
    __table_args__ = (UniqueConstraint("poll_id", "member_id"), {"sqlite_with_rowid": False})

    id: str = Field(primary_key=True, max_length=32)
    poll_id: int = Field(foreign_key="poll.id")
    member_id: int = Field(foreign_key="member.id")
    evidence: dict = json_field()


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


class TimingChange(SQLModel, table=True):
    """A manager's request to open a poll now, close it early or extend it (``polls.timing``).

    ``kind`` is ``open_now``, ``close_early`` or ``extend``; ``closes_at`` is the new closing
    time an extension asks for. A second manager approves (it takes effect then) or refuses; the
    requester may withdraw; a request that can no longer take effect lapses. ``applied`` keeps
    what changed (``from`` and ``to``), for the poll page.
    """

    __tablename__ = "timing_change"

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    kind: str = Field(max_length=20)
    reason: str = Field(default="", max_length=1000)
    closes_at: datetime | None = time_field(nullable=True)
    status: str = Field(default="pending", max_length=20)
    requested_by: int = Field(foreign_key="member.id")
    decided_by: int | None = Field(default=None, foreign_key="member.id")
    decision_reason: str = Field(default="", max_length=1000)
    applied: dict = json_field()
    created_at: datetime = time_field(default_now=True)
    decided_at: datetime | None = time_field(nullable=True)
