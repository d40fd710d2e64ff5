"""Helpers for the roadmap tests: data files and an allow-list HTML safety checker."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
V1 = (DATA / "v1-2024-04-29.md").read_text(encoding="utf-8")
V2 = (DATA / "v2-2024-05-11.md").read_text(encoding="utf-8")

RENDER_TAGS = frozenset(
    "a blockquote br code del em h1 h2 h3 h4 h5 h6 hr img li ol p pre s section strong sup "
    "table tbody td th thead tr ul".split()
)
DIFF_TAGS = frozenset("div p ol li span ins del pre".split())
RENDER_ATTRS = frozenset("href src alt title id class rel style loading referrerpolicy start".split())
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_STYLE_RE = re.compile(r"^text-align:(left|right|center)$")


def url_scheme(value: str) -> str | None:
    """The scheme a browser would read from an (already unescaped) attribute value."""
    cleaned = re.sub(r"[\t\n\r]", "", value).strip("".join(chr(c) for c in range(0x21)))
    match = _SCHEME_RE.match(cleaned)
    return match.group(1).lower() if match else None


class _Checker(HTMLParser):
    """Collect every way an HTML fragment could run script or load something unsafe."""

    def __init__(self, tags: frozenset[str], attrs: frozenset[str]):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.problems = tags, attrs, []

    def handle_starttag(self, tag, attrs):
        if tag not in self.tags:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name not in self.attrs:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
            if name in ("href", "src"):
                scheme = url_scheme(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{name}={value!r} on <{tag}>")
                if tag == "img" and scheme == "mailto":
                    self.problems.append(f"image src {value!r}")
            if name == "style" and not _STYLE_RE.match(value):
                self.problems.append(f"style={value!r}")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag not in self.tags:
            self.problems.append(f"end tag </{tag}>")

    def handle_comment(self, data):
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl):
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data):
        self.problems.append(f"processing instruction {data!r}")


def unsafe_parts(html: str, *, tags: frozenset[str] = RENDER_TAGS, attrs: frozenset[str] = RENDER_ATTRS):
    """Return everything in ``html`` outside the allow-lists (empty list = safe)."""
    checker = _Checker(tags, attrs)
    checker.feed(html)
    checker.close()
    return checker.problems


# Each payload is Markdown a member might submit; none may produce an executable vector.
XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="https://example.org" onclick="alert(1)">x</a>',
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<link rel=stylesheet href=//evil.example/x.css>",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<!-- comment --><script>alert(1)</script>",
    "text <span onmouseover=alert(1)>inline html</span> text",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](java%0ascript:alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:text/html,<script>alert(1)</script>)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,AAAA)",
    "![x](javascript:alert(1))",
    "![x](mailto:someone@example.org)",
    '![x"onerror="alert(1)](https://example.org/a.png)',
    '![x](https://example.org/a.png "t\\" onerror=\\"alert(1)")',
    '[x](https://example.org "a\\" onmouseover=\\"alert(1)")',
    "[x](https://example.org 'a\\' onmouseover=alert(1)')",
    '[x](https://example.org "><script>alert(1)</script>")',
    "[<img src=x onerror=alert(1)>](https://example.org)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[ref]\n\n[ref]: data:text/html,x "title"',
    "[ref]\n\n[ref]: <javascript:alert(1)>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    '```"><script>alert(1)</script>\ncode\n```',
    "```js onload=alert(1)\ncode\n```",
    "    <script>alert(1)</script>",
    "# Heading <script>alert(1)</script>",
    "# x {onclick=alert(1)}",
    "| <script>alert(1)</script> | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    "x[^1]\n\n[^1]: <script>alert(1)</script> [y](javascript:alert(1))",
    "x[^<script>]\n\n[^<script>]: note",
    "> <script>alert(1)</script>\n> [x](javascript:alert(1))",
    "- <img src=x onerror=alert(1)>\n- [x](javascript:alert(1))",
    "www.evil.example/javascript:alert(1) https://example.org",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    "[x](\x01javascript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](//evil.example)",
    "\ufeff<script>alert(1)</script>",
]
