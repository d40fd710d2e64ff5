"""Which language a member reads: the footer's choice, else their forum account's locale (read at
login), else their browser's Accept-Language, else English."""

from __future__ import annotations

import pytest

from tests.identity.conftest import who

GERMAN = "Jedes Ereignis der Selbstverwaltung steht im öffentlichen"
ENGLISH = "Every governance event is recorded in the public"


def page(client, path="/", **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def language_of(html: str) -> str:
    assert (GERMAN in html) != (ENGLISH in html), "a page in one language"
    return "de" if GERMAN in html else "en"


@pytest.mark.parametrize(("header", "expected"), [
    ("de-AT,de;q=0.9", "de"), ("de", "de"), ("fr-FR,fr;q=0.9", "en"), ("", "en"),
    ("fr;q=1.0, de;q=0.5, en;q=0.4", "de"), ("en-GB,en;q=0.9,de;q=0.8", "en")])
def test_the_browser_language_picks_the_best_shipped_match(forum_app, header, expected):
    html = page(forum_app.test_client(), "/", **({"Accept-Language": header} if header else {}))
    assert language_of(html) == expected
    assert f'<html lang="{expected}">' in html


def test_the_forum_locale_wins_over_the_browser(browser, forum):
    forum.data.user("ysolde_k").locale = "de"
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"
    response = browser.login("ysolde_k", next_path="/")
    assert response.status_code == 302
    html = page(browser.client, "/", **{"Accept-Language": "en-US,en;q=0.9"})
    assert language_of(html) == "de"
    assert "Willkommen, Ysolde Kerrigan." in html  # the welcome too, in the member's language
    assert who(browser.client) == "ysolde_k"


def test_a_member_with_the_forum_default_gets_the_browser_language(browser, forum):
    assert forum.data.user("ysolde_k").locale is None
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE"
    browser.login("ysolde_k", next_path="/")
    assert language_of(page(browser.client, "/", **{"Accept-Language": "de-DE"})) == "de"
    assert language_of(page(browser.client, "/", **{"Accept-Language": "en"})) == "en"


def test_an_unsupported_forum_locale_falls_back_to_the_browser(browser, forum):
    forum.data.user("ysolde_k").locale = "pt_BR"
    browser.login("ysolde_k", next_path="/")
    assert language_of(page(browser.client, "/", **{"Accept-Language": "en"})) == "en"


def test_a_forum_that_cannot_say_does_not_stop_the_login(browser, forum, monkeypatch):
    from governance.errors import ForumUnavailable
    from governance.identity.forum import Forum

    forum.data.user("ysolde_k").locale = "de"

    def down(self, username):
        raise ForumUnavailable("The forum could not be reached (user).")

    monkeypatch.setattr(Forum, "locale_of", down)
    response = browser.login("ysolde_k", next_path="/")
    assert response.status_code == 302 and who(browser.client) == "ysolde_k"
    assert language_of(page(browser.client, "/", **{"Accept-Language": "en"})) == "en"


def test_the_switch_keeps_the_choice_over_forum_and_browser(browser, forum):
    forum.data.user("ysolde_k").locale = "de"
    browser.login("ysolde_k", next_path="/")
    switched = browser.client.get("/language", query_string={"lang": "en", "next": "/polls/"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/polls/"
    assert language_of(page(browser.client, "/", **{"Accept-Language": "de"})) == "en"
    browser.client.get("/language", query_string={"lang": "de"})
    assert language_of(page(browser.client, "/", **{"Accept-Language": "en"})) == "de"


def test_a_choice_made_before_login_survives_it(browser, forum):
    browser.client.get("/language", query_string={"lang": "de"})
    browser.login("ysolde_k", next_path="/")
    assert who(browser.client) == "ysolde_k"
    assert language_of(page(browser.client, "/", **{"Accept-Language": "en"})) == "de"


@pytest.mark.parametrize("lang", ["fr", "", "de_DE", "../en", "EN"])
def test_the_switch_refuses_a_language_not_shipped(forum_app, lang):
    client = forum_app.test_client()
    refused = client.get("/language", query_string={"lang": lang, "next": "/polls/"})
    assert refused.status_code == 400
    assert "There is no such language here." in refused.get_data(as_text=True)
    assert language_of(page(client, "/")) == "en"  # nothing was kept


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_the_switch_is_no_open_redirect(forum_app, target):
    response = forum_app.test_client().get("/language", query_string={"lang": "de", "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_the_footer_offers_each_language_back_to_the_same_page(forum_app):
    html = page(forum_app.test_client(), "/polls/", **{"Accept-Language": "de"})
    assert 'href="/language?lang=en&amp;next=/polls/?"' in html or 'href="/language?lang=en&amp;next=%2Fpolls%2F%3F"' in html
    assert 'aria-current="true">Deutsch</a>' in html
