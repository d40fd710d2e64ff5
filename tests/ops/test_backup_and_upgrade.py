"""Backups taken during an open poll restore onto a fresh database where the audit chain verifies
and voting goes on; every migration applies to a database holding an open poll with ballots."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
from sqlalchemy import select, text
from sqlmodel import Session

from governance.audit import log
from governance.audit.chain import verify_chain
from governance.db import dispose
from governance.models import Ballot
from tests.conftest import PG_URL, _pg_admin, _pg_url
from tests.ops.support import TRACKER_RE, cast_in_process, open_poll_now


def _trackers(app, poll_id) -> set[str]:
    with Session(app.extensions["governance.engine"]) as s:
        return set(s.execute(select(Ballot.tracker).where(Ballot.poll_id == poll_id)).scalars())


def _chain_verifies(app) -> int:
    with Session(app.extensions["governance.engine"]) as s:
        entries = [log.as_entry(e) for e in log.entries(s)]
    verify_chain(entries)
    return len(entries)


def _fresh_database(database_url: str, tmp_path):
    """An empty database of the same kind, and its cleanup."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/restored/governance.db", lambda: None
    name = f"gov_restore_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return _pg_url(name), drop


def test_backup_during_an_open_poll_restores_and_voting_goes_on(app, runner, database_url, tmp_path, new_app):
    voting = open_poll_now(app, voters=3)
    client = app.test_client()
    first = [TRACKER_RE.search(cast_in_process(client, voting, v).get_data(as_text=True)).group(1) for v in (0, 1)]
    backup_file = tmp_path / "governance.backup"
    result = runner.invoke(args=["backup", "--out", str(backup_file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(backup_file).st_mode) == 0o600  # it holds the open poll's secrets
    assert runner.invoke(args=["backup", "--out", str(backup_file)]).exit_code != 0  # never overwritten
    cast_in_process(client, voting, 2)  # after the backup: not in it
    entries_at_backup = _chain_verifies(app) - 1

    (tmp_path / "restored").mkdir()
    url, drop = _fresh_database(database_url, tmp_path)
    try:
        restored = new_app(url, SECRET_KEY=app.config["SECRET_KEY"])
        result = restored.test_cli_runner().invoke(args=["restore", "--yes", str(backup_file)])
        assert result.exit_code == 0, result.output
        assert _chain_verifies(restored) == entries_at_backup
        assert _trackers(restored, voting.poll_id) == {t.replace("-", "") for t in first}
        assert restored.test_cli_runner().invoke(args=["db", "check"]).exit_code == 0
        # Voting goes on: voter 0 replaces their ballot (the voter links came back), voter 2 votes again.
        again = restored.test_client()
        for voter in (0, 2):
            assert cast_in_process(again, voting, voter, "Birch").status_code == 200
        assert len(_trackers(restored, voting.poll_id)) == 3
        _chain_verifies(restored)
        dispose(restored)
    finally:
        drop()


def test_a_restore_refuses_what_is_not_a_backup(app, runner, database_url, tmp_path):
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"\x00" * 4096)
    result = runner.invoke(args=["restore", "--yes", str(junk)])
    assert result.exit_code != 0 and "Error:" in result.output
    assert runner.invoke(args=["db", "check"]).exit_code == 0  # the database is untouched


def test_every_migration_applies_with_a_poll_open_and_voting_goes_on(app, runner):
    """The data is made by the current code, the schema taken back to the first migration with it,
    then upgraded through every migration by the operator's command."""
    voting = open_poll_now(app, voters=3)
    client = app.test_client()
    for voter in (0, 1):
        assert cast_in_process(client, voting, voter).status_code == 200
    before = _trackers(app, voting.poll_id)
    from alembic import command

    from governance.db import alembic_config

    engine = app.extensions["governance.engine"]
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    dispose(app)
    check = runner.invoke(args=["db", "check"])
    assert check.exit_code == 1 and "at revision 0001" in check.output
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["db", "check"]).exit_code == 0
    assert _trackers(app, voting.poll_id) == before
    _chain_verifies(app)
    client = app.test_client()
    assert cast_in_process(client, voting, 0, "Cedar").status_code == 200  # a replacement
    assert cast_in_process(client, voting, 2, "Cedar").status_code == 200  # a first ballot
    assert len(_trackers(app, voting.poll_id)) == 3


@pytest.mark.skipif(not PG_URL, reason="needs the test PostgreSQL server")
def test_a_postgresql_backup_names_a_missing_pg_dump(app, runner, database_url, tmp_path, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's tools")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(args=["backup", "--out", str(tmp_path / "x.dump")])
    assert result.exit_code != 0 and "pg_dump is not installed" in result.output
    assert not (tmp_path / "x.dump").exists()
