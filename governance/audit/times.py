"""The verifier's check of a poll's opening and closing times against its log.

Boundary rule: standard library and the rest of ``governance.audit``; no Flask, SQLModel or
SQLAlchemy. ``bundle.py`` runs it with the rules check of both bundle formats; docs/audit.md §6d
specifies it.

The times a poll was scheduled with (``poll.scheduled``) change only through ``poll.times_changed``
entries (``polls.timing``: open now, close early, extend), each naming the field, the time it
changes from and to, the manager who asked and the different manager who approved. Replaying
them in log order:

* every change starts from the time in force (``from``), was approved by a second manager, moves
  the opening only before the poll opened and the closing only while it was open;
* ``poll.opened`` froze the times in force at the opening;
* ``election.json`` states the times in force at the end; and
* ``poll.closed`` was not logged before the closing time then in force.

A poll's times changed in the database without these entries fail the check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .chain import Entry
from .report import _error, _fail

CHANGED = "poll.times_changed"
FIELDS = ("opens_at", "closes_at")


def _when(text: Any, where: str) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise _error(f"{where}: an unreadable time {str(text)[:40]!r}") from None


def check_times(election: Mapping[str, Any], entries: Sequence[Entry]) -> str:
    """The detail of a passed check ("" when the log predates recorded times); raises on failure."""
    opened = [e for e in entries if e.type == "poll.opened"]
    if not opened or not all(k in opened[-1].payload for k in FIELDS):
        return ""  # a poll logged before its opening entry recorded its times
    current: dict[str, Any] | None = None
    state, changes = "scheduled", 0
    for entry in sorted(entries, key=lambda e: e.seq):
        payload = entry.payload
        if entry.type == "poll.scheduled":
            current, state = {k: payload.get(k) for k in FIELDS}, "scheduled"
        elif entry.type == "poll.opened":
            if current is not None and any(payload.get(k) != current[k] for k in FIELDS):
                raise _fail(f"log entry {entry.seq} (poll.opened) froze the times {payload.get('opens_at')} to "
                            f"{payload.get('closes_at')}, not the ones in force ({current['opens_at']} to "
                            f"{current['closes_at']}): they changed without a poll.times_changed entry")
            current, state = {k: payload.get(k) for k in FIELDS}, "open"
        elif entry.type == CHANGED:
            field = payload.get("field")
            if field not in FIELDS:
                raise _error(f"log entry {entry.seq} ({CHANGED}) names no time (opens_at or closes_at)")
            if current is not None and payload.get("from") != current[field]:
                raise _fail(f"log entry {entry.seq} changes {field} from {payload.get('from')}, but the time in "
                            f"force was {current[field]}")
            if (field == "opens_at") != (state == "scheduled"):
                raise _fail(f"log entry {entry.seq} changes {field} while the poll was {state}")
            who, second = payload.get("requested_by"), payload.get("approved_by")
            if not who or not second or who == second:
                raise _fail(f"log entry {entry.seq} changes {field} without a second manager's approval")
            if field == "closes_at" and _when(payload.get("to"), f"entry {entry.seq}") < \
                    _when(entry.created_at, f"entry {entry.seq}"):
                raise _fail(f"log entry {entry.seq} sets a closing time before the change was made")
            current = {**(current or {}), field: payload.get("to")}
            changes += 1
        elif entry.type == "poll.closed":
            if current is not None and current.get("closes_at") and \
                    _when(entry.created_at, f"entry {entry.seq}") < _when(current["closes_at"], "closes_at"):
                raise _fail(f"log entry {entry.seq} closed the poll at {entry.created_at}, before its closing "
                            f"time {current['closes_at']}")
            state = "closed"
    for key in FIELDS:
        if election.get(key) != current[key]:
            raise _fail(f"election.json says the poll {'opens' if key == 'opens_at' else 'closes'} at "
                        f"{election.get(key)}, but the log puts it at {current[key]}")
    return (f"times as logged ({changes} approved {'change' if changes == 1 else 'changes'})" if changes
            else "times as scheduled")
