"""A chair's controls in Chromium: one chair asks to extend voting with a reason, a second chair
approves, and a voter sees the new closing time and why; a test poll is marked on its page and
absent from the public list. No console errors, no CSP violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_a11y import serious_violations
from tests.browser.test_documents import _log_in
from tests.conftest import LiveServer, make_member

pytestmark = pytest.mark.browser

T0 = datetime.now(UTC).replace(second=0, microsecond=0)
OPEN = T0 + timedelta(days=1)
CLOSE = OPEN + timedelta(days=4)


def _people(app):
    with app.app_context():
        from governance.db import get_session

        db = get_session()
        return {"chair": make_member(db, username="chair", forum_user_id=8201, groups=["steering-committee"]),
                "second": make_member(db, username="second", forum_user_id=8202, groups=["steering-committee"]),
                "voter": make_member(db, username="voter", forum_user_id=8203)}


def _scheduled(app, chair, *, title: str, test: bool = False) -> int:
    from sqlmodel import Session

    from governance.polls import charter, service
    from governance.polls.service import PollInput

    with Session(app.extensions["governance.engine"], expire_on_commit=False) as s:
        current = charter.current(s)
        poll = service.create(session=s, actor=chair, charter=current, now=T0, data=PollInput(
            body="community", kind="decision", method="irv", title=title, options=["Ash", "Birch"],
            opens_at=OPEN, closes_at=CLOSE, is_test=test))
        service.schedule(session=s, actor=chair, charter=current, poll=poll, now=T0)
        s.commit()
        return poll.id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_chair_asks_to_extend_a_second_approves_and_a_voter_sees_the_new_close(app, page):
    app.config["FAKE_NOW"] = T0
    people = _people(app)
    poll_id = _scheduled(app, people["chair"], title="Release name")
    app.config["FAKE_NOW"] = OPEN + timedelta(hours=3)
    later = CLOSE + timedelta(days=2)
    with LiveServer(app) as server:
        poll_url = f"{server.url}/polls/{poll_id}"
        _log_in(page, server, app, people["chair"])
        page.goto(poll_url)
        page.get_by_role("link", name="Close early or extend…").click()
        assert "at most doubling the voting period" in page.locator("main").inner_text()
        page.get_by_role("button", name="Ask to extend").click()  # nothing filled in
        assert "Nothing was asked or changed" in page.locator("#form-errors").inner_text()
        assert page.locator("#extend-reason-error, #extend-closes_at-error").count() >= 1
        page.set_viewport_size({"width": 390, "height": 844})
        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        page.set_viewport_size({"width": 1280, "height": 900})
        page.fill("#extend-closes", later.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#extend-reason", "The forum was down for a day.")
        page.get_by_role("button", name="Ask to extend").click()
        assert "a second manager of the body must approve it" in page.locator(".flashes").inner_text()
        assert page.get_by_role("button", name="Approve: extend voting").count() == 0  # not the one who asked

        _log_in(page, server, app, people["second"])
        page.goto(poll_url)
        assert "waits for a second manager" in page.locator("#h-manage + *, section[aria-labelledby=h-manage]") \
            .first.inner_text()
        page.get_by_role("link", name="Close early or extend…").click()
        assert "The forum was down for a day." in page.locator("#h-waiting + p").inner_text()
        page.get_by_role("button", name="Approve: extend voting").click()
        assert "Voting is extended" in page.locator(".flashes").inner_text()

        _log_in(page, server, app, people["voter"])
        page.goto(poll_url)
        closes = page.locator("dt:text-is('Voting closes') + dd").inner_text()
        assert f"{later.day} {later:%B %Y}" in closes
        assert "Extended from" in closes and "The forum was down for a day." in closes
        assert f"{CLOSE.day} {CLOSE:%B %Y}" in closes
    # The one failed load is the refused form's own answer (400), shown with its errors.
    assert [e for e in page.watch.errors if "status of 400" not in e] == []
    assert len(page.watch.errors) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_test_poll_is_marked_and_absent_from_the_public_list(app, page):
    app.config["FAKE_NOW"] = T0
    people = _people(app)
    real = _scheduled(app, people["chair"], title="Real decision")
    rehearsal = _scheduled(app, people["chair"], title="Ceremony rehearsal", test=True)
    with LiveServer(app) as server:
        _log_in(page, server, app, people["voter"])
        page.goto(f"{server.url}/polls/")
        listed = page.locator("main").inner_text()
        assert "Real decision" in listed and "Ceremony rehearsal" not in listed
        page.goto(f"{server.url}/")
        assert "Ceremony rehearsal" not in page.locator("main").inner_text()
        page.goto(f"{server.url}/polls/{rehearsal}")
        banner = page.locator(".test-banner")
        assert banner.is_visible() and "Test poll — not part of the public record" in banner.inner_text()
        page.set_viewport_size({"width": 390, "height": 844})
        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        page.goto(f"{server.url}/polls/{real}")
        assert page.locator(".test-banner").count() == 0
        _log_in(page, server, app, people["chair"])
        page.goto(f"{server.url}/polls/")
        assert "Ceremony rehearsal" in page.locator("section[aria-labelledby=h-test]").inner_text()
    assert page.watch.errors == []
