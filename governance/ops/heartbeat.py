"""The clock's heartbeat: when ``polls tick`` last finished a run, shared by every host.

Boundary rule: two tiny functions over one row. The row lives in the rate-limit counter table
(``key = "clock.heartbeat"``, a fixed ``window_start`` that the limiter's pruning never reaches,
``count`` = the Unix time of the last successful tick), so recording it needs no schema change and
every host's clock writes the same row. ``/healthz`` and ``/metrics`` read it.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..models import RateLimitCounter

KEY = "clock.heartbeat"
#: The largest 32-bit integer: no rate-limit window starts there, and pruning deletes only windows
#: older than a day before the current one.
WINDOW = 2**31 - 1
_TABLE = RateLimitCounter.__table__


@functools.cache
def _upsert(dialect_name: str):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(_TABLE)
    # Several hosts' clocks: keep the newest time, never move it back.
    newest = stmt.excluded.count
    return stmt.on_conflict_do_update(
        index_elements=["key", "window_start"],
        set_={"count": newest}, where=_TABLE.c.count < newest)


def beat(engine: Engine, now: datetime) -> None:
    """Record that a clock run finished at ``now`` (call it after each successful ``polls tick`` run)."""
    with engine.begin() as conn:
        conn.execute(_upsert(conn.dialect.name), {"key": KEY, "window_start": WINDOW, "count": int(now.timestamp())})


def last_beat(conn) -> datetime | None:
    """When a clock run last finished, or None if none ever did."""
    value = conn.execute(select(_TABLE.c.count).where(_TABLE.c.key == KEY, _TABLE.c.window_start == WINDOW)).scalar()
    return None if value is None else datetime.fromtimestamp(value, UTC)
