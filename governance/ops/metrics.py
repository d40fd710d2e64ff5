"""Prometheus metrics at ``/metrics``: requests, ballots, load shedding, the forum, the database,
and the state every host shares (open polls, clock lag, outbox backlog).

Boundary rule: counting functions that take plain values (anyone may call them; they never
raise), and the endpoint. No voter, ballot content or per-voter time is ever a label.

Two kinds of values, chosen so that several gunicorn workers and hosts report the truth:

* Counters and histograms of this host's requests use ``prometheus_client``'s multiprocess mode
  when ``PROMETHEUS_MULTIPROC_DIR`` is set (the shipped gunicorn configuration sets it to a fresh
  folder per master and marks dead workers), so a scrape of any worker sums the whole host.
  Without it (one process, the tests) they live in the process's registry.
* Open polls, clock lag and the outbox are read from the database at scrape time, so every host
  reports the same shared values.

Access: with ``GOVERNANCE_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>``; without it,
only clients on loopback (the reverse proxy does not forward ``/metrics``).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "governance_http_request_duration_seconds", "Time to answer a request, by endpoint and status class.",
    ["endpoint", "status"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BALLOTS = Counter("governance_ballots_total", "Ballot submissions by outcome (accepted, refused) and HTTP status.",
                  ["outcome", "status"])
SHED = Counter("governance_requests_shed_total",
               "Requests answered 503 without doing their work: queue (no slot in time), deadline, client_gone.",
               ["reason"])
FORUM_CALLS = Counter("governance_forum_calls_total", "Calls to the forum's API by call and outcome "
                      "(ok, rate_limited, failed).", ["call", "outcome"])
OUTBOX_DELIVERIES = Counter("governance_outbox_deliveries_total", "Forum post deliveries by kind and outcome.",
                            ["kind", "outcome"])
DATABASE_ERRORS = Counter("governance_database_errors_total", "Database errors seen by requests, by kind.",
                          ["kind"])


def _safe(fn):
    def wrapper(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - counting must never break the request
            log.debug("metric not counted", exc_info=True)
    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


@_safe
def request_done(endpoint: str | None, status: int, seconds: float) -> None:
    """One request answered (the app's ``teardown`` calls it)."""
    REQUEST_SECONDS.labels(endpoint or "none", f"{status // 100}xx").observe(seconds)


@_safe
def ballot(status: int) -> None:
    """A ballot submission answered with ``status`` (accepted when 2xx/3xx)."""
    BALLOTS.labels("accepted" if status < 400 else "refused", str(status)).inc()


@_safe
def shed(reason: str) -> None:
    """A request answered 503 without doing its work."""
    SHED.labels(reason).inc()


@_safe
def forum_call(call: str, outcome: str) -> None:
    """A forum API call finished: outcome ``ok``, ``rate_limited`` (HTTP 429) or ``failed``."""
    FORUM_CALLS.labels(call, outcome).inc()


@_safe
def outbox_delivery(kind: str, ok: bool) -> None:
    """An outbox job was attempted."""
    OUTBOX_DELIVERIES.labels(kind, "delivered" if ok else "failed").inc()


@_safe
def database_error(kind: str) -> None:
    """A request met a database error."""
    DATABASE_ERRORS.labels(kind).inc()


class SharedState:
    """Values every host shares, read from the database at scrape time."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def collect(self):
        from sqlalchemy import func, select

        from ..models import Poll
        from . import health, heartbeat

        up = GaugeMetricFamily("governance_database_up", "1 when this host reached the database at scrape time.")
        try:
            now = datetime.now(UTC)
            with self.engine.connect() as conn:
                open_polls = conn.execute(select(func.count()).select_from(Poll.__table__)
                                          .where(Poll.__table__.c.status == "open")).scalar_one()
                last = heartbeat.last_beat(conn)
                backlog = health.outbox_backlog(conn, now)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the failure as a value
            log.warning("metrics: database not read", extra={"event": "metrics.database", "error": str(exc)[:200]})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("governance_open_polls", "Polls open for voting.", value=open_polls)
        yield GaugeMetricFamily("governance_clock_lag_seconds",
                                "Seconds since a clock run (polls tick) last finished; -1 if none ever did.",
                                value=-1 if last is None else max(0.0, (now - last).total_seconds()))
        yield GaugeMetricFamily("governance_outbox_undelivered", "Forum posts not yet delivered.",
                                value=backlog["undelivered"])
        yield GaugeMetricFamily("governance_outbox_failing", "Undelivered forum posts that failed at least once.",
                                value=backlog["failing"])
        yield GaugeMetricFamily("governance_outbox_oldest_age_seconds",
                                "Age of the oldest undelivered forum post (0 when none).",
                                value=backlog["oldest_age_seconds"] or 0)


def allowed(remote_addr: str | None, authorization: str | None, token: str) -> bool:
    """Whether a scrape may read the metrics.

    >>> allowed("203.0.113.9", "Bearer s3cret", "s3cret"), allowed("203.0.113.9", "Bearer nope", "s3cret")
    (True, False)
    >>> allowed("127.0.0.1", None, ""), allowed("203.0.113.9", None, "")
    (True, False)
    """
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        return (authorization or "").startswith("Bearer ") and hmac.compare_digest(given.encode(), token.encode())
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


def render(engine) -> bytes:
    """The text exposition of every metric (this host's processes summed in multiprocess mode)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUEST_SECONDS, BALLOTS, SHED, FORUM_CALLS, OUTBOX_DELIVERIES, DATABASE_ERRORS):
            registry.register(collector)
    registry.register(SharedState(engine))
    return generate_latest(registry)
