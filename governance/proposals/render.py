"""Render roadmap Markdown to safe HTML, and check a source before it is stored.

Boundary rule: pure functions only. This module imports no Flask, no database layer and
nothing from ``governance.web``, ``governance.models`` or ``governance.db``.

Decisions (see ``docs/roadmap.md``):

* The parser is ``MarkdownIt("js-default")``: raw HTML is **off**, so ``<script>`` and
  friends come out as visible, escaped text. Tables and strikethrough are on; footnotes
  (``mdit_py_plugins.footnote``) and heading ids (``mdit_py_plugins.anchors``) are added.
* Linkify is **off**: bare URLs stay plain text, so a link only exists where the author
  wrote one, and no extra dependency (``linkify-it-py``) is needed.
* Links and images may only use ``http``, ``https``, ``mailto`` (links only) or a
  relative address. markdown-it's own ``validateLink`` still allows ``data:image/...``
  and unknown schemes; ours is an allow-list instead.
* Links to other sites get ``rel="nofollow noopener"``; images get
  ``referrerpolicy="no-referrer"`` and ``loading="lazy"``.
* ``sha256_hex`` hashes the UTF-8 bytes after turning ``\\r\\n`` and ``\\r`` into ``\\n``,
  so the same text typed on Windows or Unix has the same digest.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin

__all__ = [
    "MAX_SOURCE_BYTES",
    "DocumentError",
    "is_safe_url",
    "normalise_newlines",
    "render",
    "sha256_hex",
    "slugify",
    "validate_source",
]

#: Largest accepted source, counted in UTF-8 bytes (200 kB).
MAX_SOURCE_BYTES = 200_000


class DocumentError(ValueError):
    """A roadmap text cannot be used as given; ``problems`` lists why in plain words."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


# === Source checks ===

_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
# Bidirectional embedding/override/isolate controls can make text display in a different
# order from the one it is stored in ("Trojan Source"), which defeats a text comparison.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def normalise_newlines(source: str) -> str:
    """Return ``source`` with ``\\r\\n`` and lone ``\\r`` turned into ``\\n``.

    >>> normalise_newlines("a\\r\\nb\\rc")
    'a\\nb\\nc'
    """
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _where(text: str, pos: int) -> str:
    """Describe a character offset as 'line L, column C' (both 1-based)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def validate_source(source: str | bytes) -> list[str]:
    """Return the plain-language problems that stop ``source`` from being stored.

    An empty list means the text is acceptable. ``bytes`` are checked as UTF-8 (a leading
    byte-order mark is allowed); ``str`` must be encodable as UTF-8.

    >>> validate_source("# Roadmap\\n\\nWe will ship.")
    []
    >>> validate_source("   \\n")
    ['The text is empty.']
    """
    problems: list[str] = []
    if isinstance(source, bytes | bytearray):
        raw = bytes(source)
        if len(raw) > MAX_SOURCE_BYTES:
            return [f"The text is {len(raw):,} bytes long; the limit is {MAX_SOURCE_BYTES:,} bytes."]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [f"The text is not valid UTF-8 (first bad byte at offset {exc.start})."]
        text = text.removeprefix("\ufeff")
    elif isinstance(source, str):
        text = source
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            return [f"The text contains characters that are not valid Unicode ({_where(text, exc.start)})."]
        if size > MAX_SOURCE_BYTES:
            return [f"The text is {size:,} bytes long; the limit is {MAX_SOURCE_BYTES:,} bytes."]
    else:
        return [f"Expected text, got {type(source).__name__}."]

    if not text.strip():
        problems.append("The text is empty.")
    nul = text.find("\x00")
    if nul >= 0:
        problems.append(f"The text contains a NUL byte ({_where(text, nul)}).")
    for pos, char in enumerate(text):
        if char in _ALLOWED_CONTROLS or char == "\x00":
            continue
        if unicodedata.category(char) == "Cc":
            problems.append(
                f"The text contains the control character U+{ord(char):04X} ({_where(text, pos)})."
            )
            break
    for pos, char in enumerate(text):
        if char in _BIDI_CONTROLS:
            problems.append(
                f"The text contains the invisible direction control U+{ord(char):04X} "
                f"({_where(text, pos)}), which can make text display differently from what it says."
            )
            break
    return problems


def sha256_hex(source: str) -> str:
    """Return the SHA-256 hex digest of ``source``'s UTF-8 bytes after normalising newlines.

    >>> sha256_hex("a\\r\\n") == sha256_hex("a\\n")
    True
    """
    return hashlib.sha256(normalise_newlines(source).encode("utf-8")).hexdigest()


# === Links ===

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"http", "https"})
# Browsers delete ASCII tab and newline anywhere in a URL, and strip leading/trailing
# C0 controls and spaces, before they look for the scheme; we do the same first.
_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


def _scheme(url: str) -> str | None:
    """Return the lower-case scheme a browser would see in ``url``, or None if relative."""
    cleaned = _TAB_NEWLINE_RE.sub("", url).strip(_C0_AND_SPACE)
    match = _SCHEME_RE.match(cleaned)
    return match.group(1).lower() if match else None


def is_safe_url(url: str, *, image: bool = False) -> bool:
    """Return True if ``url`` is relative or uses an allowed scheme.

    Links may use http, https and mailto; images only http and https.

    >>> is_safe_url("https://example.org"), is_safe_url("/roadmap#phase-1")
    (True, True)
    >>> is_safe_url("JaVaScRiPt:alert(1)"), is_safe_url("data:image/png;base64,AAAA", image=True)
    (False, False)
    """
    scheme = _scheme(url)
    if scheme is None:
        return True
    return scheme in (_IMAGE_SCHEMES if image else _LINK_SCHEMES)


def _is_external(url: str) -> bool:
    """Return True for links that leave the site (http(s) or protocol-relative)."""
    cleaned = _TAB_NEWLINE_RE.sub("", url).strip(_C0_AND_SPACE)
    return _scheme(cleaned) in {"http", "https"} or cleaned.startswith(("//", "\\\\", "/\\", "\\/"))


# === Headings ===


def slugify(title: str) -> str:
    """Return a stable id for a heading: lower-case words joined by hyphens.

    >>> slugify("Setup & Planning")
    'setup-planning'
    >>> slugify("!!!")
    'section'
    """
    text = unicodedata.normalize("NFKC", title).lower()
    slug = re.sub(r"[^\w]+", "-", text).strip("-_")
    return slug or "section"


# === Rendering ===

_LANG_RE = re.compile(r"[^A-Za-z0-9_+\-.#]")


def _sanitise_fence_info(state) -> None:
    """Keep only a plain language name from fence info strings (it becomes a CSS class)."""
    for token in state.tokens:
        if token.type == "fence" and token.info:
            first = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
            token.info = _LANG_RE.sub("", first)[:40]


def _render_link_open(self, tokens, idx, options, env):
    """Render ``<a>``; links to other sites get rel="nofollow noopener"."""
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    if not is_safe_url(href):  # defence in depth: validateLink already blanked it
        token.attrSet("href", "")
    elif _is_external(href):
        token.attrSet("rel", "nofollow noopener")
    return self.renderToken(tokens, idx, options, env)


def _render_image(self, tokens, idx, options, env):
    """Render ``<img>`` with a safe src, no referrer and lazy loading."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    if not is_safe_url(src, image=True):
        token.attrs.pop("src", None)  # an empty src would re-request the page itself
    token.attrSet("alt", self.renderInlineAsText(token.children or [], options, env))
    token.attrSet("loading", "lazy")
    token.attrSet("referrerpolicy", "no-referrer")
    return self.renderToken(tokens, idx, options, env)


def _make_parser() -> MarkdownIt:
    """Build the one parser configuration used for rendering."""
    md = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})
    md.use(footnote_plugin)
    md.use(anchors_plugin, min_level=1, max_level=6, slug_func=slugify)
    md.core.ruler.push("governance_fence_info", _sanitise_fence_info)
    # validateLink sees the URL after entity decoding and percent-encoding; a failed
    # check turns a link into plain text, which is what we want for javascript: etc.
    md.validateLink = is_safe_url  # type: ignore[method-assign]
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    return md


_MD = _make_parser()


def render(source: str) -> str:
    """Return ``source`` (Markdown) rendered as HTML that is safe to show as-is.

    >>> render("# Goals\\n\\nShip *it*.")
    '<h1 id="goals">Goals</h1>\\n<p>Ship <em>it</em>.</p>\\n'
    >>> render("<script>alert(1)</script>")
    '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\\n'
    """
    return _MD.render(normalise_newlines(source))
