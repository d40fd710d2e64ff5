"""Operator commands of the audit area (registered by governance.cli)."""

from __future__ import annotations

import click

#: Commands of this area, added to `flask --app app` by `governance.cli.init_app`.
COMMANDS: list[click.Command] = []
