"""Candidate names and titles in ballot files: written so that they read back exactly.

Boundary rule: pure library code; standard library only.

A format either holds a name as it is (``quote_name`` returns it unchanged, which is what every
other program reads), or the name is written as a JSON string (``"..."`` with escapes) that our
readers decode with ``unquote_name``. A value is written quoted when it would not read back as
itself: leading or trailing white space (readers strip it), a control or line-separator
character, a value that itself looks like a quoted JSON string, an empty value, or a value the
format gives another meaning (``reserved``). A text read that starts and ends with ``"`` and is a
valid JSON string is decoded; anything else is read as written.

``substitutions(profile, fmt)`` lists the names a file of that format shows differently from the
name itself (quoted, escaped, or replaced by a stand-in as ABIF must for brackets), so that a
manifest can say how each file shows them.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable

__all__ = ["needs_quotes", "quote_name", "substitutions", "unquote_name"]

_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _awkward(c: str) -> bool:
    return c in _LINE_BREAKS or unicodedata.category(c) in ("Cc", "Zl", "Zp")


def json_string(value: str) -> str:
    """``value`` as a JSON string on one line, every control character escaped.

    >>> print(json_string('a "b"\\x7f'))
    "a \\"b\\"\\u007f"
    """
    text = json.dumps(value, ensure_ascii=False)
    return "".join(f"\\u{ord(c):04x}" if _awkward(c) else c for c in text)


def unquote_name(text: str) -> str:
    """A name as read from a file: a quoted JSON string is decoded, anything else kept.

    >>> unquote_name('"  padded  "'), unquote_name("Ann"), unquote_name('"not json\\\\q"')
    ('  padded  ', 'Ann', '"not json\\\\q"')
    """
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, str):
            return value
    return text


def needs_quotes(value: str, reserved: Callable[[str], bool] | None = None) -> bool:
    """Whether ``value`` must be written quoted to read back as itself."""
    return (
        not value
        or value != value.strip()
        or any(_awkward(c) for c in value)
        or unquote_name(value) != value
        or (reserved is not None and reserved(value))
    )


def quote_name(value: str, reserved: Callable[[str], bool] | None = None) -> str:
    """``value`` as it is when it reads back as itself, else as a JSON string.

    >>> quote_name("Ann Lee"), quote_name(" Ann"), quote_name('"x"')
    ('Ann Lee', '" Ann"', '"\\\\"x\\\\""')
    """
    return json_string(value) if needs_quotes(value, reserved) else value


def substitutions(profile, fmt: str) -> dict[str, str]:
    """Names (and the title, key ``""`` not used) a ``fmt`` file shows other than as themselves.

    ``fmt`` is ``"blt"``, ``"abif"``, ``"preflib"`` or ``"csv"``. Values are the text as the file
    shows it; our readers read every one back to the name itself.

    >>> from governance.tally.core import Profile
    >>> substitutions(Profile.build(['say "hi"', "b"], []), "blt")
    {'say "hi"': '"say \\\\"hi\\\\""'}
    """
    out: dict[str, str] = {}
    for name in profile.candidates:
        if fmt == "blt":
            from .blt import quote

            shown = quote(name)[1:-1] if quote(name) == f'"{name}"' else quote(name)
        elif fmt == "abif":
            from .abif import bracket_name

            shown = bracket_name(name)
        elif fmt == "preflib":
            shown = quote_name(name)
        elif fmt == "csv":
            from .formats import csv_name

            shown = csv_name(name)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        if shown != name:
            out[name] = shown
    return out
