"""A test poll from scheduling to results posts nothing to the forum, while a real poll run beside
it does; its scheduling notice counts as told. Through the services, the clock and the stand-in
forum, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from governance.models import PendingChange, Poll
from governance.polls import approvals, charter, reminders, service
from governance.polls.service import PollInput
from tests.conftest import cast_ranking
from tests.polls.officers_support import CLOSE, NOW, OPEN, close_and_count, deliver, members, open_poll


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", "halvard", "marlow_p")


def _asked(session, people, *, title: str, test: bool) -> Poll:
    """A poll asked to be scheduled by one manager and approved by a second, as the pages do."""
    current = charter.current(session)
    poll = service.create(session=session, actor=people["tamsin_ward"], charter=current, now=NOW, data=PollInput(
        body="community", kind="decision", method="irv", title=title, options=["Ash", "Birch"], opens_at=OPEN,
        closes_at=CLOSE, is_test=test))
    change = approvals.request_schedule(session=session, actor=people["tamsin_ward"], charter=current, poll=poll,
                                        now=NOW)
    approvals.approve(session=session, actor=people["halvard"], charter=current, change=change,
                      committee_group="steering-committee", now=NOW)
    session.commit()
    return poll


def _forum_activity(forum) -> int:
    return len(forum.data.topics_created()) + len(forum.data.messages_sent()) + len(forum.data.posts_created())


def test_a_test_poll_posts_nothing_to_the_forum_a_real_one_does(forum_app, forum, session, people):
    rehearsal = _asked(session, people, title="Ceremony rehearsal", test=True)
    deliver(forum_app, forum, NOW)  # the rehearsal's notice: nothing posted, yet it counts as told
    assert _forum_activity(forum) == 0
    session.rollback()
    session.expire_all()
    assert session.get(Poll, rehearsal.id).status == "scheduled"
    change = session.exec(select(PendingChange).where(PendingChange.poll_id == rehearsal.id)).one()
    assert change.status == "applied" and change.announced_at is not None and change.forum_topic_id is None
    public = forum_app.test_client()
    assert "Ceremony rehearsal" not in public.get("/charter/changes/").get_data(as_text=True)

    real = _asked(session, people, title="Real decision", test=False)
    deliver(forum_app, forum, NOW)
    assert [t["title"] for t in forum.data.topics_created()] == [f"Notice: Schedule poll #{real.id} of The whole "
                                                                 f"community: Real decision"]
    deliver(forum_app, forum, NOW)  # the approved scheduling took effect once told
    listed = public.get("/charter/changes/").get_data(as_text=True)
    assert "Real decision" in listed and "Ceremony rehearsal" not in listed
    open_poll(forum_app, forum, session, real)
    for poll in (rehearsal, real):
        cast_ranking(forum_app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=5),
                     send_receipt=True)
        session.commit()
    started = reminders.start_due(engine=forum_app.extensions["governance.engine"],
                                  immediate=forum_app.extensions["governance.engine_immediate"],
                                  now=CLOSE - timedelta(days=1))
    assert [poll_id for poll_id, _days in started] == [real.id]  # no reminder round for the rehearsal
    before = _forum_activity(forum)
    deliver(forum_app, forum, OPEN + timedelta(minutes=6))
    topics = [t["title"] for t in forum.data.topics_created()]
    assert "Poll open: Real decision" in topics and "Poll open: Ceremony rehearsal" not in topics
    receipts = [m["title"] for m in forum.data.messages_sent()]
    assert receipts == ["Your ballot receipt: Real decision"]
    for poll in (rehearsal, real):
        close_and_count(forum_app, session, poll)
    deliver(forum_app, forum, CLOSE + timedelta(minutes=1))
    session.rollback()
    session.expire_all()
    assert session.get(Poll, rehearsal.id).status == "published"  # counted, for the rehearsal
    forum_app.config["FAKE_NOW"] = CLOSE + timedelta(minutes=2)
    results = forum_app.test_client().get(f"/polls/{rehearsal.id}/results").get_data(as_text=True)
    assert "Test poll — not part of the public record" in results and "its result is no decision" in results
    real_results = forum_app.test_client().get(f"/polls/{real.id}/results").get_data(as_text=True)
    assert "Test poll" not in real_results
    replies = [p["raw"] for p in forum.data.posts_created() if p["post_number"] > 1]
    assert any("Real decision" in r for r in replies) and not any("Ceremony rehearsal" in r for r in replies)
    assert _forum_activity(forum) > before
