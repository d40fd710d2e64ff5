"""Encrypted ballots and what turns them into a count: per-poll secrets, trustees, mixes, shares.

Boundary rule: models hold tables and nothing else (no queries, no Flask).

Secrecy by construction (docs/secrecy.md): a ``Ballot`` holds ciphertexts with their proof, the
credential (a per-poll pseudonym) and the tracker (the hash of the encrypted ballot); no member,
no time. Its primary key is random, and on SQLite the table has no rowid, so the file keeps no
order of arrival. The only way from a member to their credential is the poll's link salt in
``PollSecret``, deleted when the poll closes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_field, time_field


class PollSecret(SQLModel, table=True):
    """A poll's random salts: the credentials' (deleted at the close) and, in platform mode, the
    decryption key's (deleted after the decryption). Each is useless without the platform's
    secret key, from which the actual keys are derived (``polls.keys``)."""

    __tablename__ = "poll_secret"

    poll_id: int = Field(foreign_key="poll.id", primary_key=True)
    link_salt: str | None = Field(default=None, max_length=64, nullable=True)
    key_salt: str | None = Field(default=None, max_length=64, nullable=True)


class PollTrustee(SQLModel, table=True):
    """One trustee of a poll and what they published in the key ceremony (public data only)."""

    __tablename__ = "poll_trustee"
    __table_args__ = (UniqueConstraint("poll_id", "position"), UniqueConstraint("poll_id", "member_id"))

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    position: int  # 1..n: the trustee's index in the threshold scheme
    member_id: int = Field(foreign_key="member.id")
    username: str = Field(max_length=60)
    certificate: dict | None = Field(default=None, sa_type=JSON, nullable=True)  # round 1
    shares: dict | None = Field(default=None, sa_type=JSON, nullable=True)  # round 2
    verification: dict | None = Field(default=None, sa_type=JSON, nullable=True)  # round 3


class Ballot(SQLModel, table=True):
    """An accepted encrypted ballot, as on the bulletin board. ``seq`` is its log entry."""

    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("poll_id", "tracker"),
        Index("ix_ballot_poll_credential", "poll_id", "credential"),
        {"sqlite_with_rowid": False},
    )

    id: str = Field(primary_key=True, max_length=32)
    poll_id: int = Field(foreign_key="poll.id")
    tracker: str = Field(max_length=64)
    credential: str = Field(max_length=32)
    content: dict = json_field()
    seq: int
    superseded: bool = False


class Mix(SQLModel, table=True):
    """One shuffle of a closed poll's ballots: its output (packed ciphertexts) and its proof."""

    __tablename__ = "mix"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    position: int  # 1, 2, ...: mix k shuffles the output of mix k-1 (mix 1 the live ballots)
    mixer: int  # the trustee's position (the platform's is 1 in platform mode)
    input_sha256: str = Field(max_length=64)
    output_sha256: str = Field(max_length=64)
    output: bytes = Field(sa_type=LargeBinary)
    proof: dict = json_field()
    #: A trustee's upload counts only once verified (by the clock); the platform's own mix is.
    verified: bool = False
    created_at: datetime = time_field(default_now=True)


class DecryptionShare(SQLModel, table=True):
    """One trustee's decryption factors for the final mix, with their proof."""

    __tablename__ = "decryption_share"
    __table_args__ = (UniqueConstraint("poll_id", "trustee"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    trustee: int  # the trustee's position
    mix_sha256: str = Field(max_length=64)  # the final mix output these factors decrypt
    factors: bytes = Field(sa_type=LargeBinary)
    proof: dict = json_field()
    verified: bool = False
    created_at: datetime = time_field(default_now=True)


class DecodedBallot(SQLModel, table=True):
    """A decrypted ballot, in the final mix's order: its ranking, or why it is invalid."""

    __tablename__ = "decoded_ballot"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id")
    position: int
    values: list = json_field(list)  # the rank of each option (0 = unranked); None if undecodable
    ranking: list | None = Field(default=None, sa_type=JSON, nullable=True)  # None: invalid
    invalid: str = Field(default="", max_length=200)


class LegacyBallot(SQLModel, table=True):
    """A plaintext ballot of a poll counted before ballots were encrypted (kept for its bundle)."""

    __tablename__ = "legacy_ballot"
    __table_args__ = (UniqueConstraint("poll_id", "tracker"),)

    id: str = Field(primary_key=True, max_length=32)
    poll_id: int = Field(foreign_key="poll.id")
    tracker: str = Field(max_length=32)
    ranking: list = json_field(list)
