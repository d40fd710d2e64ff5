"""A referendum closing while a committee publication of the same document takes effect (SQLite
and PostgreSQL): the referendum's text stays frozen, versions are numbered without gaps or clashes."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import Session, select

from governance.models import Amendment, Document, PendingChange, Poll
from governance.polls import approvals, charter
from governance.proposals import service
from tests.conftest import cast_ranking, close_and_count
from tests.proposals.roadmap_support import V1
from tests.proposals.test_service import (
    AFTER_GOVERNANCE,
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

COMMITTEE = "steering-committee"


def test_a_referendum_closing_while_an_approved_publication_is_announced(app, session, chair, marlow):  # noqa: F811
    """A committee publication, approved, gets its forum notice at the moment a referendum on the
    same document closes: whichever transaction runs first, the referendum's frozen base is never
    changed under it, the publication does not land on top of the adopted text, and versions are
    numbered 1, 2."""
    import_roadmap(session)
    amendment = propose_insertions(session, marlow, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)], title="First")
    second = member(session, "second", groups=[COMMITTEE])
    change = approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                        committee_group=COMMITTEE, slug="roadmap",
                                        source=V1.rstrip("\n") + "\n\n" + HARD_FORK_DETAIL + "\n", base_number=1,
                                        now=NOW)
    approvals.approve(session=session, actor=second, charter=charter.current(session), change=change,
                      committee_group=COMMITTEE, now=NOW)
    session.commit()
    poll = put_to_vote(session, chair, amendment)
    run_clock(app, poll.opens_at)
    session.expire_all()
    poll = session.get(Poll, poll.id)
    for i in range(5):
        cast_ranking(app, session, poll.id, member(session, f"v{i}"), [["yes"]], poll.opens_at + timedelta(minutes=1))
    session.commit()
    engine = app.extensions["governance.engine_immediate"]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def close() -> None:  # the close, then the count, which adopts the amendment
        start.wait()
        close_and_count(app, poll.id, poll.closes_at)

    def announce() -> None:
        with Session(engine, expire_on_commit=False) as s:
            start.wait()
            approvals.announced(session=s, change_id=change.id, topic_id=9, now=poll.closes_at)
            s.commit()

    def run(job):
        try:
            job()
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in (close, announce)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    session.rollback()
    session.expire_all()
    document = session.exec(select(Document).where(Document.slug == "roadmap")).one()
    assert [v.number for v in service.list_versions(session, document)] == [2, 1]
    assert service.get_version(session, document, 2).poll_id == poll.id
    change = session.get(PendingChange, change.id)
    assert change.status in ("approved", "lapsed") and change.applied_at is None
    # Once the referendum is over, the clock finds the publication's base superseded: it lapses.
    outcome = approvals.run_due(engine=app.extensions["governance.engine"], immediate=engine, now=poll.closes_at)
    session.rollback()
    change = session.get(PendingChange, change.id)
    assert change.status == "lapsed" and "superseded" in change.reason, (outcome, change.history)
    assert session.get(Amendment, amendment.id).status == "adopted"
