"""Operator commands (``flask --app app ...``), registered in ``init_app``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from . import db


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate up to this revision.")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Create or migrate the database schema."""
    db.upgrade(db.engine(), revision)
    click.echo(f"database at {revision}")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Show the schema revision of the database."""
    from alembic.runtime.migration import MigrationContext

    with db.engine().connect() as conn:
        click.echo(MigrationContext.configure(conn).get_current_revision() or "empty")


def init_app(app: Flask) -> None:
    """Register the command groups: the database's here, each area's from its ``commands`` module."""
    from .audit import commands as audit_commands
    from .identity import commands as identity_commands
    from .polls import commands as polls_commands
    from .proposals import commands as proposals_commands

    app.cli.add_command(db_group)
    for module in (identity_commands, polls_commands, proposals_commands, audit_commands):
        for command in module.COMMANDS:
            app.cli.add_command(command)
