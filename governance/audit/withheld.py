"""Entries the public audit pages do not show in full: those of polls never scheduled.

Boundary rule: queries over a session; no Flask.

A draft's title, description and options are the managers' working copy until they schedule it.
Its log entries (``poll.created``, ``poll.edited``, scheduling requests, a cancellation while it
was a draft) are in the one hash chain like every other, so the public pages still list them and
publish their sequence number, type, time, entry hash and previous hash (the chain links and the
Merkle proofs still verify), but withhold their payload and actor. Once the poll is scheduled
(a ``poll.scheduled`` entry exists) its entries show in full, and a closed poll's bundle has them.
A poll cancelled or deleted while it was a draft is never scheduled: its entries stay withheld.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, select

from ..copy import N_
from ..models import AuditEntry, Poll
from .canonical import canonical_json

MESSAGE = N_("withheld: this entry belongs to a draft poll; it is shown once the poll is scheduled")


def unscheduled(session: Session, poll_ids: Iterable[int | None]) -> set[int]:
    """Those of ``poll_ids`` whose poll was never scheduled (a draft, a draft cancelled, or gone)."""
    ids = {i for i in poll_ids if i is not None}
    if not ids:
        return set()
    scheduled = set(session.exec(select(AuditEntry.poll_id).where(AuditEntry.type == "poll.scheduled",
                                                                  AuditEntry.poll_id.in_(ids))).all())
    status = dict(session.exec(select(Poll.id, Poll.status).where(Poll.id.in_(ids))).all())
    return {i for i in ids - scheduled if status.get(i, "draft") in ("draft", "cancelled")}


def withheld_seqs(session: Session, entries: Iterable[AuditEntry]) -> set[int]:
    """The sequence numbers of ``entries`` whose payload the public pages withhold."""
    rows = list(entries)
    hidden = unscheduled(session, (e.poll_id for e in rows))
    return {e.seq for e in rows if e.poll_id in hidden}


def is_withheld(session: Session, entry: AuditEntry) -> bool:
    """Whether the public pages withhold this entry's payload."""
    return bool(withheld_seqs(session, [entry]))


def public_dict(entry: AuditEntry) -> dict[str, Any]:
    """What the public pages show of a withheld entry: where it is in the chain, never what it says."""
    return {"seq": entry.seq, "created_at": entry.created_at, "type": entry.type, "poll": entry.poll_id,
            "prev_hash": entry.prev_hash, "hash": entry.hash, "withheld": MESSAGE}


def public_json(entry: AuditEntry) -> str:
    """``public_dict`` as canonical JSON (not the entry's hashed line: its payload is left out)."""
    return canonical_json(public_dict(entry)).decode("utf-8")
