"""Fixed-window rate limits whose counters live in the database, shared by every worker and host.

Each hit is an upsert in its own short transaction, so a limit holds across gunicorn workers and
load-balanced hosts, and counting never holds the request's own write lock.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import time

from flask import current_app, request, session
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from ..errors import RateLimited
from ..models import RateLimitCounter

log = logging.getLogger(__name__)

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")


def parse_limit(text: str) -> tuple[int, int]:
    """Parse "N/period" into (N, seconds).

    >>> parse_limit("30/minute")
    (30, 60)
    """
    match = _LIMIT_RE.match(text)
    if not match:
        raise ValueError(f"rate limit {text!r} is not of the form N/second|minute|hour|day")
    return int(match.group(1)), _PERIODS[match.group(2)]


def hit(key: str, limit: int, period: int, *, now: float | None = None) -> tuple[bool, int]:
    """Count one request against ``key``; return (allowed, seconds until the window resets)."""
    engine = current_app.extensions["governance.engine_counters"]
    now = time.time() if now is None else now
    window = int(now // period * period)
    table = RateLimitCounter.__table__
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(key=key, window_start=window, count=1)
    stmt = stmt.on_conflict_do_update(index_elements=["key", "window_start"],
                                      set_={"count": table.c.count + 1}).returning(table.c.count)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # A counter lost in a server crash costs nothing; don't wait for the WAL flush.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            count = conn.execute(stmt).scalar_one()
            if random.random() < 0.01:  # prune old windows now and then
                conn.execute(delete(table).where(table.c.window_start < window - 86400))
    except OperationalError as exc:
        # The limiter must not take the site down with it: count nothing, let the request
        # through (its own database work will fail clearly if the database is really gone).
        log.warning("rate limit not counted: %s", str(exc).splitlines()[0])
        return True, 0
    return count <= limit, max(1, window + period - int(now))


def client_key() -> str:
    """Who is asking: the login session (from the cookie, without a database read), else the address.

    Reading the cookie rather than the member keeps the counter's own short write transaction
    ahead of the request's (SQLite allows one writer at a time).
    """
    token = session.get("_user_id")
    if token:
        return "s" + hashlib.sha256(str(token).encode()).hexdigest()[:24]
    return f"a{request.remote_addr}"


def limited(name: str):
    """Decorate a view so each client gets ``RATELIMIT_<NAME>`` requests; put it outermost."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if current_app.config.get("RATELIMIT_ENABLED", True):
                limit, period = parse_limit(current_app.config[f"RATELIMIT_{name.upper()}"])
                allowed, retry = hit(f"{name}:{client_key()}", limit, period)
                if not allowed:
                    raise RateLimited(retry_after=retry)
            return view(*args, **kwargs)

        return wrapper

    return decorator
