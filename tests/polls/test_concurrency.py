"""Concurrent submissions by one voter leave exactly one ballot and one story in the log (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from governance.models import AuditEntry, Ballot, Member, Participation
from tests.conftest import cast_ranking, sync_member
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
                receipt = cast_ranking(forum_app, s, poll.id, s.get(Member, voter.id), rankings[i % 3],
                                       OPEN + timedelta(seconds=i))
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
    board = session.exec(select(Ballot).where(Ballot.poll_id == poll.id)).all()
    assert len(board) == 50  # every accepted ballot stays on the board...
    ballots = [b for b in board if not b.superseded]
    assert len(ballots) == 1  # ...and exactly one counts
    assert ballots[0].tracker in trackers  # the last acknowledged one
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
