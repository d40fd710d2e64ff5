"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when the test command
started one), the app, a client, and helpers to log in and to read CSRF tokens.

The schema is built once per session by running the real migrations into a template database;
each test then gets its own copy (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from governance.db import dispose as dispose_engines
from governance.db import make_engine, upgrade
from governance.factory import create_app

PG_URL = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

if os.environ.get("CI") and not PG_URL:
    raise RuntimeError("CI must run the suite against PostgreSQL too: use the README's test command")


def pytest_report_header(config):
    return f"database backends: {', '.join(BACKENDS)}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return str(path)


def _pg_admin():
    return make_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"gov_template_{os.getpid()}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "governance.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"gov_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_test_app(database_url: str, **overrides):
    config = {
        "TESTING": True,
        "ENV": "production",
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "DATABASE_URL": database_url,
        "BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        "DISCOURSE_URL": "http://127.0.0.1:9",  # nothing listens: tests that need a forum say so
        "DISCOURSE_CONNECT_SECRET": "test-connect-secret",
        "DISCOURSE_API_KEY": "test-api-key",
        "RATELIMIT_LOGIN": "1000/minute",
        "RATELIMIT_VOTE": "1000/minute",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app_config() -> dict:
    """Per-test configuration overrides (a test or fixture may fill it before ``app`` is built)."""
    return {}


@pytest.fixture
def app(request, database_url, app_config):
    """The app on a fresh database; wired to the live stand-in forum when the test uses ``forum``."""
    overrides = dict(app_config)
    if "forum" in request.fixturenames:
        forum = request.getfixturevalue("forum")
        overrides = {"DISCOURSE_URL": forum.url, "DISCOURSE_CONNECT_SECRET": forum.sso_secret,
                     "DISCOURSE_API_KEY": forum.api_key, "DISCOURSE_API_USERNAME": forum.api_username,
                     **overrides}
    app = make_test_app(database_url, **overrides)
    yield app
    dispose_engines(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A session on the test's database for arranging and inspecting data directly.

    It is not the request session and pushes no app context: test-client requests must get a
    fresh ``g`` each (Flask reuses an app context that is already pushed).
    """
    from sqlmodel import Session

    with Session(app.extensions["governance.engine"], expire_on_commit=False) as db:
        yield db


CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, path: str = "/") -> str:
    """Read a CSRF token for this client's session from a page."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def make_member(session, *, username: str = "alice", forum_user_id: int | None = None,
                created_days_ago: int = 400, groups=(), trust_level: int = 2, **fields):
    """Insert a member as if they had logged in before."""
    from governance.models import Member

    fields.setdefault("refreshed_at", datetime.now(UTC))  # as fresh as a login makes it
    member = Member(
        forum_user_id=forum_user_id or abs(hash(username)) % 100000 + 10,
        username=username,
        name=username.title(),
        forum_created_at=datetime.now(UTC) - timedelta(days=created_days_ago),
        trust_level=trust_level,
        groups=list(groups),
        **fields,
    )
    session.add(member)
    session.commit()
    return member


def login(app, client, member) -> str:
    """Open a server-side login session for ``member`` and put it in the client's cookie."""
    from governance.db import get_session
    from governance.identity import sessions

    with app.app_context():
        db = get_session()
        token = sessions.start(session=db, member=db.merge(member), lifetime=timedelta(hours=1))
        db.commit()
    with client.session_transaction() as s:
        s["_user_id"] = token
        s["_fresh"] = True
    return token


class LiveServer:
    """The app served over real HTTP on a free loopback port, in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def forum():
    """The stand-in forum, seeded, on a free loopback port (fresh for each test)."""
    from governance.forum_standin.testing import running_forum

    with running_forum() as running:
        yield running


@pytest.fixture
def forum_app(app, forum):
    """The app wired to the live stand-in forum (the same object as ``app`` in that test)."""
    return app


def forum_adapter(forum, **kwargs):
    """The platform's forum adapter pointed at the stand-in."""
    from governance.identity.forum import Forum

    return Forum(url=forum.url, api_key=forum.api_key, api_username=forum.api_username,
                 timeout=kwargs.pop("timeout", 5.0), **kwargs)


def sync_member(session, forum, username: str):
    """Create or refresh a member from the stand-in forum's admin API (as a login would)."""
    from governance.identity import service
    from governance.identity.forum import evidence_from_admin

    adapter = forum_adapter(forum)
    user_id = forum.data.user(username).id
    raw = adapter.user_detail(user_id)
    member = service.upsert_member(session=session, evidence=evidence_from_admin(raw), raw=raw)
    session.commit()
    return member


def run_clock(app, now, forum=None, **kwargs):
    """Take every step the clock calls for at ``now``, as ``flask polls tick`` does."""
    from governance.polls import clock

    return clock.run_due(engine=app.extensions["governance.engine"],
                         immediate=app.extensions["governance.engine_immediate"],
                         forum=forum_adapter(forum) if forum is not None else None, now=now,
                         secret=app.config["SECRET_KEY"], **kwargs)


def cast_ranking(app, session, poll_id: int, member, ranking, now, **kwargs):
    """Cast a ballot as the plain form does (encrypted by the server on arrival); return the receipt."""
    from governance.polls import voting

    return voting.cast_ranking(session=session, poll_id=poll_id, member=member, ranking=ranking, now=now,
                               secret=app.config["SECRET_KEY"], **kwargs)


#: The steps the clock takes when a platform-key poll closes: close, mix, decrypt, count.
CLOSING_STEPS = ("close", "mix", "decrypt", "count")


def close_and_count(app, poll_id: int, now):
    """Close one poll and take its counting steps (mix, decryption, count) in fresh transactions,
    as the clock does; return the steps taken."""
    from sqlmodel import Session

    from governance.models import Poll
    from governance.polls import counting

    engine, immediate = app.extensions["governance.engine"], app.extensions["governance.engine_immediate"]
    with Session(immediate, expire_on_commit=False) as writer:
        counting.close_poll(session=writer, poll=writer.get(Poll, poll_id), now=now)
        writer.commit()
    steps = ["close"]
    while True:
        with Session(engine) as reader:
            work = counting.plan(reader, reader.get(Poll, poll_id), secret=app.config["SECRET_KEY"])
        if work is None:
            return steps
        outcome = work.run()
        with Session(immediate, expire_on_commit=False) as writer:
            step = counting.apply(session=writer, poll=writer.get(Poll, poll_id), work=work, outcome=outcome,
                                  now=now)
            writer.commit()
        if step is None:
            return steps
        steps.append(step)


@pytest.fixture
def keys(monkeypatch):
    """An audit signing key configured for the server: heads and log entries are signed with it."""
    from governance.audit.signing import generate_key

    private_pem, public_pem = generate_key()
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", private_pem.decode("ascii"))
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", raising=False)
    return private_pem, public_pem


@pytest.fixture
def unsigned(monkeypatch):
    """No audit signing key: heads and entries are unsigned."""
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", raising=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "trustee_charter: use the shipped charter, whose community and committee "
                                       "polls are decrypted by trustees")


@pytest.fixture(autouse=True)
def platform_key_charter(request):
    """Most tests run with every body on a platform-held key, so a poll needs no key ceremony to open.

    The shipped charter has the community's and the committee's polls decrypted by trustees; tests
    of that (the ceremony, the mixes, the trustees' decryption, the charter's defaults) are marked
    ``trustee_charter`` and see it as shipped.
    """
    if request.node.get_closest_marker("trustee_charter"):
        yield
        return
    import copy

    from governance.polls import charter_schema

    bodies = copy.deepcopy(charter_schema.DEFAULT_CHARTER["bodies"])
    for body in bodies:
        body["key_mode"], body["trustees"] = "platform", None
    # A monkeypatch of its own: the test's ``monkeypatch`` must be undone before its app is torn down.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(charter_schema.DEFAULT_CHARTER, "bodies", bodies)
        patch.setattr(charter_schema, "TRUSTEE_BODIES", ())
        yield
