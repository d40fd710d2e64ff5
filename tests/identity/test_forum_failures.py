"""When the forum's API is slow, rate limiting or down, login answers a clear page quickly and writes nothing."""

from __future__ import annotations

import html
import time

from tests.identity.conftest import closed_port, member_rows, nonce_rows, session_rows, who


def unavailable(response, fragment: str) -> str:
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 503, text
    assert "Service unavailable" in text and fragment in text, text
    return text


def nothing_written_and_nonce_kept(app) -> None:
    assert member_rows(app) == [] and session_rows(app) == []
    assert len(nonce_rows(app)) == 1  # the same answer can be tried again


def test_long_rate_limit_back_off_gives_a_quick_clear_page(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.force_rate_limit(10, wait_seconds=120)
    started = time.monotonic()
    response = browser.finish(signed)
    assert time.monotonic() - started < 3
    unavailable(response, "The forum asked us to slow down")
    assert "try again in 12" in html.unescape(response.get_data(as_text=True))
    nothing_written_and_nonce_kept(browser.app)
    assert who(browser.client) is None

    forum.data.force_rate_limit(0)
    assert browser.finish(signed).status_code == 302  # once the forum relents, the same answer works
    assert who(browser.client) == "marlow_p"


def test_short_rate_limit_back_off_is_waited_out(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.force_rate_limit(1, wait_seconds=1)
    started = time.monotonic()
    response = browser.finish(signed)
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert 2 <= elapsed < 5  # pydiscourse slept wait_seconds + 1, then retried
    assert [m.username for m in member_rows(browser.app)] == ["marlow_p"]


def test_rate_limit_answer_as_json(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.force_rate_limit(10, wait_seconds=30)
    parts = signed.split("?", 1)
    response = browser.client.get("/auth/sso?" + parts[1], headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert "slow down" in response.get_json()["error"]["message"]


def test_forum_refusing_connections_gives_a_clear_page(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    browser.app.config["DISCOURSE_URL"] = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    response = browser.finish(signed)
    assert time.monotonic() - started < 3
    unavailable(response, "The forum could not be reached")
    assert "Nothing was changed" in html.unescape(response.get_data(as_text=True))
    nothing_written_and_nonce_kept(browser.app)

    browser.app.config["DISCOURSE_URL"] = forum.url
    assert browser.finish(signed).status_code == 302


def test_forum_timing_out_gives_a_clear_page(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    browser.app.config["DISCOURSE_TIMEOUT"] = 0.5
    forum.data.set_delay(2)
    started = time.monotonic()
    response = browser.finish(signed)
    assert time.monotonic() - started < 3
    unavailable(response, "The forum timed out")
    nothing_written_and_nonce_kept(browser.app)

    forum.data.set_delay(0)
    assert browser.finish(signed).status_code == 302
    assert who(browser.client) == "marlow_p"


def test_account_deleted_on_the_forum_meanwhile_is_refused(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    user = forum.data.user("marlow_p")
    with forum.data.lock:
        del forum.data.users[user.id]
    response = browser.finish(signed)
    assert response.status_code == 404
    assert member_rows(browser.app) == [] and session_rows(browser.app) == []


def test_an_admin_record_of_the_wrong_shape_is_a_clear_forum_error(monkeypatch):
    """Fields missing or of the wrong type in the forum's answer: ForumUnavailable, not a crash."""
    import pytest

    from governance.errors import ForumUnavailable
    from governance.identity.forum import Forum

    forum = Forum(url="http://127.0.0.1:9", api_key="k", api_username="system")
    for answer in ({"id": 7}, {"id": 7, "username": "x", "created_at": "yesterday"}, {"id": 7, "username": "x",
                   "created_at": "2020-01-01T00:00:00Z", "groups": 5}, ["not", "a", "record"]):
        monkeypatch.setattr(forum.client, "user_by_id", lambda _id, answer=answer: answer)
        with pytest.raises(ForumUnavailable, match="unexpected answer"):
            forum.evidence(7)
