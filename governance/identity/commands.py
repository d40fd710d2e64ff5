"""Operator commands of the identity area (registered by governance.cli)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import write_session
from ..errors import GovernanceError
from . import sync
from .forum import Forum


@click.group("forum")
def forum_group() -> None:
    """Keep member records in step with the forum."""


@forum_group.command("sync")
@click.option(
    "--per-minute",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Forum API requests a minute at most (Discourse admin keys allow 60; 0 turns pacing off).",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Longest back-off, in seconds, to sit out when the forum answers 429.",
)
@click.option(
    "--max-time",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Give up, changing nothing, after this many seconds.",
)
@with_appcontext
def sync_command(per_minute: int, max_wait: float, max_time: float) -> None:
    """Refresh every known member and the forum's groups; end the sessions of suspended members."""
    pace = sync.Pacer(per_minute=per_minute, max_seconds=max_time)
    forum = Forum.from_config(current_app.config, max_wait=max_wait, page_interval=pace.interval)
    with write_session() as db:
        try:
            report = sync.sync_members(session=db, forum=forum, pace=pace)
        except GovernanceError as exc:  # the forum failed or refused: ForumUnavailable, NotFound
            db.rollback()
            raise click.ClickException(f"forum sync stopped and changed nothing: {exc.message}") from None
        db.commit()
    for line in report.lines():
        click.echo(line)


#: Commands of this area, added to `flask --app app` by `governance.cli.init_app`.
COMMANDS: list[click.Command] = [forum_group]
