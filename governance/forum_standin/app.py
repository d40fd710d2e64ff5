"""Factory for the stand-in Discourse forum.

Boundary rule: this package is independent of the platform. It imports Flask and itself,
never `governance.factory`, `governance.web`, `governance.models` or `governance.db`, so the
platform talks to it only over HTTP, exactly as it talks to a real forum.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .api import JSON_TYPE, NOT_FOUND, api_user, error_response
from .store import ForumData

#: Discourse's defaults (``config/discourse_defaults.conf``): ``max_admin_api_reqs_per_minute``,
#: ``max_reqs_per_ip_per_10_seconds`` and ``max_reqs_per_ip_per_minute``.
DISCOURSE_ADMIN_API_PER_MINUTE = 60
DISCOURSE_IP_PER_10_SECONDS = 50
DISCOURSE_IP_PER_MINUTE = 200


@dataclass
class ForumState:
    """What the views need: the data, the DiscourseConnect secrets, the API key."""

    data: ForumData
    sso_secrets: dict[str, str]
    api_key: str
    api_username: str
    title: str
    trust_forwarded_for: bool = True


def create_forum_app(
    *,
    data: ForumData,
    sso_secrets: dict[str, str],
    api_key: str,
    api_username: str = "system",
    rate_limit: int | None = None,
    discourse_limits: bool = False,
    secret_key: str | None = None,
    title: str = "Community forum (stand-in)",
) -> Flask:
    """Build the stand-in forum around `data`.

    `sso_secrets` maps a domain (or a `*` pattern) to its DiscourseConnect secret, as the
    site setting `discourse_connect_provider_secrets` does. `api_key` is an all-users key:
    any active member's name is accepted as Api-Username; `api_username` (which must exist)
    is the one to announce. `rate_limit` caps admin API requests per minute, forum-wide.
    `discourse_limits` turns on Discourse's default limits: 60 admin API requests a minute
    (unless `rate_limit` says otherwise) and, for every other request, 50 per 10 seconds and 200
    a minute per client address (the first `X-Forwarded-For` hop when the peer is loopback).
    """
    if not sso_secrets:
        raise ValueError("at least one DiscourseConnect secret is needed")
    if not api_key:
        raise ValueError("an API key is needed")
    if data.find_user(api_username) is None:
        raise ValueError(f"API user {api_username!r} is not a forum member")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_hex(32),
        # Browsers share cookies between ports of one host, so the forum must not use the
        # platform's cookie name ("session") when both run on 127.0.0.1.
        SESSION_COOKIE_NAME="_forum_session",
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.extensions["forum_standin"] = ForumState(
        data=data, sso_secrets=dict(sso_secrets), api_key=api_key, api_username=api_username, title=title
    )
    if discourse_limits:
        data.set_rate_limit(rate_limit if rate_limit is not None else DISCOURSE_ADMIN_API_PER_MINUTE)
        data.set_ip_limits(DISCOURSE_IP_PER_10_SECONDS, DISCOURSE_IP_PER_MINUTE)
    elif rate_limit is not None:
        data.set_rate_limit(rate_limit)

    from . import api, connect

    app.before_request(_global_limits)

    app.register_blueprint(api.bp)
    app.register_blueprint(connect.bp)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _wants_json() -> bool:
    return (
        request.path.endswith(".json")
        or "Api-Key" in request.headers
        or JSON_TYPE.split(";")[0] in (request.headers.get("Accept", ""))
    )


def _http_error(error: HTTPException):
    """Answer API callers in Discourse's JSON error shape, browsers in plain text."""
    if not _wants_json():
        return error.get_response()
    if error.code == 404:
        return error_response(NOT_FOUND, "not_found", 404)
    if error.code == 403:
        return error_response(error.description, "invalid_access", 403)
    code = error.code or 500
    return error_response(
        error.description or error.name, "invalid_parameters" if code < 500 else "unknown", code
    )


def client_ip() -> str:
    """The visitor's address: the first ``X-Forwarded-For`` hop when a loopback proxy sent it."""
    peer = request.remote_addr or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    state = app_state()
    if forwarded and state.trust_forwarded_for and (peer.startswith("127.") or peer == "::1"):
        return forwarded.split(",")[0].strip()[:64]
    return peer


def app_state():
    from flask import current_app

    return current_app.extensions["forum_standin"]


def _global_limits():
    """Discourse's ``RequestTracker`` limits per client address, before anything else runs.

    A request with a valid admin API key is not counted here (Discourse rolls these limiters
    back for it); it counts against the admin API limit instead.
    """
    data = app_state().data
    if data.ip_limits is None or ("Api-Key" in request.headers and api_user() is not None):
        return None
    refused = data.check_ip_limit(client_ip())
    if refused is None:
        return None
    code, wait = refused
    message = (f"Slow down, too many requests from this IP address.\nPlease retry again in {wait} "
               f"seconds.\nError code: {code}.\n")
    return Response(message, status=429, content_type="text/plain",
                    headers={"Retry-After": str(wait), "Discourse-Rate-Limit-Error-Code": code})
