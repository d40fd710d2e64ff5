"""The append-only event log. The database refuses UPDATE and DELETE on it (triggers)."""

from __future__ import annotations

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from .base import json_field


class AuditEntry(SQLModel, table=True):
    """One governance event, hash-chained to the one before (see ``governance.audit.chain``)."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    created_at: str = Field(max_length=20)
    type: str = Field(max_length=60, index=True)
    actor: str | None = Field(default=None, max_length=60)
    payload: dict = json_field()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    poll_id: int | None = Field(default=None, index=True)
    document: str | None = Field(default=None, max_length=100, index=True)
    #: Ed25519 signature of (seq, hash) with the audit key, made when the entry was appended;
    #: "" when no key is configured. Not part of the hash (``governance.audit.signing``).
    signature: str = Field(default="", max_length=128)


class TreeHead(SQLModel, table=True):
    """A signed Merkle tree head over the log, as posted to the forum."""

    __tablename__ = "tree_head"

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    root_hash: str = Field(max_length=64)
    timestamp: str = Field(max_length=20)
    signature: str = Field(default="", sa_type=Text)
    key_id: str = Field(default="", max_length=32)
    forum_post_id: int | None = None
    reason: str = Field(default="", max_length=200)
