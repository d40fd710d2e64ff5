"""Forged, replayed and malformed DiscourseConnect answers are refused with a clear 400 and write nothing."""

from __future__ import annotations

import base64
import html
import threading
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from governance.models.base import utcnow
from tests.conftest import LiveServer
from tests.identity.conftest import (
    RETURN_URL,
    member_rows,
    nonce_of,
    nonce_rows,
    session_rows,
    sign,
    who,
)


def fields_for(forum, nonce: str, username: str = "marlow_p", **extra) -> dict[str, str]:
    """The fields the forum would send back for ``username``."""
    user = forum.data.user(username)
    fields = {
        "nonce": nonce,
        "return_sso_url": RETURN_URL,
        "external_id": str(user.id),
        "username": user.username,
        "name": user.name or "",
        "email": user.email,
        "admin": "false",
        "moderator": "false",
        "groups": "trust_level_0,trust_level_1,trust_level_2",
    }
    fields.update(extra)
    return fields


def refused(response, fragment: str) -> None:
    """A clear 400 page naming the problem."""
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400, text
    assert fragment in text, text


def nothing_written(app) -> None:
    assert member_rows(app) == [] and session_rows(app) == []


def split(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


# === signatures ===


def test_forged_signature_is_refused(browser, forum):
    nonce = nonce_of(browser.start())
    refused(browser.deliver(fields_for(forum, nonce), secret="not-the-secret"), "invalid signature")
    nothing_written(browser.app)
    assert len(nonce_rows(browser.app)) == 1  # the real answer can still arrive


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sig: sig[:-1],
        lambda sig: sig[:32],
        lambda sig: sig.upper(),
        lambda sig: sig[:10] + sig[10].swapcase() + sig[11:] if sig[10].isalpha() else sig.upper(),
        lambda sig: sig + "0",
        lambda sig: "",
        lambda sig: "é" * 64,
    ],
    ids=["truncated-by-one", "half", "upper-case", "one-letter-case", "extended", "empty", "non-ascii"],
)
def test_truncated_or_case_changed_signature_is_refused(browser, forum, tamper):
    location = browser.pick(browser.start(), "marlow_p")
    query = split(location)
    response = browser.client.get(
        "/auth/sso", query_string={"sso": query["sso"], "sig": tamper(query["sig"])}
    )
    assert response.status_code == 400
    nothing_written(browser.app)
    assert browser.finish(location).status_code == 302  # the untouched answer still works


def test_payload_changed_after_signing_is_refused(browser, forum):
    location = browser.pick(browser.start(), "marlow_p")
    query = split(location)
    fields = dict(parse_qsl(base64.b64decode(query["sso"]).decode()))
    fields["admin"] = "true"
    forged = base64.b64encode(urlencode(fields).encode()).decode()
    refused(
        browser.client.get("/auth/sso", query_string={"sso": forged, "sig": query["sig"]}),
        "invalid signature",
    )
    nothing_written(browser.app)


# === nonces ===


def test_replayed_nonce_is_refused(browser, forum):
    location = browser.start()
    with browser.client.session_transaction() as s:
        token = s["login_browser"]
    signed = browser.pick(location, "marlow_p")
    assert browser.finish(signed).status_code == 302
    # Replay from the same browser with its pre-login binding restored: the nonce is spent.
    with browser.client.session_transaction() as s:
        s.clear()
        s["login_browser"] = token
    refused(browser.finish(signed), "already used")
    assert len(session_rows(browser.app)) == 1


def test_replay_from_another_browser_is_refused(browser, other_browser):
    signed = browser.pick(browser.start(), "marlow_p")
    assert browser.finish(signed).status_code == 302
    refused(other_browser.finish(signed), "did not start the login")


def test_expired_nonce_is_refused(browser, forum, monkeypatch):
    signed = browser.pick(browser.start(), "marlow_p")
    later = utcnow() + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr("governance.identity.service.utcnow", lambda: later)
    refused(browser.finish(signed), "expired")
    nothing_written(browser.app)


def test_nonce_within_ten_minutes_is_accepted(browser, forum, monkeypatch):
    signed = browser.pick(browser.start(), "marlow_p")
    later = utcnow() + timedelta(minutes=9, seconds=50)
    monkeypatch.setattr("governance.identity.service.utcnow", lambda: later)
    assert browser.finish(signed).status_code == 302


def test_foreign_nonce_is_refused(browser, other_browser, forum):
    """A nonce started in one browser cannot finish a login in another (login CSRF)."""
    signed = browser.pick(browser.start(), "marlow_p")
    other_browser.start()  # the other browser has a login binding of its own
    refused(other_browser.finish(signed), "expired or was already used")
    nothing_written(browser.app)
    assert browser.finish(signed).status_code == 302  # the rightful browser still can
    assert who(browser.client) == "marlow_p" and who(other_browser.client) is None


def test_unknown_nonce_is_refused(browser, forum):
    browser.start()
    refused(browser.deliver(fields_for(forum, "made-up-nonce")), "expired or was already used")
    nothing_written(browser.app)


# === injected fields ===


def test_injected_admin_and_groups_resigned_with_a_wrong_key_are_refused(browser, forum):
    nonce = nonce_of(browser.start())
    fields = fields_for(forum, nonce, admin="true", groups="admins,steering-committee")
    refused(browser.deliver(fields, secret=forum.sso_secret + "x"), "invalid signature")
    nothing_written(browser.app)


def test_duplicated_fields_are_refused(browser, forum):
    nonce = nonce_of(browser.start())
    pairs = list(fields_for(forum, nonce).items()) + [("admin", "true"), ("groups", "admins")]
    refused(browser.deliver(pairs), "repeats the field")
    nothing_written(browser.app)


def test_duplicated_nonce_field_is_refused(browser, forum):
    nonce = nonce_of(browser.start())
    pairs = list(fields_for(forum, nonce).items()) + [("nonce", "other")]
    refused(browser.deliver(pairs), "repeats the field 'nonce'")


def test_admin_flag_and_groups_come_from_the_forum_api_not_the_payload(browser, forum):
    """Even a correctly signed answer cannot grant roles: the admin API is the source of record."""
    nonce = nonce_of(browser.start())
    fields = fields_for(forum, nonce, admin="true", moderator="true", groups="admins,steering-committee")
    assert browser.deliver(fields).status_code == 302
    [member] = member_rows(browser.app)
    assert not member.admin and not member.moderator
    assert "admins" not in member.groups and "steering-committee" not in member.groups


def test_a_username_containing_admin_true_is_just_a_name(browser, forum):
    nonce = nonce_of(browser.start())
    fields = fields_for(forum, nonce) | {
        "username": "marlow_p&admin=true&groups=admins",
        "name": "M&admin=true",
    }
    response = browser.deliver(fields)
    assert response.status_code == 302
    [member] = member_rows(browser.app)
    assert member.username == "marlow_p"  # the forum's API names the account
    assert member.name == "M&admin=true" and not member.admin and "admins" not in member.groups


def test_injection_in_forum_names_survives_the_real_round_trip(browser, forum):
    forum.data.add_user("kim&admin=true", name="Kim&admin=true&groups=admins", trust_level=2)
    assert browser.login("kim&admin=true").status_code == 302
    [member] = member_rows(browser.app)
    assert (member.username, member.name) == ("kim&admin=true", "Kim&admin=true&groups=admins")
    assert not member.admin and "admins" not in member.groups


# === other refusals ===


def test_return_sso_url_mismatch_is_refused(browser, forum):
    nonce = nonce_of(browser.start())
    fields = fields_for(forum, nonce, return_sso_url="http://evil.example/auth/sso")
    refused(browser.deliver(fields), "meant for another site")
    nothing_written(browser.app)
    assert len(nonce_rows(browser.app)) == 1


def test_failed_login_is_refused(browser, forum):
    nonce = nonce_of(browser.start())
    refused(
        browser.deliver({"nonce": nonce, "return_sso_url": RETURN_URL, "failed": "true"}),
        "did not log you in",
    )
    nothing_written(browser.app)


def test_system_account_is_refused(browser, forum):
    nonce = nonce_of(browser.start())
    refused(browser.deliver(fields_for(forum, nonce, username="system", external_id="-1")), "system accounts")
    nothing_written(browser.app)


def _signed_raw(secret: str, payload: str) -> dict[str, str]:
    return {"sso": payload, "sig": sign(secret, payload)}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "query, fragment",
    [
        ({}, "missing its payload or signature"),
        ({"sso": "abc"}, "missing its payload or signature"),
        ({"sig": "0" * 64}, "missing its payload or signature"),
        ({"sso": "%%%", "sig": "zz"}, "invalid signature"),
        ({"sso": "A" * 20_000, "sig": "0" * 64}, "too large"),
        ("signed:not base64!", "not valid base64"),
        ("signed:" + _b64(b"nonce=1&return_sso_url=x")[:-2], "not valid base64"),
        ("signed:" + _b64(b"\xff\xfe\xfd"), "not valid base64 text"),
        ("signed:" + _b64(b"nonce"), "not a valid query string"),
        ("signed:" + _b64(b"nonce=a&&b"), "not a valid query string"),
        ("signed:" + _b64(b"nonce=%ZZ&x=%ff"), "not"),
        ("signed:" + _b64(b"return_sso_url=" + RETURN_URL.encode()), "lacks nonce"),
        ("signed:", "missing its payload or signature"),
    ],
    ids=[
        "nothing",
        "no-sig",
        "no-sso",
        "junk",
        "huge",
        "not-base64",
        "truncated-base64",
        "not-utf8",
        "no-equals",
        "empty-pair",
        "bad-escape",
        "no-nonce",
        "empty",
    ],
)
def test_malformed_answers_get_a_clear_400(browser, forum, query, fragment):
    browser.start()
    if isinstance(query, str):
        query = _signed_raw(forum.sso_secret, query.removeprefix("signed:"))
    response = browser.client.get("/auth/sso", query_string=query)
    refused(response, fragment)
    nothing_written(browser.app)


@pytest.mark.parametrize("external_id", ["abc", "1.5", "", "0"])
def test_bad_external_id_gets_a_clear_400(browser, forum, external_id):
    nonce = nonce_of(browser.start())
    response = browser.deliver(fields_for(forum, nonce, external_id=external_id))
    assert response.status_code == 400
    nothing_written(browser.app)


def test_malformed_answer_as_json(browser, forum):
    browser.start()
    response = browser.client.get("/auth/sso?sso=x&sig=y", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "invalid signature" in response.get_json()["error"]["message"]


def test_concurrent_callbacks_with_one_nonce_log_in_once(forum_app, forum):
    """Four copies of one answer at the same moment: one login, three clear refusals, no 500."""
    with LiveServer(forum_app) as live, requests.Session() as b:
        forum_app.config["BASE_URL"] = live.url
        page = b.get(live.url + "/auth/login", timeout=5)  # follows the redirects to the forum's login page
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        chosen = b.post(
            forum.url + "/login",
            data={"csrf_token": token, "username": "marlow_p"},
            allow_redirects=False,
            timeout=5,
        )
        answer_url = b.get(forum.url + chosen.headers["Location"], allow_redirects=False, timeout=5).headers[
            "Location"
        ]
        cookies = b.cookies.get_dict()
        start = threading.Barrier(4)
        codes: list[int] = []

        def deliver():
            with requests.Session() as copy:
                copy.cookies.update(cookies)
                start.wait()
                codes.append(copy.get(answer_url, allow_redirects=False, timeout=10).status_code)

        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(codes) == [302, 400, 400, 400]
    assert len(session_rows(forum_app)) == 1 and len(member_rows(forum_app)) == 1
