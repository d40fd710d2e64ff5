"""Accessibility scans with axe-core of the voting pages: the poll page, the ballot (as the script
enhances it, and as it is without the script), the receipt, the results and the published ballots.

A page fails on any violation axe rates "serious" or "critical" under the WCAG 2.0, 2.1 and 2.2
A/AA rules and axe's best practices. axe runs through ``page.evaluate``, which Playwright runs
outside the page's Content-Security-Policy, so the CSP stays on for the scan.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.voting_support import (  # noqa: F401  (poll_method and site are fixtures)
    CLOSE,
    errors_on_our_pages,
    log_in_through_forum,
    poll_method,
    site,
    tab_to,
    track_error_sources,
)

pytestmark = pytest.mark.browser

AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
}
FAILING_IMPACTS = ("serious", "critical")
axe = Axe()


def serious_violations(page) -> list[str]:
    """axe's serious and critical violations on the page, one line per rule and element."""
    results = axe.run(page, options=AXE_OPTIONS).response
    assert results["testEngine"]["name"] == "axe-core" and results["passes"] is not None
    return [f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at {node['target']}: {node['html'][:120]}"
            for v in results["violations"] if v["impact"] in FAILING_IMPACTS for node in v["nodes"]]


def _luminance(rgb: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb(...)`` colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def style(page, selector: str, prop: str) -> str:
    return page.locator(selector).evaluate(f"e => getComputedStyle(e).{prop}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_voting_pages_have_no_serious_violations(site, page):  # noqa: F811
    track_error_sources(page)
    found = []
    response = page.goto(site.poll_url())
    assert "script-src" in response.headers["content-security-policy"]  # on during the scans
    found += serious_violations(page)  # as a visitor: "Log in with the forum to vote"
    # The scan itself works: an unnamed button is reported (and gone with the next page load).
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<button></button>')")
    assert any("button-name (critical)" in line for line in serious_violations(page))
    log_in_through_forum(page, site, "marlow_p", f"/polls/{site.poll_id}")
    found += serious_violations(page)  # as a member who may vote

    page.get_by_role("link", name="Vote now").click()
    page.wait_for_url(site.poll_url("/ballot"))
    assert page.locator(".ballot-controls").count() == 3
    found += serious_violations(page)  # nothing ranked: every Up/Down disabled
    page.get_by_role("button", name="Rank Birch").click()
    page.get_by_role("button", name="Rank Ash").click()
    found += serious_violations(page)  # two ranked, one not

    # What axe cannot see. A disabled button looks disabled, not like the usable one beside it.
    up_birch, up_ash = '[aria-label="Up Birch"]', '[aria-label="Up Ash"]'
    assert page.locator(up_birch).is_disabled() and page.locator(up_ash).is_enabled()
    assert float(style(page, up_birch, "opacity")) < 0.6 and style(page, up_ash, "opacity") == "1"
    # The keyboard focus ring has a part with at least 3:1 contrast against the page (WCAG 1.4.11),
    # and against the dark header.
    tab_to(page, "Rank Cedar")
    focused = ".ballot-item:focus-within .toggle-rank"
    ring = re.match(r"(rgb\([^)]*\)) 0px 0px 0px 2px", style(page, focused, "boxShadow"))
    assert ring, style(page, focused, "boxShadow")
    assert contrast(ring.group(1), style(page, "body", "backgroundColor")) >= 3
    assert contrast(ring.group(1), style(page, ".ballot-item:focus-within", "backgroundColor")) >= 3
    assert contrast(style(page, focused, "outlineColor"), style(page, ".site-header", "backgroundColor")) >= 3
    page.get_by_role("button", name="Review my ballot").click()
    page.locator("#ballot-review").wait_for(state="visible")
    found += serious_violations(page)  # the review, encrypted in the browser
    page.get_by_role("button", name="Cast this ballot").click()
    page.wait_for_selector("#tracker")
    found += serious_violations(page)  # the receipt

    site.at(CLOSE + timedelta(minutes=1))
    page.goto(site.poll_url())
    found += serious_violations(page)  # published
    page.goto(site.poll_url("/results"))
    assert page.locator("section[aria-labelledby=h-flow] svg").count() == 1
    found += serious_violations(page)
    page.goto(site.poll_url("/ballots"))
    found += serious_violations(page)
    assert found == []
    assert errors_on_our_pages(page, site) == []  # and axe set off no CSP violation


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ballot_without_its_script_has_no_serious_violations(site, page):  # noqa: F811
    # axe itself needs JavaScript, so the page keeps it, but ballot.js arrives empty: this is
    # the plain form of rank selects that a browser without JavaScript gets.
    page.route("**/static/ballot.js*", lambda route: route.fulfill(body="", content_type="text/javascript"))
    log_in_through_forum(page, site, "marlow_p", f"/polls/{site.poll_id}/ballot")
    assert page.locator(".ballot-controls").count() == 0 and page.locator("html.js").count() == 0
    assert serious_violations(page) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("poll_method", ["schulze"])
def test_condorcet_results_with_the_pairwise_table_have_no_serious_violations(site, page):  # noqa: F811
    site.at(CLOSE + timedelta(minutes=1))
    page.goto(site.poll_url("/results"))
    pairwise = page.locator("section[aria-labelledby=h-pairwise] table")
    assert pairwise.locator("tbody tr").count() == 3
    # The corner cell names the row headers for screen readers (an empty header says nothing).
    assert pairwise.locator("thead th").first.text_content().startswith("Voters preferring")
    assert serious_violations(page) == []
    assert "empty-table-header" not in {v["id"] for v in axe.run(page, options=AXE_OPTIONS).response["violations"]}
