"""The real Aux roadmap: its 2024-05-11 rewrite must be a revision; adding to it is detail.

See ``tests/proposals/data/NOTES.md`` for where the texts come from.
"""

from __future__ import annotations

import re

import pytest

from governance.proposals.blocks import classify, insert_blocks, parse_blocks
from tests.proposals.roadmap_support import V1, V2


def published(text: str) -> str:
    """Drop our layout's first-line comment and "(version N)" title suffix; keep line numbers."""
    lines = text.split("\n")
    return re.sub(r" \(version \d\)", "", "\n".join(["", *lines[1:]]))


P1, P2 = published(V1), published(V2)


def index_of(source: str, text_start: str) -> int:
    """Index of the first block whose text starts with ``text_start``."""
    return next(b.index for b in parse_blocks(source) if b.text.startswith(text_start))


@pytest.mark.parametrize(("old", "new"), [(V1, V2), (P1, P2)], ids=["files", "published"])
def test_rewrite_is_a_revision(old, new):
    result = classify(old, new)
    assert result.kind == "revision"
    removed = {(b.start_line, b.text[:40]) for b in result.removed}
    # the Stabilization and Infrastructure goals are gone
    assert (37, "Stabilization") in removed
    assert (39, "User-friendly features such as the Nix v") in removed
    assert (41, "Infrastructure") in removed
    assert (43, "We will build and maintain the tools and") in removed
    # four of the five phases are gone
    for line, title in [
        (51, "Soft Fork"),
        (57, "Hard Fork"),
        (65, "Organization"),
        (73, "Infrastructure"),
        (81, "Alignment"),
    ]:
        assert (line, title) in removed
    (stabilization,) = [b for b in result.removed if b.text == "Stabilization"]
    assert stabilization.heading_path[-1] == "Goals"


@pytest.mark.parametrize(("old", "new"), [(V1, V2), (P1, P2)], ids=["files", "published"])
def test_rewrite_names_the_reworded_blocks(old, new):
    changed = {c.old.start_line: c for c in classify(old, new).changed}
    independent = changed[31]
    assert independent.how == "reworded"
    assert independent.old.text.startswith("We will fork and maintain Nix, NixPkgs, and NixOS.")
    assert independent.new.text.startswith("We will create an alternative to NixPkgs and NixOS.")
    assert independent.old.heading_path[-2:] == independent.new.heading_path[-2:] == ("Goals", "Independent")

    soft_fork = changed[53]  # the "will not change" promise survives, with a sentence appended
    assert soft_fork.how == "extended"
    assert soft_fork.new.start_line == 45
    assert soft_fork.old.text.endswith("the work they have committed to will not change.")
    assert soft_fork.new.text.startswith(soft_fork.old.text)
    assert soft_fork.new.text.endswith("will not be properly functioning governance structures yet.")
    assert (
        soft_fork.old.heading_path[-1] == "Soft Fork" and soft_fork.new.heading_path[-1] == "Setup & Planning"
    )

    enhancements = changed[85]
    assert enhancements.how == "reworded" and "All future enhancements" in enhancements.new.text


def test_published_rewrite_in_full():
    result = classify(P1, P2)
    assert (len(result.removed), len(result.changed), len(result.moved), len(result.inserted)) == (
        19,
        3,
        1,
        10,
    )
    (move,) = result.moved
    assert move.old.text.startswith("By this point, we've done it.")
    assert (move.old.heading_path[-1], move.new.heading_path[-1]) == ("Alignment", "Polish")
    assert [b.text for b in result.inserted if b.kind == "heading"] == [
        "Setup & Planning",
        "Implementation",
        "Solidification",
        "Polish",
    ]
    # the five values are untouched
    values = [s for s in result.steps if s.old and "Values" in s.old.heading_path]
    assert len(values) == 10 and all(s.status == "unchanged" for s in values)


def test_rewrite_keeps_the_values_and_the_governance_goal():
    kept = {s.old.text[:30] for s in classify(P1, P2).steps if s.status == "unchanged" and s.old}
    assert "Contributors should have their" in kept
    assert "A democratic model of governan" in kept


def test_adding_detail_to_v1_is_detail():
    amended = insert_blocks(
        V1,
        [
            (
                index_of(V1, "Elitism is unwelcome"),
                "### Transparency\n\nDecisions and their reasons are public.",
            ),
            (index_of(V1, "A democratic model"), "Elections use ranked ballots, counted in public."),
            (index_of(V1, "Search infrastructure"), "- package search\n- option search"),
            (len(parse_blocks(V1)) - 1, "## Appendix\n\nA glossary will be kept here."),
        ],
    )
    result = classify(V1, amended)
    assert result.kind == "detail", result.summary
    assert [b.text for b in result.inserted] == [
        "Transparency",
        "Decisions and their reasons are public.",
        "Elections use ranked ballots, counted in public.",
        "package search",
        "option search",
        "Appendix",
        "A glossary will be kept here.",
    ]
    transparency = result.inserted[0]
    assert transparency.heading_path[-1] == "Values" and transparency.start_line == 27


def test_new_phase_between_phases_is_detail_but_a_new_section_level_is_not():
    soft_fork = index_of(V1, "Soft Fork") - 1  # insert just before "### Soft Fork"
    same_level = insert_blocks(V1, [(soft_fork, "### Phase 0\n\nGather people.")])
    assert classify(V1, same_level).kind == "detail"

    higher_level = insert_blocks(V1, [(soft_fork, "## Preparation\n\nGather people.")])
    result = classify(V1, higher_level)
    assert result.kind == "revision"
    assert {m.how for m in result.moved} == {"regrouped"}
    first = result.moved[0]
    assert first.old.text == first.new.text == "Soft Fork"
    assert (first.old.heading_path[-1], first.new.heading_path[-1]) == ("Roadmap", "Preparation")
    assert len(result.moved) == len([b for b in parse_blocks(V1) if b.start_line >= 51])
