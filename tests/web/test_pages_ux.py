"""Page details a newcomer notices: diffs collapse unchanged blocks, the charter names only documents
that exist as links, results pages explain outcomes (the Chromium tests in tests/browser/test_ux.py
show the rest)."""

from __future__ import annotations

from tests.proposals.roadmap_support import V1
from tests.proposals.test_service import import_roadmap


def test_document_diffs_collapse_unchanged_blocks_and_can_show_them_all(client, session):
    import_roadmap(session, V1)
    collapsed = client.get("/documents/roadmap/diff?from=1&to=1").get_data(as_text=True)
    full = client.get("/documents/roadmap/diff?from=1&to=1&full=1").get_data(as_text=True)
    blocks = full.count("diff-block-unchanged")
    assert blocks > 5  # the whole roadmap, block by block
    assert collapsed.count("diff-block-unchanged") < blocks and "diff-block-skipped" in collapsed
    assert 'id="show-all"' in collapsed and "Show only the changes" in full


def test_the_charter_does_not_link_a_document_that_does_not_exist(client, session):
    import_roadmap(session, V1)
    page = client.get("/charter/").get_data(as_text=True)
    assert '<a href="/documents/roadmap">Roadmap</a>' in page
    assert "Values <span class=\"meta not-written\">(no such document yet" in page
    assert '<a href="/documents/values">' not in page
