"""Load shedding: a bounded queue in front of the app, deadlines, and work whose client is gone.

Boundary rule: a WSGI middleware and a few functions that read the request's environ; no Flask
views, no database. Under more load than the machine can serve, a request is answered early with
``503`` and ``Retry-After`` (before the app runs, so before any write) instead of waiting past its
client's timeout; work whose client has given up is dropped before it commits.

How it decides, per process:

* *When the request arrived.* The shipped gunicorn worker (``governance.ops.worker``) stamps each
  request when its connection is queued for a thread; behind a trusted proxy (``TRUSTED_PROXIES``)
  nginx's ``X-Request-Start: t=<seconds>`` header gives the time the proxy accepted it, which also
  covers the time spent in the listen queue. Without either, the time the app first saw it.
* *Admission.* At most ``MAX_IN_FLIGHT`` requests run in the app at once (by default 4 on SQLite,
  whose writers take turns, and 16 on PostgreSQL); a request that has already waited
  ``QUEUE_TIMEOUT`` seconds since it arrived, or cannot get a slot before then, is answered 503.
* *Deadline.* ``REQUEST_DEADLINE`` seconds after arrival a request may no longer begin writing
  (``check_deadline``, called when a write transaction opens): 503, nothing written.
* *Client gone.* Before a request's transaction commits, ``client_gone`` peeks at the client's
  socket; a client that has closed it gets nothing committed in its name.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

#: Paths never shed: a load balancer's health check and the metrics scrape must see the truth.
EXEMPT = ("/healthz", "/metrics")

_ARRIVED = "governance.arrived"  # time.monotonic() when the request arrived
_DEADLINE = "governance.deadline"
_local = threading.local()


class Overloaded(Exception):
    """The request cannot be served in time; nothing was done. ``web.errors`` answers 503."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ClientGone(Exception):
    """The client closed its connection before the request's work was committed; it was rolled back."""


#: Requests in the app at once, per process, when ``MAX_IN_FLIGHT`` is not set. SQLite's writers
#: take turns on one lock, so more only lengthens that queue; PostgreSQL's wait on row locks and
#: commit flushes in parallel (bench/overload.py measured 0.56x the ballots/s with 4 instead of 16).
DEFAULT_IN_FLIGHT = {"sqlite": 4, "postgresql": 16}


def in_flight_bound(configured: int | None, engine) -> int:
    """The admission bound: the configured one, or the database's default."""
    if configured:
        return int(configured)
    return DEFAULT_IN_FLIGHT.get(engine.dialect.name, 8)


def stamp(at: float | None = None) -> None:
    """Record, for the request this thread is about to handle, when it was queued (the worker calls it)."""
    _local.queued_at = time.monotonic() if at is None else at


def _proxy_start(value: str, now_wall: float, now_mono: float) -> float | None:
    """nginx's ``t=1712345678.123`` (seconds, or ms/us as some proxies send) as a monotonic time.

    >>> round(_proxy_start("t=100.5", 102.0, 50.0), 3)
    48.5
    >>> _proxy_start("garbage", 1.0, 1.0) is None
    True
    """
    match = re.fullmatch(r"\s*t=(\d{1,16}(?:\.\d{1,6})?)\s*", value)
    if not match:
        return None
    started = float(match.group(1))
    while started > now_wall * 100:  # milliseconds or microseconds
        started /= 1000
    if started > now_wall + 1:
        return None  # from the future: a clock we cannot trust
    return now_mono - (now_wall - started)


class Admission:
    """WSGI middleware: count, bound and time the requests of this process."""

    def __init__(self, app: Callable, *, max_in_flight: int, queue_timeout: float, deadline: float,
                 retry_after: int, trust_proxy: bool, on_shed: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.slots = threading.BoundedSemaphore(max(1, int(max_in_flight)))
        self.queue_timeout = float(queue_timeout)
        self.deadline = float(deadline)
        self.retry_after = int(retry_after)
        self.trust_proxy = trust_proxy
        self.on_shed = on_shed

    def arrived(self, environ: dict[str, Any]) -> float:
        """When this request arrived, as a ``time.monotonic()`` value."""
        now = time.monotonic()
        candidates = [now]
        queued = getattr(_local, "queued_at", None)
        if queued is not None:
            _local.queued_at = None  # one stamp per request
            candidates.append(queued)
        if self.trust_proxy and environ.get("HTTP_X_REQUEST_START"):
            proxied = _proxy_start(environ["HTTP_X_REQUEST_START"], time.time(), now)
            if proxied is not None:
                candidates.append(proxied)
        return min(candidates)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        arrived = self.arrived(environ)
        environ[_ARRIVED] = arrived
        environ[_DEADLINE] = arrived + self.deadline
        if environ.get("PATH_INFO", "") in EXEMPT:
            return self.app(environ, start_response)
        wait = arrived + self.queue_timeout - time.monotonic()
        if wait <= 0 or not self.slots.acquire(timeout=wait):
            # It waited its whole allowance already (for a thread, or at the proxy), or no slot
            # came free in the rest of it.
            return self.shed(environ, start_response, "queue")
        try:
            if client_gone(environ):
                return self.shed(environ, start_response, "client_gone")
            return self.app(environ, start_response)
        finally:
            self.slots.release()

    def shed(self, environ: dict[str, Any], start_response: Callable, why: str) -> list[bytes]:
        """Answer 503 with Retry-After at once: no session, no template, no database."""
        if self.on_shed is not None:
            with contextlib.suppress(Exception):
                self.on_shed(why)
        return overloaded_response(environ, start_response, self.retry_after)


_MESSAGE = "The site is busy right now. Nothing you sent was saved; please try again in a few seconds."


def overloaded_response(environ: dict[str, Any], start_response: Callable, retry_after: int) -> list[bytes]:
    """A plain 503 page (or JSON for a client that asks for it) with Retry-After."""
    if "application/json" in environ.get("HTTP_ACCEPT", "") and "text/html" not in environ.get("HTTP_ACCEPT", ""):
        body = json.dumps({"error": {"status": 503, "title": "Service unavailable", "message": _MESSAGE}}).encode()
        kind = "application/json"
    else:
        body = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Busy · Community "
                f"governance</title></head><body><h1>Busy right now (503)</h1><p>{_MESSAGE}</p></body></html>"
                ).encode()
        kind = "text/html; charset=utf-8"
    start_response("503 SERVICE UNAVAILABLE", [
        ("Content-Type", kind), ("Content-Length", str(len(body))), ("Retry-After", str(retry_after)),
        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ])
    return [body]


def client_gone(environ: dict[str, Any]) -> bool:
    """True when the client has closed its connection (only knowable under gunicorn, which passes the socket).

    A peek that finds the end of the stream (or a reset) means the client is gone; data waiting
    or nothing yet means it is still there.
    """
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def remaining(environ: dict[str, Any]) -> float | None:
    """Seconds left before the request's deadline (None outside a shed-aware request)."""
    deadline = environ.get(_DEADLINE)
    return None if deadline is None else deadline - time.monotonic()


def check_deadline(environ: dict[str, Any], retry_after: int = 5) -> None:
    """Refuse to begin writing once the request's deadline has passed (raise Overloaded)."""
    left = remaining(environ)
    if left is not None and left <= 0:
        raise Overloaded("The site was too busy to take this in time. Nothing was saved; please try again.",
                         retry_after)
