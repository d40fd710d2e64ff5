"""Security headers on every response (CSP without inline script, no framing, no sniffing), and
one request-level refusal of control characters in every text a request carries.

Control characters: a NUL byte cannot be stored in PostgreSQL text at all, and the others have
no business in a title, an option or a statement. Every form field and JSON string (keys too)
and the path are checked before any view runs; tab, newline and carriage return are allowed
only in the fields the pages offer as multi-line text (every ``<textarea>`` in the templates) and
in JSON strings. Query parameters are each view's to parse (they
are lookups, never stored). A refusal is a 400 that names the field; nothing was read from or written to the
database.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from ..errors import InvalidInput


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    """The CSP: same-origin scripts and styles only; avatars may come from the forum, forms may end there."""
    forum = _origin(current_app.config.get("DISCOURSE_URL", ""))
    img = " ".join(x for x in ("'self'", "data:", forum) if x)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {img}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            # The forum too: "log out of the forum" posts here and is redirected there, and
            # browsers check form-action on a form's redirects.
            "form-action " + " ".join(x for x in ("'self'", forum) if x),
            "frame-ancestors 'none'",
        ]
    )


def add_headers(response: Response) -> Response:
    """Add the security headers (HSTS only when the request came over HTTPS)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if response.mimetype == "text/html":
        # Pages can show personal eligibility; keep them out of shared caches.
        headers.setdefault("Cache-Control", "no-store")
    return response


#: C0 controls, DEL and C1 controls (Unicode category Cc).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The same without tab, newline and carriage return (multi-line text).
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TEXTAREA = re.compile(r"<textarea\b[^>]*\bname=\"([^\"]+)\"", re.IGNORECASE)
_JINJA = re.compile(r"\{\{.*?\}\}")


def multiline_fields(template_folder: str | Path) -> re.Pattern[str]:
    """A pattern matching the names of every ``<textarea>`` in the templates.

    A ``{{ ... }}`` part of a name (``insert-{{ b.index }}``) matches up to 40 characters.
    """
    names = set()
    for path in Path(template_folder).rglob("*.html"):
        for name in _TEXTAREA.findall(path.read_text(encoding="utf-8")):
            names.add(".{1,40}".join(re.escape(piece) for piece in _JINJA.split(name)))
    return re.compile("|".join(sorted(names)) or "(?!)")


def _shown(char: str) -> str:
    return f"U+{ord(char):04X}"


def _json_strings(data) -> list[tuple[str, str]]:
    """(where, text) for every key and string value in a parsed JSON document, without recursion."""
    found: list[tuple[str, str]] = []
    stack = [("", data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            found.append((where or "body", item))
        elif isinstance(item, dict):
            for key, value in item.items():
                found.append((f"{where}.{key}" if where else str(key), str(key)))
                stack.append((f"{where}.{key}" if where else str(key), value))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", value) for i, value in enumerate(item))
    return found


def refuse_control_characters() -> None:
    """Refuse (400, InvalidInput) a request whose path, query, form or JSON text holds a control character."""
    problems: list[tuple[str, str]] = []

    def check(field: str, text: str, pattern: re.Pattern[str]) -> None:
        match = pattern.search(text)
        if match:
            problems.append((field, f"'{field[:60]}' contains a control character ({_shown(match.group())}), "
                             "which is not accepted; nothing was changed."))

    check("path", request.path, _CONTROL)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        multiline = current_app.extensions["governance.multiline_fields"]
        for key, values in request.form.lists():
            check(key, key, _CONTROL)
            pattern = _CONTROL_MULTILINE if multiline.fullmatch(key) else _CONTROL
            for value in values:
                check(key, value, pattern)
    elif request.is_json:
        data = request.get_json(silent=True)
        if data is not None:
            for where, text in _json_strings(data):
                check(where, text, _CONTROL_MULTILINE)
    if problems:
        raise InvalidInput(problems[:10])


def init_app(app: Flask) -> None:
    """Register the header hook and the control-character check."""
    app.extensions["governance.multiline_fields"] = multiline_fields(app.template_folder)
    app.before_request(refuse_control_characters)
    app.after_request(add_headers)
