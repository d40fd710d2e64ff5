"""What ``/healthz`` reports: the database, its schema, the clock and the forum outbox.

Boundary rule: reads only, on a connection of its own (never the request's session), so the
health of a host can be told even when a request's transaction has failed.

``status`` is ``ok``; ``degraded`` when the clock has not finished a run within
``CLOCK_STALE_SECONDS`` or the oldest undelivered forum post is older than ``OUTBOX_STALE_SECONDS``
(the host still serves: HTTP 200, but someone should look); ``error`` when the database cannot be
reached or its schema is not the newest migration (HTTP 503: take the host out of the pool).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import db
from ..models import Outbox
from . import heartbeat


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def outbox_backlog(conn, now: datetime) -> dict[str, Any]:
    """Undelivered forum posts: how many, how many have failed at least once, the oldest one's age."""
    pending = Outbox.__table__.c
    row = conn.execute(select(func.count(), func.min(pending.created_at),
                              func.count().filter(pending.attempts > 0))
                       .where(pending.done_at.is_(None))).one()
    oldest = row[1]  # min() keeps the column's type: a UTC-aware time
    return {"undelivered": int(row[0]), "failing": int(row[2] or 0),
            "oldest_age_seconds": None if oldest is None else max(0, int((now - oldest).total_seconds()))}


def report(engine: Engine, config: dict[str, Any], now: datetime | None = None) -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status (200 or 503)."""
    now = now or datetime.now(UTC)
    body: dict[str, Any] = {"status": "ok", "checks": {}}
    checks = body["checks"]
    problem = db.schema_problem(engine)
    path = db.sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is not None and not path.exists():  # connecting would create an empty file
        checks["database"] = {"ok": False, "error": problem}
        body["status"] = "error"
        return body, 503
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            checks["database"] = {"ok": True}
            if problem is None:
                last = heartbeat.last_beat(conn)
                backlog = outbox_backlog(conn, now)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
        checks["database"] = {"ok": False, "error": reason[:200]}
        body["status"] = "error"
        return body, 503
    checks["schema"] = {"ok": problem is None, "current": None, "head": db.head_revision()}
    if problem is not None:
        checks["schema"]["error"] = problem
        body["status"] = "error"
        return body, 503
    checks["schema"]["current"] = checks["schema"]["head"]
    clock_bound = int(config.get("CLOCK_STALE_SECONDS", 300))
    age = None if last is None else max(0, int((now - last).total_seconds()))
    checks["clock"] = {"ok": age is not None and age <= clock_bound, "last_tick": _iso(last),
                       "age_seconds": age, "bound_seconds": clock_bound}
    outbox_bound = int(config.get("OUTBOX_STALE_SECONDS", 900))
    oldest = backlog["oldest_age_seconds"]
    checks["outbox"] = {"ok": oldest is None or oldest <= outbox_bound, **backlog, "bound_seconds": outbox_bound}
    if not (checks["clock"]["ok"] and checks["outbox"]["ok"]):
        body["status"] = "degraded"
    return body, 200
