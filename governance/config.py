"""Configuration defaults; every value can be overridden by an environment variable.

Boundary rule: plain values only, no Flask imports. ``create_app`` loads ``Defaults``, then
``instance/config.py`` and every ``GOVERNANCE_*`` environment variable (``GOVERNANCE_SECRET_KEY``
sets ``SECRET_KEY``), then checks the result with ``check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Secrets that ship with the code: fine on a laptop, refused anywhere else.
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
DEV_CONNECT_SECRET = "dev-connect-secret"
DEV_API_KEY = "dev-api-key"


class StartupError(RuntimeError):
    """The platform cannot start with this configuration; the message is one line."""


class Defaults:
    """Development defaults: the platform runs with no configuration at all in development."""

    # "development" or "production". Anything but development demands real secrets.
    ENV = "production"
    SECRET_KEY = DEV_SECRET_KEY
    # None means instance/governance.db (SQLite) inside the instance folder.
    DATABASE_URL: str | None = None
    ENGINE_OPTIONS: Mapping[str, Any] = {}
    # The platform's public base URL: the fixed DiscourseConnect return URL is built from it,
    # and an https:// URL turns on Secure cookies and HSTS.
    BASE_URL = "http://127.0.0.1:5000"
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    TRUSTED_PROXIES = 0
    TIMEZONE = "UTC"

    DISCOURSE_URL = "http://127.0.0.1:4200"
    DISCOURSE_CONNECT_SECRET = DEV_CONNECT_SECRET
    DISCOURSE_API_KEY = DEV_API_KEY
    DISCOURSE_API_USERNAME = "system"
    DISCOURSE_TIMEOUT = 5.0
    # Forum category (slug or id) where poll announcements are posted.
    DISCOURSE_ANNOUNCE_CATEGORY = "governance"
    # Forum groups that map to platform roles.
    COMMITTEE_GROUP = "steering-committee"
    ADMIN_GROUP = "admins"

    # Request limits.
    MAX_CONTENT_LENGTH = 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 512 * 1024
    RATELIMIT_ENABLED = True
    RATELIMIT_LOGIN = "20/minute"
    RATELIMIT_VOTE = "30/minute"

    # Load shedding, per process (governance.ops.load): requests running in the app at once, how
    # long one may wait for a slot after it arrived, when it may no longer begin writing, and the
    # Retry-After of the 503 answers.
    MAX_IN_FLIGHT: int | None = None  # None: 4 on SQLite (one writer at a time), 16 on PostgreSQL
    QUEUE_TIMEOUT = 5.0
    REQUEST_DEADLINE = 15.0
    RETRY_AFTER = 5

    # /healthz: the clock is stuck when no `polls tick` run finished for this long; the outbox is
    # behind when its oldest undelivered forum post is older than this.
    CLOCK_STALE_SECONDS = 300
    OUTBOX_STALE_SECONDS = 900

    # /metrics: a bearer token (or, without one, loopback clients only).
    METRICS_TOKEN = ""

    # Logs: "json" (one object per line) or "text".
    LOG_FORMAT = "json"
    LOG_LEVEL = "INFO"

    SESSION_COOKIE_NAME = "governance_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_LIFETIME_HOURS = 12
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session


def database_url(config: Mapping[str, Any], instance_path: str) -> str:
    """The configured database URL, or the embedded SQLite default in the instance folder."""
    url = config.get("DATABASE_URL")
    if url:
        # Heroku-style URLs name the dialect only; use psycopg 3 for them.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{instance_path}/governance.db"


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ***.

    >>> mask_url("postgresql+psycopg://app:s3cret@db:5432/gov")
    'postgresql+psycopg://app:***@db:5432/gov'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def check(config: Mapping[str, Any]) -> None:
    """Refuse configurations that must not run; raise StartupError with a one-line reason."""
    env = config.get("ENV")
    if env not in ("development", "production"):
        raise StartupError(f"GOVERNANCE_ENV must be 'development' or 'production', not {env!r}")
    try:
        ZoneInfo(str(config.get("TIMEZONE")))
    except (ZoneInfoNotFoundError, ValueError):
        raise StartupError(f"GOVERNANCE_TIMEZONE {config.get('TIMEZONE')!r} is not a known time zone") from None
    base = urlsplit(str(config.get("BASE_URL", "")))
    if base.scheme not in ("http", "https") or not base.netloc:
        raise StartupError("GOVERNANCE_BASE_URL must be an absolute http(s) URL such as https://vote.example.org")
    for name in ("MAX_IN_FLIGHT", "QUEUE_TIMEOUT", "REQUEST_DEADLINE", "RETRY_AFTER", "CLOCK_STALE_SECONDS",
                 "OUTBOX_STALE_SECONDS"):
        value = config.get(name, 1)
        if value is None and name == "MAX_IN_FLIGHT":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**6:
            raise StartupError(f"GOVERNANCE_{name} must be a positive number, not {value!r}")
    if config.get("LOG_FORMAT", "json") not in ("json", "text"):
        raise StartupError(f"GOVERNANCE_LOG_FORMAT must be 'json' or 'text', not {config.get('LOG_FORMAT')!r}")
    if env == "development" or config.get("TESTING"):
        return
    secret = config.get("SECRET_KEY") or ""
    if secret == DEV_SECRET_KEY or len(str(secret)) < 32:
        raise StartupError(
            "GOVERNANCE_SECRET_KEY is missing, a development default or shorter than 32 characters; "
            "set a random value, e.g. from: python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if config.get("DISCOURSE_CONNECT_SECRET") in (None, "", DEV_CONNECT_SECRET):
        raise StartupError("GOVERNANCE_DISCOURSE_CONNECT_SECRET is missing or the development default")
    if config.get("DISCOURSE_API_KEY") in (None, "", DEV_API_KEY):
        raise StartupError("GOVERNANCE_DISCOURSE_API_KEY is missing or the development default")
