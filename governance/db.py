"""Database engine, per-request sessions and schema migrations.

Boundary rule: this is the only module that builds engines. One engine per application (kept in
``app.extensions``), one session per request (kept in ``g``), closed and rolled back on teardown.
Services receive the session as an argument and never commit; views commit once.

SQLite (the embedded default) runs in WAL mode with ``foreign_keys=ON``, ``synchronous=FULL`` and a
busy timeout. Requests that may write (POST, PUT, PATCH, DELETE) open their transaction with
``BEGIN IMMEDIATE``, so a write that reads first cannot be overtaken by another writer between
its read and its write; such transactions queue for their turn on a file lock next to the
database (``<file>-writers``) rather than on SQLite's sleeping busy handler. PostgreSQL uses the same code with its default READ COMMITTED isolation
plus the row locks and unique constraints the services take.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import time
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from .config import StartupError, database_url, mask_url
from .ops import load

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT = 5


class _SQLiteConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns through an OS file lock.

    SQLite lets one writer in at a time and makes the others poll: its busy handler sleeps 1,
    2, 5, 10 ... ms between tries, so under steady voting a waiting writer mostly sleeps while
    the lock is free. Taking an exclusive ``flock`` on a file next to the database before
    ``BEGIN IMMEDIATE`` (and dropping it after COMMIT or ROLLBACK) queues the writers of every
    process on that file instead, and the wait ends within a fraction of a millisecond of the
    lock's release. The kernel drops the lock of a process that dies. Writers that do not use it
    (another program, the sqlite3 shell) still meet SQLite's own lock and busy timeout.
    """

    write_lock_path: str | None = None
    _lock_fd: int | None = None
    _holding = False

    def __init__(self, database, *args, **kwargs):
        # SQLite creates a new database with the process's umask (usually 0644) and gives its WAL
        # and -shm files the database file's mode: create the file first, owner-only.
        if isinstance(database, str) and database not in ("", ":memory:") and not database.startswith("file:"):
            with contextlib.suppress(FileExistsError):
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        super().__init__(database, *args, **kwargs)

    def take_write_turn(self, timeout: float) -> None:
        if self.write_lock_path is None or self._holding:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.write_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        pause = 0.00005
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.0005)
        self._holding = True

    def end_write_turn(self) -> None:
        if self._holding:
            self._holding = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_write_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_write_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_write_turn()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def make_engine(url: str, **options) -> Engine:
    """Build an engine with the project's connection settings for SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        connect_args.setdefault("factory", _SQLiteConnection)
        engine = create_engine(url, connect_args=connect_args, **options)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # An unreachable server (a dropped route, a firewall) fails a connection in seconds
        # instead of hanging start-up, /healthz and every request for minutes.
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT)
        options["connect_args"] = connect_args
    engine = create_engine(url, **options)
    if not options.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


#: A pooled PostgreSQL connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use if it has been idle for a while.

    A connection in steady use is handed out without a round trip; one that sat idle (when a
    restarted server or a firewall may have dropped it unnoticed) is pinged first and replaced
    if dead. A connection that dies while in steady use fails its request once, and SQLAlchemy
    then replaces every connection of the pool.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["governance.idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        since = record.info.get("governance.idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            if not engine.dialect.do_ping(dbapi_connection):
                raise DisconnectionError("the database did not answer a ping")
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc


def _configure_sqlite(engine: Engine) -> None:
    database = engine.url.database
    on_disk = database not in (None, "", ":memory:") and not database.startswith("file:")
    lock_path = f"{database}-writers" if on_disk else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (the sqlite3 module would
        # otherwise issue a deferred BEGIN on its own).
        dbapi_connection.isolation_level = None
        if isinstance(dbapi_connection, _SQLiteConnection):
            dbapi_connection.write_lock_path = lock_path
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Deleted rows (voter links, poll keys) are overwritten, not left in free pages.
        cursor.execute("PRAGMA secure_delete = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if not conn.get_execution_options().get("sqlite_immediate", False):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi_connection = conn.connection.driver_connection
        queued = isinstance(dbapi_connection, _SQLiteConnection)
        wait = SQLITE_BUSY_TIMEOUT_MS / 1000
        environ = _request_environ()
        if environ is not None:
            load.check_deadline(environ)  # too late to begin writing: 503, nothing written
            left = load.remaining(environ)
            if left is not None:
                wait = min(wait, max(left, 0.05))
        if queued:
            try:
                dbapi_connection.take_write_turn(wait)
            except sqlite3.OperationalError as exc:  # as SQLite's own busy timeout reports it
                raise OperationalError("BEGIN IMMEDIATE", {}, exc) from None
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queued:
                dbapi_connection.end_write_turn()
            raise


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database or an in-memory one.

    >>> sqlite_path("sqlite:////srv/gov/governance.db")
    PosixPath('/srv/gov/governance.db')
    >>> sqlite_path("sqlite://") is None and sqlite_path("postgresql+psycopg://h/db") is None
    True
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


#: The files SQLite keeps next to a database, and the writers' lock file: all owner-only.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal", "-writers")


def _check_sqlite_place(path: Path, *, default_folder: bool) -> None:
    """Refuse a SQLite path whose folder is missing or unwritable; tighten existing files to 0600.

    The instance folder of the default URL is the platform's own and is created (owner-only);
    any other folder must exist, so a mistyped path is an error instead of a new empty database.
    """
    folder = path.parent
    if not folder.is_dir():
        if not default_folder:
            raise StartupError(f"the SQLite database's folder {folder} does not exist; create it "
                               "(owner-only) or fix GOVERNANCE_DATABASE_URL")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(f"the SQLite database's folder {folder} is not writable by this user "
                           "(SQLite writes its WAL and lock files next to the database)")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StartupError(f"the SQLite database {path} is not readable and writable by this user")
    for suffix in SQLITE_COMPANIONS:
        companion = Path(f"{path}{suffix}")
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)  # it may hold open polls' secrets
        except FileNotFoundError:
            pass


def _request_environ() -> dict | None:
    """The WSGI environ of the request being served, or None (CLI, clock, tests without a request)."""
    return request.environ if has_request_context() else None


@event.listens_for(Session, "before_commit")
def _client_still_there(db: Session) -> None:
    """Commit nothing for a client that has closed its connection (it was told nothing, and may retry)."""
    environ = db.info.get("governance.environ")
    if environ is not None and load.client_gone(environ):
        raise load.ClientGone("the client closed the connection before the commit")


def init_app(app: Flask) -> None:
    """Build the app's engine once and register per-request session teardown."""
    url = database_url(app.config, app.instance_path)
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_place(path, default_folder=not app.config.get("DATABASE_URL"))
    engine = make_engine(url, **dict(app.config.get("ENGINE_OPTIONS") or {}))
    app.extensions["governance.engine"] = engine
    app.extensions["governance.engine_immediate"] = engine.execution_options(sqlite_immediate=True)
    app.extensions["governance.engine_counters"] = _counter_engine(url, engine, dict(app.config.get("ENGINE_OPTIONS") or {}))
    app.teardown_appcontext(close_session)


def _counter_engine(url: str, engine: Engine, options: dict) -> Engine:
    """The engine for rate-limit counters.

    On SQLite its connections commit with ``synchronous=NORMAL`` (durable against a process
    crash, not a power cut): a lost counter increment costs nothing, and it spares every counted
    request a second fsync. Everything else keeps ``synchronous=FULL``. On PostgreSQL the counter
    transaction itself turns off the commit flush wait, so the main engine serves.
    """
    if engine.dialect.name != "sqlite":
        return engine
    counters = make_engine(url, **options)

    @event.listens_for(counters, "connect")
    def _relaxed(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    # A counter transaction writes at once: take the writers' turn like any other write.
    return counters.execution_options(sqlite_immediate=True)


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app's engines (tests, and workers shutting down)."""
    seen: set[int] = set()
    for name in ("governance.engine", "governance.engine_counters"):
        eng = app.extensions.get(name)
        if eng is not None and id(eng) not in seen:
            seen.add(id(eng))
            eng.dispose()


def engine_of(app: Flask) -> Engine:
    """An app's engine (outside an app context)."""
    return app.extensions["governance.engine"]


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["governance.engine"]


def get_session() -> Session:
    """Return this request's session, opening it on first use.

    Write requests get a session whose transactions start with BEGIN IMMEDIATE on SQLite (unless
    the view is marked ``reads_first``).
    """
    if "db_session" not in g:
        bind = current_app.extensions["governance.engine"]
        try:
            if request.method in WRITE_METHODS and not g.get("db_reads_first"):
                bind = current_app.extensions["governance.engine_immediate"]
        except RuntimeError:  # outside a request (CLI, tests): plain engine
            pass
        g.db_session = Session(bind, expire_on_commit=False)
        environ = _request_environ()
        if environ is not None:
            g.db_session.info["governance.environ"] = environ
    return g.db_session


def reads_first(view):
    """Mark a write view that reads before it writes and says when its writing starts.

    Its session starts with a plain read transaction (the login lookup, the view's reads and
    checks); ``begin_writing`` then opens the write transaction. On SQLite that keeps the single
    write lock for the writes alone, so concurrent requests do their reading side by side. What
    the reads found and may have changed since must be checked again after ``begin_writing``.
    Put it outermost (before anything that opens the session).
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.db_reads_first = True
        return view(*args, **kwargs)

    return wrapper


def begin_writing(session: Session) -> None:
    """Open the write transaction of a ``reads_first`` view (or of any session) now.

    On SQLite the reading transaction is ended first and the new one begins with BEGIN
    IMMEDIATE, taking the write lock. PostgreSQL keeps the same transaction: its writers lock
    rows, and the services take the row locks they need.
    """
    environ = session.info.get("governance.environ")
    if environ is not None:
        load.check_deadline(environ)
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.connection().get_execution_options().get("sqlite_immediate"):
            return  # writing already
        session.commit()
    session.connection(execution_options={"sqlite_immediate": True})


def write_session() -> Session:
    """A new session whose transactions take the write lock at once (CLI and background work)."""
    return Session(current_app.extensions["governance.engine_immediate"], expire_on_commit=False)


def close_session(exc: BaseException | None = None) -> None:
    """Roll back on error and close this request's session."""
    session = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


def check_connection(app: Flask) -> None:
    """Fail fast, with a one-line reason naming the URL (password masked), if the DB is unreachable."""
    eng = app.extensions["governance.engine"]
    path = sqlite_path(eng.url.render_as_string(hide_password=False))
    if path is not None and not path.exists():
        return  # connecting would create an empty file; ``schema_problem`` reports it instead
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
        raise StartupError(f"cannot connect to the database {mask_url(str(eng.url.render_as_string(False)))}: {reason}") from None


def alembic_config(url: str):
    """An Alembic configuration pointing at the packaged migrations and ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(eng: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` using ``eng``."""
    from alembic import command

    cfg = alembic_config(eng.url.render_as_string(hide_password=False))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(eng: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_problem(eng: Engine) -> str | None:
    """Why this database cannot be served by this code (one line), or None when its schema is current."""
    path = sqlite_path(eng.url.render_as_string(hide_password=False))
    if path is not None and not path.exists():
        return f"the database {path} does not exist yet: run flask --app app db upgrade"
    try:
        current = current_revision(eng)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
        return f"cannot read the schema revision of {mask_url(eng.url.render_as_string(False))}: {reason}"
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return "the database has no schema yet: run flask --app app db upgrade"
    return (f"the database schema is at revision {current} but this code needs {head}: "
            "run flask --app app db upgrade")
