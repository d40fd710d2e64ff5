"""Backups taken after the count hold none of the poll's secrets (docs/secrecy.md §3).

Played as an operator who watched the poll while it was open (and so knows its link salt, its key
salt and the platform-held secret key they give) and later gets hold of a backup made with
``flask backup`` after the count: the backup's bytes are searched, as written and as
``pg_restore`` reads them back (a custom-format dump is compressed), and for SQLite the bytes of a
database restored from it, free pages included. A backup made while the poll was open is searched
the same way and does hold the salts: the search finds what is there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sqlalchemy import create_engine

from governance import crypto
from governance.models import Poll, PollSecret
from governance.ops import backup as backups
from governance.polls import keys
from tests.secrecy.support import close, open_poll, vote


def _secrets_of(app, session, poll_id: int, voted) -> dict[str, bytes]:
    """Every spelling of the poll's secrets an operator could have copied while it was open."""
    link_salt, key_salt = voted.salts
    assert link_salt and key_salt
    poll = session.get(Poll, poll_id)
    seed = keys.platform_seed(app.config["SECRET_KEY"], poll_id, key_salt)
    secret = crypto.platform_keypair(seed, election_id=poll.election_params["election_id"],
                                     poll=poll_id).secret.public_bytes()
    assert crypto.platform_keypair(seed, election_id=poll.election_params["election_id"],
                                   poll=poll_id).public_key == poll.election_params["public_key"]
    session.rollback()
    return {"link salt": link_salt.encode(), "link salt (raw)": bytes.fromhex(link_salt),
            "key salt": key_salt.encode(), "key salt (raw)": bytes.fromhex(key_salt),
            "key seed": seed, "key seed (hex)": seed.hex().encode(),
            "secret key": secret, "secret key (hex)": secret.hex().encode()}


def _readable(database_url: str, path: Path, tmp_path: Path) -> dict[str, bytes]:
    """What the backup file holds: its bytes, and what a restore reads from it."""
    views = {"backup file": path.read_bytes()}
    if database_url.startswith("sqlite"):
        restored = tmp_path / f"restored-{path.stem}" / "governance.db"
        restored.parent.mkdir()
        engine = create_engine(f"sqlite:///{restored}")
        try:
            backups.restore(engine, path)
        finally:
            engine.dispose()
        views["restored database"] = b"".join(p.read_bytes() for p in restored.parent.iterdir() if p.is_file())
    else:
        pg_restore = shutil.which("pg_restore")
        assert pg_restore, "pg_restore is needed to read a PostgreSQL backup"
        script = subprocess.run([pg_restore, "--file", "-", str(path)], capture_output=True, check=True)
        views["backup as pg_restore reads it"] = script.stdout
    return views


def _found(views: dict[str, bytes], secrets: dict[str, bytes]) -> list[str]:
    return [f"{what} in the {where}" for where, data in views.items() for what, value in secrets.items()
            if value in data]


def test_a_backup_after_the_count_holds_no_salt_and_no_key(app, session, runner, database_url, tmp_path):
    poll_id = open_poll(app, session)
    voted = vote(app, session, poll_id)
    secrets = _secrets_of(app, session, poll_id, voted)

    while_open = tmp_path / "open.backup"
    result = runner.invoke(args=["backup", "--out", str(while_open)])
    assert result.exit_code == 0, result.output
    found_open = _found(_readable(database_url, while_open, tmp_path), secrets)
    # The control: taken while the poll was open, the backup holds both salts, as the docs warn.
    readable = "backup file" if database_url.startswith("sqlite") else "backup as pg_restore reads it"
    assert {f"link salt in the {readable}", f"key salt in the {readable}"} <= set(found_open), found_open

    poll = close(app, session, poll_id)
    assert poll.status == "published"
    session.rollback()
    assert session.get(PollSecret, poll_id) is None

    after = tmp_path / "after.backup"
    result = runner.invoke(args=["backup", "--out", str(after)])
    assert result.exit_code == 0, result.output
    views = _readable(database_url, after, tmp_path)
    assert all(len(data) > 0 for data in views.values())
    assert _found(views, secrets) == []
