"""An amendment in a real browser: proposed by inserting a block, put to the vote, voted on,
adopted, and read at its permanent address; no console errors and no CSP violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import LiveServer, cast_ranking, login, make_member

pytestmark = pytest.mark.browser

T0 = datetime.now(UTC).replace(microsecond=0)
T0_LATER = T0 + timedelta(days=3, minutes=1)  # after the charter's discussion period for detail
NEW_TEXT = "Elections will use ranked ballots, counted in public."


def _cookie(app, member) -> str:
    """A logged-in session cookie for ``member`` (a server-side login session, as after a real login)."""
    client = app.test_client()
    login(app, client, member)
    return client.get_cookie("governance_session").value


def _log_in(page, server, app, member) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "governance_session", "value": _cookie(app, member), "url": server.url}])


def _forum_read_at(engine, when) -> None:
    """Every member's forum record as read at ``when``, so the vote-time freshness rule has no reason to
    ask a forum this test does not run."""
    from sqlmodel import Session, update

    from governance.models import Member

    with Session(engine) as s:
        s.exec(update(Member).values(refreshed_at=when, stale_since=None))
        s.commit()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_propose_vote_and_read_an_adopted_amendment(app, page):
    from sqlmodel import Session, select

    from governance.models import Amendment
    from governance.polls import charter
    from governance.proposals import service
    from tests.proposals.roadmap_support import V1

    app.config["FAKE_NOW"] = T0
    engine = app.extensions["governance.engine"]
    with Session(engine, expire_on_commit=False) as s:
        service.import_document(session=s, charter=charter.current(s), slug="roadmap", source=V1, now=T0)
        s.commit()
    with app.app_context():
        from governance.db import get_session

        db = get_session()
        proposer = make_member(db, username="marlow", forum_user_id=7001)
        chair = make_member(db, username="chair", forum_user_id=7002, groups=["steering-committee"])
        voters = [make_member(db, username=f"voter{i}", forum_user_id=7100 + i) for i in range(4)]

    with LiveServer(app) as server:
        # The proposer inserts a block after the Governance goal and saves the draft.
        _log_in(page, server, app, proposer)
        page.goto(server.url + "/documents/roadmap")
        page.get_by_role("link", name="Propose an amendment").click()
        page.fill("#title", "Say how elections are counted")
        page.locator("li.block-slot", has_text="Block 17 ·").locator("summary").click()
        page.fill("#insert-17", NEW_TEXT)
        page.get_by_role("button", name="Save as a draft amendment").click()
        assert page.locator("h1").inner_text().startswith("Amendment #")
        assert "Only new blocks are added" in page.content()
        assert page.locator(".diff-block-inserted").inner_text().count(NEW_TEXT) == 1
        amendment_url = page.url
        page.get_by_role("link", name="Open for discussion…").click()
        assert "What will happen" in page.content() and "at least 3 days of discussion" in page.content()
        page.get_by_role("button", name="Open it for discussion").click()
        assert "Open for discussion on the forum." in page.content()

        # The committee cannot put it to the vote before the discussion period has passed ...
        _log_in(page, server, app, chair)
        page.goto(amendment_url)
        page.get_by_role("link", name="Put to the vote…").click()
        assert "cannot be put to the vote before" in page.content()
        assert page.get_by_role("button", name="Put it to the vote").is_disabled()
        # ... then it can; the confirmation names the frozen texts. The referendum opens a minute later.
        app.config["FAKE_NOW"] = T0_LATER
        page.reload()
        assert "both are frozen while the vote runs" in page.content()
        page.get_by_role("button", name="Put it to the vote").click()
        assert "Put to a referendum." in page.content()
        with Session(engine) as s:
            amendment = s.exec(select(Amendment)).one()
            poll_id = amendment.poll_id
        app.config["FAKE_NOW"] = T0_LATER + timedelta(minutes=1)

        # The proposer votes yes in the browser; four others vote through the service.
        _log_in(page, server, app, proposer)
        _forum_read_at(engine, T0_LATER + timedelta(minutes=1))  # no forum here to read again at vote time
        page.goto(amendment_url)
        page.get_by_role("link", name="Vote", exact=True).click()
        assert page.url.endswith(f"/polls/{poll_id}/ballot")
        page.check("#choice-yes")
        page.get_by_role("button", name="Review my ballot").click()
        assert page.locator("#review-summary").inner_text() == "You chose: yes"
        with page.expect_navigation():
            page.get_by_role("button", name="Cast this ballot").click()
        assert page.locator("h1").inner_text() == "Ballot recorded", page.locator("main").inner_text()
        with Session(app.extensions["governance.engine_immediate"], expire_on_commit=False) as s:
            for voter in voters:
                cast_ranking(app, s, poll_id, voter, [["yes"]], T0_LATER + timedelta(minutes=2))
            s.commit()

        # Voting closes a week later; the next page view closes the poll and adopts the amendment.
        app.config["FAKE_NOW"] = T0_LATER + timedelta(days=7, minutes=2)
        page.goto(amendment_url)
        assert "Adopted: it is part of the document." in page.content()
        assert "yes 5, no 0, abstain 0" in page.content()
        page.get_by_role("link", name="version 2").first.click()
        assert page.url.endswith("/documents/roadmap/v2")
        assert NEW_TEXT in page.locator("article.document").inner_text()
        assert f"poll #{poll_id}" in page.content()
        assert page.locator(".roadmap-diff .diff-block-inserted ins").first.inner_text().endswith(NEW_TEXT)
        page.goto(server.url + "/documents/roadmap")
        assert "Version 2" in page.content() and NEW_TEXT in page.locator("article.document").inner_text()
    assert page.watch.errors == []
