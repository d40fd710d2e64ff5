"""The application factory, configuration refusal and start-up failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from governance.config import DEV_SECRET_KEY, StartupError, check, database_url, mask_url
from governance.db import dispose as dispose_engines
from governance.factory import create_app

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "ENV": "production",
    "SECRET_KEY": "s" * 40,
    "DISCOURSE_CONNECT_SECRET": "connect-secret-real",
    "DISCOURSE_API_KEY": "api-key-real",
    "TIMEZONE": "UTC",
    "BASE_URL": "https://vote.example.org",
}


def test_testing_config_is_applied(app):
    assert app.testing
    assert app.config["DATABASE_URL"].startswith(("sqlite:///", "postgresql"))


def test_engine_is_built_once_per_app(app):
    with app.app_context():
        from governance.db import get_session

        first = get_session()
        assert first is get_session()
    assert app.extensions["governance.engine"] is app.extensions["governance.engine"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "GOVERNANCE_SECRET_KEY"),
        ({"SECRET_KEY": ""}, "GOVERNANCE_SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "GOVERNANCE_SECRET_KEY"),
        ({"DISCOURSE_CONNECT_SECRET": "dev-connect-secret"}, "GOVERNANCE_DISCOURSE_CONNECT_SECRET"),
        ({"DISCOURSE_API_KEY": ""}, "GOVERNANCE_DISCOURSE_API_KEY"),
        ({"TIMEZONE": "Mars/Olympus"}, "GOVERNANCE_TIMEZONE"),
        ({"ENV": "staging"}, "GOVERNANCE_ENV"),
        ({"BASE_URL": "vote.example.org"}, "GOVERNANCE_BASE_URL"),
        ({"MAX_IN_FLIGHT": 0}, "GOVERNANCE_MAX_IN_FLIGHT"),
        ({"QUEUE_TIMEOUT": "soon"}, "GOVERNANCE_QUEUE_TIMEOUT"),
        ({"REQUEST_DEADLINE": True}, "GOVERNANCE_REQUEST_DEADLINE"),
        ({"LOG_FORMAT": "xml"}, "GOVERNANCE_LOG_FORMAT"),
    ],
)
def test_production_refuses_unsafe_config(change, fragment):
    with pytest.raises(StartupError) as err:
        check({**GOOD, **change})
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_production_accepts_real_secrets():
    check(GOOD)


def test_development_runs_with_defaults():
    check({**GOOD, "ENV": "development", "SECRET_KEY": DEV_SECRET_KEY, "DISCOURSE_API_KEY": "dev-api-key"})


def test_default_database_is_sqlite_in_instance_folder():
    assert database_url({}, "/srv/instance") == "sqlite:////srv/instance/governance.db"
    assert database_url({"DATABASE_URL": "postgresql://u:p@h/db"}, "/x") == "postgresql+psycopg://u:p@h/db"


def test_mask_url_hides_password():
    assert mask_url("postgresql+psycopg://gov:hunter2@db/gov") == "postgresql+psycopg://gov:***@db/gov"


def _run_app(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_app_module_refuses_default_secret_outside_development(tmp_path):
    result = _run_app({"GOVERNANCE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GOVERNANCE_SECRET_KEY" in lines[0]


def test_app_module_names_unreachable_database_with_masked_password(tmp_path):
    env = {
        "GOVERNANCE_ENV": "development",
        "GOVERNANCE_DATABASE_URL": "postgresql://gov:hunter2@127.0.0.1:9/gov",
    }
    result = _run_app(env, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot connect to the database postgresql+psycopg://gov:***@127.0.0.1:9/gov" in lines[0]
    assert "hunter2" not in result.stderr


def test_development_app_starts_with_no_configuration(tmp_path):
    result = _run_app({"GOVERNANCE_ENV": "development", "GOVERNANCE_DATABASE_URL": f"sqlite:///{tmp_path}/d.db"},
                      tmp_path)
    assert result.returncode == 0, result.stderr


def test_sqlite_pragmas(app):
    from sqlalchemy import text

    engine = app.extensions["governance.engine"]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_write_requests_begin_immediate(app):
    engine = app.extensions["governance.engine_immediate"]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    statements = []
    from sqlalchemy import event, text

    @event.listens_for(engine.engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, *args):
        statements.append(statement)

    import sqlite3

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection) and raw.in_transaction
        conn.rollback()
    event.remove(engine.engine, "before_cursor_execute", _capture)
    assert statements[0] == "BEGIN IMMEDIATE"


def test_cli_db_upgrade_is_idempotent(runner):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["db", "current"])
    head = sorted(p.name for p in (ROOT / "governance" / "migrations" / "versions").glob("0*.py"))[-1][:4]
    assert result.exit_code == 0 and result.output.strip() == head


def test_create_app_without_test_config_reads_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GOVERNANCE_ENV", "development")
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("GOVERNANCE_TIMEZONE", "Europe/Amsterdam")
    app = create_app()
    assert app.config["TIMEZONE"] == "Europe/Amsterdam"
    dispose_engines(app)


@pytest.mark.parametrize("env, fragment", [
    ({"GOVERNANCE_AUDIT_SIGNING_KEY_FILE": "/nonexistent/audit.pem"}, "cannot read GOVERNANCE_AUDIT_SIGNING_KEY_FILE"),
    ({"GOVERNANCE_AUDIT_SIGNING_KEY": "not a key"}, "the audit signing key is unusable"),
])
def test_an_unusable_signing_key_stops_start_up(monkeypatch, tmp_path, env, fragment):
    """Found at start-up, not at the first poll close (whose tree head it could not sign)."""
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StartupError) as err:
        create_app({**GOOD, "TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert fragment in str(err.value) and "\n" not in str(err.value)
