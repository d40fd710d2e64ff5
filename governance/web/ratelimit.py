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
from dataclasses import dataclass

from flask import current_app, g, request, session
from sqlalchemy import bindparam, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from ..db import begin_writing, get_session
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


def _window(now: float, period: int) -> int:
    """The start of the fixed window that ``now`` falls in."""
    return int(now // period * period)


def _retry_after(window: int, period: int, now: float) -> int:
    """Seconds until the window resets (at least one)."""
    return max(1, window + period - int(now))


def hit(key: str, limit: int, period: int, *, now: float | None = None) -> tuple[bool, int]:
    """Count one request against ``key`` in a short transaction of its own; return (allowed, seconds
    until the window resets)."""
    engine = current_app.extensions["governance.engine_counters"]
    now = time.time() if now is None else now
    window = _window(now, period)
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
    return count <= limit, _retry_after(window, period, now)


@dataclass
class _Charge:
    """A request's hit, counted by the view in its write transaction (``spend``) or afterwards."""

    key: str
    limit: int
    period: int
    window: int
    now: float
    spent: bool = False


_CHARGE = "governance_rate_charge"
_PENDING = "governance.rate_hits"


_CURRENT = select(_TABLE.c.count).where(_TABLE.c.key == bindparam("key"),
                                        _TABLE.c.window_start == bindparam("window_start"))


def spend(db) -> None:
    """Count this request in ``db``'s transaction (a view marked ``limited(..., in_transaction=True)``
    calls it in its write transaction); RateLimited if that takes the client over the limit.

    The count lands with the view's commit. If the transaction does not commit, ``limited``
    counts the request again on its own afterwards, so refused attempts spend the limit too.
    """
    charge = g.get(_CHARGE)
    if charge is None or charge.spent:
        return
    charge.spent = True
    count = _add(db.connection(), charge.key, charge.window)
    if count > charge.limit:
        raise RateLimited(retry_after=_retry_after(charge.window, charge.period, charge.now))
    db.info.setdefault(_PENDING, []).append((charge.key, charge.window))


@event.listens_for(Session, "after_commit")
def _landed(db, *_args) -> None:
    db.info.pop(_PENDING, None)


def _settle(db, charge: _Charge) -> None:
    """After the view: count, on its own, a hit the view did not spend or whose spending was undone."""
    lost = db.info.pop(_PENDING, None)
    if lost is None and charge.spent:
        return  # committed with the view's work, or refused as over the limit (the count stays there)
    db.rollback()
    try:
        begin_writing(db)
        _add(db.connection(), charge.key, charge.window)
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


def limited(name: str, *, in_transaction: bool = False, key=None):
    """Decorate a view so each client gets ``RATELIMIT_<NAME>`` requests; put it outermost.

    By default each hit is counted in a short transaction of its own, before the view runs. With
    ``in_transaction`` the hit is counted in the request's own transaction (one transaction
    fewer per request): on PostgreSQL at once, before the view; on SQLite the count is only
    read before the view (a client at the limit is refused at once) and the view counts the hit
    by calling ``spend`` once its write transaction is open. A request that ends without
    committing its count (refused input, a domain error, or no ``spend`` at all) is counted
    afterwards on its own. ``key`` (a callable) names the counter instead of the client: voting
    counts per poll and member under a keyed hash (``polls.keys.vote_limit_key``), whose counters
    the poll's close deletes.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_app.config.get("RATELIMIT_ENABLED", True):
                return view(*args, **kwargs)
            limit, period = parse_limit(current_app.config[f"RATELIMIT_{name.upper()}"])
            counter = key() if key is not None else f"{name}:{client_key()}"
            if not in_transaction:
                allowed, retry = hit(counter, limit, period)
                if not allowed:
                    raise RateLimited(retry_after=retry)
                return view(*args, **kwargs)
            db = get_session()
            now = time.time()
            window = _window(now, period)
            charge = g.setdefault(_CHARGE, _Charge(counter, limit, period, window, now))
            try:
                if db.get_bind().dialect.name == "sqlite":
                    # Read only: counting would take SQLite's single write lock this early.
                    count = db.connection().execute(_CURRENT, {"key": counter, "window_start": window}).scalar() or 0
                    if count >= limit:
                        raise RateLimited(retry_after=_retry_after(window, period, now))
                else:
                    spend(db)  # row locks: counting first, in the request's transaction, is the check
            except OperationalError as exc:
                db.rollback()
                db.info.pop(_PENDING, None)
                charge.spent = True  # not counted: the limiter must not take the site down with it
                log.warning("rate limit not counted: %s", str(exc).splitlines()[0])
            try:
                return view(*args, **kwargs)
            finally:
                _settle(db, charge)

        return wrapper

    return decorator


# === the login limit (issue 11): per forum account once the forum has answered, per address ===


def _address() -> str:
    return request.remote_addr or "-"


def _login_hit(kind: str, who: str, setting: str, default: str) -> None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    limit, period = parse_limit(current_app.config.get(setting) or default)
    allowed, retry = hit(f"login-{kind}:{who}", limit, period)
    if not allowed:
        raise RateLimited(retry_after=retry)


def login_address_ceiling(view):
    """Every login step counts against a generous per-address ceiling (``RATELIMIT_LOGIN_ADDRESS``,
    600/minute), so a room behind one NAT still logs in; an address that sent too many answers
    that failed verification (``RATELIMIT_LOGIN_FAILURES``, 30/minute) is refused before any
    further check."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_app.config.get("RATELIMIT_ENABLED", True):
            limit, period = parse_limit(current_app.config.get("RATELIMIT_LOGIN_FAILURES") or "30/minute")
            window = _window(time.time(), period)
            try:
                with current_app.extensions["governance.engine_counters"].begin() as conn:
                    failed = conn.execute(_CURRENT, {"key": f"login-failed:{_address()}",
                                                     "window_start": window}).scalar()
            except OperationalError as exc:  # as hit(): a broken counter must not take logins down
                log.warning("login failures not read: %s", str(exc).splitlines()[0])
                failed = 0
            if (failed or 0) >= limit:
                raise RateLimited(retry_after=_retry_after(window, period, time.time()))
            # Per step (start, return), so one login spends one of each.
            _login_hit(f"address-{view.__name__}", _address(), "RATELIMIT_LOGIN_ADDRESS", "600/minute")
        return view(*args, **kwargs)

    return wrapper


def login_per_browser(browser_token: str) -> None:
    """Starting logins counts per browser (its login cookie): ``RATELIMIT_LOGIN`` (20/minute)."""
    _login_hit("browser", hashlib.sha256(browser_token.encode()).hexdigest()[:24], "RATELIMIT_LOGIN", "20/minute")


def login_per_account(forum_user_id: int) -> None:
    """A verified forum answer counts per forum account: ``RATELIMIT_LOGIN`` (20/minute)."""
    _login_hit("account", str(int(forum_user_id)), "RATELIMIT_LOGIN", "20/minute")


def login_failed() -> None:
    """Count an answer that failed verification against the address's failure limit."""
    if current_app.config.get("RATELIMIT_ENABLED", True):
        limit, period = parse_limit(current_app.config.get("RATELIMIT_LOGIN_FAILURES") or "30/minute")
        hit(f"login-failed:{_address()}", limit, period)
