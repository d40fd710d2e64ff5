"""Structured logs: one JSON object per line, with a request id, a level and an event name.

Boundary rule: formatting and the access log only. What is never written, whoever logs:

* query strings (a DiscourseConnect return carries ``sso`` and ``sig``) - the access log records
  the path alone;
* secrets, cookies, request bodies, ballot contents, members;
* the ballot page at all (``/polls/<id>/ballot``: the form, and the submission that ``POST``s to
  it): the access log skips it, so no line ties a client address or a time to a vote;
  ``governance_ballots_total`` counts the submissions instead.

A line looks like ``{"time": "2026-05-02T14:05:09Z", "level": "INFO", "event": "http.request",
"logger": "governance.access", "request_id": "5f0c...", "method": "GET", "path": "/polls/3",
"status": 200, "duration_ms": 12.5, "client": "198.51.100.7"}``; the fields are listed in
docs/production.md.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("governance_request_id", default="")

#: The ballot page and its submissions, and ballot receipts (their address holds a tracker), never
#: written to the access log: no line may tie an address or a time to a ballot.
BALLOT_PATH = re.compile(r"^/polls/[^/]+/(ballot/?|receipt/.*)$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

#: Attributes of every LogRecord; anything else on a record came from ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
#: Extra fields that are never written, whoever passes them.
_NEVER = {"user", "member", "username", "voter", "ranking", "ballot", "tracker", "sso", "sig", "query",
          "cookie", "password", "secret", "token", "authorization"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, to the second), level, event, logger, request id, fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "level": record.levelname,
            "event": getattr(record, "event", None) or record.name,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key in _STANDARD or key in entry or key in _NEVER or key.startswith("_"):
                continue
            entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Plain lines for a developer's terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure(fmt: str = "json", level: str = "INFO") -> None:
    """Send every log record to standard error in the given format (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_governance", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._governance = True  # type: ignore[attr-defined]
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def new_request_id(offered: str | None, trusted: bool) -> str:
    """The request's id: the proxy's ``X-Request-Id`` when trusted and well-formed, else a fresh one.

    >>> new_request_id("abcdef0123456789", True)
    'abcdef0123456789'
    >>> new_request_id("abc\\ndef", True) != "abc\\ndef" and len(new_request_id(None, False)) == 16
    True
    """
    if trusted and offered and _REQUEST_ID.match(offered):
        return offered
    return secrets.token_hex(8)


access = logging.getLogger("governance.access")


def access_line(*, method: str, path: str, status: int, seconds: float, client: str | None) -> None:
    """Write one access-log line (never for the ballot page or a submission; never with a query string)."""
    if BALLOT_PATH.match(path):
        return
    access.info("%s %s %s", method, path, status,
                extra={"event": "http.request", "method": method, "path": path[:300], "status": status,
                       "duration_ms": round(seconds * 1000, 1), "client": client or ""})
