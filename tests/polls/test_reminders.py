"""Reminders, on SQLite and PostgreSQL: forum messages to eligible members who have not voted, at the
times the poll states, never twice to anyone, with a per-member opt-out, and nothing kept past the
close that says who had not voted when."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import inspect
from sqlmodel import select

from governance.audit import log
from governance.models import ReminderOptOut, ReminderRound
from governance.polls import reminders
from tests.conftest import cast_ranking, csrf_token, forum_adapter, login
from tests.polls.officers_support import CLOSE, OPEN, close_and_count, members, open_poll, schedule

#: Known to the platform (synced); fresh_sprout (trust level 0) and grumbleweed (suspended) may not vote.
KNOWN = ("tamsin_ward", "halvard", "marlow_p", "cipher_wren", "lockpick_lu", "nullroute", "fresh_sprout",
         "grumbleweed")
THREE_DAYS_BEFORE = CLOSE - timedelta(days=3)
ONE_DAY_BEFORE = CLOSE - timedelta(days=1)


@pytest.fixture
def people(session, forum):
    return members(session, forum, *KNOWN)


def start(app, now):
    return reminders.start_due(engine=app.extensions["governance.engine"],
                               immediate=app.extensions["governance.engine_immediate"], now=now)


def send(app, forum, now, **kwargs):
    return reminders.deliver(engine=app.extensions["governance.engine"],
                             immediate=app.extensions["governance.engine_immediate"], forum=forum_adapter(forum),
                             now=now, base_url="http://localhost", **kwargs)


def reminded(forum) -> list[str]:
    return sorted(r for m in forum.data.messages_sent() if m["title"].startswith("Reminder:") for r in m["recipients"])


def test_reminders_reach_exactly_the_eligible_members_who_have_not_voted(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    assert poll.rules["reminders_days_before_close"] == [3, 1]
    open_poll(forum_app, forum, session, poll)
    cast_ranking(forum_app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=5))
    reminders.set_reminders(session=session, member=people["cipher_wren"], wanted=False)
    session.commit()
    assert start(forum_app, THREE_DAYS_BEFORE - timedelta(minutes=1)) == []  # not yet
    assert start(forum_app, THREE_DAYS_BEFORE) == [(poll.id, 3)]
    assert start(forum_app, THREE_DAYS_BEFORE) == []  # a round starts once
    assert send(forum_app, forum, THREE_DAYS_BEFORE) == (4, 0)
    assert reminded(forum) == ["halvard", "lockpick_lu", "nullroute", "tamsin_ward"]
    text = forum.data.messages_sent()[-1]["raw"]
    assert "closes in 3 days" in text and "/polls/reminders" in text and f"/polls/{poll.id}" in text
    assert send(forum_app, forum, THREE_DAYS_BEFORE + timedelta(hours=1)) == (0, 0)  # never twice
    # Someone votes before the next round; only the others are reminded again.
    cast_ranking(forum_app, session, poll.id, people["lockpick_lu"], [["Birch"]], ONE_DAY_BEFORE - timedelta(hours=1))
    session.commit()
    assert start(forum_app, ONE_DAY_BEFORE) == [(poll.id, 1)]
    assert send(forum_app, forum, ONE_DAY_BEFORE, max_messages=1) == (1, 0)  # a budget per call...
    assert send(forum_app, forum, ONE_DAY_BEFORE) == (2, 0)  # ...and the round goes on where it stopped
    assert reminded(forum) == ["halvard", "halvard", "lockpick_lu", "nullroute", "nullroute", "tamsin_ward",
                               "tamsin_ward"]
    # The rounds name nobody: a cursor (a forum id), counts and times; the log says only that they ran.
    columns = {c["name"] for c in inspect(session.get_bind()).get_columns("reminder_round")}
    assert columns == {"id", "poll_id", "days", "cursor", "sent", "lease_until", "attempts", "last_error",
                       "next_attempt_at", "done_at"}
    started = [e for e in log.entries(session, poll_id=poll.id) if e.type.startswith("reminders.")]
    assert [e.payload for e in started] == [{"poll": poll.id, "days_before_close": 3},
                                            {"poll": poll.id, "days_before_close": 1}]
    # Nothing outlives the close.
    close_and_count(forum_app, session, poll)
    assert session.exec(select(ReminderRound)).all() == []


def test_a_round_whose_time_passed_unsent_is_skipped_not_doubled(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    open_poll(forum_app, forum, session, poll)
    assert start(forum_app, ONE_DAY_BEFORE) == [(poll.id, 1)]  # the clock was down for both times
    send(forum_app, forum, ONE_DAY_BEFORE)
    assert reminded(forum).count("halvard") == 1
    types = [e.type for e in log.entries(session, poll_id=poll.id)]
    assert types.count("reminders.skipped") == 1 and types.count("reminders.started") == 1
    session.rollback()
    # A poll that opens after a reminder's time never sends that one.
    late = schedule(session, people["tamsin_ward"], title="Short poll", opens_at=OPEN + timedelta(days=2))
    open_poll(forum_app, forum, session, late, at=OPEN + timedelta(days=2))
    assert reminders.due_days(session.get(type(late), late.id), THREE_DAYS_BEFORE + timedelta(days=1)) == []


def test_a_group_poll_reminds_its_frozen_electorate_even_members_never_seen_here(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"], body="sig-security", method="schulze")
    open_poll(forum_app, forum, session, poll)
    cast_ranking(forum_app, session, poll.id, people["nullroute"], [["Ash"]], OPEN + timedelta(minutes=5))
    session.commit()
    start(forum_app, THREE_DAYS_BEFORE)
    send(forum_app, forum, THREE_DAYS_BEFORE)
    # sig-security's members but nullroute (voted); vexillum, ysolde_k, umbra and ravelin never logged in.
    assert reminded(forum) == ["cipher_wren", "lockpick_lu", "ravelin", "umbra", "vexillum", "ysolde_k"]


def test_a_forum_outage_delays_a_round_without_doubling_it(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    open_poll(forum_app, forum, session, poll)
    start(forum_app, THREE_DAYS_BEFORE)
    forum.data.force_rate_limit(1, wait_seconds=60)
    assert send(forum_app, forum, THREE_DAYS_BEFORE) == (0, 1)
    row = session.exec(select(ReminderRound)).one()
    assert row.attempts == 1 and row.next_attempt_at > THREE_DAYS_BEFORE and row.sent == 0
    assert send(forum_app, forum, THREE_DAYS_BEFORE + timedelta(seconds=1)) == (0, 0)  # backing off
    assert send(forum_app, forum, THREE_DAYS_BEFORE + timedelta(minutes=5)) == (6, 0)
    assert len(reminded(forum)) == len(set(reminded(forum))) == 6


def test_two_hosts_delivering_at_once_send_each_reminder_once(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    open_poll(forum_app, forum, session, poll)
    start(forum_app, THREE_DAYS_BEFORE)
    results = []
    threads = [threading.Thread(target=lambda: results.append(send(forum_app, forum, THREE_DAYS_BEFORE)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2 and sum(sent for sent, _failed in results) == 6
    assert reminded(forum) == sorted(set(reminded(forum))) and len(reminded(forum)) == 6


def test_the_opt_out_page_and_the_closes_in_notice(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    open_poll(forum_app, forum, session, poll)
    forum_app.config["FAKE_NOW"] = CLOSE - timedelta(days=2, hours=3, minutes=30)
    client = forum_app.test_client()
    login(forum_app, client, people["halvard"])
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Voting closes in 2 days 3 hours" in page and 'id="reminder-setting"' in page
    assert "Voting closes in 2 days 3 hours" in client.get(f"/polls/{poll.id}/ballot").get_data(as_text=True)
    assert client.post("/polls/reminders", data={"reminders": "off"}).status_code == 400  # no CSRF token
    assert session.get(ReminderOptOut, people["halvard"].id) is None
    token = csrf_token(client, "/polls/reminders")
    assert client.post("/polls/reminders", data={"csrf_token": token, "reminders": "maybe"}).status_code == 400
    assert client.post("/polls/reminders", data={"csrf_token": token, "reminders": "off"}).status_code == 303
    session.rollback()
    assert session.get(ReminderOptOut, people["halvard"].id) is not None
    assert "off" in client.get("/polls/reminders").get_data(as_text=True)
    start(forum_app, THREE_DAYS_BEFORE)
    send(forum_app, forum, THREE_DAYS_BEFORE)
    assert "halvard" not in reminded(forum)
    assert forum_app.test_client().get("/polls/reminders").status_code == 302  # log in first
