"""Election officers and what members see of them, in Chromium: a young member asks for an
eligibility exception, an officer accepts it on a confirmation page, the member votes (the page
says when voting closes), the count waits for certification, an officer reads it and certifies it
and the results say so; the reminders opt-out; a candidate declares an affiliation and the results
page shows the cap's effect. No console errors, no CSP violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_documents import _log_in
from tests.conftest import LiveServer, cast_ranking, make_member

pytestmark = pytest.mark.browser

T0 = datetime.now(UTC).replace(microsecond=0)
OPEN = T0 + timedelta(days=5)
CLOSE = OPEN + timedelta(days=4)


def _arrange(app, **body):
    """The community's rules changed as ``body`` says; members made as a login makes them."""
    from sqlmodel import Session

    from tests.polls.officers_support import with_body

    with Session(app.extensions["governance.engine"], expire_on_commit=False) as s:
        with_body(s, "community", **body)
    with app.app_context():
        from governance.db import get_session

        db = get_session()
        people = {
            "chair": make_member(db, username="chair", forum_user_id=8101, groups=["steering-committee"]),
            "officer": make_member(db, username="officer", forum_user_id=8102, groups=["steering-committee"]),
            # A day-old account of trust level 0: the community's rule (trust level 1) leaves it out.
            "sprout": make_member(db, username="sprout", forum_user_id=8103, created_days_ago=1, trust_level=0,
                                  refreshed_at=OPEN + timedelta(hours=1)),
            **{f"voter{i}": make_member(db, username=f"voter{i}", forum_user_id=8110 + i) for i in range(3)},
        }
    return people


def _decision(app, chair):
    from sqlmodel import Session

    from governance.polls import charter, service
    from governance.polls.service import PollInput

    with Session(app.extensions["governance.engine"], expire_on_commit=False) as s:
        current = charter.current(s)
        poll = service.create(session=s, actor=chair, charter=current, now=T0, data=PollInput(
            body="community", kind="decision", method="irv", title="Release name", options=["Ash", "Birch"],
            opens_at=OPEN, closes_at=CLOSE))
        service.schedule(session=s, actor=chair, charter=current, poll=poll, now=T0)
        s.commit()
        return poll.id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_exception_vote_and_certification_in_the_browser(app, page):
    app.config["FAKE_NOW"] = T0
    people = _arrange(app, certification={"required": True, "days": 2})
    poll_id = _decision(app, people["chair"])
    with LiveServer(app) as server:
        poll_url = f"{server.url}/polls/{poll_id}"
        # The young member asks, with a reason.
        _log_in(page, server, app, people["sprout"])
        page.goto(poll_url)
        assert "this poll needs trust level 1" in page.locator("main").inner_text()
        page.get_by_label("Why should you vote in this poll?").fill("I maintain the build scripts.")
        page.get_by_role("button", name="Ask for an exception").click()
        assert "Your request is with the election officers" in page.locator(".flashes").inner_text()
        assert "pending" in page.locator("#my-exception").inner_text()

        # An officer reads it and accepts it on a confirmation page, with a reason.
        _log_in(page, server, app, people["officer"])
        page.goto(poll_url)
        assert "1 waiting for a decision" in page.locator("#exceptions").inner_text()
        page.get_by_role("link", name="All requests and decisions").click()
        assert "I maintain the build scripts." in page.locator("#exception-list").inner_text()
        page.get_by_role("link", name="Accept…").click()
        assert "What will happen" in page.content() and "sprout is told by forum message" in page.content()
        page.fill("#reason", "Known to the release team.")
        page.get_by_role("button", name="Accept").click()
        assert "Sprout's request is accepted" in page.locator(".flashes").inner_text()

        # Voting opens; the member may vote and the page says when voting closes.
        app.config["FAKE_NOW"] = OPEN + timedelta(hours=1)
        _log_in(page, server, app, people["sprout"])
        page.goto(poll_url)
        assert page.locator("h1 .badge").inner_text() == "open"
        assert page.locator("#closes-in").inner_text().startswith("Voting closes in 3 days 23 hours")
        page.get_by_role("link", name="Vote now").click()
        page.get_by_role("button", name="Rank Birch").click()
        page.get_by_role("button", name="Review my ballot").click()
        page.locator("#ballot-review").wait_for(state="visible")
        with page.expect_navigation():
            page.get_by_role("button", name="Cast this ballot").click()
        assert page.locator("h1").inner_text() == "Ballot recorded", page.locator("main").inner_text()
        with app.app_context():
            from governance.db import get_session

            db = get_session()
            for i, ranking in enumerate([[["Ash"]], [["Birch"]], [["Birch"], ["Ash"]]]):
                cast_ranking(app, db, poll_id, db.merge(people[f"voter{i}"]), ranking, OPEN + timedelta(hours=2))
                db.commit()

        # The close: the count is held for the officers; the public sees only that it waits.
        app.config["FAKE_NOW"] = CLOSE + timedelta(minutes=1)
        page.goto(poll_url)
        assert page.locator("h1 .badge").inner_text() == "certifying"
        assert "neither the result nor the decrypted ballots are public" in page.locator("#certification").inner_text()
        assert page.get_by_role("link", name="See the count and certify or void it").count() == 0
        _log_in(page, server, app, people["officer"])
        page.goto(poll_url)
        page.get_by_role("link", name="See the count and certify or void it").click()
        assert page.locator("#held-elected li").all_inner_texts() == ["Birch"]
        page.get_by_role("link", name="Certify…").click()
        assert "cannot be undone" in page.content()
        page.get_by_role("button", name="Certify and publish").click()
        page.wait_for_url(f"{poll_url}/results")
        assert page.locator("#elected li").all_inner_texts() == ["Birch"]
        assert "Certified by officer, election officer (steering-committee)" in page.locator("#certified").inner_text()

        # The reminders opt-out, a page of its own.
        page.goto(f"{server.url}/polls/reminders")
        assert "on" in page.locator("#reminder-state").inner_text()
        page.get_by_role("button", name="Turn reminders off").click()
        assert "Reminders are off" in page.locator(".flashes").inner_text()
        assert "off" in page.locator("#reminder-state").inner_text()
    assert page.watch.errors == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_candidate_declares_an_affiliation_and_the_results_show_the_cap(app, page):
    from sqlmodel import Session

    from governance.polls import charter, nominations, service
    from governance.polls.service import PollInput

    app.config["FAKE_NOW"] = T0
    people = _arrange(app, max_seats_per_affiliation=1)
    with app.app_context():
        from governance.db import get_session

        db = get_session()
        for name in ("ann", "bea", "cid"):
            people[name] = make_member(db, username=name, forum_user_id=8200 + len(name) + ord(name[0]))
    with Session(app.extensions["governance.engine"], expire_on_commit=False) as s:
        current = charter.current(s)
        poll = service.create(session=s, actor=people["chair"], charter=current, now=T0, data=PollInput(
            body="community", kind="election", method="scottish", seats=2, title="Stewards",
            nominations_open_at=T0 - timedelta(minutes=1), nominations_close_at=T0 + timedelta(hours=1),
            opens_at=OPEN, closes_at=CLOSE))
        service.schedule(session=s, actor=people["chair"], charter=current, poll=poll, now=T0)
        for name, affiliation in (("bea", "Acme"), ("cid", "")):
            nominations.nominate(session=s, actor=people[name], poll=poll, nominee=people[name], statement="Hi.",
                             conflicts="", now=T0, affiliation=affiliation)
        s.commit()
        poll_id = poll.id
    with LiveServer(app) as server:
        poll_url = f"{server.url}/polls/{poll_id}"
        _log_in(page, server, app, people["ann"])
        page.goto(poll_url)
        form = page.locator("form", has=page.get_by_role("button", name="Submit nomination"))
        form.get_by_label("Statement (Markdown)").fill("I keep the mirrors up.")
        form.get_by_label("Affiliation (your employer or organisation)").fill("ACME")
        form.get_by_role("button", name="Submit nomination").click()
        assert "Nomination recorded." in page.locator(".flashes").inner_text()
        assert "Affiliation: ACME" in page.locator("article", has_text="@ann").inner_text()

        # Voting: ann 2, bea 1, cid 1 first preferences (quota 2): ann is elected, Acme is full, so bea
        # is excluded at once; cid takes the second seat.
        app.config["FAKE_NOW"] = OPEN + timedelta(minutes=1)
        page.goto(poll_url)
        with app.app_context():
            from governance.db import get_session

            db = get_session()
            for voter, ranking in (("voter0", [["ann"], ["bea"]]), ("voter1", [["ann"]]), ("voter2", [["bea"]]),
                                   ("officer", [["cid"]])):
                cast_ranking(app, db, poll_id, db.merge(people[voter]), ranking, OPEN + timedelta(minutes=5))
                db.commit()
        app.config["FAKE_NOW"] = CLOSE + timedelta(minutes=1)
        page.goto(f"{poll_url}/results")
        assert page.locator("#elected li").all_inner_texts() == ["Ann (@ann)", "Cid (@cid)"]
        cap = page.locator("#affiliation-cap")
        assert "At most 1 seat per affiliation" in cap.inner_text()
        assert "bea excluded: affiliation 'acme' holds its maximum of 1 seat." in cap.locator("#cap-exclusions").inner_text()
    assert page.watch.errors == []
