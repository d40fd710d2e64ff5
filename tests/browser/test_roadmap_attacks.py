"""The attacks on the roadmap's rules, replayed in Chromium as committee members click through the
pages: a reworded goal published directly, a publication while a referendum on the roadmap is
open (by one member, and by two through the two-person rule), and an amendment put to the vote
the moment its discussion opens. Each is refused with its reason on the page, and the published
roadmap, the poll page and the amendment page are unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser.test_documents import _log_in
from tests.charter.charter_support import COMMITTEE, deliver
from tests.conftest import LiveServer
from tests.proposals.test_service import (
    AFTER_GOVERNANCE,
    GOVERNANCE_DETAIL,
    NOW,
    import_roadmap,
    member,
    propose_insertions,
    put_to_vote,
    run_clock,
)

pytestmark = pytest.mark.browser

GOAL = "We will fork and maintain Nix, NixPkgs, and NixOS."
REWORDED_GOAL = "We will create an alternative to NixPkgs and NixOS."
CLOSING_NOTE = "A closing note from the committee."


def _session(app):
    from sqlmodel import Session

    return Session(app.extensions["governance.engine"], expire_on_commit=False)


def _versions(app) -> list[int]:
    from sqlmodel import select

    from governance.models import DocumentVersion
    from governance.proposals import service

    with _session(app) as s:
        document = service.get_document(s, "roadmap")
        return sorted(v.number for v in s.exec(select(DocumentVersion)
                                                 .where(DocumentVersion.document_id == document.id)).all())


def _open_publish_page(page, server):
    page.goto(server.url + "/documents/roadmap")
    page.get_by_role("link", name="Publish a version (committee)").click()
    assert page.url.endswith("/documents/roadmap/publish")


def _published_roadmap_is_v1(page, server) -> None:
    page.goto(server.url + "/documents/roadmap")
    text = page.locator("article.document").inner_text()
    assert GOAL in text and REWORDED_GOAL not in text and CLOSING_NOTE not in text
    assert page.get_by_role("link", name="Latest changes").count() == 0  # still only version 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reworded_goal_is_a_revision_the_committee_cannot_publish(app, page):
    from sqlmodel import select

    from governance.models import PendingChange

    app.config["FAKE_NOW"] = NOW
    with _session(app) as s:
        import_roadmap(s)
        chair = member(s, "chair", groups=[COMMITTEE])
        s.commit()

    with LiveServer(app) as server:
        _log_in(page, server, app, chair)
        _open_publish_page(page, server)
        source = page.locator("#source")
        assert GOAL in source.input_value()
        source.fill(source.input_value().replace(GOAL, REWORDED_GOAL, 1))
        page.fill("#note", "Clearer wording")
        page.get_by_role("button", name="Preview the classification").click()
        errors = page.locator("#form-errors").inner_text()
        assert "does not let the committee publish a revision of" in errors
        assert "propose it as an amendment" in errors
        assert page.get_by_role("button", name="Ask a second committee member to approve").count() == 0
        assert REWORDED_GOAL in page.locator("#source").input_value()  # the text is kept to propose it instead

        # The same text with the preview's button turned into the request button by hand: refused too.
        page.locator("button[name=action]").evaluate("b => { b.value = 'request'; }")
        page.get_by_role("button", name="Preview the classification").click()
        assert "propose it as an amendment" in page.content()
        assert "/charter/changes/" not in page.url

        _published_roadmap_is_v1(page, server)
        page.goto(server.url + "/charter/changes/")
        assert "Clearer wording" not in page.content()
    assert _versions(app) == [1]
    with _session(app) as s:
        assert s.exec(select(PendingChange)).all() == []
    assert page.watch.errors == [
        "Failed to load resource: the server responded with a status of 403 (FORBIDDEN)"] * 2


def _texts_named(page, server, amendment, poll_id) -> None:
    """The poll page and the amendment page name the same base version and the same two hashes."""
    page.goto(f"{server.url}/polls/{poll_id}")
    poll_page = page.locator("main").inner_text()
    page.goto(f"{server.url}/documents/roadmap/amendments/{amendment.id}")
    amendment_page = page.locator("main").inner_text()
    for digest in (amendment.sha256, amendment.base_sha256):
        assert digest in poll_page and digest in amendment_page
    assert "version 1" in poll_page and "version 1" in amendment_page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_publication_while_a_referendum_on_the_roadmap_is_open(app, page):
    from sqlmodel import select

    from governance.models import Amendment, PendingChange, Poll

    app.config["FAKE_NOW"] = NOW
    with _session(app) as s:
        import_roadmap(s)
        chair = member(s, "chair", groups=[COMMITTEE])
        second = member(s, "second", groups=[COMMITTEE])
        amendment = propose_insertions(s, member(s, "marlow"), [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
        s.commit()

    with LiveServer(app) as server:
        # Before the vote, the chair asks to publish detail (a closing note): the request is recorded.
        _log_in(page, server, app, chair)
        _open_publish_page(page, server)
        source = page.locator("#source")
        source.fill(source.input_value().rstrip("\n") + f"\n\n{CLOSING_NOTE}\n")
        page.get_by_role("button", name="Preview the classification").click()
        assert "Detail" in page.locator("#preview").inner_text()
        page.get_by_role("button", name="Ask a second committee member to approve").click()
        assert "/charter/changes/" in page.url
        change_url = page.url

        # The amendment is put to the vote, and its referendum opens.
        with _session(app) as s:
            poll = put_to_vote(s, chair, s.get(Amendment, amendment.id))
            amendment = s.get(Amendment, amendment.id)
        run_clock(app, poll.opens_at)
        app.config["FAKE_NOW"] = poll.opens_at + timedelta(minutes=5)
        with _session(app) as s:
            assert s.get(Poll, poll.id).status == "open"
        _texts_named(page, server, amendment, poll.id)

        # One member: a new version while the referendum is open is refused with the reason.
        _open_publish_page(page, server)
        source = page.locator("#source")
        source.fill(source.input_value().rstrip("\n") + "\n\nAnother note.\n")
        page.get_by_role("button", name="Preview the classification").click()
        content = page.locator("main").inner_text()
        assert f"A referendum on Roadmap is open (poll #{poll.id}" in content
        assert "its base text is frozen while the vote runs" in content and "Nothing was published." in content
        assert page.get_by_role("button", name="Ask a second committee member to approve").count() == 0

        # Two members: the request asked before the vote is approved and announced, and it waits.
        _log_in(page, server, app, second)
        page.goto(change_url)
        page.get_by_role("link", name="Approve…").click()
        page.get_by_role("button", name="Approve").click()
        deliver(app, app.config["FAKE_NOW"])
        page.goto(change_url)
        assert "the publication waits until it closes" in page.locator("main").inner_text()
        with _session(app) as s:
            change = s.exec(select(PendingChange)).one()
            assert change.status == "approved"

        _published_roadmap_is_v1(page, server)
        _texts_named(page, server, amendment, poll.id)
        with _session(app) as s:
            again = s.get(Amendment, amendment.id)
            assert (again.base_number, again.base_sha256, again.sha256) == (1, amendment.base_sha256,
                                                                             amendment.sha256)
            assert s.get(Poll, poll.id).status == "open"
    assert _versions(app) == [1]
    assert page.watch.errors == ["Failed to load resource: the server responded with a status of 409 (CONFLICT)"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_amendment_cannot_be_put_to_the_vote_as_its_discussion_opens(app, page):
    from sqlmodel import select

    from governance.models import Amendment, Poll

    app.config["FAKE_NOW"] = NOW
    with _session(app) as s:
        import_roadmap(s)
        chair = member(s, "chair", groups=[COMMITTEE])
        amendment = propose_insertions(s, chair, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
        s.commit()

    with LiveServer(app) as server:
        _log_in(page, server, app, chair)
        amendment_url = f"{server.url}/documents/roadmap/amendments/{amendment.id}"
        page.goto(amendment_url)
        page.get_by_role("link", name="Open for discussion…").click()
        assert "at least 3 days of discussion" in page.content()
        page.get_by_role("button", name="Open it for discussion").click()
        assert "Open for discussion on the forum." in page.content()

        # At once: the page refuses and says when it can be put to the vote.
        page.get_by_role("link", name="Put to the vote…").click()
        until = NOW + timedelta(days=3)
        problem = f"The discussion period runs until {until:%d %B %Y %H:%M} UTC; it cannot be put to the vote before."
        assert problem in page.locator("main").inner_text()
        button = page.get_by_role("button", name="Put it to the vote")
        assert button.is_disabled()
        # The disabled button enabled by hand: the server refuses it as well, and says why.
        button.evaluate("b => { b.disabled = false; }")
        button.click()
        assert page.url == amendment_url
        assert "at least 3 days of discussion" in page.locator("main").inner_text()

        # A minute before the end of the period it is still refused; at the end it is accepted.
        app.config["FAKE_NOW"] = until - timedelta(minutes=1)
        page.get_by_role("link", name="Put to the vote…").click()
        assert page.get_by_role("button", name="Put it to the vote").is_disabled()
        with _session(app) as s:
            assert s.get(Amendment, amendment.id).status == "discussion"
            assert s.exec(select(Poll)).all() == []
        app.config["FAKE_NOW"] = until
        page.reload()
        assert "cannot be put to the vote before" not in page.content()
        page.get_by_role("button", name="Put it to the vote").click()
        assert "Put to a referendum." in page.content()
    with _session(app) as s:
        assert s.get(Amendment, amendment.id).status == "voting"
    assert page.watch.errors == []
