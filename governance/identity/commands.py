"""Operator commands of the identity area (registered by governance.cli)."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from ..errors import GovernanceError
from . import sync
from .budget import Budget
from .forum import Forum


def background_forum(app, *, max_seconds: float) -> Forum:
    """The forum adapter for background work: paced within the shared API budget, waiting out
    short back-offs, giving up when ``max_seconds`` are over."""
    budget = Budget(app.extensions["governance.engine_counters"], background=True,
                    limit_per_minute=int(app.config.get("DISCOURSE_API_LIMIT", 60)))
    paced = sync.Paced(budget, deadline=budget.clock() + max_seconds)
    return Forum.from_config(app.config, max_wait=30.0, budget=paced)


@click.group("forum")
def forum_group() -> None:
    """Keep member records in step with the forum."""


@forum_group.command("sync")
@click.option(
    "--max-time",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Stop after this many seconds; the next run continues the same pass where this one stopped.",
)
@click.option("--max-pages", type=click.IntRange(min=1), default=None,
              help="Stop after this many pages of 100 accounts (the next run continues).")
@click.option("--quiet", is_flag=True, help="Print the summary only, not each page.")
@with_appcontext
def sync_command(max_time: float, max_pages: int | None, quiet: bool) -> None:
    """Read every forum account, 100 a call within the API budget; resumable, incremental."""
    app = current_app._get_current_object()
    engine = app.extensions["governance.engine_immediate"]
    forum = background_forum(app, max_seconds=max_time)
    started = time.monotonic()

    def progress(report: sync.SyncReport) -> None:
        if not quiet:
            click.echo(f"pass {report.pass_id}: page {report.next_page - 1} read, {report.accounts} account(s) "
                       f"this run, {len(report.changed)} changed, {report.calls} API call(s), "
                       f"{time.monotonic() - started:.0f} s", err=True)

    try:
        stale = sync.refresh_stale(engine=engine, forum=forum)
        report = sync.run(engine=engine, forum=forum, max_seconds=max_time, progress=progress,
                          max_pages=max_pages)
    except GovernanceError as exc:  # the forum failed or refused; every page read so far is kept
        raise click.ClickException(f"forum sync stopped (every page read so far is kept; run again to "
                                   f"continue): {exc.message}") from None
    if stale:
        click.echo(f"Re-read {stale} member(s) marked stale by webhooks or logins.")
    for line in report.lines():
        click.echo(line)


#: Commands of this area, added to `flask --app app` by `governance.cli.init_app`.
COMMANDS: list[click.Command] = [forum_group]
