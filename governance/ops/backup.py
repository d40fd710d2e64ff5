"""Backups and restores: SQLite's online backup API, ``pg_dump`` / ``pg_restore`` for PostgreSQL.

Boundary rule: files and database tools only; no domain logic. A backup is a consistent
snapshot of the whole database at one moment, taken while the platform runs. **A backup taken
while a poll is open holds that poll's secrets of that moment**: its voter-link key and every
voter's link to their ballot (that is what lets a voter replace a ballot until the close). Keep
backups as secret as the database itself; they are written owner-only (0600). Restoring one
puts those links back until the poll closes again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from ..db import sqlite_path


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message is one line."""


def _owner_only(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(path, 0o600)


def _pg_env(url) -> tuple[list[str], dict[str, str]]:
    """Connection options for the PostgreSQL client tools (the password through the environment)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = ["--dbname", url.database or "postgres"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _run(cmd: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()] or ["no message"]
        raise BackupError(f"{Path(cmd[0]).name} failed: {lines[0]}")


def backup(engine: Engine, out: Path) -> str:
    """Write a consistent snapshot of the database to ``out`` (owner-only); return what was written."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists already; choose a new file")
    if not out.parent.is_dir():
        raise BackupError(f"the folder {out.parent} does not exist")
    url = engine.url
    path = sqlite_path(url.render_as_string(hide_password=False))
    if path is not None:
        if not path.exists():
            raise BackupError(f"the database {path} does not exist")
        _owner_only(out)
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            target = sqlite3.connect(out)
            with source, target:
                source.backup(target)  # online: a consistent copy while others write
            target.close()
            source.close()
        except sqlite3.Error as exc:
            out.unlink(missing_ok=True)
            raise BackupError(f"SQLite backup failed: {exc}") from None
        return f"SQLite backup of {path} written to {out}"
    if url.get_backend_name() != "postgresql":
        raise BackupError(f"cannot back up a {url.get_backend_name()} database")
    args, env = _pg_env(url)
    _owner_only(out)
    try:
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(out), *args], env)
    except BackupError:
        out.unlink(missing_ok=True)
        raise
    return f"PostgreSQL dump of {url.database} written to {out} (pg_dump custom format)"


def restore(engine: Engine, backup_file: Path) -> str:
    """Replace the database's contents with a backup. Stop every app process and clock first."""
    backup_file = Path(backup_file)
    if not backup_file.is_file():
        raise BackupError(f"{backup_file} is not a file")
    url = engine.url
    path = sqlite_path(url.render_as_string(hide_password=False))
    engine.dispose()
    if path is not None:
        try:
            check = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
            with check:
                result = check.execute("PRAGMA integrity_check").fetchone()[0]
            check.close()
        except sqlite3.Error as exc:
            raise BackupError(f"{backup_file} is not a SQLite database: {exc}") from None
        if result != "ok":
            raise BackupError(f"{backup_file} fails SQLite's integrity check: {result}")
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".restore-", delete=False) as tmp:
            staging = Path(tmp.name)
        os.chmod(staging, 0o600)
        try:
            source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
            target = sqlite3.connect(staging)
            with source, target:
                source.backup(target)
            target.close()
            source.close()
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            os.replace(staging, path)  # atomic: the old database or the restored one, nothing between
        finally:
            staging.unlink(missing_ok=True)
        return f"{path} restored from {backup_file}"
    if url.get_backend_name() != "postgresql":
        raise BackupError(f"cannot restore a {url.get_backend_name()} database")
    args, env = _pg_env(url)
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", *args, str(backup_file)], env)
    return f"{url.database} restored from {backup_file}"


def describe_url(url: str) -> str:
    """The database a URL names, for messages (no password)."""
    return make_url(url).render_as_string(hide_password=True)
