"""The event log in the database: append in the caller's transaction, read, and tree heads.

Boundary rule: a service (takes a session, flushes, never commits). Every governance state change
calls ``record`` in the same transaction as the change, so both land or neither does.

Appending takes the log's write lock first (an advisory transaction lock on PostgreSQL; on SQLite
the write transaction is already exclusive), so two concurrent appends cannot both chain to the
same previous entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import func, insert
from sqlmodel import Session, select

from ..models import AuditEntry, TreeHead
from .chain import Entry, format_time, make_entry
from .merkle import root_from_leaf_hashes
from .signing import sign_entry

#: Advisory lock key for the log head (any constant unique to this purpose; migration 0003's
#: ``audit_log_tip_locked`` takes the same one).
_LOG_LOCK = 7_243_001


_TABLE = AuditEntry.__table__
# Built once: ballots append on every vote, and building a statement costs more than running it.
_TIP = select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)
#: PostgreSQL: a FROM item that takes the log's advisory lock, then yields the newest entry
#: (seq, hash) read on a fresh snapshot (the function comes with migration 0003 and takes the
#: same key); no row when the log is empty. A statement doing its own writes can read the tip
#: in the same round trip and hand it to ``record(locked_tip=...)`` in the same transaction.
LOCKED_TIP = func.audit_log_tip_locked().table_valued("seq", "hash").alias("log_tip")
_TIP_LOCKED = select(LOCKED_TIP.c.seq, LOCKED_TIP.c.hash)
_APPEND = insert(_TABLE)


def _tip(session: Session):
    """The newest entry's (seq, hash), read under the log's write lock; flushes pending rows first."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(_TIP_LOCKED).first()
    return session.execute(_TIP).first()


def as_entry(row: AuditEntry) -> Entry:
    """The pure chain entry of a stored row."""
    return Entry(
        seq=row.seq,
        created_at=row.created_at,
        type=row.type,
        actor=row.actor,
        payload=dict(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class _Tip(NamedTuple):
    """What the chain needs of the newest entry to append the next one."""

    seq: int
    hash: str


def record_signed(
    *,
    session: Session,
    type: str,
    actor: Any = None,
    payload: Mapping[str, Any],
    poll_id: int | None = None,
    document: str | None = None,
    created_at=None,
    locked_tip: tuple[int, str] | None = None,
) -> tuple[Entry, str]:
    """Append one event; return it and its signature ("" when no signing key is configured). ``actor`` is a member (its username is stored), a name, or None.

    Runs on every ballot, so it reads only the newest entry's sequence number and hash and writes
    with one plain INSERT. ``locked_tip`` is that (seq, hash) when the caller has read it already
    under the log's lock in this transaction (see ``LOCKED_TIP``); otherwise it is read here.
    """
    tip = _Tip(*locked_tip) if locked_tip is not None else _tip(session)
    name = getattr(actor, "username", actor)
    entry = make_entry(
        _Tip(tip.seq, tip.hash) if tip else None,
        type=type,
        actor=name,
        payload=dict(payload),
        created_at=created_at,
    )
    signature = sign_entry(_signing_key_cached(), entry.seq, entry.hash)
    session.connection().execute(
        _APPEND,
        {
            "seq": entry.seq,
            "created_at": entry.created_at,
            "type": entry.type,
            "actor": entry.actor,
            "payload": entry.payload,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
            "poll_id": poll_id,
            "document": document,
            "signature": signature,
        },
    )
    return entry, signature


def record(**kwargs) -> Entry:
    """Append one event and return it (``record_signed`` without the signature); same arguments."""
    return record_signed(**kwargs)[0]


def get(session: Session, seq: int) -> AuditEntry:
    """The stored entry ``seq``."""
    return session.get(AuditEntry, seq)


def entries(
    session: Session,
    *,
    poll_id: int | None = None,
    document: str | None = None,
    after: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Entries in sequence order, optionally only one poll's or one document's."""
    query = select(AuditEntry)
    if poll_id is not None:
        query = query.where(AuditEntry.poll_id == poll_id)
    if document is not None:
        query = query.where(AuditEntry.document == document)
    if after is not None:
        query = query.where(AuditEntry.seq > after)
    query = query.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def leaf_hashes(session: Session, *, size: int | None = None) -> list[str]:
    """Entry hashes (the Merkle leaves' data) in order, for the first ``size`` entries."""
    query = select(AuditEntry.hash).order_by(AuditEntry.seq)
    if size is not None:
        query = query.limit(size)
    return list(session.exec(query).all())


def current_root(session: Session) -> tuple[int, str]:
    """(tree size, root hash hex) of the whole log now."""
    hashes = leaf_hashes(session)
    from .merkle import leaf_hash

    root = root_from_leaf_hashes([leaf_hash(bytes.fromhex(h)) for h in hashes])
    return len(hashes), root.hex()


def signing_key() -> bytes | None:
    """The Ed25519 private key (PEM) from GOVERNANCE_AUDIT_SIGNING_KEY(_FILE), or None.

    A key file that is named but cannot be read raises OSError: heads must not quietly go
    unsigned because a path is wrong (``check_signing_key`` says so at start-up).
    """
    pem = os.environ.get("GOVERNANCE_AUDIT_SIGNING_KEY")
    path = os.environ.get("GOVERNANCE_AUDIT_SIGNING_KEY_FILE")
    if not pem and path:
        with open(path, "rb") as fh:
            return fh.read()
    return pem.encode() if pem else None


def _signing_key_cached() -> bytes | None:
    """The signing key for the entries' signatures (every vote signs one): the environment is
    read on each append, a key file only when the variables change."""
    wanted = (os.environ.get("GOVERNANCE_AUDIT_SIGNING_KEY"), os.environ.get("GOVERNANCE_AUDIT_SIGNING_KEY_FILE"))
    if _KEY_CACHE.get("for") != wanted:
        _KEY_CACHE.update({"for": wanted, "key": signing_key()})
    return _KEY_CACHE["key"]


_KEY_CACHE: dict = {}


def check_signing_key() -> str | None:
    """Why the configured signing key cannot sign (unreadable file, not an Ed25519 key), or None."""
    from .signing import SignatureError, load_private_key

    try:
        key = signing_key()
        if key is not None:
            load_private_key(key)
    except OSError as exc:
        return f"cannot read GOVERNANCE_AUDIT_SIGNING_KEY_FILE: {exc.strerror or exc}"
    except SignatureError as exc:
        return f"the audit signing key is unusable: {exc}"
    return None


def make_head(*, session: Session, reason: str, key: bytes | None = None, now=None) -> TreeHead:
    """Sign (when a key is configured) and store a tree head over the whole log."""
    from datetime import UTC, datetime

    from .signing import sign_head

    size, root = current_root(session)
    timestamp = format_time(now or datetime.now(UTC))
    signed = sign_head(key if key is not None else signing_key(), size, root, timestamp)
    head = TreeHead(
        tree_size=size,
        root_hash=root,
        timestamp=timestamp,
        reason=reason,
        signature=signed["signature"] or "",
        key_id=signed["key_id"] or "",
    )
    session.add(head)
    session.flush()
    return head


def head_dict(head: TreeHead) -> dict[str, Any]:
    """A tree head as published (JSON)."""
    out = {"tree_size": head.tree_size, "root_hash": head.root_hash, "timestamp": head.timestamp}
    if head.signature:
        out.update(signature=head.signature, key_id=head.key_id)
    return out
