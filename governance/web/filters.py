"""Template filters and globals: times in the member's zone and in UTC, and the wording helpers of
``web.copy``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from flask import Flask, current_app
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user

from .. import copy
from .i18n import current_language


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
    language = current_language()
    if language == "en":
        text = f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"
    else:  # the language's own day, month name and order: "2. Mai 2024, 14:05 CEST"
        pattern = gettext("d MMMM y, HH:mm")  # a Babel date pattern (CLDR): translate the order only
        text = f"{format_datetime(local, pattern, locale=language)} {local.tzname()}"
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
    ("polls.index", lazy_gettext("Polls")),
    ("documents.index", lazy_gettext("Roadmap")),
    ("charter.show", lazy_gettext("Charter")),
    ("audit.index", lazy_gettext("Audit log")),
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
    for name in ("article", "sentence"):
        app.add_template_filter(getattr(copy, name), name)
    for name in ("plural", "fraction_words", "figure", "percent", "method_phrase"):
        app.add_template_filter(globals()[name], name)


# --- wording in the page's language (English: exactly what ``governance.copy`` gives) ---------

def _noun_forms(noun: str, number: int) -> str | None:
    """``number`` with ``noun`` in the page's language, for the nouns pages count."""
    forms = {
        "day": lambda: ngettext("%(num)s day", "%(num)s days", number),
        "hour": lambda: ngettext("%(num)s hour", "%(num)s hours", number),
        "minute": lambda: ngettext("%(num)s minute", "%(num)s minutes", number),
        "seat": lambda: ngettext("%(num)s seat", "%(num)s seats", number),
        "ballot": lambda: ngettext("%(num)s ballot", "%(num)s ballots", number),
        "more ballot": lambda: ngettext("%(num)s more ballot", "%(num)s more ballots", number),
        "voter": lambda: ngettext("%(num)s voter", "%(num)s voters", number),
        "version": lambda: ngettext("%(num)s version", "%(num)s versions", number),
        "upload": lambda: ngettext("%(num)s upload", "%(num)s uploads", number),
        "member": lambda: ngettext("%(num)s member", "%(num)s members", number),
        "exception": lambda: ngettext("%(num)s exception", "%(num)s exceptions", number),
        "candidate": lambda: ngettext("%(num)s candidate", "%(num)s candidates", number),
        "option": lambda: ngettext("%(num)s option", "%(num)s options", number),
        "round": lambda: ngettext("%(num)s round", "%(num)s rounds", number),
        "entry": lambda: ngettext("%(num)s entry", "%(num)s entries", number),
        "event": lambda: ngettext("%(num)s event", "%(num)s events", number),
        "trustee": lambda: ngettext("%(num)s trustee", "%(num)s trustees", number),
    }
    make = forms.get(noun)
    return make() if make else None


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``copy.plural`` in the page's language (a noun missing from the table stays English, which
    the German pages' test finds)."""
    if current_language() == "en" or not isinstance(count, int):
        return copy.plural(count, noun, plural_form)
    from babel.numbers import format_decimal

    text = _noun_forms(noun, count)
    if text is None:
        return copy.plural(count, noun, plural_form)
    return text.replace(str(count), format_decimal(count, locale=current_language()), 1)


def figure(value, places: int = 2) -> str:
    """``copy.figure`` with the page language's digit grouping and decimal mark."""
    text = copy.figure(value, places)
    if current_language() == "en" or not text:
        return text
    from babel.numbers import format_decimal

    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return text
    return format_decimal(int(number) if number.is_integer() else number, format=f"#,##0.{'#' * places}",
                          locale=current_language())


def percent(part: int, whole: int | None) -> str:
    """``copy.percent`` as the page's language writes a percentage ("38 %" in German)."""
    text = copy.percent(part, whole)
    if current_language() == "en" or not text:
        return text
    from babel.numbers import format_percent

    return format_percent(round(100 * part / whole) / 100, locale=current_language())


def fraction_words(text: str) -> str:
    """``copy.fraction_words`` in the page's language."""
    english = copy.fraction_words(text)
    if current_language() == "en" or "(" not in english:
        return english
    words, figure_text = english.split(" (", 1)
    names = {"half": gettext("half"), "two thirds": gettext("two thirds"),
             "three quarters": gettext("three quarters"), "three fifths": gettext("three fifths"),
             "one third": gettext("one third"), "one quarter": gettext("one quarter")}
    return f"{names.get(words, words)} ({figure_text}"


def method_phrase(kind: str, method_name: str) -> str:
    """``copy.method_phrase`` in the page's language."""
    if current_language() == "en":
        return copy.method_phrase(kind, method_name)
    from .i18n import kind_name

    return gettext("%(kind)s counted by %(method)s", kind=kind_name(kind), method=method_name)
