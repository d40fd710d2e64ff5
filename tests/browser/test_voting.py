"""Voting in a real browser, end to end: log in through the stand-in forum, rank by keyboard,
cast, replace the ballot by drag and drop, then read the results and find the ballot by its
tracker after the close; and the same ballot without JavaScript, with the rank numbers.

Every page must load without console errors or CSP violations (the ``page`` watcher).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.browser.conftest import PageWatch
from tests.browser.voting_support import (  # noqa: F401  (poll_method and site are fixtures)
    CLOSE,
    active,
    errors_on_our_pages,
    log_in_through_forum,
    poll_method,
    site,
    tab_to,
    track_error_sources,
)

pytestmark = pytest.mark.browser

TRACKER = re.compile(r"^[0-9a-f]{4}(-[0-9a-f]{4}){3}$")


def ranks(page) -> dict[str, str]:
    """Option label -> the rank number its select holds ("" when unranked), as submitted."""
    return page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('.ballot-item'),
        li => [li.dataset.label, li.querySelector('select').value]))""")


def shown_order(page) -> list[str]:
    return page.locator(".ballot-item").evaluate_all("items => items.map(li => li.dataset.label)")


def announced(page, text: str) -> None:
    """The screen-reader live region says ``text`` (it is written a moment after a move)."""
    page.wait_for_function("t => document.getElementById('ballot-live').textContent === t", arg=text)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_vote_by_keyboard_replace_by_drag_and_find_the_ballot_after_the_close(site, page):  # noqa: F811
    track_error_sources(page)
    log_in_through_forum(page, site, "marlow_p", f"/polls/{site.poll_id}")

    # The poll page: what is decided, how, by whom, and an invitation to vote.
    assert page.locator("h1").inner_text().startswith("Pick the release name")
    assert page.locator("h1 .badge").inner_text() == "open"
    assert "Which name should the next release carry?" in page.locator(".document").inner_text()
    facts = page.locator("dl.facts").inner_text()
    assert "Instant-runoff voting" in facts
    assert "4 voters" in facts
    assert page.locator("main ul li").all_inner_texts()[-3:] == ["Ash", "Birch", "Cedar"]
    page.get_by_role("link", name="Vote now").click()
    page.wait_for_url(site.poll_url("/ballot"))

    # JavaScript turned the rank selects into a list with buttons; nothing is ranked yet.
    assert page.locator("html.js").count() == 1
    assert set(ranks(page).values()) == {""}
    assert page.get_by_role("button", name="Rank Birch").is_visible()

    # Rank with the keyboard only: Tab to a button, Enter or Space to press it.
    tab_to(page, "Rank Birch")
    page.keyboard.press("Enter")
    announced(page, "Birch, rank 1 of 1")
    assert active(page) == "Unrank Birch"  # the focus stays on the option just ranked
    tab_to(page, "Rank Ash")
    page.keyboard.press("Space")
    announced(page, "Ash, rank 2 of 2")
    assert shown_order(page)[:2] == ["Birch", "Ash"]
    tab_to(page, "Up Ash", backwards=True)
    page.keyboard.press("Enter")
    announced(page, "Ash, rank 1 of 2")
    # "Up" is now disabled (Ash is first), so the focus moved to Ash's own Rank/Unrank button.
    assert active(page) == "Unrank Ash"
    page.keyboard.press("Alt+ArrowDown")
    announced(page, "Ash, rank 2 of 2")
    page.keyboard.press("Alt+ArrowUp")
    announced(page, "Ash, rank 1 of 2")
    assert ranks(page) == {"Ash": "1", "Birch": "2", "Cedar": ""}
    # A rank number typed into an option's select re-sorts the list; the focus stays in the select.
    tab_to(page, "Cedar")
    page.keyboard.type("3")
    announced(page, "Cedar, rank 3 of 3")
    assert active(page) == "Cedar" and shown_order(page) == ["Ash", "Birch", "Cedar"]
    tab_to(page, "Unrank Cedar")
    page.keyboard.press("Enter")
    announced(page, "Cedar, unranked")
    assert active(page) == "Rank Cedar"
    assert ranks(page) == {"Ash": "1", "Birch": "2", "Cedar": ""}
    assert page.locator("#ballot-live").get_attribute("aria-live") == "assertive"
    tab_to(page, "Review my ballot")
    page.keyboard.press("Enter")
    # The review: what will be cast, encrypted in the browser, with its tracker.
    review = page.locator("#ballot-review")
    review.wait_for(state="visible")
    assert review.locator("#review-summary").inner_text() == "You ranked: 1. Ash; 2. Birch. Not ranked: Cedar."
    checked = review.locator("#review-tracker").inner_text()
    assert TRACKER.match(checked), checked
    # A Benaloh challenge: reveal that encryption's randomness; it is never cast, a fresh one replaces it.
    page.get_by_role("button", name="Check the encryption instead of casting").click()
    audit = page.locator("#audit-text").inner_text()
    assert f"tracker {checked} holds exactly your choices" in audit and "1. Ash; 2. Birch" in audit
    assert page.locator("#audit-download").get_attribute("href").startswith("blob:")
    fresh = review.locator("#review-tracker").inner_text()
    assert TRACKER.match(fresh) and fresh != checked
    with page.expect_navigation():
        page.get_by_role("button", name="Cast this ballot").click()
    assert page.locator("h1").inner_text() == "Ballot recorded", page.locator("main").inner_text()
    first = page.locator("#tracker").inner_text()
    assert first == fresh  # the ballot the browser encrypted and showed is the one recorded
    assert "Ash" not in page.locator("main").inner_text()  # the server never saw the ranking

    # Back to the poll, and replace the ballot: drag Cedar above Ash.
    page.get_by_role("link", name="Back to the poll").click()
    assert "You have voted" in page.locator("#h-vote + p").inner_text()
    page.get_by_role("link", name="Change my ballot").click()
    page.wait_for_url(site.poll_url("/ballot"))
    assert first in page.locator(".notice").inner_text()
    page.get_by_role("button", name="Rank Ash").click()
    page.get_by_role("button", name="Rank Birch").click()
    assert shown_order(page)[:2] == ["Ash", "Birch"]
    page.drag_and_drop('.ballot-item[data-label="Cedar"] .handle', '.ballot-item[data-label="Ash"]',
                       target_position={"x": 20, "y": 4})
    announced(page, "Cedar, rank 1 of 3")
    assert shown_order(page) == ["Cedar", "Ash", "Birch"]
    assert ranks(page) == {"Cedar": "1", "Ash": "2", "Birch": "3"}
    page.get_by_role("button", name="Review my ballot").click()
    assert "1. Cedar; 2. Ash; 3. Birch" in page.locator("#review-summary").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Cast this ballot").click()
    assert "replaces your earlier one" in page.locator(".flashes").inner_text()
    second = page.locator("#tracker").inner_text()
    assert TRACKER.match(second) and second != first

    # The close: the next poll page request closes the poll and publishes the results.
    site.at(CLOSE + timedelta(minutes=1))
    page.goto(site.poll_url())
    assert page.locator("h1 .badge").inner_text() == "published"
    page.get_by_role("link", name="See the results").click()
    page.wait_for_url(site.poll_url("/results"))
    # Round 1: Ash 2, Birch 2, Cedar 1; Cedar is excluded, its ballot goes to Ash: 3 to 2.
    assert page.locator("#elected li").all_inner_texts() == ["Ash"]
    table = page.locator("section[aria-labelledby=h-rounds] table")
    assert table.locator("thead th").all_inner_texts() == ["Option", "Round 1", "Round 2"]

    def row(name):
        return [cell.strip() for cell in table.locator("tbody tr", has=page.locator(f"th:text-is('{name}')"))
                .locator("td").all_inner_texts()]

    assert row("Ash") == ["2", "3 wins"]
    assert row("Birch") == ["2", "2"]
    assert row("Cedar")[0] == "1 excluded"
    chart = page.locator("section[aria-labelledby=h-flow] svg")
    assert chart.count() == 1 and chart.locator("path, rect").count() > 0
    assert "5 voters" in page.locator("#h-outcome ~ p.meta").inner_text()

    # The decrypted ballots: five, one of them the browser's, none with a tracker.
    page.get_by_role("link", name="Decrypted ballots").click()
    assert page.locator("tbody tr").count() == 5
    assert "Cedar › Ash › Birch" in page.locator("tbody").inner_text()
    # The bulletin board: the second tracker counts, the first was replaced.
    page.goto(site.poll_url("/board"))
    page.get_by_label("Your tracker").fill(second)
    page.get_by_role("button", name="Find my ballot").click()
    assert "it counts" in page.get_by_role("status").inner_text()
    page.get_by_label("Your tracker").fill(first)
    page.get_by_role("button", name="Find my ballot").click()
    assert "replaced" in page.get_by_role("status").inner_text()

    assert errors_on_our_pages(page, site) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_vote_without_javascript_with_the_rank_numbers(site, browser):  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.watch = PageWatch(page)
        track_error_sources(page)
        log_in_through_forum(page, site, "marlow_p", f"/polls/{site.poll_id}/ballot")

        # No script ran: no buttons, no drag handles; the selects are the ballot.
        assert page.locator("html.js").count() == 0
        assert page.locator(".ballot-controls").count() == 0
        assert not page.locator("#ballot-keys").is_visible()
        assert page.locator(".handle").first.is_hidden()
        page.get_by_label("Birch", exact=True).select_option("1")
        page.get_by_label("Cedar", exact=True).select_option("2")
        assert not page.get_by_label("Also send me the tracker").is_checked()  # receipts by message: opt-in
        assert "the server will encrypt your ballot" in page.locator("main").inner_text()
        with page.expect_navigation():
            page.get_by_role("button", name="Review my ballot").click()
        assert page.locator("h1").inner_text() == "Check your ballot"
        assert page.locator("#review-ranking li").all_inner_texts() == ["Birch", "Cedar"]
        with page.expect_navigation():
            page.get_by_role("button", name="Cast this ballot").click()
        assert page.locator("h1").inner_text() == "Ballot recorded", page.locator("main").inner_text()
        tracker = page.locator("#tracker").inner_text()
        assert TRACKER.match(tracker)
        # Reloading the receipt casts nothing again (it is a page of its own).
        page.reload()
        assert page.locator("#tracker").inner_text() == tracker

        # The ballot page says the member has voted, with the tracker.
        page.goto(site.poll_url("/ballot"))
        assert tracker in page.locator(".notice").inner_text()
        assert errors_on_our_pages(page, site) == []
    finally:
        context.close()
