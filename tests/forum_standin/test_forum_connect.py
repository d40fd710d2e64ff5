"""DiscourseConnect against the stand-in forum, as a member's browser would go through it.

Signatures are made and checked here with `hmac` directly, not with the forum's own helpers,
so a mistake in the forum cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote_plus, urlencode, urlsplit

import pytest
import requests

from governance.forum_standin.testing import running_forum
from tests.forum_standin.forum_support import RETURN_URL, connect_query, csrf_token, read_answer


def start(browser, forum, **fields):
    """Send the browser to the forum's DiscourseConnect endpoint; don't follow redirects."""
    fields.setdefault("nonce", "n-123")
    fields.setdefault("return_sso_url", RETURN_URL)
    return browser.get(
        forum.sso_url, params=connect_query(forum.sso_secret, **fields), allow_redirects=False, timeout=5
    )


def log_in(browser, forum, username):
    """Choose a member on the login page; return the forum's answer to the form."""
    page = browser.get(forum.url + "/login", timeout=5)
    assert page.status_code == 200
    return browser.post(
        forum.url + "/login",
        data={"csrf_token": csrf_token(page.text), "username": username},
        allow_redirects=False,
        timeout=5,
    )


def test_round_trip_through_the_login_page(browser, forum):
    first = start(browser, forum, nonce="abc123")
    assert first.status_code == 302
    assert urlsplit(first.headers["Location"]).path == "/login"

    page = browser.get(forum.url + "/login", timeout=5)
    assert "platform.example" in page.text  # where the member is about to be sent
    assert "ysolde_k" in page.text and "TL3" in page.text and "steering-committee" in page.text

    chosen = log_in(browser, forum, "ysolde_k")
    assert chosen.status_code == 302
    resumed = browser.get(forum.url + chosen.headers["Location"], allow_redirects=False, timeout=5)
    assert resumed.status_code == 302
    location = resumed.headers["Location"]
    assert location.startswith(RETURN_URL + "?sso=")

    fields = read_answer(location, forum.sso_secret)
    user = forum.data.user("ysolde_k")
    assert fields["nonce"] == "abc123"
    assert fields["return_sso_url"] == RETURN_URL
    assert fields["external_id"] == str(user.id)
    assert fields["username"] == "ysolde_k"
    assert fields["name"] == "Ysolde Kerrigan"
    assert fields["email"] == "ysolde_k@example.org"
    assert fields["admin"] == "false" and fields["moderator"] == "false"
    assert fields["groups"].split(",") == [
        "trust_level_0",
        "trust_level_1",
        "trust_level_2",
        "trust_level_3",
        "steering-committee",
        "sig-security",
    ]
    assert "failed" not in fields and "avatar_url" not in fields


def test_staff_flags_and_automatic_groups(browser, forum):
    start(browser, forum)
    resumed = browser.get(
        forum.url + log_in(browser, forum, "tamsin_ward").headers["Location"],
        allow_redirects=False,
        timeout=5,
    )
    fields = read_answer(resumed.headers["Location"], forum.sso_secret)
    assert fields["admin"] == "true"
    assert {"admins", "staff", "trust_level_4", "steering-committee"} <= set(fields["groups"].split(","))


def test_second_login_with_prompt_none_needs_no_page(browser, forum):
    start(browser, forum)
    browser.get(
        forum.url + log_in(browser, forum, "marlow_p").headers["Location"], allow_redirects=False, timeout=5
    )
    again = start(browser, forum, nonce="second", prompt="none")
    fields = read_answer(again.headers["Location"], forum.sso_secret)
    assert fields["nonce"] == "second" and fields["username"] == "marlow_p" and fields["prompt"] == "none"
    assert "failed" not in fields


def test_prompt_none_when_logged_out_fails_back(browser, forum):
    answer = start(browser, forum, nonce="quiet", prompt="none")
    assert answer.status_code == 302
    fields = read_answer(answer.headers["Location"], forum.sso_secret)
    assert fields == {"failed": "true", "nonce": "quiet", "prompt": "none", "return_sso_url": RETURN_URL}


def test_bad_signature_is_422(browser, forum):
    query = connect_query("not-the-secret", nonce="x", return_sso_url=RETURN_URL)
    answer = browser.get(forum.sso_url, params=query, allow_redirects=False, timeout=5)
    assert answer.status_code == 422
    assert answer.text == "Login Error"


def test_a_signature_with_non_ascii_text_is_422_not_a_crash(browser, forum):
    query = connect_query(forum.sso_secret, nonce="x", return_sso_url=RETURN_URL)
    query["sig"] = "\u00e9" * 64
    assert browser.get(forum.sso_url, params=query, allow_redirects=False, timeout=5).status_code == 422


def test_an_unparsable_return_url_does_not_crash_the_forum(browser, forum):
    """An unclosed IPv6 bracket: no host to match a secret by, and the login page still renders."""
    answer = start(browser, forum, return_sso_url="http://[::1/cb")
    assert answer.status_code == 302  # to the login page (the stand-in's secret is for every host)
    login_page = browser.get(forum.url.rstrip("/") + answer.headers["Location"], allow_redirects=False, timeout=5)
    assert login_page.status_code == 200


def test_tampered_payload_is_422(browser, forum):
    query = connect_query(forum.sso_secret, nonce="x", return_sso_url=RETURN_URL)
    query["sso"] = base64.b64encode(urlencode({"nonce": "y", "return_sso_url": RETURN_URL}).encode()).decode()
    assert browser.get(forum.sso_url, params=query, allow_redirects=False, timeout=5).status_code == 422


def test_missing_return_url_is_400(browser, forum):
    answer = browser.get(
        forum.sso_url, params=connect_query(forum.sso_secret, nonce="x"), allow_redirects=False, timeout=5
    )
    assert answer.status_code == 400
    assert "return_sso_url" in answer.text


def test_missing_payload_is_400(browser, forum):
    assert browser.get(forum.sso_url, allow_redirects=False, timeout=5).status_code == 400


def test_secrets_are_per_domain():
    secrets = {"platform.example": "secret-one", "*.other.example": "secret-two"}
    with running_forum(sso_secrets=secrets) as forum:
        for url, secret in [(RETURN_URL, "secret-one"), ("https://votes.other.example/cb", "secret-two")]:
            query = connect_query(secret, nonce="x", return_sso_url=url, prompt="none")
            answer = forum_get(forum, query)
            assert answer.status_code == 302
            assert read_answer(answer.headers["Location"], secret)["failed"] == "true"
        crossed = forum_get(forum, connect_query("secret-two", nonce="x", return_sso_url=RETURN_URL))
        assert crossed.status_code == 422
        unknown = forum_get(
            forum, connect_query("secret-one", nonce="x", return_sso_url="https://evil.example/cb")
        )
        assert unknown.status_code == 400
        assert "missing secret" in unknown.text


def forum_get(forum, query):
    """A cookie-less GET of the DiscourseConnect endpoint."""
    return requests.get(forum.sso_url, params=query, allow_redirects=False, timeout=5)


def test_signature_is_lowercase_hex_hmac_sha256(browser, forum):
    answer = start(browser, forum, prompt="none")
    query = dict(pair.split("=", 1) for pair in urlsplit(answer.headers["Location"]).query.split("&"))
    assert len(query["sig"]) == 64 and query["sig"] == query["sig"].lower()
    payload = unquote_plus(query["sso"])
    assert query["sig"] == hmac.new(forum.sso_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def test_login_form_needs_its_csrf_token(browser, forum):
    browser.get(forum.url + "/login", timeout=5)
    refused = browser.post(
        forum.url + "/login",
        data={"username": "marlow_p", "csrf_token": "forged"},
        allow_redirects=False,
        timeout=5,
    )
    assert refused.status_code == 400
    assert "_forum_session" in browser.cookies
    answer = start(browser, forum, prompt="none")
    assert read_answer(answer.headers["Location"], forum.sso_secret)["failed"] == "true"


@pytest.mark.parametrize("username", ["grumbleweed", "mailbox_guest", "pending_pip", "system"])
def test_members_discourse_would_refuse_cannot_log_in(browser, forum, username):
    assert log_in(browser, forum, username).status_code == 403


def test_suspension_ends_the_forum_session(browser, forum):
    start(browser, forum)
    browser.get(
        forum.url + log_in(browser, forum, "marlow_p").headers["Location"], timeout=5, allow_redirects=False
    )
    forum.data.suspend("marlow_p")
    answer = start(browser, forum, prompt="none")
    assert read_answer(answer.headers["Location"], forum.sso_secret)["failed"] == "true"


def test_logout_request_ends_the_forum_session(browser, forum):
    start(browser, forum)
    browser.get(
        forum.url + log_in(browser, forum, "marlow_p").headers["Location"], timeout=5, allow_redirects=False
    )
    out = start(browser, forum, logout="true")
    assert out.status_code == 302 and out.headers["Location"] == RETURN_URL
    answer = start(browser, forum, prompt="none")
    assert read_answer(answer.headers["Location"], forum.sso_secret)["failed"] == "true"


def test_login_without_a_pending_request_goes_to_the_front_page(browser, forum):
    answer = log_in(browser, forum, "umbra")
    assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/"
    front = browser.get(forum.url + "/", timeout=5)
    assert "Logged in as <strong>umbra</strong>" in front.text
    assert "Welcome to the community forum" in front.text
