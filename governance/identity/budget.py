"""The platform's share of the forum's admin API limit, counted in the database.

Boundary rule: a small service over an engine (its own short transactions); no Flask.

Discourse allows all admin API keys of a forum together ``max_admin_api_reqs_per_minute``
requests (60 by default) in any sliding 60 seconds (``Auth::DefaultCurrentUserProvider``'s
``admin_api_min`` limiter). Every worker and host of the platform, the web requests and
``flask forum sync`` alike, draws on that one allowance, so the count lives in the database
(``rate_limit_counter`` rows keyed ``forum-api:*``), in fixed windows of 10 seconds: with at most
``limit // 7`` calls a window, no 60 seconds can see more than the limit (a 60-second span meets
at most seven windows). Background work (the sync, polling) leaves two calls of every window to
members waiting on a page.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..models import RateLimitCounter

WINDOW = 10
INTERACTIVE_RESERVE = 2
_TABLE = RateLimitCounter.__table__


@functools.cache
def _upsert(dialect_name: str):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(_TABLE)
    return stmt.on_conflict_do_update(index_elements=["key", "window_start"],
                                      set_={"count": _TABLE.c.count + 1}).returning(_TABLE.c.count)


def per_window(limit_per_minute: int) -> int:
    """Calls allowed in one 10-second window for a forum limit of ``limit_per_minute``.

    >>> per_window(60)
    8
    """
    return max(1, limit_per_minute // 7)


class Budget:
    """Grants forum API calls within the shared allowance; ``take()`` says when one may go."""

    def __init__(self, engine: Engine, *, limit_per_minute: int = 60, background: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.allowed = per_window(limit_per_minute)
        self.own = max(1, self.allowed - INTERACTIVE_RESERVE) if background else self.allowed
        self.background = background
        self.clock = clock
        self.granted = 0
        self.refused = 0

    def take(self) -> float:
        """Count one call if the allowance has room: 0.0; else the seconds until the next window."""
        now = self.clock()
        window = int(now // WINDOW * WINDOW)
        wait = window + WINDOW - now
        with self.engine.begin() as conn:
            upsert = _upsert(conn.dialect.name)
            if self.background:
                mine = conn.execute(upsert, {"key": "forum-api:background", "window_start": window,
                                             "count": 1}).scalar_one()
                if mine > self.own:
                    self.refused += 1
                    return wait
            total = conn.execute(upsert, {"key": "forum-api", "window_start": window, "count": 1}).scalar_one()
            if window % 600 == 0:
                conn.execute(delete(_TABLE).where(_TABLE.c.key.like("forum-api%"),
                                                  _TABLE.c.window_start < window - 3600))
        if total > self.allowed:
            self.refused += 1
            return wait
        self.granted += 1
        return 0.0

    def wait_for_call(self, *, deadline: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Take a call, sleeping through full windows until ``deadline`` (a ``clock()`` time)."""
        while True:
            wait = self.take()
            if wait == 0.0:
                return True
            if self.clock() + wait > deadline:
                return False
            sleep(wait)
