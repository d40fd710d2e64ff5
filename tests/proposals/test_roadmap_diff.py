"""The block-by-block HTML diff: labels, word-level changes, legend and safety."""

from __future__ import annotations

import re

import pytest

from governance.proposals.blocks import DocumentError
from governance.proposals.diff import diff_html
from governance.proposals.render import validate_source
from tests.proposals.roadmap_support import DIFF_TAGS, V1, V2, XSS_PAYLOADS, unsafe_parts

DIFF_ATTRS = frozenset({"class"})
BASE = "# Goals\n\nFork Nix.\n\n- one\n- two\n\n## Later\n\nPolish.\n"


def rows(html: str) -> list[str]:
    """The status class of each block row."""
    return re.findall(r'<li class="diff-block diff-block-([a-z-]+)">', html)


def test_changed_block_shows_word_changes_with_markers():
    html = diff_html(BASE, BASE.replace("Fork Nix.", "Replace Nix."))
    assert rows(html) == ["unchanged", "changed", "unchanged", "unchanged", "unchanged", "unchanged"]
    assert '<del class="diff-del"><span class="diff-marker">−</span>Fork</del>' in html
    assert '<ins class="diff-ins"><span class="diff-marker">+</span>Replace</ins>' in html
    assert "changed (reworded)" in html and "Nix." in html


def test_every_status_is_labelled_in_words():
    old = "# A\n\nOne.\n\nTwo.\n\nGone for good.\n\n# B\n\nThree.\n"
    new = "# A\n\nTwo.\n\nOne more.\n\n# B\n\nThree.\n\nOne.\n\nBrand new.\n"
    html = diff_html(old, new)
    statuses = set(rows(html))
    assert {"unchanged", "removed", "moved-from", "moved-to", "inserted"} <= statuses
    for label in ("unchanged", "− removed", "+ inserted", "moved away from here", "moved here"):
        assert f'<span class="diff-label">{label}</span>' in html


def test_regrouped_blocks_are_labelled_moved():
    html = diff_html(BASE, BASE.replace("- one", "## New\n\n- one"))
    assert "moved (now under other headings)" in html
    assert "was Goals · now Goals › New" in html


def test_legend_and_summary_are_text():
    html = diff_html(BASE, BASE + "\nMore.\n")
    assert 'class="diff-legend"' in html and "struck through" in html and "underlined" in html
    assert '<p class="diff-summary diff-summary-detail">Detail: 1 new block inserted.' in html


def test_lines_and_heading_paths_are_shown():
    html = diff_html(BASE, BASE.replace("Polish.", "Polish. Then ship."))
    assert "old line 10 → new line 10 · Goals › Later" in html
    assert "changed (extended)" in html


def test_code_and_tables_use_pre():
    old = "```py\nx = 1\n```\n\n| a |\n|---|\n| 1 |\n"
    html = diff_html(old, old.replace("x = 1", "x = 2").replace("| 1 |", "| 2 |"))
    assert html.count('<pre class="diff-text diff-pre">') == 2


def test_context_hides_long_unchanged_runs():
    old = "\n\n".join(f"Paragraph {n}." for n in range(20)) + "\n"
    new = old.replace("Paragraph 10.", "Paragraph ten.")
    html = diff_html(old, new, context=1)
    assert rows(html) == ["skipped", "unchanged", "changed", "unchanged", "skipped"]
    assert "9 unchanged blocks not shown" in html and "8 unchanged blocks not shown" in html
    assert len(rows(diff_html(old, new))) == 20


def test_unchanged_texts_give_a_diff_too():
    html = diff_html(BASE, BASE.replace("\n", "\r\n"))
    assert set(rows(html)) == {"unchanged"} and "diff-summary-unchanged" in html


def test_real_rewrite_diff_is_safe_and_complete():
    html = diff_html(V1, V2)
    assert unsafe_parts(html, tags=DIFF_TAGS, attrs=DIFF_ATTRS) == []
    assert "&lt;!-- auxolotl/website" in html  # the raw HTML comment is shown as text
    assert "will not change." in html and "changed (extended)" in html
    assert rows(html).count("removed") == 19


def test_unusable_input_raises():
    with pytest.raises(DocumentError):
        diff_html("", BASE)


@pytest.mark.parametrize("payload", [p for p in XSS_PAYLOADS if not validate_source(p)])
def test_diff_escapes_everything(payload):
    for old, new in [
        (BASE, BASE.replace("Fork Nix.", payload)),
        (BASE.replace("Fork Nix.", payload), BASE),
        (BASE + "\n" + payload + "\n", BASE + "\n" + payload + " changed\n"),
        (BASE, BASE + "\n" + payload + "\n"),
    ]:
        html = diff_html(old, new)
        assert unsafe_parts(html, tags=DIFF_TAGS, attrs=DIFF_ATTRS) == [], (old, new)
        assert "<script" not in html.lower()


def test_multi_word_changes_are_grouped():
    html = diff_html(V1, V2)
    marker = '<span class="diff-marker">{}</span>'
    assert (
        f'We will <del class="diff-del">{marker.format("−")}fork and maintain Nix,</del>'
        f'<ins class="diff-ins">{marker.format("+")}create an alternative to</ins> NixPkgs'
    ) in html
    assert f'(version <del class="diff-del">{marker.format("−")}1</del>' in html


def test_spacing_only_changes_inside_code_are_not_marked():
    old = "```\nx  = 1\n```\n"
    html = diff_html(old, old.replace("x  =", "x ="))
    assert "diff-block-changed" in html and "<del" not in html.split("diff-blocks")[1]
