"""The German catalogue is complete: every string marked in the sources and templates has a German
translation that is neither empty nor fuzzy, with the same placeholders; the shipped .mo says what
the .po says; and German pages show no English left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "governance" / "translations"
PO = CATALOGUES / "de" / "LC_MESSAGES" / "messages.po"
MO = CATALOGUES / "de" / "LC_MESSAGES" / "messages.mo"
KEYWORDS = {"_": None, "N_": None, "Message": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "lazy_ngettext": (1, 2)}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")


def extracted() -> dict:
    """msgid -> where it was found, as ``scripts/translations extract`` finds them."""
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True):
        key = message[0] if isinstance(message, tuple) else message
        found.setdefault(key, (f"{filename}:{lineno}", message))
    return found


def catalogue(path: Path):
    with open(path, "rb") as fh:
        return read_po(fh)


def problems(found: dict, po) -> list[str]:
    """What is wrong with ``po`` for the strings ``found``."""
    out = []
    for key, (where, message) in sorted(found.items()):
        entry = po.get(key)
        if entry is None:
            out.append(f"{where}: not in de.po: {key!r}")
        elif entry.fuzzy:
            out.append(f"{where}: fuzzy in de.po: {key!r}")
        elif not (all(entry.string) if isinstance(entry.string, tuple) else entry.string):
            out.append(f"{where}: untranslated: {key!r}")
        else:
            wanted = set(_PLACEHOLDER.findall(key if isinstance(message, str) else message[-1]))
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            for text in strings:
                if set(_PLACEHOLDER.findall(text)) - wanted - {"num"} or (
                        isinstance(message, str) and set(_PLACEHOLDER.findall(text)) != wanted):
                    out.append(f"{where}: placeholders differ: {key!r} -> {text!r}")
    return out


def test_every_marked_string_has_a_german_translation():
    found = extracted()
    assert len(found) > 50  # the scan found the marked strings at all
    assert problems(found, catalogue(PO)) == []


def test_the_check_catches_a_new_string_and_a_fuzzy_one():
    found = extracted()
    po = catalogue(PO)
    found["A sentence nobody translated."] = ("templates/new.html:1", "A sentence nobody translated.")
    some = next(iter(m for m in po if m.id and isinstance(m.id, str)))
    some.flags.add("fuzzy")
    listed = problems(found, po)
    assert any("not in de.po: 'A sentence nobody translated.'" in p for p in listed)
    assert any("fuzzy in de.po" in p for p in listed)


def test_the_template_for_translators_lists_what_the_sources_mark():
    pot = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalogue(CATALOGUES / "messages.pot") if m.id}
    assert pot == set(extracted()), "run scripts/translations update"


def test_the_shipped_mo_says_what_the_po_says():
    def same(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    with open(MO, "rb") as fh:
        compiled = {same(m.id): same(m.string) for m in read_mo(fh) if m.id}
    written = {same(m.id): same(m.string) for m in catalogue(PO) if m.id and not m.fuzzy}
    assert compiled == written, "run scripts/translations compile"


def test_the_catalogues_ship_with_the_package():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["governance"]
    from fnmatch import fnmatch

    for path in (PO, MO):
        relative = str(path.relative_to(ROOT / "governance"))
        assert any(fnmatch(relative, pattern) for pattern in data), relative


@pytest.mark.parametrize("language", ["de"])
def test_german_numbers_and_dates(forum_app, language):
    from datetime import UTC, datetime

    from governance.web import filters

    with forum_app.test_request_context("/", headers={"Accept-Language": language}):
        assert filters.figure(1234) == "1.234"
        assert filters.figure("11.25") == "11,25"
        assert filters.plural(1234, "ballot") == "1.234 Stimmzettel"
        assert filters.plural(1, "day") == "1 Tag" and filters.plural(3, "day") == "3 Tage"
        assert filters.percent(3, 8) == "38\xa0%"
        when = filters.local_time(datetime(2026, 3, 2, 14, 5, tzinfo=UTC))
        assert "2. März 2026" in when and "UTC" in when
    with forum_app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert filters.figure(1234) == "1,234" and filters.plural(1234, "ballot") == "1,234 ballots"
        assert "2 March 2026" in filters.local_time(datetime(2026, 3, 2, 14, 5, tzinfo=UTC))
