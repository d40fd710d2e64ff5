"""Helpers for the election officers' tests: charters with a body's rules changed, polls on a timeline
that leaves room for exception requests, the forum outbox delivered to the stand-in forum."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from governance.polls import charter, clock, service
from governance.polls.service import PollInput
from tests.conftest import forum_adapter, run_clock, sync_member

NOW = datetime.now(UTC).replace(microsecond=0)
#: Requests for an exception close 3 days (the default) before the opening: two days from NOW.
OPEN = NOW + timedelta(days=5)
CLOSE = OPEN + timedelta(days=4)
SECRET = "test-secret-key-" + "x" * 32  # tests.conftest.make_test_app's


def with_body(session, slug: str, **fields):
    """Put in force a charter whose body ``slug`` has ``fields`` changed (test arrangement)."""
    data = copy.deepcopy(charter.current(session).data)
    for body in data["bodies"]:
        if body["slug"] == slug:
            body.update(copy.deepcopy(fields))
    row = charter.publish(session=session, actor=None, data=data, note="test: " + ", ".join(fields))
    session.commit()
    return row


def schedule(session, committee, **changes):
    """A scheduled poll of the community (by default a decision on three options)."""
    data = dict(body="community", kind="decision", method="irv", title="Pick the release name",
                options=["Ash", "Birch", "Cedar"], opens_at=OPEN, closes_at=CLOSE)
    data.update(changes)
    current = charter.current(session)
    poll = service.create(session=session, actor=committee, charter=current, data=PollInput(**data), now=NOW)
    service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)
    session.commit()
    return poll


def open_poll(app, forum, session, poll, at=OPEN):
    """Let the clock open the poll (fetching group lists from the stand-in forum)."""
    steps = run_clock(app, at, forum)
    session.rollback()
    session.expire_all()
    return steps


def deliver(app, forum, now):
    """Deliver the forum outbox to the stand-in forum, as ``flask polls tick`` does."""
    return clock.deliver_outbox(engine=app.extensions["governance.engine"],
                                immediate=app.extensions["governance.engine_immediate"],
                                forum=forum_adapter(forum), now=now, base_url="http://localhost",
                                category="governance", limit=100)


def close_and_count(app, session, poll, at=CLOSE):
    """Close the poll and take its counting steps as the clock does; the session sees the outcome."""
    from tests.conftest import close_and_count as steps

    done = steps(app, poll.id, at)
    session.rollback()
    session.expire_all()
    return done


def members(session, forum, *names):
    """Members as a login makes them, by username."""
    return {name: sync_member(session, forum, name) for name in names}
