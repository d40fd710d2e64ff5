"""Template filters and globals: times in the member's zone and in UTC, and the wording helpers of
``web.copy``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app
from flask_login import current_user

from .. import copy


def display_zone() -> ZoneInfo:
    """The member's time zone if they set one, else the site's."""
    name = getattr(current_user, "timezone", "") if current_user and current_user.is_authenticated else ""
    try:
        return ZoneInfo(name or current_app.config["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None) -> str:
    """'2 May 2024, 14:05 CEST (12:05 UTC)' or '—'."""
    if value is None:
        return "—"
    zone = display_zone()
    local = value.astimezone(zone)
    text = f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"
    if local.utcoffset():
        text += f" ({value.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"
    return text


def member_zone_set() -> bool:
    """Whether the member chose a time zone on the forum (else pages offer the browser's zone)."""
    return bool(current_user and current_user.is_authenticated and getattr(current_user, "timezone", ""))


def iso_time(value: datetime | None) -> str:
    """Machine-readable UTC time for <time datetime=...>."""
    return "" if value is None else value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


NAV = [
    ("polls.index", "Polls"),
    ("documents.index", "Roadmap"),
    ("charter.show", "Charter"),
    ("audit.index", "Audit log"),
]


def nav_links() -> list[tuple[str, str]]:
    """Navigation entries whose blueprints are registered."""
    return [(endpoint, label) for endpoint, label in NAV if endpoint in current_app.view_functions]


def init_app(app: Flask) -> None:
    """Register the filters and globals."""
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(iso_time, "iso_time")
    app.add_template_global(nav_links, "nav_links")
    app.add_template_global(lambda: display_zone().key, "display_zone_name")
    app.add_template_global(member_zone_set, "member_zone_set")
    for name in ("plural", "article", "sentence", "fraction_words", "figure", "percent", "method_phrase"):
        app.add_template_filter(getattr(copy, name), name)
