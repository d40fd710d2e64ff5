"""SQLite writers take turns through a file lock next to the database (governance.db).

SQLite's own busy handler makes a waiting writer sleep 1, 2, 5, 10 ... ms between tries; the
file lock wakes the next writer as soon as the current one commits or rolls back, and the kernel
drops it when its process dies.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import governance.db as db


@pytest.fixture
def engine(tmp_path):
    eng = db.make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    yield eng.execution_options(sqlite_immediate=True)
    eng.dispose()


def _write_in_thread(engine, who: str, done: list) -> threading.Thread:
    def run() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who})
            done.append((who, time.monotonic()))
        except OperationalError as exc:
            done.append((who, exc))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_next_writer_starts_when_the_first_commits(engine, tmp_path):
    first = engine.connect()
    tx = first.begin()  # BEGIN IMMEDIATE: holds the turn
    first.execute(text("INSERT INTO t (who) VALUES ('first')"))
    probe = os.open(tmp_path / "w.db-writers", os.O_RDWR)
    with pytest.raises(BlockingIOError):  # the turn is an OS lock on that file, held now
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    done: list = []
    thread = _write_in_thread(engine, "second", done)
    time.sleep(0.3)
    assert done == []  # waiting for its turn
    released = time.monotonic()
    tx.commit()
    thread.join(5)
    first.close()
    assert [w for w, _ in done] == ["second"]
    assert done[0][1] - released < 0.1  # woken at once, not after a sleeping busy handler
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once both have committed
    fcntl.flock(probe, fcntl.LOCK_UN)
    os.close(probe)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM t ORDER BY id")).scalars().all() == ["first", "second"]


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_rollback_and_close_release_the_turn(engine, end):
    first = engine.connect()
    tx = first.begin()
    done: list = []
    thread = _write_in_thread(engine, "second", done)
    time.sleep(0.2)
    assert done == []
    if end == "rollback":
        tx.rollback()
    else:
        first.invalidate()  # closes the DBAPI connection outright
    thread.join(5)
    first.close()
    assert [w for w, _ in done] == ["second"]


def test_a_writer_waits_no_longer_than_the_busy_timeout(engine, monkeypatch):
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    first = engine.connect()
    tx = first.begin()
    started = time.monotonic()
    done: list = []
    _write_in_thread(engine, "second", done).join(5)
    waited = time.monotonic() - started
    tx.rollback()
    first.close()
    assert isinstance(done[0][1], OperationalError) and "database is locked" in str(done[0][1])
    assert 0.25 < waited < 2.0


def test_a_killed_writer_gives_up_its_turn(engine, tmp_path):
    """kill -9 of a process holding the turn: the kernel drops its lock, the others go on."""
    holder = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from sqlalchemy import text
        from governance.db import make_engine
        eng = make_engine("sqlite:///{tmp_path / 'w.db'}").execution_options(sqlite_immediate=True)
        conn = eng.connect()
        conn.begin()
        conn.execute(text("INSERT INTO t (who) VALUES ('doomed')"))
        print("holding", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        done: list = []
        thread = _write_in_thread(engine, "survivor", done)
        time.sleep(0.2)
        assert done == []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        thread.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
    assert [w for w, _ in done] == ["survivor"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM t")).scalars().all() == ["survivor"]


def test_begin_writing_turns_a_read_into_a_write_transaction(engine):
    """A reads-first session reads without the turn; begin_writing takes it."""
    plain = engine.execution_options(sqlite_immediate=False)
    session = Session(plain)
    session.execute(text("SELECT count(*) FROM t")).scalar()
    done: list = []
    _write_in_thread(engine, "other", done).join(5)
    assert [w for w, _ in done] == ["other"]  # the read held nothing up
    db.begin_writing(session)
    done.clear()
    thread = _write_in_thread(engine, "later", done)
    time.sleep(0.2)
    assert done == []  # the session holds the turn now
    session.execute(text("INSERT INTO t (who) VALUES ('session')"))
    db.begin_writing(session)  # writing already: a no-op, nothing committed yet
    with plain.connect() as conn:
        assert conn.execute(text("SELECT who FROM t ORDER BY id")).scalars().all() == ["other"]
    time.sleep(0.1)
    assert done == []  # and the turn is still the session's
    session.commit()
    thread.join(5)
    session.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM t ORDER BY id")).scalars().all() == ["other", "session", "later"]
