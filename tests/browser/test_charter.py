"""The charter editor, its diff and the two-person rule's confirmation pages in Chromium: a SIG is
added through the form, previewed as detail with its diff, asked for, approved by a second member
on a confirmation page, and in force once the forum notice is out; a lowered bar is shown as a
revision with per-field messages for bad values. No console errors, no CSP violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_documents import _log_in
from tests.charter.charter_support import deliver
from tests.conftest import LiveServer, make_member

pytestmark = pytest.mark.browser

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.trustee_charter
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_editor_diff_and_two_person_confirmation(app, page, tmp_path):
    from sqlmodel import Session

    from governance.polls import charter

    app.config["FAKE_NOW"] = T0
    with Session(app.extensions["governance.engine"], expire_on_commit=False) as s:
        charter.current(s)
        s.commit()
    with app.app_context():
        from governance.db import get_session

        db = get_session()
        chair = make_member(db, username="chair", forum_user_id=7201, groups=["steering-committee"])
        second = make_member(db, username="second", forum_user_id=7202, groups=["steering-committee"])

    with LiveServer(app) as server:
        _log_in(page, server, app, chair)
        page.goto(server.url + "/charter/")
        page.get_by_role("link", name="Propose a change…").click()
        # A bad value is shown next to its field, and nothing is saved.
        page.fill("#body-0-trustees-threshold", "5")
        page.get_by_role("button", name="Preview the changes").click()
        assert "Nothing was saved" in page.content()
        error = page.locator("#body-0-trustees-threshold ~ .field-error").first
        assert "1 ≤ threshold ≤ count ≤ 10" in error.inner_text()
        page.fill("#body-0-trustees-threshold", "2")

        # Lowering the roadmap's revision bar is a revision: no direct publication is offered.
        page.fill("#doc-1-revision-threshold", "1/2")
        page.get_by_role("button", name="Preview the changes").click()
        preview = page.locator("#preview")
        assert "revision" in preview.locator(".diff-summary").first.inner_text()
        assert "lowers a bar (threshold 2/3 → 1/2)" in preview.inner_text()
        assert page.get_by_role("button", name="Ask a second committee member to approve").count() == 0
        page.screenshot(path=str(tmp_path / "revision.png"), full_page=True)

        # Back to 2/3, and a new SIG instead: detail, with its diff.
        page.fill("#doc-1-revision-threshold", "2/3")
        page.locator("summary", has_text="Add a body").click()
        page.fill("#body-new-slug", "sig-release")
        page.fill("#body-new-name", "Release SIG")
        page.fill("#body-new-group", "sig-release")
        page.fill("#body-new-managers", "sig-release-chairs, steering-committee")
        page.get_by_role("button", name="Preview the changes").click()
        preview = page.locator("#preview")
        assert "Detail" in preview.inner_text() and "adds a body" in preview.inner_text()
        assert "Release SIG" in preview.locator(".diff-block-inserted").first.inner_text()
        page.fill("#note", "A release SIG")
        page.get_by_role("button", name="Ask a second committee member to approve").click()
        assert "/charter/changes/" in page.url and "not posted yet" in page.content()
        change_url = page.url
        assert page.get_by_role("link", name="Approve…").count() == 0  # not for the one who asked

        # The second member confirms; it waits for the forum notice, then it is in force.
        _log_in(page, server, app, second)
        page.goto(change_url)
        page.get_by_role("link", name="Approve…").click()
        assert "What will happen" in page.content() and "You are the second person" in page.content()
        page.screenshot(path=str(tmp_path / "confirm.png"), full_page=True)
        page.get_by_role("button", name="Approve").click()
        assert "takes effect once the forum notice is posted" in page.content()
        forum = deliver(app, T0 + timedelta(minutes=1))
        assert "without a vote" in forum.topics[0]["raw"]
        page.goto(server.url + "/charter/")
        assert "version 2" in page.locator("h1").inner_text() and "Release SIG" in page.content()
    # The one refused preview answered 400, as every form does with the reasons shown.
    assert page.watch.errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_schedule_and_cancel_confirmations(app, page):
    from sqlmodel import Session

    from governance.models import Poll
    from governance.polls import charter
    from governance.polls import service as polls
    from governance.polls.service import PollInput

    app.config["FAKE_NOW"] = T0
    with app.app_context():
        from governance.db import get_session

        db = get_session()
        chair = make_member(db, username="chair", forum_user_id=7301, groups=["steering-committee"])
    with Session(app.extensions["governance.engine"], expire_on_commit=False) as s:
        poll = polls.create(session=s, actor=chair, charter=charter.current(s), data=PollInput(
            body="community", kind="decision", method="irv", title="Release name", options=["Ash", "Birch"],
            opens_at=T0 + timedelta(days=1), closes_at=T0 + timedelta(days=3)))
        s.commit()
    with LiveServer(app) as server:
        _log_in(page, server, app, chair)
        page.goto(f"{server.url}/polls/{poll.id}")
        page.get_by_role("link", name="Schedule…").click()
        assert "What will happen" in page.content() and "second manager" in page.content()
        page.get_by_role("button", name="Ask to schedule it").click()
        assert "/charter/changes/" in page.url
        page.goto(f"{server.url}/polls/{poll.id}")
        page.get_by_role("link", name="Cancel the poll…").click()
        assert "cancelled for good" in page.content()
        page.fill("#reason", "Wrong options")
        page.get_by_role("button", name="Cancel the poll").click()
        assert "Poll cancelled." in page.content()
    with Session(app.extensions["governance.engine"]) as s:
        assert s.get(Poll, poll.id).status == "cancelled"
    assert page.watch.errors == []
