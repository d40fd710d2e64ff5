"""Operator commands of the proposals area (registered by governance.cli).

``flask documents import SLUG FILE`` loads a document's first version (the committee's
publication); ``flask documents topics`` posts the discussion topics amendments are owed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..errors import GovernanceError


@click.group("documents")
def documents_group() -> None:
    """Governed documents (the roadmap, the values ...) and their amendments."""


@documents_group.command("import")
@click.argument("slug")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--title", default=None, help="The document's title (default: the charter's).")
@click.option("--note", default="initial version", show_default=True, help="Shown with the version.")
@with_appcontext
def import_command(slug: str, path: Path, title: str | None, note: str) -> None:
    """Load FILE (Markdown) as the first version of the document SLUG."""
    from ..db import write_session
    from ..polls import charter
    from . import service

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        source = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not valid UTF-8 (first bad byte at offset {exc.start})") from None
    with write_session() as session:
        try:
            version = service.import_document(session=session, charter=charter.current(session), slug=slug,
                                              source=source, now=datetime.now(UTC), note=note, title=title)
            session.commit()
        except GovernanceError as exc:
            session.rollback()
            raise click.ClickException(exc.message) from None
        click.echo(f"{slug}: version {version.number} published (sha256 {version.sha256})")


@documents_group.command("topics")
@with_appcontext
def topics_command() -> None:
    """Post the forum topics that amendments opened for discussion are still owed."""
    from ..db import engine
    from ..identity.forum import Forum
    from . import service

    app = current_app
    posted, failed = service.deliver_topics(
        engine=engine(), immediate=app.extensions["governance.engine_immediate"],
        forum=Forum.from_config(app.config), base_url=app.config["BASE_URL"],
        category=app.config.get("DISCOURSE_ANNOUNCE_CATEGORY"), now=datetime.now(UTC))
    click.echo(f"{posted} topic(s) posted, {failed} failed (retried on the next run)")


#: Commands of this area, added to `flask --app app` by `governance.cli.init_app`.
COMMANDS: list[click.Command] = [documents_group]
