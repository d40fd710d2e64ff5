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
from tests.ops.support import cast_in_process, open_poll_now, tracker_of


def _trackers(app, poll_id) -> set[str]:
    with Session(app.extensions["governance.engine"]) as s:
        return set(s.execute(select(Ballot.tracker).where(Ballot.poll_id == poll_id,
                                                          Ballot.superseded.is_(False))).scalars())


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
    first = [tracker_of(cast_in_process(client, voting, v)) for v in (0, 1)]
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
        assert _trackers(restored, voting.poll_id) == set(first)
        assert restored.test_cli_runner().invoke(args=["db", "check"]).exit_code == 0
        # Voting goes on: voter 0 replaces their ballot (the voter links came back), voter 2 votes again.
        again = restored.test_client()
        for voter in (0, 2):
            assert cast_in_process(again, voting, voter, "Birch").status_code == 303
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


# Upgrading through every migration with a poll open and ballots in it, voting going on after:
# tests/test_migrate_encrypted.py (the data is written at the first revision, as old code wrote it).


@pytest.mark.skipif(not PG_URL, reason="needs the test PostgreSQL server")
def test_a_postgresql_backup_names_a_missing_pg_dump(app, runner, database_url, tmp_path, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's tools")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(args=["backup", "--out", str(tmp_path / "x.dump")])
    assert result.exit_code != 0 and "pg_dump is not installed" in result.output
    assert not (tmp_path / "x.dump").exists()
