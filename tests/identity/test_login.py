"""Logging in and out through the stand-in forum, over real HTTP with the real pydiscourse."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

import requests

from governance.db import dispose as dispose_engines
from tests.conftest import LiveServer, csrf_token
from tests.identity.conftest import COOKIE, RETURN_URL, member_rows, nonce_rows, session_rows, who


def test_login_redirects_to_the_forum_with_a_signed_request(browser, forum):
    location = browser.start("/polls/")
    assert location.startswith(forum.sso_url + "?")
    query = dict(parse_qsl(urlsplit(location).query))
    expected = hmac.new(forum.sso_secret.encode(), query["sso"].encode(), hashlib.sha256).hexdigest()
    assert query["sig"] == expected  # lowercase hex HMAC-SHA256 of the base64 text
    fields = dict(parse_qsl(base64.b64decode(query["sso"]).decode()))
    assert set(fields) == {"nonce", "return_sso_url"}
    assert fields["return_sso_url"] == RETURN_URL and len(fields["nonce"]) >= 32
    [row] = nonce_rows(browser.app)
    assert row.nonce_hash != fields["nonce"]  # only a hash is stored
    assert row.next_path == "/polls/"
    assert (row.expires_at - row.created_at).total_seconds() == 600


def test_full_login_creates_the_member_from_the_admin_api(browser, forum):
    response = browser.login("ysolde_k", next_path="/polls/")
    assert response.status_code == 302 and response.headers["Location"] == "/polls/"
    assert who(browser.client) == "ysolde_k"
    [member] = member_rows(browser.app)
    user = forum.data.user("ysolde_k")
    assert member.forum_user_id == user.id
    assert (member.username, member.name, member.trust_level) == ("ysolde_k", "Ysolde Kerrigan", 3)
    assert member.forum_created_at == user.created_at
    assert "steering-committee" in member.groups and "trust_level_3" in member.groups
    assert not (member.admin or member.moderator or member.suspended or member.silenced or member.staged)
    assert member.refreshed_at is not None
    # The record came from the admin API, fetched by the platform with its key.
    assert ("GET", f"/admin/users/{user.id}.json", forum.api_username) in forum.data.api_requests()
    assert nonce_rows(browser.app) == []  # the nonce was consumed
    [login_session] = session_rows(browser.app)
    assert login_session.member_id == member.id and login_session.revoked_at is None


def test_full_login_through_a_live_server(forum_app, forum):
    """The same round trip with both sides served over HTTP and one cookie jar, as a real browser."""
    with LiveServer(forum_app) as live, requests.Session() as b:
        forum_app.config["BASE_URL"] = live.url  # the fixed return URL is built from it
        page = b.get(live.url + "/auth/login", params={"next": "/?welcome=1"}, timeout=5)
        assert page.url.startswith(forum.url + "/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        done = b.post(forum.url + "/login", data={"csrf_token": token, "username": "tamsin_ward"}, timeout=5)
        assert done.status_code == 200 and done.url == live.url + "/?welcome=1"
        assert '<span class="who">tamsin_ward</span>' in done.text
        assert [h.status_code for h in done.history] == [302, 302, 302]
    [member] = member_rows(forum_app)
    assert member.admin and member.username == "tamsin_ward"


def test_session_is_regenerated_at_login(browser):
    location = browser.start()
    with browser.client.session_transaction() as s:
        s["planted"] = "value set before login"
        browser_token = s["login_browser"]
    before = browser.cookie()
    browser.finish(browser.pick(location, "marlow_p"))
    after = browser.cookie()
    assert before and after and before != after
    with browser.client.session_transaction() as s:
        assert "planted" not in s and "login_browser" not in s
        assert s.get("_user_id") and s["_user_id"] != browser_token


def test_logout_ends_the_session_server_side(browser, forum_app):
    browser.login("marlow_p")
    old_cookie = browser.cookie()
    assert who(browser.client) == "marlow_p"
    response = browser.client.post("/auth/logout", data={"csrf_token": csrf_token(browser.client)})
    assert response.status_code == 302
    assert who(browser.client) is None
    [row] = session_rows(forum_app)
    assert row.revoked_at is not None
    # A copy of the cookie taken before logout no longer logs anybody in.
    thief = forum_app.test_client()
    thief.set_cookie(COOKIE, old_cookie)
    assert who(thief) is None


def test_logout_needs_a_post_with_a_csrf_token(browser, forum_app):
    browser.login("marlow_p")
    assert browser.client.get("/auth/logout").status_code == 405
    assert browser.client.post("/auth/logout").status_code == 400
    assert who(browser.client) == "marlow_p"
    assert session_rows(forum_app)[0].revoked_at is None


def test_a_renamed_account_stays_the_same_member(browser, other_browser, forum):
    browser.login("marlow_p")
    [first] = member_rows(browser.app)
    user = forum.data.user("marlow_p")
    with forum.data.lock:
        user.username = "marlow_penrose"
        user.email = "marlow@new.example"
        user.name = "Marlow Penrose"
    response = other_browser.login("marlow_penrose")
    assert response.status_code == 302
    [second] = member_rows(browser.app)
    assert second.id == first.id and second.forum_user_id == user.id
    assert (second.username, second.name) == ("marlow_penrose", "Marlow Penrose")
    assert who(other_browser.client) == "marlow_penrose"


def test_a_logged_in_member_is_sent_on_without_a_new_login(browser):
    browser.login("marlow_p")
    response = browser.client.get("/auth/login", query_string={"next": "/polls/"})
    assert response.status_code == 302 and response.headers["Location"] == "/polls/"
    assert nonce_rows(browser.app) == []


def test_one_browser_is_limited_with_retry_after(database_url):
    from tests.conftest import make_test_app

    app = make_test_app(database_url, RATELIMIT_LOGIN="2/minute")
    client = app.test_client()
    codes = [client.get("/auth/login").status_code for _ in range(3)]
    assert codes == [302, 302, 429]
    refused = client.get("/auth/login")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many requests" in refused.get_data(as_text=True)
    dispose_engines(app)


def test_a_room_behind_one_address_logs_in(database_url):
    """Issue 11: the old per-address limit (20 a minute) turned a room behind one NAT away. Now
    each browser and each forum account has its own limit, under a generous address ceiling."""
    from tests.conftest import make_test_app

    app = make_test_app(database_url, RATELIMIT_LOGIN="2/minute")
    codes = [app.test_client().get("/auth/login").status_code for _ in range(40)]  # 40 people, one address
    assert codes == [302] * 40
    dispose_engines(app)


def test_the_address_ceiling_still_holds(database_url):
    from tests.conftest import make_test_app

    app = make_test_app(database_url, RATELIMIT_LOGIN_ADDRESS="5/minute")
    codes = [app.test_client().get("/auth/login").status_code for _ in range(7)]
    assert codes == [302] * 5 + [429, 429]
    dispose_engines(app)


def test_forged_answers_use_up_the_addresss_failure_limit(database_url):
    from tests.conftest import make_test_app

    app = make_test_app(database_url, RATELIMIT_LOGIN_FAILURES="3/minute")
    client = app.test_client()
    codes = [client.get("/auth/sso", query_string={"sso": "x", "sig": "y" * 64}).status_code for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    dispose_engines(app)


def test_one_forum_account_is_limited_once_the_forum_answered(forum_app, forum):
    """Each accepted answer counts against its forum account, whichever browser sends it."""
    from tests.identity.conftest import Browser

    forum_app.config["RATELIMIT_LOGIN"] = "2/minute"
    codes = []
    for _ in range(3):
        b = Browser(forum_app, forum)
        codes.append(b.login("marlow_p").status_code)
        b.close()
    assert codes == [302, 302, 429]
    other = Browser(forum_app, forum)
    assert other.login("cipher_wren").status_code == 302  # another account is not held up
    other.close()


def test_a_replayed_old_answer_does_not_use_up_the_members_limit(browser, other_browser, forum, forum_app):
    forum_app.config["RATELIMIT_LOGIN"] = "2/minute"
    signed = browser.pick(browser.start(), "marlow_p")
    assert browser.finish(signed).status_code == 302
    for _ in range(5):  # someone who captured the answer replays it: a failure of their address
        assert other_browser.finish(signed).status_code == 400
    fresh = other_browser.pick(other_browser.start(), "marlow_p")
    assert other_browser.finish(fresh).status_code == 302


def test_account_suspended_before_the_answer_arrives_is_refused_plainly(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.suspend("marlow_p")
    response = browser.finish(signed)  # never seen here: its record is read, and says suspended
    assert response.status_code == 403
    assert "suspended or not activated" in response.get_data(as_text=True)
    assert who(browser.client) is None
    [member] = member_rows(browser.app)
    assert member.suspended
    assert session_rows(browser.app) == []
