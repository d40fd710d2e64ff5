"""Fixed-window rate limits whose counters live in the database, shared by every worker and host.

Each hit is an upsert, so a limit holds across gunicorn workers and load-balanced hosts. By
default it runs in a short transaction of its own, ahead of the request's (which on SQLite may
then hold the single write lock during slow work such as calling the forum); views that do no
such work count inside their own transaction instead (``limited(..., in_transaction=True)``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import time

from flask import current_app, request, session
from sqlalchemy import delete, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from ..db import get_session
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


_TABLE = RateLimitCounter.__table__


@functools.cache
def _upsert(dialect_name: str):
    """Add one to a window's counter and return the new count (built once per dialect)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(_TABLE)
    return stmt.on_conflict_do_update(index_elements=["key", "window_start"],
                                      set_={"count": _TABLE.c.count + 1}).returning(_TABLE.c.count)


def _add(conn, key: str, window: int) -> int:
    count = conn.execute(_upsert(conn.dialect.name), {"key": key, "window_start": window, "count": 1}).scalar_one()
    if random.random() < 0.01:  # prune old windows now and then
        conn.execute(delete(_TABLE).where(_TABLE.c.window_start < window - 86400))
    return count


def _verdict(count: int, limit: int, period: int, window: int, now: float) -> tuple[bool, int]:
    return count <= limit, max(1, window + period - int(now))


def hit(key: str, limit: int, period: int, *, now: float | None = None) -> tuple[bool, int]:
    """Count one request against ``key`` in a short transaction of its own; return (allowed, seconds
    until the window resets)."""
    engine = current_app.extensions["governance.engine_counters"]
    now = time.time() if now is None else now
    window = int(now // period * period)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # A counter lost in a server crash costs nothing; don't wait for the WAL flush.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            count = _add(conn, key, window)
    except OperationalError as exc:
        # The limiter must not take the site down with it: count nothing, let the request
        # through (its own database work will fail clearly if the database is really gone).
        log.warning("rate limit not counted: %s", str(exc).splitlines()[0])
        return True, 0
    return _verdict(count, limit, period, window, now)


def hit_in(db, key: str, limit: int, period: int, *, now: float | None = None) -> tuple[bool, int]:
    """Count one request against ``key`` inside the request's own transaction ``db``.

    The count lands with the request's commit. A request whose transaction is rolled back
    instead (refused input, a domain error) is counted again by ``limited`` in a transaction of
    its own, so failures spend the limit too.
    """
    now = time.time() if now is None else now
    window = int(now // period * period)
    count = _add(db.connection(), key, window)
    db.info.setdefault(_PENDING, []).append((key, window))
    return _verdict(count, limit, period, window, now)


_PENDING = "governance.rate_hits"


@event.listens_for(Session, "after_commit")
def _landed(db, *_args) -> None:
    db.info.pop(_PENDING, None)


def _recount_lost(db) -> None:
    """Count again, in the request's session, the hits whose transaction did not commit."""
    lost = db.info.pop(_PENDING, None)
    if not lost:
        return
    db.rollback()
    try:
        conn = db.connection()
        for key, window in lost:
            _add(conn, key, window)
        db.commit()
    except OperationalError as exc:
        db.rollback()
        log.warning("rate limit not counted: %s", str(exc).splitlines()[0])


def client_key() -> str:
    """Who is asking: the login session (from the cookie, without a database read), else the address.

    Reading the cookie rather than the member keeps the counter's own short write transaction
    ahead of the request's (SQLite allows one writer at a time).
    """
    token = session.get("_user_id")
    if token:
        return "s" + hashlib.sha256(str(token).encode()).hexdigest()[:24]
    return f"a{request.remote_addr}"


def limited(name: str, *, in_transaction: bool = False):
    """Decorate a view so each client gets ``RATELIMIT_<NAME>`` requests; put it outermost.

    By default each hit is counted in a short transaction of its own, before the view runs. With
    ``in_transaction`` it is counted in the request's own transaction instead (one commit fewer),
    for views that do no slow work (such as calling the forum) before they commit: on SQLite
    that transaction holds the write lock from the count on. Requests whose transaction is rolled
    back are counted again on their own, so refused input spends the limit like anything else.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_app.config.get("RATELIMIT_ENABLED", True):
                return view(*args, **kwargs)
            limit, period = parse_limit(current_app.config[f"RATELIMIT_{name.upper()}"])
            key = f"{name}:{client_key()}"
            if not in_transaction:
                allowed, retry = hit(key, limit, period)
                if not allowed:
                    raise RateLimited(retry_after=retry)
                return view(*args, **kwargs)
            db = get_session()
            try:
                allowed, retry = hit_in(db, key, limit, period)
            except OperationalError as exc:
                db.rollback()
                db.info.pop(_PENDING, None)
                log.warning("rate limit not counted: %s", str(exc).splitlines()[0])
                allowed, retry = True, 0
            if not allowed:
                db.rollback()
                db.info.pop(_PENDING, None)  # over the limit already: the count stays there
                raise RateLimited(retry_after=retry)
            try:
                response = view(*args, **kwargs)
            except BaseException:
                _recount_lost(db)
                raise
            _recount_lost(db)
            return response

        return wrapper

    return decorator
