"""Database engine, per-request sessions and schema migrations.

Boundary rule: this is the only module that builds engines. One engine per application (kept in
``app.extensions``), one session per request (kept in ``g``), closed and rolled back on teardown.
Services receive the session as an argument and never commit; views commit once.

SQLite (the embedded default) runs in WAL mode with ``foreign_keys=ON``, ``synchronous=FULL`` and a
busy timeout. Requests that may write (POST, PUT, PATCH, DELETE) open their transaction with
``BEGIN IMMEDIATE``, so a write that reads first cannot be overtaken by another writer between
its read and its write. PostgreSQL uses the same code with its default READ COMMITTED isolation
plus the row locks and unique constraints the services take.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g, request
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine

from .config import StartupError, database_url, mask_url

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str, **options) -> Engine:
    """Build an engine with the project's connection settings for SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, connect_args=connect_args, **options)
        _configure_sqlite(engine)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(url, **options)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (the sqlite3 module would
        # otherwise issue a deferred BEGIN on its own).
        dbapi_connection.isolation_level = None
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
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def init_app(app: Flask) -> None:
    """Build the app's engine once and register per-request session teardown."""
    url = database_url(app.config, app.instance_path)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////:memory"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
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

    return counters


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app's engines (tests, and workers shutting down)."""
    seen: set[int] = set()
    for name in ("governance.engine", "governance.engine_counters"):
        eng = app.extensions.get(name)
        if eng is not None and id(eng) not in seen:
            seen.add(id(eng))
            eng.dispose()


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["governance.engine"]


def get_session() -> Session:
    """Return this request's session, opening it on first use.

    Write requests get a session whose transactions start with BEGIN IMMEDIATE on SQLite.
    """
    if "db_session" not in g:
        bind = current_app.extensions["governance.engine"]
        try:
            if request.method in WRITE_METHODS:
                bind = current_app.extensions["governance.engine_immediate"]
        except RuntimeError:  # outside a request (CLI, tests): plain engine
            pass
        g.db_session = Session(bind, expire_on_commit=False)
    return g.db_session


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
