"""What a new member, a chair and an auditor notice in Chromium: marks on the poll lists, turnout,
logging out of the forum too, times in the browser's zone, every page on a 390 px phone (no
sideways scrolling, no serious axe finding) and the wording of what pages say.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.browser.test_a11y import serious_violations
from tests.browser.voting_support import (  # noqa: F401  (poll_method and site are fixtures)
    CLOSE,
    OPEN,
    log_in_through_forum,
    poll_method,
    site,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _vote(page, site) -> None:  # noqa: F811
    page.goto(site.poll_url("/ballot"))
    page.get_by_role("button", name="Rank Cedar").click()
    page.get_by_role("button", name="Review my ballot").click()
    page.locator("#ballot-review").wait_for(state="visible")
    page.get_by_role("button", name="Cast this ballot").click()
    page.wait_for_selector("#tracker")


def _seed_open_polls(site, titles_and_closes) -> list[int]:  # noqa: F811
    """More open community polls, each closing at its own time (for the list's order)."""
    from governance.db import get_session
    from governance.polls import charter, service
    from governance.polls.service import PollInput
    from tests.browser.voting_support import NOW
    from tests.conftest import run_clock, sync_member

    ids = []
    with site.app.app_context():
        db = get_session()
        chair = sync_member(db, site.forum, "tamsin_ward")
        current = charter.current(db)
        for title, closes in titles_and_closes:
            poll = service.create(session=db, actor=chair, charter=current, now=NOW,
                                  data=PollInput(body="community", kind="decision", method="irv", title=title,
                                                 options=["One", "Two"], opens_at=OPEN, closes_at=closes))
            service.schedule(session=db, actor=chair, charter=current, poll=poll, now=NOW)
            ids.append(poll.id)
        db.commit()
    moment = site.app.config["FAKE_NOW"]
    run_clock(site.app, moment, site.forum)
    return ids


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_poll_lists_mark_your_standing_sort_by_closing_and_show_turnout(site, page):  # noqa: F811
    soon, late = _seed_open_polls(site, [("Closes last", CLOSE + timedelta(days=2)),
                                         ("Closes first", OPEN + timedelta(hours=5))])
    log_in_through_forum(page, site, "marlow_p", "/polls/")
    cards = page.locator("section[aria-labelledby=h-open] .poll-card")
    titles = [t.strip() for t in cards.locator("h3").all_inner_texts()]
    assert titles == ["Closes first", "Pick the release name", "Closes last"]  # closing soonest first
    ours = page.locator(f".poll-card[data-poll='{site.poll_id}']")
    assert ours.locator(".mark").inner_text() == "You can vote"
    assert "Turnout: 4 voters" in ours.inner_text()

    _vote(page, site)
    page.goto(site.url + "/polls/")
    assert ours.locator(".mark").inner_text() == "You voted"
    assert "Turnout: 5 voters" in ours.inner_text()
    assert page.locator(f".poll-card[data-poll='{soon}'] .mark").inner_text() == "You can vote"
    page.goto(site.url + "/")  # the home page says the same
    assert page.locator(f"li[data-poll='{site.poll_id}'] .mark").inner_text() == "You voted"

    # A day-old account sees that it cannot vote, and why, without opening the poll.
    page.context.clear_cookies()  # and out of the forum: a new visitor
    log_in_through_forum(page, site, "fresh_sprout", "/polls/")
    mark = page.locator(f".poll-card[data-poll='{site.poll_id}']")
    assert mark.locator(".mark").inner_text() == "You cannot vote"
    assert re.search(r"[A-Z].*\.$", mark.locator(".mark-detail").inner_text())
    assert late  # the other poll is listed too


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_referendum_shows_progress_toward_its_quorum(site, page):  # noqa: F811
    from governance.db import get_session
    from governance.polls import charter, service
    from governance.polls.service import PollInput
    from tests.browser.voting_support import NOW
    from tests.conftest import run_clock, sync_member

    with site.app.app_context():
        db = get_session()
        chair = sync_member(db, site.forum, "tamsin_ward")
        poll = service.create(session=db, actor=chair, charter=charter.current(db), now=NOW,
                              data=PollInput(body="community", kind="referendum", method="yesno",
                                             title="Adopt the mascot", quorum=10, threshold="3/4",
                                             threshold_strict=False, opens_at=OPEN, closes_at=CLOSE))
        service.schedule(session=db, actor=chair, charter=charter.current(db), poll=poll, now=NOW)
        db.commit()
        poll_id = poll.id
    run_clock(site.app, site.app.config["FAKE_NOW"], site.forum)
    page.goto(f"{site.url}/polls/{poll_id}")
    facts = page.locator("dl.facts").inner_text()
    assert "0 ballots of the 10 the quorum needs: 10 more ballots needed" in facts
    assert "three quarters (3/4)" in facts
    assert page.locator("meter.quorum-meter").get_attribute("max") == "10"
    options = page.get_by_role("heading", name="Options").locator("xpath=following-sibling::ul[1]").inner_text()
    assert options.splitlines()[:2] == ["Yes", "No"] and "Abstain" in options


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_logging_out_offers_to_log_out_of_the_forum_too(site, page):  # noqa: F811
    log_in_through_forum(page, site, "marlow_p", "/polls/")
    page.get_by_role("button", name="Log out").click()
    assert page.locator("h1").inner_text() == "You have logged out"
    # Without the forum's logout, logging in again is silent: straight back, same member.
    page.goto(f"{site.url}/auth/login?next=/polls/")
    page.wait_for_url(site.url + "/polls/")
    assert page.locator(".nav-user .who").inner_text() == "marlow_p"
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log out of the forum too").click()
    page.wait_for_url(re.compile(re.escape(site.url) + r"/auth/logged-out\?forum=done"))
    assert page.locator("h1").inner_text() == "Logged out of both"
    # Now the forum asks who you are.
    page.goto(f"{site.url}/auth/login?next=/polls/")
    assert page.url.startswith(site.forum.url + "/login"), page.url
    assert page.get_by_role("button", name="Be marlow_p", exact=True).is_visible()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_times_are_in_the_browsers_zone_with_utc_beside_them(site, browser):  # noqa: F811
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        page.goto(site.poll_url())
        closes = page.locator("dt:text('Voting closes') + dd time")
        utc = CLOSE
        local = utc + timedelta(hours=9)
        text = closes.inner_text()
        assert text.startswith(f"{local.day} {local:%B %Y, %H:%M}"), text
        assert text.endswith(f"({utc:%H:%M} UTC)"), text
        assert "Asia/Tokyo" in page.locator("#display-zone").inner_text()
    finally:
        context.close()


def _pages_of_the_site(site) -> list[str]:  # noqa: F811
    """Every kind of page a member, a chair or an auditor reads, with a roadmap and its history."""
    from governance.db import get_session
    from governance.polls import charter
    from governance.proposals import service as documents
    from tests.browser.voting_support import NOW
    from tests.proposals.roadmap_support import V1

    with site.app.app_context():
        db = get_session()
        documents.import_document(session=db, charter=charter.current(db), slug="roadmap", source=V1, now=NOW)
        db.commit()
    return ["/", "/polls/", f"/polls/{site.poll_id}", f"/polls/{site.poll_id}/board", "/charter/",
            "/documents/", "/documents/roadmap", "/documents/roadmap/history", "/audit/"]


def _overflow(page) -> int:
    """How far the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _widest(page) -> list[str]:
    """The elements that reach past the window's right edge (outside scrollable tables)."""
    return page.evaluate("""() => { const out = []; const w = window.innerWidth;
        for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect();
          if (r.right > w + 1 && !e.closest('.table-wrap')) {
            out.push(e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(r.right) + 'px'); } }
        return out.slice(0, 6); }""")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}], ids=["390px", "desktop"])
def test_every_page_fits_the_window_and_passes_axe(site, browser, viewport):  # noqa: F811
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    found, wide = [], []
    try:
        paths = _pages_of_the_site(site)
        log_in_through_forum(page, site, "marlow_p", "/polls/")
        paths.append(f"/polls/{site.poll_id}/ballot")
        for path in paths:
            page.goto(site.url + path)
            if _overflow(page) > 0:
                wide.append(f"{path}: {_overflow(page)} px too wide: {_widest(page)}")
            found += serious_violations(page)
        site.at(CLOSE + timedelta(minutes=1))
        for path in (f"/polls/{site.poll_id}", f"/polls/{site.poll_id}/results", f"/polls/{site.poll_id}/ballots"):
            page.goto(site.url + path)
            if _overflow(page) > 0:
                wide.append(f"{path}: {_overflow(page)} px too wide: {_widest(page)}")
            found += serious_violations(page)
    finally:
        context.close()
    assert wide == [], wide
    assert found == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_results_say_in_plain_words_why_the_winner_won_and_the_others_lost(site, page):  # noqa: F811
    log_in_through_forum(page, site, "marlow_p", f"/polls/{site.poll_id}")
    _vote(page, site)  # Cedar only: the count below excludes Cedar and moves this vote on
    site.at(CLOSE + timedelta(minutes=1))
    page.goto(site.poll_url("/results"))
    why = page.locator("#why")
    winner = page.locator("#elected li").first.inner_text()
    # Ash 2, Birch 2 after Cedar's exclusion (this ballot ranked Cedar only): the seeded tie-break decided,
    # and the outcome says so, not only the list of ties.
    assert re.search(rf"{winner} won in round 2 with 2 votes, tied with \w+ for the most\.", why.inner_text())
    assert f"{winner} won only because a tie was broken in round 2: the seeded random order" in why.inner_text()
    assert "were tied for the winner" in page.locator("#ties-explained").inner_text()
    others = page.locator("#others-explained li").all_inner_texts()
    assert any(line.startswith("Cedar was excluded in round 1 with the fewest votes") for line in others), others
    # A decision: nobody is "elected" on the page.
    assert "elected" not in page.locator("main").inner_text().replace("Elected", "")
    # Figures have their exact value on hover.
    cell = page.locator("section[aria-labelledby=h-rounds] td.num span").first
    assert cell.get_attribute("title")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_chair_sees_each_rule_beside_its_field_clones_a_poll_and_previews_its_ballot(site, browser):  # noqa: F811
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        log_in_through_forum(page, site, "tamsin_ward", "/polls/new")
        assert "stay open for at least an hour" in page.locator("#times-hint").inner_text()  # said before saving
        page.fill("#title", "Office hours")
        page.fill("#options", "Mornings\nEvenings")
        page.fill("#opens_at", "2099-01-02T10:00")
        page.fill("#closes_at", "2099-01-02T10:30")
        page.get_by_role("button", name="Save draft").click()
        error = page.locator("#closes_at-error")
        assert error.inner_text() == "Voting must stay open for at least an hour."
        assert page.locator("#closes_at").get_attribute("aria-invalid") == "true"
        assert page.locator("#title").input_value() == "Office hours"  # nothing typed is lost
        assert serious_violations(page) == [] and _overflow(page) <= 0

        page.goto(site.poll_url())
        page.get_by_role("link", name="Copy into a new draft").click()
        assert page.locator("#title").input_value() == "Copy of Pick the release name"
        assert page.locator("#options").input_value().split() == ["Ash", "Birch", "Cedar"]
        assert page.locator("#opens_at").input_value() == ""  # times are not copied
        page.get_by_role("button", name="Save draft").click()
        page.wait_for_url(re.compile(r".*/polls/\d+$"))
        assert page.locator("h1").inner_text().startswith("Copy of Pick the release name")
        assert page.locator(".badge.draft").count() == 1
        draft_url = page.url

        page.get_by_role("link", name="Preview the ballot as a voter").click()
        assert "nothing here can be cast" in page.locator("#preview-notice").inner_text()
        assert page.locator("#preview-options li").all_inner_texts() == ["Ash", "Birch", "Cedar"]
        assert page.get_by_role("button", name=re.compile("Cast|Review")).count() == 0
        assert serious_violations(page) == [] and _overflow(page) <= 0
        assert draft_url.endswith(page.url.rsplit("/", 2)[-2])  # the preview is of the draft
    finally:
        context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_ordinary_member_cannot_clone_or_preview(site, page):  # noqa: F811
    log_in_through_forum(page, site, "marlow_p", f"/polls/{site.poll_id}")
    assert page.get_by_role("link", name="Copy into a new draft").count() == 0
    for suffix in ("/clone", "/preview"):
        assert page.goto(site.poll_url(suffix)).status == 403
