"""``next`` accepts only same-site relative paths: every open-redirect trick lands on ``/``."""

from __future__ import annotations

import pytest

from governance.identity.redirects import safe_next
from tests.identity.conftest import nonce_rows

OPEN_REDIRECTS = [
    "//evil.example",
    "///evil.example",
    "//evil.example/polls/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http://evil.example/",
    "https:evil.example",
    "https:/evil.example",
    "evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    " javascript:alert(1)",
    "javascript%3Aalert(1)",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%2f%2fevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "/\t/evil.example",
    "/%09/evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    " //evil.example",
    "/" + "a" * 2100,
]

SAME_SITE = ["/", "/polls/", "/polls/3?tab=results", "/?welcome=1#top", "/polls/3/ballot"]


@pytest.mark.parametrize("value", OPEN_REDIRECTS)
def test_safe_next_refuses(value):
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", SAME_SITE)
def test_safe_next_keeps_same_site_paths(value):
    assert safe_next(value) == value


@pytest.mark.parametrize("value", OPEN_REDIRECTS)
def test_login_with_a_hostile_next_lands_on_the_home_page(browser, value):
    location = browser.start(value)
    [row] = nonce_rows(browser.app)
    assert row.next_path == "/"  # never stored
    response = browser.finish(browser.pick(location, "marlow_p"))
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("value", OPEN_REDIRECTS[:12])
def test_logged_in_member_with_a_hostile_next_lands_on_the_home_page(browser, value):
    browser.login("marlow_p")
    response = browser.client.get("/auth/login", query_string={"next": value})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_same_site_next_is_honoured_after_login(browser):
    response = browser.login("marlow_p", next_path="/polls/3?tab=results")
    assert response.headers["Location"] == "/polls/3?tab=results"
