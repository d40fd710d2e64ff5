"""Show how an amendment changes a roadmap: a block-by-block diff as safe HTML.

Boundary rule: pure functions only. This module imports no Flask, no database layer and
nothing from ``governance.web``, ``governance.models`` or ``governance.db``.

Every piece of document text is HTML-escaped; the only markup is the fixed structure
below, so the result may be marked safe in a template. Additions and removals are told
apart without colour: ``<ins>``/``<del>`` elements (underline/strike-through by default),
a visible ``+``/``−`` marker before each, a text label on every block and a legend.

CSS classes (the stylesheet lives elsewhere):

``roadmap-diff``                 the wrapper ``<div>``
``diff-legend``                  the legend paragraph
``diff-summary``, ``diff-summary-{unchanged,detail,revision}``  the plain-language verdict
``diff-blocks``                  the ``<ol>`` of blocks
``diff-block``, ``diff-block-{unchanged,inserted,removed,changed,moved,moved-from,moved-to,skipped}``
``diff-meta``                    the line above each block's text
``diff-label``                   the block's label (e.g. "changed (reworded)")
``diff-kind``                    the block kind (paragraph, heading, list item, ...)
``diff-where``                   line numbers and heading path
``diff-text``                    the block's text (``<p>``, or ``<pre>`` for code and tables)
``diff-pre``                     added to ``diff-text`` when it is a ``<pre>``
``diff-ins``, ``diff-del``       added and removed words (on ``<ins>`` / ``<del>``)
``diff-marker``                  the visible "+" / "−" inside them
"""

from __future__ import annotations

import difflib
import re
from html import escape

from governance.proposals.blocks import Block, Step, classify

__all__ = ["diff_html"]

_TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]")  # spaces, words, single punctuation marks
_PRE_KINDS = {"code", "table"}

_LEGEND = (
    '<p class="diff-legend">How to read this: '
    '<ins class="diff-ins"><span class="diff-marker">+</span>added words</ins> are underlined '
    "and start with “+”; "
    '<del class="diff-del"><span class="diff-marker">−</span>removed words</del> are struck '
    "through and start with “−”. Each block is labelled unchanged, inserted, removed, changed "
    "or moved; moved blocks keep their words but sit in another place or under other headings.</p>"
)

_KIND_NAMES = {
    "heading": "heading",
    "paragraph": "paragraph",
    "list_item": "list item",
    "table": "table",
    "code": "code block",
    "blockquote": "quote",
    "thematic_break": "divider",
    "html": "raw HTML (shown as text)",
    "reference": "link definition",
    "footnote": "footnote",
}


def _display(block: Block) -> str:
    """The text shown for a block: its label, with the fence line for code."""
    if block.kind == "code":
        return f"{block.marker.strip()}\n{block.text}" if block.marker.strip() else block.text
    return block.label


def _path(block: Block) -> str:
    """Heading path as 'Roadmap › Phase 1', or '(top)'."""
    return " › ".join(block.heading_path) if block.heading_path else "(top of the document)"


def _lines(block: Block) -> str:
    """'line 3' or 'lines 3–5'."""
    if block.start_line == block.end_line:
        return f"line {block.start_line}"
    return f"lines {block.start_line}–{block.end_line}"


def _mark(tag: str, text: str) -> str:
    """Wrap escaped text in <ins> or <del> with its visible marker."""
    cls, marker = ("diff-ins", "+") if tag == "ins" else ("diff-del", "−")
    return f'<{tag} class="{cls}"><span class="diff-marker">{marker}</span>{escape(text)}</{tag}>'


def _word_diff(old: str, new: str) -> str:
    """Escaped HTML of ``new`` with removed and added words marked.

    A change that spans several words is shown as one removed run and one added run
    (the spaces between changed words do not split it), which reads better than
    alternating single words.
    """
    a, b = _TOKEN_RE.findall(old), _TOKEN_RE.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # Segments of (kind, removed text, added text); whitespace-only "equal" runs between
    # two changes are folded into the changes around them.
    segments: list[list] = []
    opcodes = matcher.get_opcodes()
    for n, (op, i1, i2, j1, j2) in enumerate(opcodes):
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        between_changes = 0 < n < len(opcodes) - 1 and not added.strip()
        if op == "equal" and not between_changes:
            segments.append(["equal", "", added])
        elif segments and segments[-1][0] == "change":
            segments[-1][1] += removed
            segments[-1][2] += added
        else:
            segments.append(["change", removed, added])
    out: list[str] = []
    for kind, removed, added in segments:
        if kind == "equal" or not (removed.strip() or added.strip()):
            out.append(escape(added))  # unchanged, or a change of spacing only
            continue
        # keep one space where either side had one, outside the marked words
        if any(text[:1].isspace() for text in (removed, added)):
            out.append(" ")
        if removed.strip():
            out.append(_mark("del", removed.strip()))
        if added.strip():
            out.append(_mark("ins", added.strip()))
        if any(text[-1:].isspace() for text in (removed, added)):
            out.append(" ")
    return "".join(out)


def _text(kind: str, body: str) -> str:
    """Wrap already-escaped body HTML in the right element for the block kind."""
    if kind in _PRE_KINDS:
        return f'<pre class="diff-text diff-pre">{body}</pre>'
    return f'<p class="diff-text">{body}</p>'


def _row(step: Step) -> str:
    """One <li> for one step."""
    old, new = step.old, step.new
    block = new or old
    assert block is not None
    status = step.status
    if status == "unchanged":
        moved_lines = old is not None and new is not None and old.start_line != new.start_line
        lines = f"old {_lines(old)} → new {_lines(new)}" if moved_lines and old and new else _lines(block)
        label, where, body = "unchanged", f"{lines} · {_path(block)}", escape(_display(block))
    elif status == "inserted":
        label, where, body = (
            "+ inserted",
            f"new {_lines(block)} · {_path(block)}",
            _mark("ins", _display(block)),
        )
    elif status == "removed":
        label, where, body = (
            "− removed",
            f"old {_lines(block)} · {_path(block)}",
            _mark("del", _display(block)),
        )
    elif status == "changed" and old and new:
        label = f"changed ({step.how})"
        where = f"old {_lines(old)} → new {_lines(new)} · {_path(new)}"
        if old.heading_path != new.heading_path:
            where += f" (was {_path(old)})"
        body = _word_diff(_display(old), _display(new))
    elif status == "moved" and old and new:
        label = "moved (now under other headings)"
        where = f"old {_lines(old)} → new {_lines(new)} · was {_path(old)} · now {_path(new)}"
        body = escape(_display(new))
    elif status == "moved_from" and old and new:
        label = "moved away from here"
        where = f"old {_lines(old)} · {_path(old)} · now at new {_lines(new)} · {_path(new)}"
        body = escape(_display(old))
    elif status == "moved_to" and old and new:
        label = "moved here"
        where = f"new {_lines(new)} · {_path(new)} · was at old {_lines(old)} · {_path(old)}"
        body = escape(_display(new))
    else:  # pragma: no cover - align() produces no other statuses
        raise ValueError(f"Unknown step status: {status!r}")
    css = status.replace("_", "-")
    kind = _KIND_NAMES.get(block.kind, block.kind)
    return (
        f'<li class="diff-block diff-block-{css}">'
        f'<p class="diff-meta"><span class="diff-label">{escape(label)}</span> '
        f'<span class="diff-kind">{escape(kind)}</span> '
        f'<span class="diff-where">{escape(where)}</span></p>'
        f"{_text(block.kind, body)}</li>"
    )


def _skipped(count: int) -> str:
    """A placeholder row for a run of unchanged blocks that is not shown."""
    noun = "block" if count == 1 else "blocks"
    return (
        '<li class="diff-block diff-block-skipped"><p class="diff-meta">'
        f'<span class="diff-label">{count} unchanged {noun} not shown</span></p></li>'
    )


def diff_html(old: str, new: str, *, context: int | None = None) -> str:
    """Return a block-by-block diff of ``old`` → ``new`` as safe HTML.

    ``context=None`` shows every block; ``context=n`` shows only ``n`` unchanged blocks
    on each side of a change and replaces longer unchanged runs with one "not shown" row.
    Raises DocumentError (a ValueError) when either text is unusable.

    >>> html = diff_html("# Goals\\n\\nFork Nix.\\n", "# Goals\\n\\nReplace Nix.\\n")
    >>> '<del class="diff-del"><span class="diff-marker">−</span>Fork</del>' in html
    True
    """
    result = classify(old, new)
    steps = list(result.steps)
    rows: list[str] = []
    if context is None:
        rows = [_row(step) for step in steps]
    else:
        keep = [step.status != "unchanged" for step in steps]
        show = [any(keep[max(0, i - context) : i + context + 1]) for i in range(len(steps))]
        hidden = 0
        for step, visible in zip(steps, show, strict=True):
            if visible:
                if hidden:
                    rows.append(_skipped(hidden))
                    hidden = 0
                rows.append(_row(step))
            else:
                hidden += 1
        if hidden:
            rows.append(_skipped(hidden))
    return (
        '<div class="roadmap-diff">'
        f"{_LEGEND}"
        f'<p class="diff-summary diff-summary-{result.kind}">{escape(result.summary)}</p>'
        f'<ol class="diff-blocks">{"".join(rows)}</ol>'
        "</div>"
    )
