"""A slow, rate-limiting or unreachable forum API never holds a login page past its deadline
(1 s to connect, 2 s to answer, no sleeping through a 429), and never loses a login that the
forum's signed DiscourseConnect answer vouched for: the member is logged in with an incomplete
record, marked stale, to be completed before any ballot."""

from __future__ import annotations

import time

import pytest

from tests.identity.conftest import Browser, closed_port, member_rows, nonce_rows, session_rows, who

DEADLINE = 3.5  # connect + read timeouts, plus the page's own work on a busy machine


def logged_in_with_a_stale_record(browser, response, username: str = "marlow_p"):
    assert response.status_code == 302, response.get_data(as_text=True)
    assert who(browser.client) == username
    [member] = member_rows(browser.app)
    assert member.forum_created_at is None and member.stale_since is not None
    assert member.refreshed_at is None  # nothing was read from the API
    assert nonce_rows(browser.app) == [] and len(session_rows(browser.app)) == 1
    return member


def test_a_long_rate_limit_back_off_is_not_waited_for(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.force_rate_limit(10, wait_seconds=120)
    started = time.monotonic()
    response = browser.finish(signed)
    assert time.monotonic() - started < DEADLINE
    member = logged_in_with_a_stale_record(browser, response)
    # What the signed answer carries is recorded all the same.
    assert "trust_level_2" in member.groups and member.trust_level == 2


def test_even_a_short_back_off_is_not_slept_through(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.force_rate_limit(1, wait_seconds=1)
    started = time.monotonic()
    response = browser.finish(signed)
    assert time.monotonic() - started < 1.5
    logged_in_with_a_stale_record(browser, response)


def test_a_forum_refusing_connections_does_not_lose_the_login(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    browser.app.config["DISCOURSE_URL"] = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    response = browser.finish(signed)
    assert time.monotonic() - started < DEADLINE
    logged_in_with_a_stale_record(browser, response)


def test_a_forum_that_hangs_is_given_up_on_within_the_deadline(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.set_delay(10)
    try:
        started = time.monotonic()
        response = browser.finish(signed)
        assert time.monotonic() - started < DEADLINE
    finally:
        forum.data.set_delay(0)
    logged_in_with_a_stale_record(browser, response)


def test_when_the_platforms_api_budget_is_spent_no_call_is_made(browser, forum):
    from governance.identity.budget import Budget

    engine = browser.app.extensions["governance.engine_counters"]
    browser.app.config["DISCOURSE_API_LIMIT"] = 60
    budget = Budget(engine, limit_per_minute=60)
    while budget.take() == 0.0:  # another worker used this window's share
        pass
    signed = browser.pick(browser.start(), "marlow_p")
    before = len(forum.data.api_requests())
    response = browser.finish(signed)
    assert len(forum.data.api_requests()) == before
    logged_in_with_a_stale_record(browser, response)


def test_a_known_member_logs_in_without_any_api_call(browser, other_browser, forum):
    other_browser.login("ysolde_k")  # first login: one call, for the creation time
    calls = len(forum.data.api_requests())
    forum.data.add_to_group("sig-release", "ysolde_k")
    response = browser.login("ysolde_k")
    assert response.status_code == 302 and who(browser.client) == "ysolde_k"
    assert len(forum.data.api_requests()) == calls  # everything else came in the signed answer
    [member] = member_rows(browser.app)
    assert "sig-release" in member.groups  # carried by the answer, so taken from it
    assert member.forum_created_at == forum.data.user("ysolde_k").created_at  # cached


def test_what_the_answer_does_not_carry_is_not_taken_from_it(browser, other_browser, forum):
    """Silencing is not in the answer: the record keeps what the API last said, and the record's
    age tells the vote-time check to re-read it."""
    other_browser.login("shoutcaps")  # silenced: the first login read the full record
    [member] = member_rows(browser.app)
    assert member.silenced
    browser.login("shoutcaps")
    [member] = member_rows(browser.app)
    assert member.silenced


def _hold_suspended(app, username: str) -> None:
    from sqlmodel import Session, select

    from governance.models import Member

    with Session(app.extensions["governance.engine"]) as s:
        row = s.exec(select(Member).where(Member.username == username)).one()
        row.suspended = True
        s.add(row)
        s.commit()


def test_a_member_held_suspended_is_re_read_not_overwritten(browser, other_browser, forum):
    """The answer says "not suspended" only as of its signing; a suspension we hold (from a
    webhook that raced the answer, or the sync) is checked with the API, never overwritten."""
    other_browser.login("marlow_p")
    _hold_suspended(browser.app, "marlow_p")  # lifted on the forum since
    calls = len(forum.data.api_requests())
    assert browser.login("marlow_p").status_code == 302
    assert len(forum.data.api_requests()) == calls + 1  # the API confirmed it
    assert not member_rows(browser.app)[0].suspended

    _hold_suspended(browser.app, "marlow_p")
    third = Browser(browser.app, forum)
    signed = third.pick(third.start(), "marlow_p")
    forum.data.suspend("marlow_p")  # after the forum signed its answer
    response = third.finish(signed)
    third.close()
    assert response.status_code == 403
    assert "suspended or not activated" in response.get_data(as_text=True)
    assert who(browser.client) is None and who(other_browser.client) is None
    assert all(row.revoked_at is not None for row in session_rows(browser.app))


def test_account_deleted_on_the_forum_meanwhile_is_refused(browser, forum):
    signed = browser.pick(browser.start(), "marlow_p")
    forum.data.delete_user("marlow_p")
    response = browser.finish(signed)
    assert response.status_code == 404
    assert member_rows(browser.app) == [] and session_rows(browser.app) == []


def test_an_admin_record_of_the_wrong_shape_is_a_clear_forum_error(monkeypatch):
    """Fields missing or of the wrong type in the forum's answer: ForumUnavailable, not a crash."""
    from governance.errors import ForumUnavailable
    from governance.identity.forum import Forum

    forum = Forum(url="http://127.0.0.1:9", api_key="k", api_username="system")
    for answer in ({"id": 7}, {"id": 7, "username": "x", "created_at": "yesterday"}, {"id": 7, "username": "x",
                   "created_at": "2020-01-01T00:00:00Z", "groups": 5}, ["not", "a", "record"]):
        monkeypatch.setattr(forum.client, "user_by_id", lambda _id, answer=answer: answer)
        with pytest.raises(ForumUnavailable, match="unexpected answer"):
            forum.evidence(7)
