"""A German member in Chromium: the browser asks for German, the poll page and the ballot are in
German (the ballot's script too), and the vote goes through."""

from __future__ import annotations

import re

import pytest

from tests.browser.voting_support import (  # noqa: F401  (poll_method and site are fixtures)
    errors_on_our_pages,
    poll_method,
    site,
    track_error_sources,
)

pytestmark = pytest.mark.browser

TRACKER = re.compile(r"^[0-9a-f]{4}(-[0-9a-f]{4}){3}$")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_german_member_reads_the_ballot_in_german_and_votes(site, browser):  # noqa: F811
    from tests.browser.conftest import PageWatch

    context = browser.new_context(locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"})
    page = context.new_page()
    page.watch = PageWatch(page)
    track_error_sources(page)
    try:
        page.goto(f"{site.url}/auth/login?next=/polls/{site.poll_id}")
        page.get_by_role("button", name="Be marlow_p", exact=True).click()
        page.wait_for_url(site.poll_url())
        assert page.locator("html").get_attribute("lang") == "de"
        assert "Willkommen," in page.locator(".flashes").inner_text()
        facts = page.locator("dl.facts").inner_text()
        assert "Integrierte Stichwahl (IRV)" in facts and "4 Wählende" in facts
        assert "Wer abstimmen darf" in facts
        # Times in the browser's zone keep the German month names (the page's script writes them).
        assert re.search(r"\d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4}", page.locator("time").first.inner_text())
        page.get_by_role("link", name="Jetzt abstimmen").click()
        page.wait_for_url(site.poll_url("/ballot"))

        assert page.locator("h1").inner_text() == "Dein Stimmzettel"
        assert "Ordne die Optionen, die du unterstützt" in page.locator("#ballot-help").inner_text()
        page.get_by_role("button", name="Einordnen Birch").click()
        page.wait_for_function("t => document.getElementById('ballot-live').textContent === t",
                               arg="Birch, Rang 1 von 1")
        page.get_by_role("button", name="Einordnen Ash").click()
        page.get_by_role("button", name="Meinen Stimmzettel prüfen").click()
        review = page.locator("#ballot-review")
        review.wait_for(state="visible")
        assert review.locator("#review-summary").inner_text() == (
            "Deine Rangfolge: 1. Birch; 2. Ash. Nicht eingeordnet: Cedar.")
        assert TRACKER.match(review.locator("#review-tracker").inner_text())
        with page.expect_navigation():
            page.get_by_role("button", name="Diesen Stimmzettel abgeben").click()
        assert page.locator("h1").inner_text() == "Stimmzettel erfasst"
        assert TRACKER.match(page.locator("#tracker").inner_text())
        page.get_by_role("link", name="Zurück zur Abstimmung").click()
        assert "Du hast abgestimmt" in page.locator("#h-vote + p").inner_text()
        # The footer's switch turns the same page to English.
        page.get_by_role("link", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
        assert "You have voted" in page.locator("#h-vote + p").inner_text()
        assert errors_on_our_pages(page, site) == []
    finally:
        context.close()
