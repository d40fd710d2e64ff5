"""Operator commands (``flask --app app ...``), registered in ``init_app``."""

from __future__ import annotations

from pathlib import Path

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


@db_group.command("check")
@with_appcontext
def db_check() -> None:
    """Say whether the schema is at the newest migration (exit status 0) or not (exit status 1)."""
    problem = db.schema_problem(db.engine())
    if problem is not None:
        click.echo(f"db check: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"db check: the schema is current (revision {db.head_revision()})")


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The new backup file (refused if it exists).")
@with_appcontext
def backup_command(out: Path) -> None:
    """Write a consistent backup of the database while the platform runs (it holds open polls' secrets)."""
    from .ops import backup

    try:
        click.echo(backup.backup(db.engine(), out))
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace the database's contents.")
@with_appcontext
def restore_command(backup_file: Path, yes: bool) -> None:
    """Replace the database with a backup; stop every app process and clock first."""
    from .ops import backup

    if not yes:
        click.confirm(f"Replace the contents of {backup.describe_url(str(db.engine().url.render_as_string(False)))} "
                      f"with {backup_file}?", abort=True)
    try:
        click.echo(backup.restore(db.engine(), backup_file))
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("run flask --app app db upgrade if the backup is from an older version")


def init_app(app: Flask) -> None:
    """Register the command groups: the database's here, each area's from its ``commands`` module."""
    from .audit import commands as audit_commands
    from .identity import commands as identity_commands
    from .polls import commands as polls_commands
    from .proposals import commands as proposals_commands

    app.cli.add_command(db_group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    for module in (identity_commands, polls_commands, proposals_commands, audit_commands):
        for command in module.COMMANDS:
            app.cli.add_command(command)
