"""Headers, error pages, CSRF, size limits, health check and rate limits over the test client."""

from __future__ import annotations

import pytest

from governance.db import dispose as dispose_engines
from tests.conftest import csrf_token, login, make_member


def test_home_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Community governance" in response.data


def test_security_headers(client):
    headers = client.get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP


def test_hsts_behind_https(client):
    response = client.get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_flags(app, client):
    client.get("/auth/login")  # stores the browser binding in the session
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_secure_cookie_when_base_url_is_https(database_url):
    from tests.conftest import make_test_app

    app = make_test_app(database_url, BASE_URL="https://vote.example.org")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    dispose_engines(app)


@pytest.mark.parametrize("accept, kind", [("text/html", "text/html"), ("application/json", "application/json")])
def test_404_page_html_and_json(client, accept, kind):
    response = client.get("/no/such/page", headers={"Accept": accept})
    assert response.status_code == 404
    assert response.mimetype == kind
    if kind == "application/json":
        assert response.json["error"]["status"] == 404
    else:
        assert b"Not found" in response.data and b"Traceback" not in response.data


def test_405_keeps_allow_header(client):
    response = client.post("/healthz")
    # CSRF is checked first for POST: without a token it is a 400; with one, a 405.
    assert response.status_code in (400, 405)
    token = csrf_token(client)
    response = client.post("/healthz", data={"csrf_token": token})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_missing_csrf_token_is_refused_and_changes_nothing(app, client, session):
    member = make_member(session)
    login(app, client, member)
    response = client.post("/auth/logout")
    assert response.status_code == 400
    assert b"Nothing was changed" in response.data
    assert client.get("/").data.count(b"Log out") == 1  # still logged in


def test_oversized_body_is_refused(client):
    token = csrf_token(client)
    response = client.post("/auth/logout", data={"csrf_token": token, "x": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert b"larger than this site accepts" in response.data


def test_500_page_hides_internals(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert b"secret internals" not in response.data and b"Something went wrong" in response.data


def test_login_is_rate_limited(database_url):
    from tests.conftest import make_test_app

    app = make_test_app(database_url, RATELIMIT_LOGIN="3/minute")
    client = app.test_client()
    codes = [client.get("/auth/login").status_code for _ in range(5)]
    assert codes[:3] == [302, 302, 302]
    assert codes[3:] == [429, 429]
    response = client.get("/auth/login", headers={"Accept": "application/json"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    dispose_engines(app)


def test_rate_limit_counters_live_in_the_database(app):
    """Two app instances (two workers) share one counter."""
    from tests.conftest import make_test_app

    # The login limit per address (two browsers behind one address) is the shared one here.
    other = make_test_app(app.config["DATABASE_URL"], RATELIMIT_LOGIN_ADDRESS="4/minute")
    app.config["RATELIMIT_LOGIN_ADDRESS"] = "4/minute"
    a, b = app.test_client(), other.test_client()
    codes = [c.get("/auth/login").status_code for c in (a, b, a, b, a, b)]
    assert codes.count(302) == 4 and codes.count(429) == 2
    dispose_engines(other)


def test_rate_limiter_lets_requests_through_when_its_counter_fails(app, client, monkeypatch):
    """A broken counter must not take the site down: the request proceeds, nothing is counted."""
    from sqlalchemy.exc import OperationalError

    class Broken:
        dialect = app.extensions["governance.engine_counters"].dialect

        def begin(self):
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setitem(app.extensions, "governance.engine_counters", Broken())
    app.config["RATELIMIT_LOGIN"] = "1/minute"
    assert [client.get("/auth/login").status_code for _ in range(3)] == [302, 302, 302]


@pytest.mark.parametrize("dest", ["image", "script", "iframe", "style"])
def test_login_refuses_embedded_loads_and_stores_nothing(app, client, session, dest):
    """An image pointing at /auth/login (say, in a roadmap) must not start logins for its readers."""
    from sqlmodel import select

    from governance.models import LoginNonce, RateLimitCounter

    response = client.get("/auth/login", headers={"Sec-Fetch-Dest": dest})
    assert response.status_code == 400
    assert session.exec(select(LoginNonce)).all() == []
    assert session.exec(select(RateLimitCounter)).all() == []
    assert client.get("/auth/login", headers={"Sec-Fetch-Dest": "document"}).status_code == 302


def test_connections_dropped_while_idle_are_replaced(app, client, monkeypatch, database_url):
    """A pooled PostgreSQL connection that sat idle is checked before use; a dead one is replaced."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL connections only")
    from sqlalchemy import create_engine, text

    import governance.db as db

    assert client.get("/healthz").status_code == 200  # a connection is now pooled, idle
    engine = app.extensions["governance.engine"]
    assert engine.pool.checkedin() >= 1
    killer = create_engine(database_url)
    with killer.begin() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    killer.dispose()
    assert killed >= 1
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # as if it had been idle long enough
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["checks"]["database"] == {"ok": True}
