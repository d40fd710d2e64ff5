"""The migrations build exactly the schema the models describe, and the newest ones go down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import governance.models  # noqa: F401 - registers every table
from governance.db import alembic_config


def _diff(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def test_migrated_schema_matches_the_models(app):
    assert _diff(app.extensions["governance.engine"]) == []


def test_newest_migrations_go_down_and_up(app):
    engine = app.extensions["governance.engine"]
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert "ix_ballot_poll" in {i["name"] for i in inspect(engine).get_indexes("ballot")}
    assert "ix_participation_poll_id" in {i["name"] for i in inspect(engine).get_indexes("participation")}
    assert _tip_function(engine) is False
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert _diff(engine) == []
    assert _tip_function(engine) is (engine.dialect.name == "postgresql")


def _tip_function(engine) -> bool:
    """Whether migration 0003's log-tip function exists (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT to_regproc('audit_log_tip_locked') IS NOT NULL").scalar()
