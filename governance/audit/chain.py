"""The append-only event log as a hash chain: entries, their hashes and chain verification.

Boundary rule: pure standard library; no Flask, SQLModel, SQLAlchemy or other project imports.
The database model stores ``Entry`` fields as columns and calls ``make_entry`` to append.

Each entry commits to the one before it through ``prev_hash``; the first entry (``seq`` 0) has
``GENESIS_HASH``, 64 zeros. An entry's hash is the SHA-256 of the canonical JSON of its six other
fields. The Merkle tree over the log (``governance.audit.merkle``) has one leaf per entry, in
``seq`` order, whose data is the 32 raw bytes of the entry hash; so entry ``seq`` is leaf ``seq``.

>>> first = make_entry(None, type="poll.opened", actor="alice", payload={"poll": 1},
...                    created_at="2026-01-01T10:00:00Z")
>>> second = make_entry(first, type="poll.closed", actor=None, payload={"poll": 1},
...                     created_at="2026-01-02T10:00:00Z")
>>> (first.seq, second.seq, second.prev_hash == first.hash)
(0, 1, True)
>>> verify_chain([first, second])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .canonical import AuditError, canonical_json, sha256_hex

__all__ = [
    "FIRST_SEQ",
    "GENESIS_HASH",
    "ChainError",
    "Entry",
    "entry_hash",
    "format_time",
    "make_entry",
    "verify_chain",
    "verify_segment",
]

#: ``prev_hash`` of the first entry of the log.
GENESIS_HASH = "0" * 64
#: ``seq`` of the first entry of the log; ``seq`` is also the entry's Merkle leaf index.
FIRST_SEQ = 0

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class ChainError(AuditError):
    """The event log is broken at ``seq``: an entry is missing, out of order or altered."""

    def __init__(self, seq: int | None, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        where = "log" if seq is None else f"log entry {seq}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Entry:
    """One event log entry; ``hash`` covers all the other fields."""

    seq: int
    created_at: str
    type: str
    actor: str | None
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str

    @property
    def leaf(self) -> bytes:
        """The entry's Merkle leaf data: the 32 bytes of its hash."""
        return bytes.fromhex(self.hash)

    def computed_hash(self) -> str:
        """The hash the entry's contents call for (equal to ``hash`` unless it was altered)."""
        return entry_hash(
            seq=self.seq,
            created_at=self.created_at,
            type=self.type,
            actor=self.actor,
            payload=self.payload,
            prev_hash=self.prev_hash,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view with all seven fields (one line of ``log.jsonl``)."""
        return {
            "seq": self.seq,
            "created_at": self.created_at,
            "type": self.type,
            "actor": self.actor,
            "payload": dict(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """Read an entry from its JSON view, checking field names and types (not the hash)."""
        if not isinstance(data, Mapping):
            raise AuditError("a log entry must be a JSON object")
        expected = {"seq", "created_at", "type", "actor", "payload", "prev_hash", "hash"}
        if set(data) != expected:
            missing = sorted(expected - set(data))
            extra = sorted(set(data) - expected)
            raise AuditError(f"log entry fields are wrong (missing {missing}, unexpected {extra})")
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < FIRST_SEQ:
            raise AuditError(f"log entry seq must be a whole number >= {FIRST_SEQ}, not {seq!r}")
        where = f"log entry {seq}"
        if not isinstance(data["created_at"], str) or not _TIME.fullmatch(data["created_at"]):
            raise AuditError(f"{where}: created_at must be RFC 3339 UTC to the second (YYYY-MM-DDTHH:MM:SSZ)")
        if not isinstance(data["type"], str) or not data["type"]:
            raise AuditError(f"{where}: type must be a non-empty string")
        if data["actor"] is not None and not isinstance(data["actor"], str):
            raise AuditError(f"{where}: actor must be a string or null")
        if not isinstance(data["payload"], Mapping):
            raise AuditError(f"{where}: payload must be a JSON object")
        for name in ("prev_hash", "hash"):
            if not isinstance(data[name], str) or not _HEX64.fullmatch(data[name]):
                raise AuditError(f"{where}: {name} must be 64 lowercase hex digits")
        return cls(
            seq=seq,
            created_at=data["created_at"],
            type=data["type"],
            actor=data["actor"],
            payload=dict(data["payload"]),
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )


def entry_hash(
    *, seq: int, created_at: str, type: str, actor: str | None, payload: Mapping[str, Any], prev_hash: str
) -> str:
    """SHA-256 (hex) of the canonical JSON of {seq, created_at, type, actor, payload, prev_hash}."""
    return sha256_hex(
        canonical_json(
            {
                "seq": seq,
                "created_at": created_at,
                "type": type,
                "actor": actor,
                "payload": payload,
                "prev_hash": prev_hash,
            }
        )
    )


def format_time(moment: datetime | str) -> str:
    """Render a moment as RFC 3339 UTC to the second (``2026-01-02T10:00:00Z``).

    Aware datetimes are converted to UTC and truncated to the second; naive ones are refused,
    because their zone is a guess. A string must already be in this form.

    >>> from datetime import timedelta, timezone
    >>> format_time(datetime(2026, 1, 2, 11, 0, 0, 999, tzinfo=timezone(timedelta(hours=1))))
    '2026-01-02T10:00:00Z'
    """
    if isinstance(moment, str):
        if not _TIME.fullmatch(moment):
            raise AuditError(f"time {moment!r} is not RFC 3339 UTC to the second (YYYY-MM-DDTHH:MM:SSZ)")
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditError("a naive datetime has no time zone; pass an aware (UTC) datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_entry(
    prev: Entry | None,
    *,
    type: str,
    actor: str | None,
    payload: Mapping[str, Any],
    created_at: datetime | str | None = None,
) -> Entry:
    """Build the entry that follows ``prev`` (or the first entry of the log when ``prev`` is None).

    ``created_at`` defaults to now (UTC, whole seconds). The payload must be canonical-JSON-able
    (no floats): the hash is computed here, so a bad payload fails before anything is stored.
    """
    if not isinstance(type, str) or not type:
        raise AuditError("an entry type must be a non-empty string")
    if actor is not None and not isinstance(actor, str):
        raise AuditError("an entry actor must be a username string or None")
    when = format_time(created_at if created_at is not None else datetime.now(UTC))
    seq = FIRST_SEQ if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    body = dict(payload)
    digest = entry_hash(seq=seq, created_at=when, type=type, actor=actor, payload=body, prev_hash=prev_hash)
    return Entry(
        seq=seq, created_at=when, type=type, actor=actor, payload=body, prev_hash=prev_hash, hash=digest
    )


def verify_chain(entries: Sequence[Entry], *, prev: Entry | None = None) -> None:
    """Check that ``entries`` form an unbroken chain; raise ChainError at the first bad entry.

    Without ``prev`` the entries must be the whole log from its first entry; with ``prev`` they
    must continue right after it. Each entry must have the next ``seq`` (a smaller one is
    reported as out of order, a larger one as a gap), the previous entry's hash as
    ``prev_hash`` and a ``hash`` that matches its contents.
    """
    expected_seq = FIRST_SEQ if prev is None else prev.seq + 1
    expected_prev = GENESIS_HASH if prev is None else prev.hash
    for position, entry in enumerate(entries):
        if entry.seq < expected_seq:
            raise ChainError(entry.seq, f"out of order: expected entry {expected_seq} here")
        if entry.seq > expected_seq:
            if any(later.seq == expected_seq for later in entries[position + 1 :]):
                raise ChainError(entry.seq, f"out of order: entry {expected_seq} comes after it")
            raise ChainError(entry.seq, f"gap: entry {expected_seq} is missing before it")
        _check_entry(entry, expected_prev)
        expected_seq += 1
        expected_prev = entry.hash


def verify_segment(entries: Sequence[Entry]) -> None:
    """Check a selection of log entries (for example one poll's); raise ChainError at the first bad one.

    Entries must come in strictly increasing ``seq`` order; each ``hash`` must match its
    contents; where two entries are neighbours in the log the later one's ``prev_hash`` must be
    the earlier one's hash, and entry 0 must start from ``GENESIS_HASH``. Entries between
    non-neighbours cannot be checked here: Merkle inclusion proofs tie each entry to the log.
    """
    previous: Entry | None = None
    for entry in entries:
        expected_prev: str | None = None
        if previous is not None and entry.seq <= previous.seq:
            raise ChainError(entry.seq, f"out of order: it comes after entry {previous.seq}")
        if entry.seq == FIRST_SEQ:
            expected_prev = GENESIS_HASH
        elif previous is not None and entry.seq == previous.seq + 1:
            expected_prev = previous.hash
        _check_entry(entry, expected_prev)
        previous = entry


def _check_entry(entry: Entry, expected_prev: str | None) -> None:
    if expected_prev is not None and entry.prev_hash != expected_prev:
        what = "the genesis hash" if expected_prev == GENESIS_HASH else f"the hash of entry {entry.seq - 1}"
        raise ChainError(entry.seq, f"wrong prev_hash: it is not {what}")
    try:
        computed = entry.computed_hash()
    except AuditError as exc:
        raise ChainError(entry.seq, f"contents cannot be hashed ({exc})") from None
    if entry.hash != computed:
        raise ChainError(entry.seq, "wrong hash: the entry's contents were changed after it was hashed")
