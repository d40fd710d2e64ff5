"""Start-up under real gunicorn: a configuration that cannot serve stops the server at once, with
one line and a non-zero status (no crash-looping workers); a good one serves and logs JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from governance.db import make_engine, upgrade
from tests.conftest import PG_URL
from tests.ops.support import ROOT, environment, free_port, serving, settings, start_gunicorn, stop


def _run_until_exit(values, *, timeout=30.0, config=True, user=None) -> tuple[int, list[str], float]:
    """Start gunicorn and wait for it to exit by itself; return (status, stderr lines, seconds)."""
    port = free_port()
    started = time.monotonic()
    if config:
        proc = start_gunicorn(values, port)
    else:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                 "app:app"], cwd=str(ROOT), env=environment(values), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"gunicorn was still running after {timeout:.0f} s (crash-looping?)")
    return proc.returncode, err.decode("utf-8", "replace").strip().splitlines(), time.monotonic() - started


def _migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/governance.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _reason(lines: list[str]) -> str:
    ours = [line for line in lines if line.startswith("governance: ")]
    assert len(ours) == 1, lines
    return ours[0]


@pytest.mark.parametrize("change, fragment", [
    ({"SECRET_KEY": "dev-only-secret-key-do-not-use-in-production"}, "GOVERNANCE_SECRET_KEY"),
    ({"SECRET_KEY": ""}, "GOVERNANCE_SECRET_KEY"),
    ({"ENV": "staging"}, "GOVERNANCE_ENV must be"),
    ({"DATABASE_URL": "postgresql://gov:hunter2@127.0.0.1:9/gov"}, "cannot connect to the database"),
    ({"DATABASE_URL": "sqlite:////nonexistent-folder/governance.db"}, "folder /nonexistent-folder does not exist"),
])
def test_a_configuration_that_cannot_serve_stops_gunicorn_with_one_line(tmp_path, change, fragment):
    values = settings(_migrated_sqlite(tmp_path), **change)
    status, lines, seconds = _run_until_exit(values)
    assert status != 0
    reason = _reason(lines)
    assert fragment in reason and "hunter2" not in "\n".join(lines)
    assert not any("Booting worker" in line for line in lines)  # the master refused before forking
    assert seconds < 20


def test_without_the_shipped_configuration_a_failing_worker_still_stops_the_server(tmp_path):
    started = time.monotonic()
    """app.py exits with gunicorn's app-load status, which halts the master instead of a reboot loop."""
    values = settings(_migrated_sqlite(tmp_path), ENV="staging")
    status, lines, _seconds = _run_until_exit(values, config=False)
    # 4 (gunicorn's "App failed to load"), or 1 when the second worker's status 4 arrives while
    # the master is already halting (gunicorn then dies of its own HaltServer): stopped either way.
    assert status in (1, 4), lines
    assert any("App failed to load" in line for line in lines)
    assert sum(1 for line in lines if line.startswith("governance: GOVERNANCE_ENV")) <= 2  # one per worker at most
    assert sum(1 for line in lines if "Booting worker" in line) <= 2  # no reboot loop
    assert time.monotonic() - started < 20


def test_a_missing_sqlite_database_is_named_and_not_created(tmp_path):
    path = tmp_path / "governance.db"
    status, lines, _ = _run_until_exit(settings(f"sqlite:///{path}"))
    assert status == 1
    assert "does not exist yet: run flask --app app db upgrade" in _reason(lines)
    assert not path.exists()


def test_a_database_behind_the_code_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/governance.db"
    engine = make_engine(url)
    upgrade(engine, "0003")
    engine.dispose()
    status, lines, _ = _run_until_exit(settings(url))
    assert status == 1
    assert "schema is at revision 0003 but this code needs" in _reason(lines)


def test_an_unwritable_sqlite_folder_is_refused():
    """A folder this user may not write (root may write almost anywhere: /proc/1 is one it may not)."""
    folder = Path("/proc/1")
    assert folder.is_dir() and not os.access(folder, os.W_OK)
    status, lines, _ = _run_until_exit(settings(f"sqlite:///{folder}/governance.db"))
    assert status == 1
    assert "/proc/1 is not writable by this user" in _reason(lines)


@pytest.mark.skipif(not PG_URL, reason="needs the test PostgreSQL server")
def test_a_role_the_server_does_not_know_is_refused():
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(username="no_such_role", password="pw").render_as_string(hide_password=False)
    status, lines, _ = _run_until_exit(settings(url))
    assert status == 1
    reason = _reason(lines)
    assert "no_such_role" in reason and "pw@" not in reason


def test_a_good_configuration_serves_and_logs_json(tmp_path):
    log_path = tmp_path / "server.log"
    with serving(settings(_migrated_sqlite(tmp_path)), log_path=log_path) as (port, _proc):
        from tests.ops.support import get

        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["checks"]["schema"]["ok"] is True
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert any("configuration, database and schema checked" in line for line in lines)


def test_a_database_that_never_answers_stops_start_up_in_seconds(tmp_path):
    """A server that takes the connection and says nothing (a hung host): connect_timeout, not a hang."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshake; nobody ever answers
    try:
        port = silent.getsockname()[1]
        status, lines, seconds = _run_until_exit(settings(f"postgresql://gov:pw@127.0.0.1:{port}/gov"), timeout=40)
    finally:
        silent.close()
    assert status == 1
    assert "cannot connect to the database" in _reason(lines)
    assert seconds < 25
