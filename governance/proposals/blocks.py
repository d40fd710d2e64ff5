"""Split a roadmap into blocks and decide whether an amendment only adds detail.

Boundary rule: pure functions only. This module imports no Flask, no database layer and
nothing from ``governance.web``, ``governance.models`` or ``governance.db``.

The community's rule is that an amendment may "only add detail ... so that there's no
moving of existing goalposts". Here that means:

* A text is a sequence of **blocks** (``parse_blocks``): headings, paragraphs, *each item*
  of a top-level list (a nested list belongs to its item), tables, code blocks,
  blockquotes, thematic breaks, raw HTML (kept as text, never rendered), link reference
  definitions and footnote definitions. Every non-blank line belongs to exactly one block.
* Each block has a **key**: its kind, its marker (heading level, the *rendered* number of
  an ordered-list item, a code block's language), the **heading path** (the texts of the
  enclosing headings, e.g. ``("Roadmap", "Phase 1")``), its text with whitespace
  collapsed (code keeps its indentation) and the link targets it resolves to.
* An amendment is **detail** when the old keys form a subsequence of the new keys: every
  old block is still there, word for word, in the same order and under the same headings,
  and the only change is new blocks in between. It is **unchanged** when the keys are
  equal, and a **revision** otherwise.

Consequences, on purpose: a new heading in the middle puts the blocks after it under a
different heading, so they count as *moved* (revision); a new section appended at the end
is detail; a new item in a bullet list is detail, but a new item in the middle of an
*ordered* list renumbers the items after it (revision); a table is one block, so a new row
changes it (revision); extending a paragraph changes it (revision, "extended"); adding a
link reference definition that changes where existing text links to is a revision.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from governance.proposals.render import DocumentError, is_safe_url, normalise_newlines, validate_source

__all__ = [
    "Block",
    "Change",
    "Classification",
    "DocumentError",
    "Move",
    "Step",
    "align",
    "classify",
    "insert_blocks",
    "parse_blocks",
    "rebase",
]

#: Lowest word-level similarity (0..1) at which an old block and a new block in the same
#: place are reported as one *changed* block rather than one removed plus one inserted.
SIMILARITY_THRESHOLD = 0.5
# How many candidates to try when pairing changed blocks, so that a wholesale rewrite of
# a large text stays fast (the pairing is a report, not the detail/revision decision).
_PAIR_WINDOW = 40
# Largest table (old blocks x new blocks, after trimming the common ends) aligned with an
# exact longest-common-subsequence; above it difflib's matcher is used instead.
_EXACT_LCS_CELLS = 250_000


# === Blocks ===


@dataclass(frozen=True)
class Block:
    """One top-level block of a roadmap text.

    ``start_line`` and ``end_line`` are 1-based and inclusive, counted after newline
    normalisation. ``heading_path`` holds the texts of the enclosing headings (for a
    heading, its parents only).
    """

    index: int
    kind: str
    text: str
    start_line: int
    end_line: int
    heading_path: tuple[str, ...] = ()
    marker: str = ""
    targets: tuple[str, ...] = ()
    #: Indexes of the enclosing heading blocks (the blocks behind ``heading_path``).
    parents: tuple[int, ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> tuple:
        """Everything that must stay the same for the block to count as unchanged."""
        return (self.kind, self.marker, self.heading_path, self.text, self.targets)

    @property
    def content_key(self) -> tuple:
        """The key without the heading path: equal content keys elsewhere mean *moved*."""
        return (self.kind, self.marker, self.text, self.targets)

    @property
    def label(self) -> str:
        """A short plain-text description, e.g. ``## Goals`` or ``3. Ship it``."""
        if self.kind == "heading":
            return f"{self.marker} {self.text}"
        if self.kind == "list_item":
            return f"{self.marker} {self.text}"
        if self.kind == "thematic_break":
            return "---"
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description of the block."""
        return {
            "index": self.index,
            "kind": self.kind,
            "marker": self.marker,
            "text": self.text,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "heading_path": list(self.heading_path),
        }


def _make_parser() -> MarkdownIt:
    """Parser for block structure: the renderer's syntax, with raw HTML recognised as blocks."""
    # html=True only lets raw HTML form its own "html" blocks; it is compared as text and
    # never rendered from here (render.py keeps raw HTML off).
    md = MarkdownIt("js-default", {"html": True, "linkify": False})
    md.use(footnote_plugin)
    md.validateLink = is_safe_url  # type: ignore[method-assign]  # same links as render()
    return md


_MD = _make_parser()
_WS_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks, for similarity
_ITEM_MARKER_RE = re.compile(r"^\s*(?:[-+*]|\d{1,9}[.)])[ \t]?")
_QUOTE_RE = re.compile(r"^ {0,3}> ?")
_DEFINITION_START_RE = re.compile(r"^ {0,3}\[")
_FOOTNOTE_LABEL_RE = re.compile(r"^ {0,3}\[\^([^\]]+)\]:")


def _collapse(text: str) -> str:
    """Collapse runs of whitespace into single spaces and trim."""
    return _WS_RE.sub(" ", text).strip()


def _code_text(content: str) -> str:
    """Normalise code: keep indentation, drop trailing spaces and trailing blank lines."""
    return "\n".join(line.rstrip() for line in content.split("\n")).strip("\n")


def _close_index(tokens: list[Token], start: int) -> int:
    """Index of the token closing ``tokens[start]`` (itself for self-contained tokens)."""
    if tokens[start].nesting != 1:
        return start
    level = tokens[start].level
    for i in range(start + 1, len(tokens)):
        if tokens[i].level == level and tokens[i].nesting == -1:
            return i
    return len(tokens) - 1


def _targets(tokens: list[Token]) -> tuple[str, ...]:
    """Link and image addresses in a token span, in order."""
    found: list[str] = []
    for token in tokens:
        for child in token.children or ():
            if child.type == "link_open":
                found.append(str(child.attrGet("href") or ""))
            elif child.type == "image":
                found.append(str(child.attrGet("src") or ""))
    return tuple(found)


def _trim_end(lines: list[str], start: int, end: int) -> int:
    """Move a 0-based exclusive end back past trailing blank lines."""
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _table_text(span: list[Token]) -> tuple[str, str]:
    """Return (alignment marker, one line per row with cells joined by ' | ')."""
    rows: list[str] = []
    cells: list[str] = []
    aligns: list[str] = []
    for token in span:
        if token.type == "tr_open":
            cells = []
        elif token.type == "inline":
            cells.append(_collapse(token.content))
        elif token.type == "th_open":
            style = str(token.attrGet("style") or "")
            aligns.append(style.removeprefix("text-align:"))
        elif token.type == "tr_close":
            rows.append(" | ".join(cells))
    return ",".join(aligns), "\n".join(rows)


def _raw_block(span: list[Token], lines: list[str]) -> tuple[str, str, str]:
    """Return (kind, marker, text) for one top-level token span."""
    token = span[0]
    start, end = token.map or (0, 0)
    if token.type == "heading_open":
        return "heading", "#" * int(token.tag[1]), _collapse(span[1].content)
    if token.type == "paragraph_open":
        return "paragraph", "", _collapse(span[1].content)
    if token.type == "table_open":
        marker, text = _table_text(span)
        return "table", marker, text
    if token.type == "fence":
        return "code", "```" + _collapse(token.info), _code_text(token.content)
    if token.type == "code_block":
        return "code", "    ", _code_text(token.content)
    if token.type == "hr":
        return "thematic_break", "---", ""
    if token.type == "html_block":
        return "html", "", _collapse(token.content)
    if token.type == "blockquote_open":
        body = [_QUOTE_RE.sub("", line, count=1) for line in lines[start:end]]
        return "blockquote", "", _collapse("\n".join(body))
    return token.type.removesuffix("_open"), "", _collapse("\n".join(lines[start:end]))


def _list_items(tokens: list[Token], open_idx: int, close_idx: int, lines: list[str]):
    """Yield (start, end, kind, marker, text, targets) for each item of a top-level list."""
    list_open = tokens[open_idx]
    ordered = list_open.type == "ordered_list_open"
    number = int(list_open.attrGet("start") or 1) if ordered else 0
    i = open_idx + 1
    while i < close_idx:
        token = tokens[i]
        if token.type == "list_item_open" and token.level == list_open.level + 1 and token.map:
            j = _close_index(tokens, i)
            start, end = token.map
            end = _trim_end(lines, start, end)
            body = lines[start:end]
            if body:
                body = [_ITEM_MARKER_RE.sub("", body[0], count=1), *body[1:]]
            marker = f"{number}." if ordered else "-"
            yield start, end, "list_item", marker, _collapse("\n".join(body)), _targets(tokens[i : j + 1])
            number += 1
            i = j + 1
        else:
            i += 1


def _footnote_targets(tokens: list[Token]) -> dict[str, tuple[str, ...]]:
    """Map each footnote label to the link targets inside its definition."""
    found: dict[str, tuple[str, ...]] = {}
    label = None
    span: list[Token] = []
    for token in tokens:
        if token.type == "footnote_open":
            label, span = str(token.meta.get("label", "")), []
        elif token.type == "footnote_close" and label is not None:
            found[label] = _targets(span)
            label = None
        elif label is not None:
            span.append(token)
    return found


def parse_blocks(source: str) -> list[Block]:
    """Return the top-level blocks of a Markdown text, in source order.

    The text is not validated here (``classify`` does that); an empty text has no blocks.

    >>> [(b.kind, b.text, b.heading_path) for b in parse_blocks("# Roadmap\\n\\n- one\\n- two\\n")]
    [('heading', 'Roadmap', ()), ('list_item', 'one', ('Roadmap',)), ('list_item', 'two', ('Roadmap',))]
    """
    text = normalise_newlines(source)
    lines = text.split("\n")
    tokens = _MD.parse(text, {})
    raw: list[tuple[int, int, str, str, str, tuple[str, ...]]] = []
    covered = [False] * (len(lines) + 1)

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.level != 0 or token.map is None or token.nesting == -1:
            i += 1
            continue
        j = _close_index(tokens, i)
        start, end = token.map
        for line in range(start, min(end, len(lines))):
            covered[line] = True
        if token.type in ("bullet_list_open", "ordered_list_open"):
            raw.extend(_list_items(tokens, i, j, lines))
        else:
            span = tokens[i : j + 1]
            kind, marker, body = _raw_block(span, lines)
            raw.append((start, _trim_end(lines, start, end), kind, marker, body, _targets(span)))
        i = j + 1

    # Lines no token claims are link reference and footnote definitions (markdown-it keeps
    # them out of the token stream, or moves them to the end); each becomes a block too.
    footnotes = _footnote_targets(tokens)
    group: list[int] = []

    def flush() -> None:
        if not group:
            return
        start, end = group[0], _trim_end(lines, group[0], group[-1] + 1)
        body = _collapse("\n".join(lines[start:end]))
        label = _FOOTNOTE_LABEL_RE.match(lines[start])
        if label:
            raw.append((start, end, "footnote", "", body, footnotes.get(label.group(1), ())))
        else:
            raw.append((start, end, "reference", "", body, ()))
        group.clear()

    for n, line in enumerate(lines):
        if covered[n]:
            flush()
        elif line.strip():
            if _DEFINITION_START_RE.match(line):
                flush()
            group.append(n)
        elif group:
            group.append(n)
    flush()

    raw.sort(key=lambda item: item[0])
    blocks: list[Block] = []
    stack: list[tuple[int, str, int]] = []  # (level, text, block index) of open headings
    for index, (start, end, kind, marker, body, targets) in enumerate(raw):
        if kind == "heading":
            while stack and stack[-1][0] >= len(marker):
                stack.pop()
        path = tuple(title for _, title, _ in stack)
        parents = tuple(i for _, _, i in stack)
        blocks.append(
            Block(index, kind, body, start + 1, max(end, start + 1), path, marker, targets, parents)
        )
        if kind == "heading":
            stack.append((len(marker), body, index))
    return blocks


# === Alignment ===


@dataclass(frozen=True)
class Change:
    """An old block and the new block that replaced it in the same place.

    ``how`` is ``extended`` (text added at the end), ``reworded``, ``relinked`` (same
    words, different link targets), ``renumbered`` (an ordered-list item's number) or
    ``restyled`` (heading level, code language or table alignment).
    """

    old: Block
    new: Block
    how: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description of the change."""
        return {
            "how": self.how,
            "similarity": round(self.similarity, 3),
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
        }


@dataclass(frozen=True)
class Move:
    """A block whose content is unchanged but that now sits elsewhere or under other headings.

    ``how`` is ``reordered`` (it changed places with other blocks) or ``regrouped`` (same
    order, but the headings above it changed, e.g. a heading was inserted before it).
    """

    old: Block
    new: Block
    how: str = "reordered"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description of the move."""
        return {"how": self.how, "old": self.old.to_dict(), "new": self.new.to_dict()}


@dataclass(frozen=True)
class Step:
    """One row of a block-by-block comparison, in reading order.

    ``status`` is one of ``unchanged``, ``inserted``, ``removed``, ``changed`` (``how``
    says in what way), ``moved`` (in the same order but under different headings),
    ``moved_from`` (where a reordered block used to be) and ``moved_to`` (where it is now).
    """

    status: str
    old: Block | None = None
    new: Block | None = None
    how: str = ""


def _subsequence(old_keys: list, new_keys: list) -> list[int] | None:
    """Positions in ``new_keys`` holding ``old_keys`` in order, or None (greedy is exact here)."""
    positions: list[int] = []
    j = 0
    for key in old_keys:
        while j < len(new_keys) and new_keys[j] != key:
            j += 1
        if j == len(new_keys):
            return None
        positions.append(j)
        j += 1
    return positions


def _lcs_pairs(a: list, b: list) -> list[tuple[int, int]]:
    """Matched index pairs of a longest common subsequence (exact for small middles)."""
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
    pairs = [(k, k) for k in range(head)]
    if len(mid_a) * len(mid_b) <= _EXACT_LCS_CELLS:
        n, m = len(mid_a), len(mid_b)
        table = [[0] * (m + 1) for _ in range(n + 1)]
        for x in range(n - 1, -1, -1):
            row, below = table[x], table[x + 1]
            for y in range(m - 1, -1, -1):
                row[y] = below[y + 1] + 1 if mid_a[x] == mid_b[y] else max(below[y], row[y + 1])
        x = y = 0
        while x < n and y < m:
            if mid_a[x] == mid_b[y]:
                pairs.append((head + x, head + y))
                x, y = x + 1, y + 1
            elif table[x + 1][y] >= table[x][y + 1]:
                x += 1
            else:
                y += 1
    else:
        matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        for block in matcher.get_matching_blocks():
            pairs.extend((head + block.a + k, head + block.b + k) for k in range(block.size))
    pairs.extend((len(a) - tail + k, len(b) - tail + k) for k in range(tail))
    return pairs


def _similarity(old: Block, new: Block) -> float:
    """Word-level similarity of two blocks' texts, from 0 to 1."""
    if old.text == new.text:
        return 1.0
    words = difflib.SequenceMatcher(
        None, _WORD_RE.findall(old.text), _WORD_RE.findall(new.text), autojunk=False
    )
    ratio = words.ratio()
    if old.text and new.text.startswith(old.text):
        ratio = max(ratio, SIMILARITY_THRESHOLD)  # a long extension is still the same block
    return ratio


def _how(old: Block, new: Block) -> str:
    """Name the kind of change between two paired blocks."""
    if old.text == new.text:
        if old.targets != new.targets:
            return "relinked"
        return "renumbered" if old.kind == "list_item" else "restyled"
    if old.text and new.text.startswith(old.text):
        return "extended"
    return "reworded"


def _pair_similar(old: list[Block], new: list[Block], gap_old: list[int], gap_new: list[int]):
    """Pair old and new blocks of one gap that are similar enough, keeping their order."""
    pairs: list[tuple[int, int, float]] = []
    start = 0
    for i in gap_old:
        best, best_score = None, SIMILARITY_THRESHOLD
        for pos in range(start, min(len(gap_new), start + _PAIR_WINDOW)):
            candidate = new[gap_new[pos]]
            if candidate.kind != old[i].kind:
                continue
            score = _similarity(old[i], candidate)
            if score >= best_score and (best is None or score > best_score):
                best, best_score = pos, score
        if best is not None:
            pairs.append((i, gap_new[best], best_score))
            start = best + 1
    return pairs


def align(old: list[Block], new: list[Block]) -> list[Step]:
    """Compare two block lists and return the steps that turn ``old`` into ``new``.

    When the keys of ``old`` are a subsequence of those of ``new`` the steps are only
    ``unchanged`` and ``inserted`` (detail). Otherwise a longest common subsequence of
    the blocks' *content* (kind, marker, text, targets) fixes the blocks that stayed in
    order. Of those, a block whose headings changed is ``moved`` unless the change is
    explained by an enclosing heading that was itself reworded (that heading is reported
    as ``changed`` instead). Unmatched blocks with the same content elsewhere are
    ``moved_from``/``moved_to`` (reordered); similar blocks in the same gap are
    ``changed``; the rest are ``removed`` or ``inserted``.
    """
    embedding = _subsequence([b.key for b in old], [b.key for b in new])
    if embedding is not None:
        steps: list[Step] = []
        j = 0
        for i, target in enumerate(embedding):
            steps.extend(Step("inserted", None, new[k]) for k in range(j, target))
            steps.append(Step("unchanged", old[i], new[target]))
            j = target + 1
        steps.extend(Step("inserted", None, new[k]) for k in range(j, len(new)))
        return steps

    pairs = _lcs_pairs([b.content_key for b in old], [b.content_key for b in new])
    matched_old = {i for i, _ in pairs}
    matched_new = {j for _, j in pairs}

    waiting: dict[tuple, deque[int]] = defaultdict(deque)
    for j, block in enumerate(new):
        if j not in matched_new:
            waiting[block.content_key].append(j)
    moved_old: dict[int, int] = {}
    for i, block in enumerate(old):
        if i not in matched_old and waiting.get(block.content_key):
            moved_old[i] = waiting[block.content_key].popleft()
    moved_new = {j: i for i, j in moved_old.items()}

    similar: list[tuple[int, int]] = []
    bounds = [(-1, -1), *pairs, (len(old), len(new))]
    for (pi, pj), (qi, qj) in pairwise(bounds):
        gap_old = [i for i in range(pi + 1, qi) if i not in moved_old]
        gap_new = [j for j in range(pj + 1, qj) if j not in moved_new]
        similar.extend((i, j) for i, j, _ in _pair_similar(old, new, gap_old, gap_new))
    similar_old = dict(similar)

    # Where each old heading went, so that a block under a reworded heading is not "moved".
    heading_map = {i: j for i, j in [*pairs, *similar, *moved_old.items()] if old[i].kind == "heading"}

    def in_place(i: int, j: int) -> bool:
        return [heading_map.get(p) for p in old[i].parents] == list(new[j].parents)

    def old_step(i: int) -> Step:
        if i in moved_old:
            return Step("moved_from", old[i], new[moved_old[i]])
        return Step("removed", old[i], None)

    def new_step(j: int) -> Step:
        if j in moved_new:
            return Step("moved_to", old[moved_new[j]], new[j])
        return Step("inserted", None, new[j])

    steps = []
    for (pi, pj), (qi, qj) in pairwise(bounds):
        if pi >= 0:
            steps.append(Step("unchanged" if in_place(pi, pj) else "moved", old[pi], new[pj]))
        gap_old = list(range(pi + 1, qi))
        gap_new = list(range(pj + 1, qj))
        oi = nj = 0
        for i in gap_old:
            if i not in similar_old:
                continue
            j = similar_old[i]
            while gap_old[oi] < i:
                steps.append(old_step(gap_old[oi]))
                oi += 1
            while gap_new[nj] < j:
                steps.append(new_step(gap_new[nj]))
                nj += 1
            steps.append(Step("changed", old[i], new[j], _how(old[i], new[j])))
            oi, nj = oi + 1, nj + 1
        steps.extend(old_step(i) for i in gap_old[oi:])
        steps.extend(new_step(j) for j in gap_new[nj:])
    return steps


# === Classification ===


def _plural(n: int, word: str) -> str:
    """'1 block', '2 blocks'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class Classification:
    """How an amendment relates to the text it amends.

    ``kind`` is ``unchanged`` (same blocks), ``detail`` (only new blocks inserted) or
    ``revision`` (anything else). ``removed`` and the ``old`` side of ``changed`` and
    ``moved`` are blocks of the old text; ``inserted`` and the ``new`` sides are blocks of
    the new text.
    """

    kind: str
    removed: tuple[Block, ...] = ()
    changed: tuple[Change, ...] = ()
    moved: tuple[Move, ...] = ()
    inserted: tuple[Block, ...] = ()
    steps: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def summary(self) -> str:
        """A plain-language explanation of the result."""
        if self.kind == "unchanged":
            return "Unchanged: both texts have the same blocks, so there is nothing to amend."
        if self.kind == "detail":
            return (
                f"Detail: {_plural(len(self.inserted), 'new block')} inserted. Every existing block "
                "stays word for word, in the same order and under the same headings."
            )
        parts = []
        if self.removed:
            parts.append(f"{_plural(len(self.removed), 'block')} removed")
        if self.changed:
            parts.append(f"{_plural(len(self.changed), 'block')} changed")
        if self.moved:
            parts.append(
                f"{_plural(len(self.moved), 'block')} moved (same words, but in a different order "
                "or under a different heading)"
            )
        if self.inserted:
            parts.append(f"{_plural(len(self.inserted), 'block')} inserted")
        return (
            "Revision: " + "; ".join(parts) + ". Existing text does not stay as it was, so this "
            "moves existing goalposts and needs the higher bar for revisions."
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary of the classification."""
        return {
            "kind": self.kind,
            "unchanged": self.kind == "unchanged",
            "summary": self.summary,
            "removed": [b.to_dict() for b in self.removed],
            "changed": [c.to_dict() for c in self.changed],
            "moved": [m.to_dict() for m in self.moved],
            "inserted": [b.to_dict() for b in self.inserted],
        }


def _check(source: str, what: str) -> None:
    """Raise DocumentError if ``source`` cannot be used."""
    problems = validate_source(source)
    if problems:
        raise DocumentError([f"{what}: {p}" for p in problems])


def classify(old: str, new: str) -> Classification:
    """Classify ``new`` as an amendment of ``old``: unchanged, detail or revision.

    Raises DocumentError (a ValueError) when either text is empty, too long or contains
    control characters.

    >>> classify("# Goals\\n\\n- Fork\\n", "# Goals\\n\\n- Fork\\n- Document\\n").kind
    'detail'
    >>> classify("# Goals\\n\\nFork Nix.\\n", "# Goals\\n\\nReplace Nix.\\n").kind
    'revision'
    """
    _check(old, "Old text")
    _check(new, "New text")
    old_blocks, new_blocks = parse_blocks(old), parse_blocks(new)
    if [b.key for b in old_blocks] == [b.key for b in new_blocks]:
        steps = [Step("unchanged", o, n) for o, n in zip(old_blocks, new_blocks, strict=True)]
        return Classification("unchanged", steps=tuple(steps))
    steps = align(old_blocks, new_blocks)
    removed = tuple(s.old for s in steps if s.status == "removed" and s.old)
    changed = tuple(
        Change(s.old, s.new, s.how, _similarity(s.old, s.new))
        for s in steps
        if s.status == "changed" and s.old and s.new
    )
    moved = tuple(
        Move(s.old, s.new, "reordered" if s.status == "moved_to" else "regrouped")
        for s in steps
        if s.status in ("moved", "moved_to") and s.old and s.new
    )
    inserted = tuple(s.new for s in steps if s.status == "inserted" and s.new)
    kind = "revision" if removed or changed or moved else "detail"
    return Classification(kind, removed, changed, moved, inserted, tuple(steps))


# === Proposing insertions ===


def insert_blocks(base: str, insertions: list[tuple[int, str]]) -> str:
    """Return ``base`` with new Markdown inserted after chosen blocks.

    Each insertion is ``(k, text)``: put ``text`` after block ``k`` of ``base`` (indexes
    from ``parse_blocks(base)``; ``-1`` means before the first block). Several insertions
    at the same ``k`` keep their order. Blank lines are added around each insertion.
    Raises DocumentError if an index is out of range, a text is unusable, or an insertion
    would merge with the blocks around it (for example an indented line after a list item).

    >>> insert_blocks("# A\\n\\nOne.\\n", [(1, "Two.")])
    '# A\\n\\nOne.\\n\\nTwo.\\n'
    """
    _check(base, "Base text")
    blocks = parse_blocks(base)
    lines = normalise_newlines(base).split("\n")
    chunks: dict[int, list[str]] = defaultdict(list)
    for k, text in insertions:
        if not -1 <= k < len(blocks):
            raise DocumentError(f"There is no block {k} to insert after (the text has {len(blocks)}).")
        _check(text, f"Inserted text after block {k}")
        chunks[k].append(normalise_newlines(text).strip("\n"))

    for k in sorted(chunks, reverse=True):
        pos = blocks[0].start_line - 1 if k == -1 else blocks[k].end_line
        piece = "\n\n".join(chunks[k]).split("\n")
        before, after = lines[:pos], lines[pos:]
        gap_before = [""] if before and before[-1].strip() else []
        gap_after = [""] if after and after[0].strip() else []
        if not after or after == [""]:
            gap_after, after = [], [""]  # keep a single final newline
        lines = before + gap_before + piece + gap_after + after
    result = "\n".join(lines)

    expected = [(b.kind, b.text) for text in chunks.get(-1, ()) for b in parse_blocks(text)]
    for block in blocks:
        expected.append((block.kind, block.text))
        for text in chunks.get(block.index, ()):
            expected.extend((b.kind, b.text) for b in parse_blocks(text))
    if [(b.kind, b.text) for b in parse_blocks(result)] != expected:
        raise DocumentError(
            "An inserted text would merge with the blocks around it; "
            "start it on its own, without indentation, as a complete block."
        )
    return result


def rebase(old_base: str, new_base: str, amendment_text: str) -> str | None:
    """Re-apply an amendment written against ``old_base`` onto ``new_base``.

    Works only for amendments that are *detail* against ``old_base``. Each run of inserted
    blocks is re-inserted when both of its neighbours in ``old_base`` (or the start/end of
    the text) still exist unchanged in ``new_base`` and are still next to each other there;
    the result must again be detail, with the same inserted blocks under the same headings.
    Returns None when any of that fails (a conflict the author has to resolve).
    """
    first = classify(old_base, amendment_text)
    if first.kind != "detail":
        return None
    old_blocks = parse_blocks(old_base)
    base_blocks = parse_blocks(new_base)
    amendment_lines = normalise_newlines(amendment_text).split("\n")

    runs: list[tuple[int, list[Block]]] = []  # (index of the old block before the run, run)
    previous = -1
    for step in first.steps:
        if step.status == "unchanged" and step.old is not None:
            previous = step.old.index
        elif step.status == "inserted" and step.new is not None:
            if runs and runs[-1][0] == previous:
                runs[-1][1].append(step.new)
            else:
                runs.append((previous, [step.new]))

    _check(new_base, "New base text")
    position = {
        s.old.index: s.new.index
        for s in align(old_blocks, base_blocks)
        if s.status == "unchanged" and s.old is not None and s.new is not None
    }
    insertions: list[tuple[int, str]] = []
    for before, run in runs:
        after = before + 1
        at = -1 if before == -1 else position.get(before)
        next_at = len(base_blocks) if after == len(old_blocks) else position.get(after)
        if at is None or next_at is None or next_at != at + 1:
            return None
        text = "\n".join(amendment_lines[run[0].start_line - 1 : run[-1].end_line])
        insertions.append((at, text))
    try:
        result = insert_blocks(new_base, insertions)
        second = classify(new_base, result)
    except DocumentError:
        return None
    wanted = [b.key for _, run in runs for b in run]
    if second.kind != "detail" or [b.key for b in second.inserted] != wanted:
        return None
    return result
