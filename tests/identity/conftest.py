"""Fixtures for the identity tests: a member's browser that logs in through the stand-in forum.

The browser drives the platform with Flask's test client and the forum over real HTTP with
``requests``, so the platform's own calls to the forum (pydiscourse, ``/admin/users/{id}.json``)
go over the wire as in production. Answers are forged here with ``hmac`` directly, not with the
platform's helpers, so a mistake in the platform cannot hide behind the same mistake in a test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
import requests

RETURN_URL = "http://localhost/auth/sso"  # the test app's BASE_URL + /auth/sso
COOKIE = "governance_session"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_WHO = re.compile(r'<span class="who">([^<]*)</span>')


def sign(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256, as DiscourseConnect signs."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def answer(secret: str, fields: dict[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    """A signed DiscourseConnect answer (``sso`` and ``sig``) carrying ``fields``."""
    payload = base64.b64encode(urlencode(fields).encode()).decode()
    return {"sso": payload, "sig": sign(secret, payload)}


def nonce_of(provider_url: str) -> str:
    """The nonce inside the platform's request to the forum."""
    query = dict(parse_qsl(urlsplit(provider_url).query))
    return dict(parse_qsl(base64.b64decode(query["sso"]).decode()))["nonce"]


def who(client) -> str | None:
    """The username the platform's page header shows for this client, or None when logged out."""
    match = _WHO.search(client.get("/").get_data(as_text=True))
    return match.group(1) if match else None


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One member's browser: the platform through the test client, the forum over HTTP."""

    def __init__(self, app, forum) -> None:
        self.app = app
        self.forum = forum
        self.client = app.test_client()
        self.http = requests.Session()

    def start(self, next_path: str | None = None) -> str:
        """GET /auth/login; return where the platform sends the browser (the forum's provider URL)."""
        response = self.client.get("/auth/login", query_string={"next": next_path} if next_path else None)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response.headers["Location"]

    def pick(self, provider_url: str, username: str) -> str:
        """Follow the forum's login page, choose ``username``; return the signed URL back to the platform."""
        first = self.http.get(provider_url, allow_redirects=False, timeout=5)
        if urlsplit(first.headers["Location"]).path == "/login":
            page = self.http.get(self.forum.url + "/login", timeout=5)
            token = _CSRF.search(page.text).group(1)
            chosen = self.http.post(
                self.forum.url + "/login",
                data={"csrf_token": token, "username": username},
                allow_redirects=False,
                timeout=5,
            )
            assert chosen.status_code == 302, chosen.text
            first = self.http.get(
                urljoin(self.forum.url, chosen.headers["Location"]), allow_redirects=False, timeout=5
            )
        location = first.headers["Location"]
        assert location.startswith(RETURN_URL + "?"), location
        return location

    def finish(self, return_location: str, *, client=None):
        """Deliver the forum's answer to the platform's return URL."""
        parts = urlsplit(return_location)
        return (client or self.client).get(f"{parts.path}?{parts.query}")

    def deliver(self, fields, *, secret: str | None = None, client=None):
        """Deliver a forged answer carrying ``fields`` (signed with the forum's secret unless told)."""
        query = answer(secret or self.forum.sso_secret, fields)
        return (client or self.client).get("/auth/sso", query_string=query)

    def login(self, username: str, next_path: str | None = None):
        """The whole round trip; return the platform's answer to the forum's redirect."""
        return self.finish(self.pick(self.start(next_path), username))

    def cookie(self) -> str | None:
        """The platform's session cookie as the browser holds it."""
        cookie = self.client.get_cookie(COOKIE)
        return cookie.value if cookie else None

    def close(self) -> None:
        self.http.close()


@pytest.fixture(autouse=True)
def generous_api_budget(app_config):
    """The platform's own pacing (60 calls a minute, in 10-second windows) would make tests wait;
    tests of the budget set ``DISCOURSE_API_LIMIT`` back to Discourse's 60 themselves."""
    app_config.setdefault("DISCOURSE_API_LIMIT", 60_000)


@pytest.fixture
def browser(forum_app, forum):
    """A member's browser against the platform wired to the live stand-in forum."""
    b = Browser(forum_app, forum)
    yield b
    b.close()


@pytest.fixture
def other_browser(forum_app, forum):
    """A second, unrelated browser."""
    b = Browser(forum_app, forum)
    yield b
    b.close()


@pytest.fixture
def db(forum_app):
    """A database session of the forum-wired app, with no app context pushed.

    (The shared ``session`` fixture keeps the app's context pushed: test-client requests would
    then share its ``g`` and so its database session, and ``with_appcontext`` commands its app.)
    """
    from sqlmodel import Session

    with Session(forum_app.extensions["governance.engine"], expire_on_commit=False) as s:
        yield s


def member_rows(app):
    """Every member row, read in a session of its own."""
    from sqlmodel import Session, select

    from governance.models import Member

    with Session(app.extensions["governance.engine"]) as s:
        return s.exec(select(Member).order_by(Member.id)).all()


def nonce_rows(app):
    """Every stored login nonce."""
    from sqlmodel import Session, select

    from governance.models import LoginNonce

    with Session(app.extensions["governance.engine"]) as s:
        return s.exec(select(LoginNonce)).all()


def session_rows(app):
    """Every login session row."""
    from sqlmodel import Session, select

    from governance.models import LoginSession

    with Session(app.extensions["governance.engine"]) as s:
        return s.exec(select(LoginSession).order_by(LoginSession.id)).all()
