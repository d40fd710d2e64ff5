"""A hanging forum never makes a reader wait: page requests take no step that calls the forum.

A group poll is due to open (its electorate is frozen from the forum's group lists) while the
forum hangs. Anonymous and logged-in readers load the poll pages and the documents; each page
answers, and the forum received no API request from them (its log of arrivals, which records a
request before the forum starts hanging on it). The poll stays scheduled until ``flask polls
tick`` runs: while the forum is still down the tick gives up and leaves it for the next one; when
the forum answers again, the tick opens it. On SQLite and PostgreSQL. No timing is asserted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.models import Poll
from tests.audit.test_export_support import schedule_decision
from tests.conftest import login, sync_member


@pytest.fixture
def app_config():
    return {"DISCOURSE_TIMEOUT": 1.0}  # the tick gives up on the hanging forum after a second


def _status(session, poll_id):
    session.rollback()
    session.expire_all()
    return session.get(Poll, poll_id).status


def test_readers_never_wait_on_a_hanging_forum_while_a_group_poll_is_due(forum_app, forum, session):
    poll_id = schedule_decision(session, forum, body="sig-security", manager="tamsin_ward")
    reader = sync_member(session, forum, "halvard")
    poll = session.get(Poll, poll_id)
    poll.opens_at = datetime.now(UTC) - timedelta(minutes=1)  # its opening time has come
    session.add(poll)
    session.commit()

    forum.data.set_delay(30)  # the forum hangs
    arrived, answered = len(forum.data.api_arrivals()), len(forum.data.api_requests())
    anonymous, member = forum_app.test_client(), forum_app.test_client()
    login(forum_app, member, reader)
    for client in (anonymous, member):
        for path in ("/polls/", f"/polls/{poll_id}", "/documents/"):
            response = client.get(path)
            assert response.status_code == 200, path
    assert b"Pick a name (sig-security)" in anonymous.get(f"/polls/{poll_id}").data
    assert forum.data.api_arrivals()[arrived:] == []  # no page asked the forum anything
    assert forum.data.api_requests()[answered:] == []
    assert _status(session, poll_id) == "scheduled"  # page loads do not open a group poll

    runner = forum_app.test_cli_runner()
    down = runner.invoke(args=["polls", "tick"])
    assert down.exit_code == 0, down.output
    assert f"poll {poll_id}: open" not in down.output
    assert any("/groups/" in path for _, path in forum.data.api_arrivals()[arrived:])  # the tick did ask
    assert _status(session, poll_id) == "scheduled"  # left for the next tick, nothing half done

    forum.data.set_delay(0)  # the forum is back
    up = runner.invoke(args=["polls", "tick"])
    assert up.exit_code == 0, up.output
    assert f"poll {poll_id}: open" in up.output
    assert _status(session, poll_id) == "open"
    opened = session.get(Poll, poll_id)
    assert opened.electorate_size and opened.electorate_size > 0  # frozen from the forum's group list
