"""Concurrent submissions by one voter leave exactly one ballot and one story in the log (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from governance.models import AuditEntry, Ballot, Member, Participation, Poll
from governance.polls import service
from tests.conftest import sync_member
from tests.polls.test_lifecycle import OPEN, committee, make_scheduled, run_clock  # noqa: F401


def test_fifty_concurrent_casts_leave_one_ballot(forum_app, forum, session, committee):  # noqa: F811
    poll = make_scheduled(session, committee)
    run_clock(forum_app, forum, OPEN)
    voter = sync_member(session, forum, "marlow_p")
    engine = forum_app.extensions["governance.engine_immediate"]
    rankings = [[["Ash"]], [["Birch"], ["Cedar"]], [["Cedar"]]]
    errors: list[BaseException] = []
    trackers: list[str] = []
    start = threading.Barrier(50)

    def one(i: int) -> None:
        try:
            start.wait()
            with Session(engine, expire_on_commit=False) as s:
                receipt = service.cast(session=s, poll=s.get(Poll, poll.id), member=s.get(Member, voter.id),
                                       ranking=rankings[i % 3], now=OPEN + timedelta(seconds=i))
                s.commit()
                trackers.append(receipt.tracker)
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    session.rollback()
    ballots = session.exec(select(Ballot).where(Ballot.poll_id == poll.id)).all()
    assert len(ballots) == 1
    assert ballots[0].tracker in trackers  # the last acknowledged one counts
    assert session.exec(select(func.count()).select_from(Participation)).one() == 1
    # The log tells one story: a first ballot, then each replacement naming the ballot it
    # replaced, ending at the stored one.
    events = session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll.id,
                                                   AuditEntry.type.in_(["ballot.cast", "ballot.replaced"]))
                          .order_by(AuditEntry.seq)).all()
    assert [e.type for e in events] == ["ballot.cast"] + ["ballot.replaced"] * 49
    for before, after in zip(events, events[1:], strict=False):
        assert after.payload["replaces"] == before.payload["tracker"]
    assert events[-1].payload["tracker"] == ballots[0].tracker
    assert sorted(e.payload["tracker"] for e in events) == sorted(trackers)
