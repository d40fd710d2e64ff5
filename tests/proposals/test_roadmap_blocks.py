"""Block parsing, the detail/revision classifier, insert_blocks and rebase."""

from __future__ import annotations

import json

import pytest

from governance.proposals.blocks import (
    Classification,
    DocumentError,
    align,
    classify,
    insert_blocks,
    parse_blocks,
    rebase,
)

BASE = """\
# Roadmap

## Phase 1

Ship the fork.

- alpha
- beta

## Phase 2

Hard fork.

1. one
2. two

| a | b |
|---|---|
| 1 | 2 |

```py
x = 1
```
"""


def kinds(source):
    return [(b.kind, b.text) for b in parse_blocks(source)]


# === parse_blocks ===


def test_blocks_of_base():
    blocks = parse_blocks(BASE)
    assert [(b.kind, b.marker, b.text) for b in blocks] == [
        ("heading", "#", "Roadmap"),
        ("heading", "##", "Phase 1"),
        ("paragraph", "", "Ship the fork."),
        ("list_item", "-", "alpha"),
        ("list_item", "-", "beta"),
        ("heading", "##", "Phase 2"),
        ("paragraph", "", "Hard fork."),
        ("list_item", "1.", "one"),
        ("list_item", "2.", "two"),
        ("table", ",", "a | b\n1 | 2"),
        ("code", "```py", "x = 1"),
    ]
    assert [b.index for b in blocks] == list(range(11))
    assert blocks[3].heading_path == ("Roadmap", "Phase 1")
    assert blocks[1].heading_path == ("Roadmap",)  # a heading's path holds its parents only
    assert blocks[0].heading_path == ()
    assert (blocks[9].start_line, blocks[9].end_line) == (17, 19)
    assert (blocks[10].start_line, blocks[10].end_line) == (21, 23)


def test_every_non_blank_line_belongs_to_one_block():
    source = (
        BASE
        + "\n> quote\n> more\n\n---\n\n<div>\nraw\n</div>\n\n[ref]: https://example.org\n\nx[^n]\n\n[^n]: note\n    more\n"
    )
    lines = source.split("\n")
    owners = [0] * len(lines)
    for block in parse_blocks(source):
        for n in range(block.start_line - 1, block.end_line):
            owners[n] += 1
    for n, line in enumerate(lines):
        assert owners[n] == (1 if line.strip() else owners[n]), (n + 1, line)
        assert owners[n] <= 1


def test_other_block_kinds():
    source = "> quoted\n> text\n\n---\n\n<!-- note -->\n\n    indented\n\n[ref]: /x\n\nSee[^a].\n\n[^a]: The note.\n"
    assert kinds(source) == [
        ("blockquote", "quoted text"),
        ("thematic_break", ""),
        ("html", "<!-- note -->"),
        ("code", "indented"),
        ("reference", "[ref]: /x"),
        ("paragraph", "See[^a]."),
        ("footnote", "[^a]: The note."),
    ]


def test_nested_list_belongs_to_its_item():
    blocks = parse_blocks("- one\n  - one.a\n  - one.b\n- two\n")
    assert [(b.kind, b.text, b.start_line, b.end_line) for b in blocks] == [
        ("list_item", "one - one.a - one.b", 1, 3),
        ("list_item", "two", 4, 4),
    ]


def test_ordered_items_carry_their_rendered_number():
    assert [b.marker for b in parse_blocks("3. c\n1. d\n1. e\n")] == ["3.", "4.", "5."]


def test_whitespace_is_collapsed_but_code_keeps_indentation():
    blocks = parse_blocks("Some   text\nwrapped.  \n\n```\ndef f():\n    return 1   \n\n```\n")
    assert blocks[0].text == "Some text wrapped."
    assert blocks[1].text == "def f():\n    return 1"


def test_heading_paths_follow_levels():
    blocks = parse_blocks("# A\n\n### C\n\n## B\n\ntext\n\n# D\n\nend\n")
    assert [b.heading_path for b in blocks] == [(), ("A",), ("A",), ("A", "B"), (), ("D",)]


def test_setext_headings_and_crlf():
    blocks = parse_blocks("Title\r\n=====\r\n\r\nBody\r\n")
    assert [(b.kind, b.marker, b.text, b.start_line) for b in blocks] == [
        ("heading", "#", "Title", 1),
        ("paragraph", "", "Body", 4),
    ]


def test_link_targets_are_resolved():
    blocks = parse_blocks("See [the plan][p] and ![logo](/l.png).\n\n[p]: https://example.org/plan\n")
    assert blocks[0].targets == ("https://example.org/plan", "/l.png")


def test_empty_text_has_no_blocks():
    assert parse_blocks("") == []
    assert parse_blocks("\n\n") == []


# === classify: the table of small cases ===

CASES = [
    # (name, new text, kind, removed, changed (how), moved (how), inserted)
    ("whitespace only", BASE.replace("Ship the fork.", "Ship   the\nfork.  "), "unchanged", 0, [], [], 0),
    ("line endings only", BASE.replace("\n", "\r\n"), "unchanged", 0, [], [], 0),
    ("bullet character", BASE.replace("- alpha\n- beta", "* alpha\n* beta"), "unchanged", 0, [], [], 0),
    ("reorder", BASE.replace("- alpha\n- beta", "- beta\n- alpha"), "revision", 0, [], ["reordered"], 0),
    (
        "new heading in the middle",
        BASE.replace("Hard fork.", "## Phase 1.5\n\nHard fork."),
        "revision",
        0,
        [],
        ["regrouped"] * 5,
        1,
    ),
    ("list item appended", BASE.replace("- beta\n", "- beta\n- gamma\n"), "detail", 0, [], [], 1),
    ("ordered item appended", BASE.replace("2. two\n", "2. two\n3. three\n"), "detail", 0, [], [], 1),
    (
        "ordered item inserted",
        BASE.replace("1. one\n", "1. one\n2. half\n"),
        "revision",
        0,
        ["renumbered"],
        [],
        1,
    ),
    ("paragraph inserted", BASE.replace("Hard fork.", "Hard fork.\n\nWith care."), "detail", 0, [], [], 1),
    ("section appended", BASE + "\n## Phase 3\n\nPolish.\n", "detail", 0, [], [], 2),
    (
        "subsection at end of a section",
        BASE.replace("\n## Phase 2", "\n### Phase 1b\n\nMore.\n\n## Phase 2"),
        "detail",
        0,
        [],
        [],
        2,
    ),
    ("word changed", BASE.replace("Hard fork.", "Soft fork."), "revision", 0, ["reworded"], [], 0),
    (
        "paragraph extended",
        BASE.replace("Hard fork.", "Hard fork. Soon."),
        "revision",
        0,
        ["extended"],
        [],
        0,
    ),
    ("block deleted", BASE.replace("Ship the fork.\n\n", ""), "revision", 1, [], [], 0),
    ("heading deleted", BASE.replace("## Phase 2\n\n", ""), "revision", 1, [], ["regrouped"] * 5, 0),
    ("code changed", BASE.replace("x = 1", "x = 2"), "revision", 0, ["reworded"], [], 0),
    ("code language changed", BASE.replace("```py", "```python"), "revision", 0, ["restyled"], [], 0),
    (
        "table row added",
        BASE.replace("| 1 | 2 |\n", "| 1 | 2 |\n| 3 | 4 |\n"),
        "revision",
        0,
        ["extended"],
        [],
        0,
    ),
    (
        "heading level changed",
        BASE.replace("## Phase 2", "### Phase 2"),
        "revision",
        0,
        ["restyled"],
        ["regrouped"] * 5,
        0,
    ),
    ("heading reworded", BASE.replace("## Phase 2", "## Phase Two"), "revision", 0, ["reworded"], [], 0),
    (
        "unrelated replacement",
        BASE.replace("Hard fork.", "Completely different words here."),
        "revision",
        1,
        [],
        [],
        1,
    ),
]


@pytest.mark.parametrize(
    ("name", "new", "kind", "removed", "changed", "moved", "inserted"), CASES, ids=[c[0] for c in CASES]
)
def test_small_cases(name, new, kind, removed, changed, moved, inserted):
    result = classify(BASE, new)
    assert result.kind == kind
    assert len(result.removed) == removed
    assert [c.how for c in result.changed] == changed
    assert [m.how for m in result.moved] == moved
    assert len(result.inserted) == inserted


def test_new_heading_moves_the_goalposts_after_it():
    result = classify(BASE, BASE.replace("Hard fork.", "## Phase 1.5\n\nHard fork."))
    assert result.inserted[0].text == "Phase 1.5"
    first = result.moved[0]
    assert first.old.text == first.new.text == "Hard fork."
    assert first.old.heading_path == ("Roadmap", "Phase 2")
    assert first.new.heading_path == ("Roadmap", "Phase 1.5")
    assert "under a different heading" in result.summary


def test_reworded_heading_does_not_move_its_blocks():
    result = classify(BASE, BASE.replace("## Phase 2", "## Phase Two"))
    (change,) = result.changed
    assert (change.old.text, change.new.text) == ("Phase 2", "Phase Two")
    assert result.moved == ()


def test_new_reference_that_relinks_existing_text_is_a_revision():
    old = "# A\n\nSee [the plan].\n"
    result = classify(old, old + "\n[the plan]: https://example.org/elsewhere\n")
    assert result.kind == "revision"
    assert [c.how for c in result.changed] == ["relinked"]


def test_moved_paragraph_reports_both_places():
    old = "# A\n\nOne.\n\nTwo.\n\n# B\n\nThree.\n"
    new = "# A\n\nTwo.\n\n# B\n\nThree.\n\nOne.\n"
    (move,) = classify(old, new).moved
    assert (move.old.start_line, move.old.heading_path) == (3, ("A",))
    assert (move.new.start_line, move.new.heading_path) == (9, ("B",))
    assert move.how == "reordered"


def test_to_dict_is_json_ready():
    result = classify(BASE, BASE.replace("Hard fork.", "Soft fork.\n\nNew."))
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) >= {"kind", "unchanged", "summary", "removed", "changed", "moved", "inserted"}
    assert data["kind"] == "revision" and data["unchanged"] is False
    change = data["changed"][0]
    assert change["how"] == "reworded"
    assert change["old"]["text"] == "Hard fork." and change["new"]["text"] == "Soft fork."
    assert change["old"]["start_line"] == 12 and change["old"]["heading_path"] == ["Roadmap", "Phase 2"]
    assert data["inserted"][0]["text"] == "New."


def test_summaries_are_plain_language():
    assert classify(BASE, BASE).summary.startswith("Unchanged:")
    detail = classify(BASE, BASE + "\nMore.\n")
    assert detail.summary.startswith("Detail: 1 new block inserted.")
    assert isinstance(detail, Classification) and detail.to_dict()["unchanged"] is False
    assert classify(BASE, BASE).to_dict()["unchanged"] is True


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("", BASE, "Old text: The text is empty."),
        (BASE, "  \n", "New text: The text is empty."),
        (BASE, "a\x00b", "NUL"),
        ("x" * 200_001, BASE, "limit"),
    ],
)
def test_unusable_input_raises_a_value_error(old, new, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        classify(old, new)
    assert isinstance(info.value, DocumentError)


def test_align_steps_cover_both_texts():
    old, new = parse_blocks(BASE), parse_blocks(BASE.replace("Hard fork.", "Soft fork."))
    steps = align(old, new)
    assert sorted(s.old.index for s in steps if s.old and s.status != "moved_to") == list(range(len(old)))
    assert sorted(s.new.index for s in steps if s.new and s.status not in ("moved_from", "removed")) == list(
        range(len(new))
    )


# === insert_blocks ===


def test_insert_blocks_after_chosen_blocks():
    result = insert_blocks(BASE, [(2, "Then test it."), (-1, "Preface."), (10, "## Phase 3\n\nPolish.")])
    assert kinds(result)[:4] == [
        ("paragraph", "Preface."),
        ("heading", "Roadmap"),
        ("heading", "Phase 1"),
        ("paragraph", "Ship the fork."),
    ]
    assert kinds(result)[4] == ("paragraph", "Then test it.")
    assert kinds(result)[-2:] == [("heading", "Phase 3"), ("paragraph", "Polish.")]
    assert result.endswith("Polish.\n")


def test_insert_blocks_keeps_order_at_one_place():
    result = insert_blocks(BASE, [(2, "First."), (2, "Second.")])
    assert kinds(result)[3:5] == [("paragraph", "First."), ("paragraph", "Second.")]
    assert classify(BASE, result).kind == "detail"


def test_insert_list_item_into_list_is_detail():
    result = insert_blocks(BASE, [(3, "- alpha and a half")])
    assert classify(BASE, result).kind == "detail"


@pytest.mark.parametrize(
    ("insertions", "fragment"),
    [
        ([(11, "x")], "no block 11"),
        ([(-2, "x")], "no block -2"),
        ([(0, "")], "empty"),
        ([(4, "    indented continuation")], "merge"),
    ],
)
def test_insert_blocks_refuses(insertions, fragment):
    with pytest.raises(DocumentError, match=fragment):
        insert_blocks(BASE, insertions)


# === rebase ===


def test_rebase_reapplies_insertions_onto_a_newer_base():
    amendment = insert_blocks(BASE, [(2, "Then test it.")])
    newer = insert_blocks(BASE, [(8, "3. three")])  # appended to the ordered list
    rebased = rebase(BASE, newer, amendment)
    assert rebased is not None
    assert classify(newer, rebased).kind == "detail"
    assert [b.text for b in classify(newer, rebased).inserted] == ["Then test it."]


def test_rebase_onto_unchanged_base_is_the_amendment():
    amendment = insert_blocks(BASE, [(6, "More about the hard fork.")])
    assert rebase(BASE, BASE, amendment) == amendment


def test_rebase_conflicts_when_an_anchor_changed():
    amendment = insert_blocks(BASE, [(2, "Then test it.")])
    newer = BASE.replace("Ship the fork.", "Ship the fork soon.")
    assert rebase(BASE, newer, amendment) is None


def test_rebase_conflicts_when_both_insert_at_the_same_place():
    amendment = insert_blocks(BASE, [(2, "Then test it.")])
    newer = insert_blocks(BASE, [(2, "Then release it.")])
    assert rebase(BASE, newer, amendment) is None


def test_rebase_conflicts_when_headings_changed_above():
    amendment = insert_blocks(BASE, [(6, "Details.")])
    newer = BASE.replace("## Phase 2", "## Phase Two")
    assert rebase(BASE, newer, amendment) is None


def test_rebase_refuses_a_revision_amendment():
    assert rebase(BASE, BASE, BASE.replace("Hard fork.", "Soft fork.")) is None
