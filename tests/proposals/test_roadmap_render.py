"""Rendering roadmap Markdown safely, checking sources and hashing them."""

from __future__ import annotations

import hashlib

import pytest

from governance.proposals.render import (
    MAX_SOURCE_BYTES,
    DocumentError,
    is_safe_url,
    render,
    sha256_hex,
    slugify,
    validate_source,
)
from tests.proposals.roadmap_support import V1, XSS_PAYLOADS, unsafe_parts

# === XSS ===


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_render_output_has_no_executable_vector(payload):
    html = render(payload)
    assert unsafe_parts(html) == []
    assert "<script" not in html.lower()


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payload_inside_a_roadmap_stays_inert(payload):
    html = render(f"# Roadmap\n\n{payload}\n\n## Next\n\n- item {payload}\n")
    assert unsafe_parts(html) == []


def test_raw_html_is_shown_as_text():
    assert render("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


@pytest.mark.parametrize(
    "source",
    ["[x](javascript:alert(1))", "[x](data:text/html,hi)", "[x](vbscript:x)", "<javascript:alert(1)>"],
)
def test_unsafe_links_become_plain_text(source):
    assert "<a" not in render(source)


def test_unsafe_image_has_no_src():
    html = render("![alt](mailto:x@example.org)")
    assert "src=" not in html and 'alt="alt"' in html


# === Features ===


def test_tables_footnotes_and_headings_render():
    html = render("# Goals\n\nSee[^1].\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n[^1]: A note.\n")
    assert '<h1 id="goals">Goals</h1>' in html
    assert '<th style="text-align:center">b</th>' in html
    assert 'class="footnote-ref"' in html and "A note." in html


def test_heading_ids_are_stable_and_unique():
    html = render("# Phase 1\n\n## Phase 1\n\n## Setup & Planning\n\n## ***\n")
    assert 'id="phase-1"' in html and 'id="phase-1-1"' in html
    assert 'id="setup-planning"' in html
    assert render("# Phase 1") == render("# Phase 1")


def test_v1_heading_ids():
    html = render(V1)
    for slug in ("values", "goals", "roadmap", "soft-fork", "infrastructure", "infrastructure-1"):
        assert f'id="{slug}"' in html


@pytest.mark.parametrize(
    ("source", "rel"),
    [
        ("[a](https://example.org)", True),
        ("[a](http://example.org)", True),
        ("[a](//example.org)", True),
        ("<https://example.org>", True),
        ("[a](/proposals/1)", False),
        ("[a](#goals)", False),
        ("[a](mailto:steering@example.org)", False),
    ],
)
def test_external_links_get_rel(source, rel):
    html = render(source)
    assert "<a " in html
    assert ('rel="nofollow noopener"' in html) is rel


def test_images_do_not_send_referrer():
    html = render("![logo](https://example.org/logo.png)")
    assert 'src="https://example.org/logo.png"' in html
    assert 'referrerpolicy="no-referrer"' in html and 'loading="lazy"' in html


def test_linkify_is_off():
    assert "<a" not in render("see https://example.org and www.example.org")


def test_fence_language_is_reduced_to_a_safe_class():
    html = render('```py" onclick="x\nprint(1)\n```')
    assert 'class="language-py"' in html and "onclick" not in html


@pytest.mark.parametrize(
    ("url", "image", "ok"),
    [
        ("https://a.example", False, True),
        ("mailto:a@example.org", False, True),
        ("mailto:a@example.org", True, False),
        ("relative/path", False, True),
        ("?q=1", False, True),
        ("JAVASCRIPT:x", False, False),
        (" \x01javascript:x", False, False),
        ("java\tscript:x", False, False),
        ("data:image/png;base64,AAAA", True, False),
        ("ftp://example.org", False, False),
    ],
)
def test_is_safe_url(url, image, ok):
    assert is_safe_url(url, image=image) is ok


def test_slugify_falls_back():
    assert slugify("") == "section"
    assert slugify("Über Ziele") == "über-ziele"


# === Source checks and hashing ===


def test_validate_accepts_a_roadmap():
    assert validate_source(V1) == []
    assert validate_source(V1.encode()) == []
    assert validate_source("\ufeff# A".encode()) == []


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "empty"),
        (" \n\t\n", "empty"),
        ("a\x00b", "NUL"),
        ("a\x07b", "U+0007"),
        ("ok\nbad \x1b[31m", "line 2, column 5"),
        ("a\x85b", "U+0085"),
        ("abc\u202edef", "U+202E"),
        ("x" * (MAX_SOURCE_BYTES + 1), "limit"),
        ("é" * (MAX_SOURCE_BYTES // 2 + 1), "limit"),
        (b"\xff\xfe", "UTF-8"),
        (b"a" * (MAX_SOURCE_BYTES + 1), "limit"),
        ("\ud800", "Unicode"),
    ],
)
def test_validate_names_problems(source, fragment):
    problems = validate_source(source)
    assert problems and any(fragment in p for p in problems), problems


def test_validate_allows_tabs_and_crlf():
    assert validate_source("# A\r\n\r\n\tcode\r\n") == []


def test_validate_rejects_non_text():
    assert validate_source(42) == ["Expected text, got int."]  # type: ignore[arg-type]


def test_sha256_normalises_line_endings_only():
    assert sha256_hex("a\r\nb\rc\n") == sha256_hex("a\nb\nc\n") == hashlib.sha256(b"a\nb\nc\n").hexdigest()
    assert sha256_hex("a\n") != sha256_hex("a\n\n")
    assert sha256_hex("é") == hashlib.sha256("é".encode()).hexdigest()


def test_document_error_is_a_value_error_with_problems():
    error = DocumentError(["one", "two"])
    assert isinstance(error, ValueError)
    assert error.problems == ["one", "two"] and str(error) == "one; two"
