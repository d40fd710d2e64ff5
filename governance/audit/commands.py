"""Operator commands of the audit area (registered by governance.cli).

Boundary rule: thin click wrappers over ``governance.audit.export`` and ``signing``; each reads
through one session and never writes to the database.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..errors import GovernanceError


@click.group("audit")
def audit_group() -> None:
    """The public event log: export poll and document bundles, check the stored log, make a signing key."""


@audit_group.command("export")
@click.argument("poll_id", type=click.IntRange(min=1, max=2**31 - 1))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the bundle (a zip) to this file.")
@with_appcontext
def export_command(poll_id: int, out: Path) -> None:
    """Write the audit bundle of a closed poll to a zip file (check it with `governance-audit verify`)."""
    from ..audit import export
    from ..db import get_session

    try:
        data = export.poll_bundle(get_session(), poll_id)
    except GovernanceError as exc:
        raise click.ClickException(exc.message) from None
    _write(out, data)


def _write(out: Path, data: bytes) -> None:
    from ..audit.canonical import sha256_hex

    try:
        out.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out} ({len(data)} bytes, sha256 {sha256_hex(data)})")


@audit_group.command("export-document")
@click.argument("slug")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the bundle (a zip) to this file.")
@with_appcontext
def export_document_command(slug: str, out: Path) -> None:
    """Write the audit bundle of a governed document (every version and amendment) to a zip file."""
    from ..audit import export
    from ..db import get_session

    try:
        data = export.document_bundle(get_session(), slug)
    except GovernanceError as exc:
        raise click.ClickException(exc.message) from None
    _write(out, data)


@audit_group.command("verify-log")
@with_appcontext
def verify_log_command() -> None:
    """Recompute the hash chain and Merkle root of the whole stored log and compare with the latest head.

    Exits 1 and names the first problem when anything disagrees.
    """
    from ..audit import export
    from ..db import get_session

    result = export.check_log(get_session())
    if result.problem is not None:
        raise click.ClickException(f"the event log does not verify: {result.problem}")
    click.echo(f"chain: {result.entries} entries, every hash and link checked")
    if result.head is None:
        click.echo("head: none stored yet (one is made when a poll closes)")
    else:
        head = result.head
        click.echo(f"head: {head.id}, size {head.tree_size}, root {head.root_hash} at {head.timestamp} (matches)")
        click.echo(f"signature: {result.signature}")
        if head.tree_size < result.entries:
            click.echo(f"note: {result.entries - head.tree_size} newer entries are not covered by a head yet")
    click.echo("OK")


@audit_group.command("keygen")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the private key to this new file (mode 0600) instead of printing it.")
def keygen_command(out: Path | None) -> None:
    """Make a new Ed25519 key pair for signing tree heads and say how to configure it."""
    from ..audit.signing import generate_key, key_id

    private_pem, public_pem = generate_key()
    if out is not None:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise click.ClickException(f"{out} already exists; not overwriting a key") from None
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(private_pem)
        click.echo(f"Private key written to {out} (readable only by you). Configure the server with:")
        click.echo(f"  GOVERNANCE_AUDIT_SIGNING_KEY_FILE={out.resolve()}")
    else:
        click.echo("Private key (keep it secret; never commit it):")
        click.echo(private_pem.decode("ascii").rstrip())
        click.echo("")
        click.echo("Configure the server with the key in the environment, for example:")
        click.echo("  export GOVERNANCE_AUDIT_SIGNING_KEY=\"$(cat audit_key.pem)\"")
        click.echo("or save it to a file readable only by the server and set GOVERNANCE_AUDIT_SIGNING_KEY_FILE.")
    click.echo("")
    click.echo(f"Public key (key id {key_id(public_pem)}); publish it on the forum so auditors can check heads:")
    click.echo(public_pem.decode("ascii").rstrip())


#: Commands of this area, added to `flask --app app` by `governance.cli.init_app`.
COMMANDS: list[click.Command] = [audit_group]
