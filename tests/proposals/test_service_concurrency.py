"""Two referendums of one document closing at the same moment (SQLite and PostgreSQL): versions
are numbered without gaps or clashes, and the later adoption sees the earlier one."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from governance.models import Amendment, Document, Poll
from governance.proposals import service
from tests.conftest import cast_ranking, close_and_count
from tests.proposals.test_service import (
    AFTER_GOVERNANCE,
    AFTER_HARD_FORK,
    GOVERNANCE_DETAIL,
    HARD_FORK_DETAIL,
    NOW,
    chair,  # noqa: F401
    import_roadmap,
    marlow,  # noqa: F401
    member,
    propose_insertions,
    put_to_vote,
    run_clock,
)


def close_together(app, poll_ids, now):
    """Close every poll in its own thread and transaction, all released at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(poll_ids))

    def one(poll_id: int) -> None:
        try:
            start.wait()
            close_and_count(app, poll_id, now)
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in poll_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.parametrize("second_place, both_adopted", [(AFTER_HARD_FORK, True), (AFTER_GOVERNANCE, False)])
def test_two_referendums_closing_at_once(app, session, chair, marlow, second_place, both_adopted):  # noqa: F811
    import_roadmap(session)
    first = propose_insertions(session, marlow, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)], title="First")
    second = propose_insertions(session, marlow, [(second_place, HARD_FORK_DETAIL)], title="Second")
    poll_ids = [put_to_vote(session, chair, a).id for a in (first, second)]
    run_clock(app, NOW + timedelta(hours=1))
    session.expire_all()
    for poll_id in poll_ids:
        poll = session.get(Poll, poll_id)
        for i in range(5):
            cast_ranking(app, session, poll.id, member(session, f"p{poll_id}v{i}"), [["yes"]], NOW + timedelta(hours=2))
    session.commit()

    assert close_together(app, poll_ids, NOW + timedelta(days=1)) == []
    session.rollback()
    session.expire_all()
    document = session.exec(select(Document)).one()
    statuses = sorted(session.get(Amendment, a.id).status for a in (first, second))
    versions = [v.number for v in service.list_versions(session, document)]
    if both_adopted:
        assert statuses == ["adopted", "adopted"] and versions == [3, 2, 1]
        last = service.get_version(session, document, 3)
        assert GOVERNANCE_DETAIL in last.source_md and HARD_FORK_DETAIL in last.source_md
    else:
        # Both insert at the same place: whichever closed first is adopted, the other conflicts.
        assert statuses == ["adopted", "conflicted"] and versions == [2, 1]
        loser = next(session.get(Amendment, a.id) for a in (first, second)
                     if session.get(Amendment, a.id).status == "conflicted")
        assert loser.history[-1]["event"] in ("conflicted", "result_void")
