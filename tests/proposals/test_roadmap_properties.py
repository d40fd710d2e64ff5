"""Properties of the classifier on generated documents (Hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from governance.proposals.blocks import classify, insert_blocks, parse_blocks, rebase

WORDS = st.sampled_from(
    "alpha beta gamma delta fork nix packages roadmap phase goal ship test review vote elect "
    "document build release stable people forum".split()
)


def sentence(draw) -> str:
    return " ".join(draw(st.lists(WORDS, min_size=1, max_size=8))).capitalize() + "."


@st.composite
def body_block(draw) -> str:
    """A block that is not a heading (headings are generated separately)."""
    kind = draw(st.sampled_from(["paragraph", "bullets", "ordered", "code", "quote", "table", "rule"]))
    if kind == "paragraph":
        return sentence(draw)
    if kind == "bullets":
        return "\n".join(f"- {sentence(draw)}" for _ in range(draw(st.integers(1, 3))))
    if kind == "ordered":
        start = draw(st.integers(1, 5))
        return "\n".join(f"{start + k}. {sentence(draw)}" for k in range(draw(st.integers(1, 3))))
    if kind == "code":
        return f"```\n{sentence(draw)}\n  {sentence(draw)}\n```"
    if kind == "quote":
        return f"> {sentence(draw)}"
    if kind == "table":
        return f"| {draw(WORDS)} | {draw(WORDS)} |\n|---|---|\n| {draw(WORDS)} | {draw(WORDS)} |"
    return "---"


@st.composite
def document(draw) -> str:
    """A roadmap-like document: headings of levels 1-3 with body blocks between them."""
    parts = [f"# {sentence(draw)}"]
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            parts.append(f"{'#' * draw(st.integers(1, 3))} {sentence(draw)}")
        parts.append(draw(body_block()))
    return "\n\n".join(parts) + "\n"


def numbers_as_written(source: str) -> bool:
    """True when every ordered-list item shows the number written in the source.

    Where they differ (``1. 1. 1.``, or two lists that CommonMark joins into one), an
    insertion that splits the list makes the later items show other numbers, which is
    rightly a revision; the insertion properties are stated for the other documents.
    """
    lines = source.split("\n")
    return all(
        lines[b.start_line - 1].lstrip().startswith(b.marker)
        for b in parse_blocks(source)
        if b.kind == "list_item" and b.marker != "-"
    )


FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.data())
def test_inserting_new_blocks_anywhere_is_detail(data):
    base = data.draw(document())
    assume(numbers_as_written(base))
    blocks = parse_blocks(base)
    insertions = data.draw(
        st.lists(st.tuples(st.integers(-1, len(blocks) - 1), body_block()), min_size=1, max_size=4)
    )
    # a new ordered-list item next to an ordered list renumbers or continues it; keep those apart
    insertions = [(k, t) for k, t in insertions if not t[0].isdigit()]
    assume(insertions)
    amended = insert_blocks(base, insertions)
    result = classify(base, amended)
    assert result.kind == "detail", (base, amended, result.summary)
    assert len(result.inserted) == sum(len(parse_blocks(t)) for _, t in insertions)


@FAST
@given(st.data())
def test_appending_a_section_at_the_end_is_detail(data):
    base = data.draw(document())
    level = data.draw(st.integers(1, 3))
    section = f"{'#' * level} {sentence(data.draw)}\n\n{data.draw(body_block())}"
    assert classify(base, base + "\n" + section + "\n").kind == "detail"


@FAST
@given(st.data())
def test_deleting_any_block_is_a_revision(data):
    base = data.draw(document())
    blocks = parse_blocks(base)
    victim = blocks[data.draw(st.integers(0, len(blocks) - 1))]
    lines = base.split("\n")
    amended = "\n".join(lines[: victim.start_line - 1] + lines[victim.end_line :])
    assume(amended.strip())
    result = classify(base, amended)
    assert result.kind == "revision"
    assert result.removed or result.changed or result.moved


@FAST
@given(document())
def test_a_text_is_unchanged_against_itself(base):
    assert classify(base, base).kind == "unchanged"
    assert classify(base, base.replace("\n", "\r\n")).kind == "unchanged"


@FAST
@given(st.data())
def test_rebase_onto_the_same_base_returns_the_amendment(data):
    base = data.draw(document())
    assume(numbers_as_written(base))
    k = data.draw(st.integers(-1, len(parse_blocks(base)) - 1))
    amended = insert_blocks(base, [(k, sentence(data.draw))])
    assert rebase(base, base, amended) == amended
