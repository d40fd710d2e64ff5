"""The event log in the database: append-only at the database level, and `flask audit verify-log`.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from governance.audit import log
from governance.audit.signing import generate_key, key_id, load_private_key
from governance.models import AuditEntry, TreeHead

WHEN = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("unsigned")  # no signing key configured unless a test sets one


def _fill(session, n: int = 5, *, head: bool = True, key: bytes | None = None) -> None:
    for i in range(n):
        log.record(session=session, type="poll.created", actor=f"member{i}", payload={"poll": i}, poll_id=i,
                   created_at=WHEN)
    if head:
        log.make_head(session=session, reason="test", key=key, now=WHEN)
    session.commit()


def _engine(app):
    return app.extensions["governance.engine"]


def _drop_triggers(app) -> None:
    """Remove the append-only triggers (only to simulate an attacker with raw database access)."""
    with _engine(app).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_entry_no_change ON audit_entry"))
        else:
            conn.execute(text("DROP TRIGGER audit_entry_no_update"))
            conn.execute(text("DROP TRIGGER audit_entry_no_delete"))


# === Append-only ================================================================================


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entry SET type = 'poll.forged' WHERE seq = 2",
    "UPDATE audit_entry SET payload = '{}' WHERE seq = 2",
    "DELETE FROM audit_entry WHERE seq = 2",
    "DELETE FROM audit_entry",
])
def test_the_database_refuses_update_and_delete_on_the_log(app, session, statement):
    _fill(session)
    before = [(e.seq, e.type, e.payload, e.hash) for e in log.entries(session)]
    with Session(_engine(app)) as other:
        with pytest.raises(DBAPIError, match="append-only"):
            other.execute(text(statement))
            other.commit()
        other.rollback()
    session.expire_all()
    assert [(e.seq, e.type, e.payload, e.hash) for e in log.entries(session)] == before


def test_the_log_refuses_changes_through_the_orm_too(app, session):
    _fill(session, head=False)
    row = session.get(AuditEntry, 1)
    row.actor = "someone_else"
    with pytest.raises(DBAPIError, match="append-only"):
        session.commit()
    session.rollback()
    session.expire_all()
    assert session.get(AuditEntry, 1).actor == "member1"


# === flask audit verify-log =====================================================================


def test_concurrent_appends_keep_one_chain(app, runner):
    """Writers in separate transactions append at once; every entry chains to the one before it."""
    import threading

    from governance.db import write_session

    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(w: int) -> None:
        try:
            start.wait()
            for i in range(15):
                with app.app_context(), write_session() as s:
                    log.record(session=s, type="poll.created", actor=f"w{w}", payload={"poll": w, "i": i},
                               poll_id=w, created_at=WHEN)
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with Session(_engine(app)) as s:
        rows = s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [r.seq for r in rows] == list(range(90))
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 0 and "chain: 90 entries" in result.output, result.output


def test_locked_tip_gives_the_newest_entry(app, session, database_url):
    """PostgreSQL: the tip read under the log's lock, for statements that append in one round trip."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the lock function is PostgreSQL's")
    tip = log.LOCKED_TIP
    query = select(tip.c.seq, tip.c.hash)
    assert session.execute(query).all() == []  # an empty log: no row
    session.rollback()
    _fill(session, n=3, head=False)
    newest = session.exec(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    row = session.execute(query).one()  # this transaction now holds the log's lock
    assert row == (newest.seq, newest.hash)
    entry = log.record(session=session, type="poll.created", actor="x", payload={"poll": 7}, created_at=WHEN,
                       locked_tip=tuple(row))
    # Another transaction asking for the tip waits for the lock, then sees the entry just added.
    import threading
    import time

    seen: list = []

    def read_tip() -> None:
        with Session(_engine(app)) as reader:
            seen.append(tuple(reader.execute(query).one()))

    other = threading.Thread(target=read_tip)
    other.start()
    time.sleep(0.3)
    assert seen == []
    session.commit()
    other.join(10)
    assert seen == [(entry.seq, entry.hash)]


def test_the_lock_key_is_the_one_the_migration_takes():
    import importlib.util
    from pathlib import Path

    path = Path(log.__file__).parent.parent / "migrations" / "versions" / "0003_audit_tip.py"
    spec = importlib.util.spec_from_file_location("m0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.LOG_LOCK == log._LOG_LOCK


def test_verify_log_passes_on_an_intact_log(app, session, runner):
    _fill(session)
    log.record(session=session, type="poll.created", actor="late", payload={"poll": 9}, created_at=WHEN)
    session.commit()
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 0, result.output
    assert "chain: 6 entries" in result.output
    assert "size 5" in result.output and "(matches)" in result.output
    assert "1 newer entries are not covered" in result.output
    assert "unsigned" in result.output
    assert result.output.strip().endswith("OK")


def test_verify_log_checks_the_signature_with_the_configured_key(app, session, runner, monkeypatch):
    private_pem, public_pem = generate_key()
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", private_pem.decode("ascii"))
    _fill(session, key=private_pem)
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 0, result.output
    assert f"signed by key {key_id(public_pem)}, verified" in result.output

    # A head whose signature was made over another root is named.
    other_private, _ = generate_key()
    forged = TreeHead(tree_size=5, root_hash=session.get(TreeHead, 1).root_hash, timestamp="2026-03-02T10:00:00Z",
                      signature=load_private_key(private_pem).sign(b"something else").hex(),
                      key_id=key_id(public_pem), reason="forged")
    session.add(forged)
    session.commit()
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 1
    assert f"tree head {forged.id}" in result.output and "does not verify" in result.output


def test_verify_log_passes_on_an_empty_log(runner):
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 0, result.output
    assert "chain: 0 entries" in result.output and "none stored yet" in result.output


def test_verify_log_names_an_entry_edited_behind_the_triggers(app, session, runner):
    _fill(session)
    _drop_triggers(app)
    with _engine(app).begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2"))
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 1
    assert "log entry 2: wrong hash" in result.output


def test_verify_log_names_a_deleted_entry(app, session, runner):
    _fill(session)
    _drop_triggers(app)
    with _engine(app).begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 1
    assert "log entry 4: gap: entry 3 is missing" in result.output


def test_verify_log_names_a_head_that_does_not_match(app, session, runner):
    _fill(session)
    session.add(TreeHead(tree_size=5, root_hash="ab" * 32, timestamp="2026-03-02T10:00:00Z", reason="bad"))
    session.commit()
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 1
    assert "tree head 2 (size 5) has root " + "ab" * 32 in result.output

    session.add(TreeHead(tree_size=50, root_hash="cd" * 32, timestamp="2026-03-03T10:00:00Z", reason="too big"))
    session.commit()
    result = runner.invoke(args=["audit", "verify-log"])
    assert result.exit_code == 1
    assert "covers 50 entries but the log holds 5" in result.output


def test_verify_log_reads_the_log_in_batches(app, session):
    from governance.audit import export

    _fill(session, n=7)
    checked = export.check_log(session, batch=3)
    assert checked.problem is None and checked.entries == 7


# === flask audit keygen =========================================================================


def test_keygen_prints_a_working_key_pair_and_how_to_configure_it(runner):
    from governance.audit.signing import sign_head, verify_head

    result = runner.invoke(args=["audit", "keygen"])
    assert result.exit_code == 0, result.output
    out = result.output
    private = out[out.index("-----BEGIN PRIVATE KEY-----"): out.index("-----END PRIVATE KEY-----") + 25]
    public = out[out.index("-----BEGIN PUBLIC KEY-----"): out.index("-----END PUBLIC KEY-----") + 24]
    assert "GOVERNANCE_AUDIT_SIGNING_KEY" in out
    assert f"key id {key_id(public.encode())}" in out
    head = sign_head(private.encode(), 1, "00" * 32, "2026-03-01T10:00:00Z")
    verify_head(head, public.encode())


def test_keygen_writes_a_private_file_and_never_overwrites(runner, tmp_path):
    path = tmp_path / "audit_key.pem"
    result = runner.invoke(args=["audit", "keygen", "--out", str(path)])
    assert result.exit_code == 0, result.output
    assert "BEGIN PRIVATE KEY" not in result.output and "BEGIN PUBLIC KEY" in result.output
    assert f"GOVERNANCE_AUDIT_SIGNING_KEY_FILE={path}" in result.output
    assert path.stat().st_mode & 0o777 == 0o600
    load_private_key(path.read_bytes())
    again = runner.invoke(args=["audit", "keygen", "--out", str(path)])
    assert again.exit_code == 1 and "already exists" in again.output
