"""What election officers decide and what members are reminded of: eligibility exceptions,
certifications of a count, reminder rounds and the members who opted out of reminders.

Boundary rule: models hold tables and nothing else (no queries, no Flask).

Secrecy (docs/secrecy.md): nothing here names a ballot. A ``ReminderRound`` names no member (it
holds how far a round has gone through the electorate, by forum id) and is deleted at the close.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_field, time_field

EXCEPTION_STATUSES = ("pending", "accepted", "refused", "withdrawn", "lapsed")
CERTIFICATION_DECISIONS = ("", "certified", "voided", "lapsed")


class EligibilityException(SQLModel, table=True):
    """A member's request to vote in a poll whose rule leaves them out, and the officers' decision."""

    __tablename__ = "eligibility_exception"
    __table_args__ = (UniqueConstraint("poll_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    forum_user_id: int
    username: str = Field(max_length=60)
    reason: str = Field(sa_type=Text)
    #: Why the poll's rule leaves the member out, as it said when they asked.
    rule_reasons: list = json_field(list)
    status: str = Field(default="pending", max_length=20)
    decided_by: int | None = Field(default=None, foreign_key="member.id")
    decided_by_username: str = Field(default="", max_length=60)
    #: The officer's groups that made them an election officer of the poll when they decided.
    decided_as: list = json_field(list)
    decision_reason: str = Field(default="", sa_type=Text)
    created_at: datetime = time_field(default_now=True)
    decided_at: datetime | None = time_field(nullable=True)


class Certification(SQLModel, table=True):
    """A count waiting for (or given) the election officers' certification.

    ``result`` holds the count until an officer certifies it (it then becomes the poll's result
    and is cleared here) or voids it (it is deleted with the decrypted ballots).
    """

    __tablename__ = "certification"

    poll_id: int = Field(foreign_key="poll.id", primary_key=True)
    result: dict | None = Field(default=None, sa_type=JSON, nullable=True)
    counted_at: datetime = time_field(default_now=True)
    #: The end of the officers' period (None: the rules set no period, 0 days).
    due_at: datetime | None = time_field(nullable=True)
    decision: str = Field(default="", max_length=20)
    decided_at: datetime | None = time_field(nullable=True)
    officer_id: int | None = Field(default=None, foreign_key="member.id")
    officer: str = Field(default="", max_length=60)
    officer_groups: list = json_field(list)
    reason: str = Field(default="", max_length=1000)


class ReminderRound(SQLModel, table=True):
    """One reminder round of an open poll (``days`` before the close), being delivered.

    ``cursor`` is the forum id of the last member the round has passed (reminded or skipped):
    the round goes through the electorate in forum-id order, computing at each step who is
    eligible, has not voted and has not opted out, and stores nothing about anyone. Deleted at
    the close.
    """

    __tablename__ = "reminder_round"
    __table_args__ = (UniqueConstraint("poll_id", "days"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    days: int
    cursor: int = -(2**31)
    sent: int = 0
    lease_until: datetime | None = time_field(nullable=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)
    next_attempt_at: datetime = time_field(default_now=True)
    done_at: datetime | None = time_field(nullable=True)


class ReminderOptOut(SQLModel, table=True):
    """A member who asked for no reminders (for any poll)."""

    __tablename__ = "reminder_opt_out"

    member_id: int = Field(foreign_key="member.id", primary_key=True)
    created_at: datetime = time_field(default_now=True)
