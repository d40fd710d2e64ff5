"""SQLite's files hold open polls' secrets: they are owner-only, checked by stat as an attacker
with a local account would find them; a mistyped database folder is an error, not a new file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from governance.config import StartupError
from governance.db import dispose, make_engine, upgrade
from tests.conftest import make_test_app
from tests.ops.support import cast_in_process, open_poll_now


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_database_and_every_companion_file_are_owner_only(tmp_path, new_app):
    old = os.umask(0o022)  # the usual umask: files would be 0644
    try:
        url = f"sqlite:///{tmp_path}/governance.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        app = new_app(url)
        voting = open_poll_now(app, voters=2)
        client = app.test_client()
        assert cast_in_process(client, voting, 0).status_code == 303  # a write: WAL, -shm, -writers
        names = sorted(p.name for p in tmp_path.iterdir())
        assert {"governance.db", "governance.db-wal", "governance.db-shm", "governance.db-writers"} <= set(names)
        world = {name: oct(_mode(tmp_path / name)) for name in names if _mode(tmp_path / name) & 0o077}
        assert world == {}, f"readable by others: {world}"
        dispose(app)
    finally:
        os.umask(old)


def test_files_left_world_readable_are_tightened_at_start_up(tmp_path, new_app):
    url = f"sqlite:///{tmp_path}/governance.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        path = tmp_path / f"governance.db{suffix}"
        path.touch()
        path.chmod(0o644)
    app = new_app(url)
    assert all(_mode(tmp_path / f"governance.db{s}") == 0o600 for s in ("", "-wal", "-shm"))
    dispose(app)


def test_a_missing_database_folder_is_an_error_not_a_new_database(tmp_path):
    with pytest.raises(StartupError, match="folder .*/nowhere does not exist"):
        make_test_app(f"sqlite:///{tmp_path}/nowhere/governance.db")  # raises: no app to close
    assert not (tmp_path / "nowhere").exists()


def test_a_backup_file_is_owner_only_whatever_the_umask(app, runner, tmp_path):
    old = os.umask(0o000)
    try:
        out = tmp_path / "b.backup"
        assert runner.invoke(args=["backup", "--out", str(out)]).exit_code == 0
        assert _mode(out) == 0o600
    finally:
        os.umask(old)
