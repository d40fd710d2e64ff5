"""Operator commands of the polls area: the clock (``polls tick``) and the demo (``seed-demo``)."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from ..identity.forum import Forum
from . import clock


def _tick_once() -> str:
    app = current_app
    now = datetime.now(UTC)
    forum = Forum.from_config(app.config, max_wait=30.0)
    steps = clock.run_due(engine=app.extensions["governance.engine"],
                          immediate=app.extensions["governance.engine_immediate"], forum=forum, now=now,
                          secret=app.config["SECRET_KEY"])
    delivered, failed = clock.deliver_outbox(
        engine=app.extensions["governance.engine"], immediate=app.extensions["governance.engine_immediate"],
        forum=forum, now=now, base_url=app.config["BASE_URL"], category=app.config["DISCOURSE_ANNOUNCE_CATEGORY"])
    from ..proposals import service as documents

    posted, not_posted = documents.deliver_topics(
        engine=app.extensions["governance.engine"], immediate=app.extensions["governance.engine_immediate"],
        forum=forum, base_url=app.config["BASE_URL"], category=app.config["DISCOURSE_ANNOUNCE_CATEGORY"], now=now)
    from ..identity.commands import background_forum
    from ..ops import heartbeat
    from . import (
        approvals,  # publications whose waiting period passed (their notices went out above)
        reminders,
    )

    reminders.start_due(engine=app.extensions["governance.engine"],
                        immediate=app.extensions["governance.engine_immediate"], now=now)
    reminded, _unsent = reminders.deliver(  # within the forum API budget background work may use
        engine=app.extensions["governance.engine"], immediate=app.extensions["governance.engine_immediate"],
        forum=background_forum(app, max_seconds=20), now=now, base_url=app.config["BASE_URL"])

    heartbeat.beat(app.extensions["governance.engine"], now)  # /healthz and /metrics: the clock is alive
    clock.scrub(app.extensions["governance.engine"])  # deleted secrets out of SQLite's WAL (docs/secrecy.md)
    applied = approvals.run_due(engine=app.extensions["governance.engine"],
                                immediate=app.extensions["governance.engine_immediate"], now=now)
    moves = ", ".join([f"poll {pid}: {step}" for pid, step in steps]
                      + [f"request {cid}: {outcome}" for cid, outcome in applied]) or "no poll moved"
    return (f"{now:%Y-%m-%d %H:%M:%S}Z {moves}; forum posts delivered {delivered + posted}, "
            f"failed {failed + not_posted}; reminders sent {reminded}")


@click.group("polls")
def polls_group() -> None:
    """Poll lifecycle commands."""


@polls_group.command("tick")
@click.option("--every", type=float, default=None, metavar="SECONDS",
              help="Keep running, ticking every SECONDS (for a process supervisor); default: tick once.")
@with_appcontext
def tick(every: float | None) -> None:
    """Open and close polls whose time has come; deliver owed forum posts, amendment topics included (cron)."""
    if every is None:
        click.echo(_tick_once())
        return
    stop = {"now": False}

    def _stop(*_args):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop["now"]:
        try:
            click.echo(_tick_once())
        except Exception as exc:  # noqa: BLE001 - a supervisor loop logs and carries on
            click.echo(f"tick failed: {exc}", err=True)
        slept = 0.0
        while slept < every and not stop["now"]:
            time.sleep(min(0.5, every - slept))
            slept += 0.5


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Fill an empty database with the demo community's polls (members come from the forum)."""
    from . import demo

    app = current_app
    try:
        with demo.demo_forum(app.config) as forum:
            from pathlib import Path

            ids = demo.seed(engine=app.extensions["governance.engine"],
                            immediate=app.extensions["governance.engine_immediate"], forum=forum,
                            secret=app.config["SECRET_KEY"],
                            trustee_folder=Path(app.instance_path) / "demo-trustees")
    except demo.AlreadySeeded as exc:
        click.echo(f"seed-demo: {exc}; nothing changed")
        return
    for role, ident in ids.items():
        path = f"/documents/roadmap/amendments/{ident}" if role == "roadmap_amendment" else f"/polls/{ident}"
        click.echo(f"{role.replace('_', ' ')}: {path}")
    click.echo(f"the demo trustees' private state files: {app.instance_path}/demo-trustees/ "
               f"({', '.join(demo.DEMO_TRUSTEES)}; log in as one of them to see their trustee page)")


COMMANDS: list[click.Command] = [polls_group, seed_demo]
