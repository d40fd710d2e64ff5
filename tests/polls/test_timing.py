"""Open now, close early, extend: the two-person rule, the charter's limits, races, the audit bundle.

Through the services and the clock, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from governance.audit import export, log
from governance.audit.verifier import verify_bundle
from governance.errors import Conflict, InvalidInput, NotAllowed, VotingClosed
from governance.models import Outbox, Poll, TimingChange
from governance.polls import charter, service, timing
from governance.polls.service import PollInput
from tests.conftest import cast_ranking, run_clock, sync_member

NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = NOW + timedelta(hours=2)
CLOSE = OPEN + timedelta(days=3)


@pytest.fixture
def people(session, forum):
    return {name: sync_member(session, forum, name) for name in ("tamsin_ward", "halvard", "ysolde_k", "marlow_p",
                                                                 "inkwell")}


def scheduled(session, people, **changes) -> Poll:
    current = charter.current(session)
    data = dict(body="community", kind="decision", method="irv", title="Pick the release name",
                options=["Ash", "Birch", "Cedar"], opens_at=OPEN, closes_at=CLOSE)
    data.update(changes)
    poll = service.create(session=session, actor=people["tamsin_ward"], charter=current, data=PollInput(**data))
    service.schedule(session=session, actor=people["tamsin_ward"], charter=current, poll=poll, now=NOW)
    session.commit()
    return poll


def fresh(session, poll_id) -> Poll:
    session.rollback()
    session.expire_all()
    return session.get(Poll, poll_id)


def ask(session, people, poll, kind, when, who="tamsin_ward", **kwargs):
    change = timing.request(session=session, actor=people[who], charter=charter.current(session), poll=poll,
                            kind=kind, now=when, **kwargs)
    session.commit()
    return change


def approve(session, people, change, when, who="halvard"):
    done = timing.approve(session=session, actor=people[who], charter=charter.current(session), change=change,
                          now=when)
    session.commit()
    return done


def types(session, poll):
    return [e.type for e in log.entries(session, poll_id=poll.id)]


def test_open_now_needs_a_second_manager_then_the_clock_opens_it(app, forum, session, people):
    poll = scheduled(session, people)
    soon = NOW + timedelta(minutes=10)
    change = ask(session, people, poll, "open_now", soon, reason="The committee is ready early.")
    assert fresh(session, poll.id).status == "scheduled"  # nothing changes on a request
    with pytest.raises(NotAllowed, match="two-person rule"):
        timing.approve(session=session, actor=people["tamsin_ward"], charter=charter.current(session),
                       change=change, now=soon)
    session.rollback()
    with pytest.raises(NotAllowed):  # not a manager of the community's polls
        timing.approve(session=session, actor=people["marlow_p"], charter=charter.current(session), change=change,
                       now=soon)
    session.rollback()
    approve(session, people, change, soon)
    assert fresh(session, poll.id).opens_at == soon
    assert run_clock(app, soon) == [(poll.id, "open")]
    poll = fresh(session, poll.id)
    assert poll.status == "open" and poll.opened_at == soon and poll.closes_at == CLOSE
    assert types(session, poll)[-4:] == ["timing.requested", "timing.approved", "poll.times_changed", "poll.opened"]
    changed = log.entries(session, poll_id=poll.id)[-2].payload
    assert changed["field"] == "opens_at" and changed["requested_by"] == "tamsin_ward"
    assert changed["approved_by"] == "halvard"


def test_close_early_needs_a_reason_and_the_minimum_period(app, forum, session, people):
    poll = scheduled(session, people)
    run_clock(app, OPEN)
    with pytest.raises(InvalidInput, match="say why"):
        ask(session, people, fresh(session, poll.id), "close_early", OPEN + timedelta(minutes=5), reason="  ")
    session.rollback()
    with pytest.raises(Conflict, match="at least an hour"):
        ask(session, people, fresh(session, poll.id), "close_early", OPEN + timedelta(minutes=30), reason="Done.")
    session.rollback()
    assert session.exec(select(TimingChange)).all() == []  # refused requests leave nothing behind
    when = OPEN + timedelta(hours=2)
    cast_ranking(app, session, poll.id, people["marlow_p"], [["Ash"]], when - timedelta(minutes=1))
    session.commit()
    change = ask(session, people, fresh(session, poll.id), "close_early", when,
                 reason="The question was withdrawn by its proposer.")
    approve(session, people, change, when)
    assert run_clock(app, when)[0] == (poll.id, "close")
    poll = fresh(session, poll.id)
    assert poll.status in ("closed", "published") and poll.closed_at == when and poll.closes_at == when
    with pytest.raises(VotingClosed):
        cast_ranking(app, session, poll.id, people["inkwell"], [["Birch"]], when)


def test_extend_pushes_the_close_later_within_the_bound(app, forum, session, people):
    poll = scheduled(session, people)
    run_clock(app, OPEN)
    when = OPEN + timedelta(days=1)
    poll = fresh(session, poll.id)
    with pytest.raises(InvalidInput, match="close later"):
        ask(session, people, poll, "extend", when, reason="More time.", closes_at=CLOSE - timedelta(hours=1))
    session.rollback()
    with pytest.raises(InvalidInput, match="double"):
        ask(session, people, poll, "extend", when, reason="More time.", closes_at=OPEN + timedelta(days=6, hours=1))
    session.rollback()
    later = CLOSE + timedelta(days=2)
    change = ask(session, people, poll, "extend", when, reason="The forum was down for a day.", closes_at=later)
    with pytest.raises(Conflict, match="already waiting"):
        ask(session, people, poll, "extend", when, who="halvard", reason="Again.", closes_at=later)
    session.rollback()
    approve(session, people, change, when)
    poll = fresh(session, poll.id)
    assert poll.closes_at == later and timing.scheduled_close(session, poll) == CLOSE
    assert [(c.applied["from"], c.applied["to"]) for c in timing.applied(session, poll)] == [
        (log.format_time(CLOSE), log.format_time(later))]
    # A vote after the old closing time is accepted: the extension is real.
    cast_ranking(app, session, poll.id, people["marlow_p"], [["Cedar"]], CLOSE + timedelta(hours=1))
    session.commit()
    assert run_clock(app, CLOSE + timedelta(hours=1)) == []


def test_the_forum_is_told_of_an_extension_on_the_polls_topic(app, forum, session, people):
    poll = scheduled(session, people)
    run_clock(app, OPEN)
    poll = fresh(session, poll.id)
    poll.forum_topic_id = 4242  # the announcement went out
    session.add(poll)
    session.commit()
    later = CLOSE + timedelta(days=1)
    change = ask(session, people, poll, "extend", OPEN + timedelta(hours=3), reason="Holidays.", closes_at=later)
    approve(session, people, change, OPEN + timedelta(hours=3))
    job = session.exec(select(Outbox).where(Outbox.kind == "timing")).one()
    from governance.polls import outbox

    plan = outbox.prepare(session, job.id, "https://vote.example", None)
    assert plan["call"] == "reply" and plan["kwargs"]["topic_id"] == 4242
    raw = plan["kwargs"]["raw"]
    assert "extended" in raw and "Holidays." in raw
    assert f"it now closes on {later:%d %B %Y %H:%M} UTC" in raw and "\n\nReason: Holidays.\n\n" in raw  # in English
    assert raw.endswith(f"the change is in the audit log: https://vote.example/polls/{poll.id}")


def test_races_two_approvals_approval_after_the_close_extending_a_closed_poll(app, forum, session, people):
    poll = scheduled(session, people)
    run_clock(app, OPEN)
    when = OPEN + timedelta(days=1)
    change = ask(session, people, fresh(session, poll.id), "extend", when, reason="More time.",
                 closes_at=CLOSE + timedelta(days=1))
    engine = app.extensions["governance.engine_immediate"]
    member = type(people["halvard"])
    with Session(engine) as first, Session(engine) as second:
        timing.approve(session=first, actor=first.get(member, people["halvard"].id), charter=charter.current(first),
                       change=first.get(TimingChange, change.id), now=when)
        first.commit()
        with pytest.raises(Conflict, match="applied already"):
            timing.approve(session=second, actor=second.get(member, people["ysolde_k"].id),
                           charter=charter.current(second), change=second.get(TimingChange, change.id), now=when)
    session.rollback()  # a fresh snapshot: reading people's ids above began one
    assert len([t for t in types(session, poll) if t == "poll.times_changed"]) == 1

    # A request made while open, approved once the clock has closed the poll: refused, nothing changes.
    extend = ask(session, people, fresh(session, poll.id), "extend", when, who="halvard", reason="Even more.",
                 closes_at=CLOSE + timedelta(days=2))
    end = CLOSE + timedelta(days=1)
    run_clock(app, end)
    assert fresh(session, poll.id).status in ("closed", "published")
    before = len(log.entries(session, poll_id=poll.id))
    with pytest.raises(Conflict, match="no longer take effect"):
        approve(session, people, extend, end + timedelta(minutes=1), who="tamsin_ward")
    session.rollback()
    poll = fresh(session, poll.id)
    assert poll.closes_at == end and len(log.entries(session, poll_id=poll.id)) == before
    with pytest.raises(Conflict, match="not open"):
        ask(session, people, poll, "extend", end + timedelta(minutes=2), reason="Too late.",
            closes_at=end + timedelta(days=1))


def test_refusing_and_withdrawing_are_recorded_and_change_nothing(app, forum, session, people):
    poll = scheduled(session, people)
    change = ask(session, people, poll, "open_now", NOW + timedelta(minutes=1), reason="")
    with pytest.raises(InvalidInput):
        timing.refuse(session=session, actor=people["halvard"], charter=charter.current(session), change=change,
                      reason="", now=NOW + timedelta(minutes=2))
    session.rollback()
    timing.refuse(session=session, actor=people["halvard"], charter=charter.current(session), change=change,
                  reason="Trustees are not ready.", now=NOW + timedelta(minutes=2))
    session.commit()
    with pytest.raises(Conflict, match="refused already"):
        approve(session, people, change, NOW + timedelta(minutes=3))
    session.rollback()
    again = ask(session, people, fresh(session, poll.id), "open_now", NOW + timedelta(minutes=4), reason="")
    timing.refuse(session=session, actor=people["tamsin_ward"], charter=charter.current(session), change=again,
                  reason="Asked too soon.", now=NOW + timedelta(minutes=5))
    session.commit()
    assert session.get(TimingChange, again.id).status == "withdrawn"
    assert fresh(session, poll.id).opens_at == OPEN
    assert types(session, poll)[-4:] == ["timing.requested", "timing.refused", "timing.requested",
                                         "timing.withdrawn"]


def _bundle(app, session, poll_id):
    session.rollback()
    session.expire_all()
    return export.poll_bundle(session, poll_id)


def _election(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return json.loads(z.read("election.json"))


def test_bundle_of_an_extended_and_closed_early_poll_verifies(app, forum, session, people, keys):
    poll = scheduled(session, people)
    soon = NOW + timedelta(minutes=5)
    approve(session, people, ask(session, people, poll, "open_now", soon, reason=""), soon)
    run_clock(app, soon)
    cast_ranking(app, session, poll.id, people["marlow_p"], [["Birch"]], soon + timedelta(minutes=1))
    session.commit()
    when = soon + timedelta(hours=3)
    later = CLOSE + timedelta(days=1)
    approve(session, people, ask(session, people, fresh(session, poll.id), "extend", when, reason="Longer.",
                                 closes_at=later), when)
    end = when + timedelta(hours=1)
    approve(session, people, ask(session, people, fresh(session, poll.id), "close_early", end, reason="Settled.",
                                 who="halvard"), end, who="tamsin_ward")
    run_clock(app, end)
    data = _bundle(app, session, poll.id)
    assert _election(data)["closes_at"] == log.format_time(end)
    report = verify_bundle(data, public_key=keys[1])
    assert report.ok, report.first_problem
    assert "3 approved changes" in report.check("rules").detail


@pytest.mark.parametrize(("moved", "problem"), [
    (timedelta(days=-1), "closed the poll at"),  # brought forward: it closed before the logged closing time
    (timedelta(days=1), "election.json says the poll closes at"),  # pushed back: not the logged closing time
])
def test_bundle_of_a_poll_whose_closing_time_changed_without_the_events_fails(app, forum, session, people, keys,
                                                                               moved, problem):
    poll = scheduled(session, people)
    run_clock(app, OPEN)
    cast_ranking(app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=1))
    session.commit()
    poll = fresh(session, poll.id)
    poll.closes_at = CLOSE + moved  # a server moving the close with no request, no approval, no event
    session.add(poll)
    session.commit()
    run_clock(app, CLOSE + moved)
    report = verify_bundle(_bundle(app, session, poll.id), public_key=keys[1])
    assert not report.ok and report.first_problem.name == "rules"
    assert problem in report.first_problem.detail


def test_bundle_of_a_poll_extended_by_one_manager_alone_fails(app, forum, session, people, keys):
    """A server that logs an extension nobody approved (the asker approving it) is caught by the verifier."""
    poll = scheduled(session, people)
    run_clock(app, OPEN)
    cast_ranking(app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=1))
    session.commit()
    poll = fresh(session, poll.id)
    later = CLOSE + timedelta(hours=6)
    log.record(session=session, created_at=OPEN + timedelta(hours=1), type=timing.CHANGED, actor="tamsin_ward",
               poll_id=poll.id, payload={"poll": poll.id, "request": 0, "kind": "extend", "field": "closes_at",
                                         "from": log.format_time(CLOSE), "to": log.format_time(later),
                                         "reason": "Because.", "requested_by": "tamsin_ward",
                                         "approved_by": "tamsin_ward"})
    poll.closes_at = later
    session.add(poll)
    session.commit()
    run_clock(app, later)
    report = verify_bundle(_bundle(app, session, poll.id), public_key=keys[1])
    assert not report.ok and report.first_problem.name == "rules"
    assert "without a second manager's approval" in report.first_problem.detail


def test_two_managers_approving_at_the_same_moment_change_the_times_once(app, forum, session, people):
    import threading

    poll = scheduled(session, people)
    run_clock(app, OPEN)
    when = OPEN + timedelta(hours=2)
    change = ask(session, people, fresh(session, poll.id), "extend", when, reason="More time.",
                 closes_at=CLOSE + timedelta(days=1))
    engine = app.extensions["governance.engine_immediate"]
    member = type(people["halvard"])
    ids = [people["halvard"].id, people["ysolde_k"].id]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def one(member_id: int) -> None:
        start.wait()
        with Session(engine, expire_on_commit=False) as s:
            try:
                timing.approve(session=s, actor=s.get(member, member_id), charter=charter.current(s),
                               change=s.get(TimingChange, change.id), now=when)
                s.commit()
                outcomes.append("applied")
            except Conflict as exc:
                s.rollback()
                outcomes.append(exc.message)

    threads = [threading.Thread(target=one, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 2 and outcomes.count("applied") == 1, outcomes
    assert any("applied already" in o for o in outcomes), outcomes
    session.rollback()
    assert [t for t in types(session, poll) if t == timing.CHANGED] == [timing.CHANGED]
    assert fresh(session, poll.id).closes_at == CLOSE + timedelta(days=1)
