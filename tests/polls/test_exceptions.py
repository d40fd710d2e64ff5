"""Eligibility exceptions through the platform, on SQLite and PostgreSQL: a member the rule leaves out
asks, an election officer decides, the member is told on the forum, votes, and the audit bundle
lists the exception and re-applies rule plus exceptions to every participant.

Members of the stand-in forum used here: ``fresh_sprout`` (trust level 0, created yesterday: the
community's rule wants trust level 1), ``grumbleweed`` (suspended), ``tamsin_ward`` and
``halvard`` (steering committee: the community's election officers by default), ``marlow_p``
(an ordinary member, no officer).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from governance.audit import export
from governance.audit.verifier import verify_bundle
from governance.errors import Conflict, InvalidInput, NotAllowed, NotEligible
from governance.models import AuditEntry, EligibilityException, Poll
from governance.polls import exceptions, service
from tests.audit.audit_support import read_zip, tamper
from tests.conftest import cast_ranking, csrf_token, login
from tests.polls.officers_support import NOW, OPEN, close_and_count, deliver, members, open_poll, schedule


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", "halvard", "marlow_p", "fresh_sprout", "grumbleweed")


def _reload(session, poll):
    session.rollback()
    session.expire_all()
    return session.get(Poll, poll.id)


def test_an_accepted_exception_lets_the_member_vote_and_the_bundle_proves_it(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    sprout = people["fresh_sprout"]
    assert not service.eligibility_now(poll, sprout, NOW).ok  # trust level 0; the community wants 1
    row = exceptions.request(session=session, poll=poll, member=sprout, now=NOW,
                             reason="I maintain the packaging scripts on the code forge; my forum account is new.")
    session.commit()
    assert row.status == "pending" and "trust level" in row.rule_reasons[0]
    exceptions.decide(session=session, poll=poll, officer=people["halvard"], exception_id=row.id, accept=True,
                      reason="Known contributor; vouched for by the packaging team.", now=NOW + timedelta(hours=1))
    session.commit()
    # The member is told on the forum, with the officer's reason.
    deliver(forum_app, forum, NOW + timedelta(hours=1))
    told = [m for m in forum.data.messages_sent() if m["recipients"] == ["fresh_sprout"]]
    assert len(told) == 1 and "accepted by halvard" in told[0]["raw"] and "vouched for" in told[0]["raw"]

    assert open_poll(forum_app, forum, session, poll) == [(poll.id, "open")]
    poll = session.get(Poll, poll.id)
    opened = session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll.id,
                                                   AuditEntry.type == "poll.opened")).one()
    assert opened.payload["exceptions"] == [row.id] and opened.payload["rules"] == poll.rules
    cast_ranking(forum_app, session, poll.id, sprout, [["Birch"]], OPEN + timedelta(minutes=5))
    cast_ranking(forum_app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=6))
    session.commit()
    # Without the exception the same member is refused (another poll, same rule).
    other = schedule(session, people["tamsin_ward"], title="Another poll")
    open_poll(forum_app, forum, session, other)
    with pytest.raises(NotEligible):
        cast_ranking(forum_app, session, other.id, sprout, [["Ash"]], OPEN + timedelta(minutes=7))
    session.rollback()

    close_and_count(forum_app, session, poll)
    bundle = export.poll_bundle(session, poll.id)
    report = verify_bundle(bundle)
    assert report.ok, report.first_problem
    assert "1 by an accepted exception" in report.check("electorate").detail
    assert "1 accepted by officers before the opening" in report.check("rules").detail
    election = json.loads(read_zip(bundle)["election.json"])
    (listed,) = election["exceptions"]
    assert listed["username"] == "fresh_sprout" and listed["status"] == "accepted"
    assert listed["decided_by"] == "halvard" and "packaging scripts" in listed["reason"]
    assert listed["decided_as"] == ["steering-committee"]

    # The attacks on the bundle: the exception dropped from the list, or its member's vote kept
    # while the exception is said to have been refused.
    files = read_zip(bundle)
    dropped = dict(election, exceptions=[])
    report = verify_bundle(tamper(bundle, {"election.json": json.dumps(dropped).encode()}))
    assert report.first_problem.name == "electorate" and "fresh_sprout" in report.first_problem.detail
    refused = dict(election, exceptions=[dict(listed, status="refused")])
    report = verify_bundle(tamper(bundle, {"election.json": json.dumps(refused).encode()}))
    assert not report.ok and report.first_problem.name == "electorate"
    assert files["election.json"] != json.dumps(refused).encode()


def test_a_forged_exception_in_the_bundle_is_caught_by_the_log(forum_app, forum, session, people):
    """The server (or anyone editing the bundle) claims an exception no officer ever decided."""
    poll = schedule(session, people["tamsin_ward"])
    open_poll(forum_app, forum, session, poll)
    cast_ranking(forum_app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=5))
    session.commit()
    close_and_count(forum_app, session, poll)
    bundle = export.poll_bundle(session, poll.id)
    assert verify_bundle(bundle).ok
    election = json.loads(read_zip(bundle)["election.json"])
    forged = dict(election, exceptions=[{"id": 99, "username": "fresh_sprout", "forum_user_id": 12345,
                                         "status": "accepted", "reason": "x", "rule_reasons": []}])
    report = verify_bundle(tamper(bundle, {"election.json": json.dumps(forged).encode()}))
    assert report.first_problem.name == "rules" and "never recorded" in report.first_problem.detail
    # Rules changed in election.json (other officers, say) differ from the ones frozen at opening.
    loosened = dict(election, rules=dict(election["rules"], officers=["anyone"]))
    report = verify_bundle(tamper(bundle, {"election.json": json.dumps(loosened).encode()}))
    assert report.first_problem.name == "rules" and "froze" in report.first_problem.detail


def test_a_group_poll_takes_the_excepted_member_into_its_frozen_electorate(forum_app, forum, session, people):
    marlow = people["marlow_p"]  # in no custom group: sig-security's rule leaves them out
    poll = schedule(session, people["tamsin_ward"], body="sig-security", method="schulze")
    row = exceptions.request(session=session, poll=poll, member=marlow, reason="I run the security bug tracker.",
                             now=NOW)
    session.commit()
    assert any("sig-security" in r for r in row.rule_reasons)
    exceptions.decide(session=session, poll=poll, officer=people["tamsin_ward"], exception_id=row.id, accept=True,
                      reason="The SIG asked for it.", now=NOW)
    session.commit()
    open_poll(forum_app, forum, session, poll)
    poll = session.get(Poll, poll.id)
    assert poll.status == "open"
    frozen = export.electorate(session, poll)
    mine = [m for m in frozen.eligible if m["username"] == "marlow_p"]
    assert mine and mine[0]["exception"] == row.id and mine[0]["evidence"]["groups"] == []
    assert poll.electorate_size == len(frozen.eligible)
    cast_ranking(forum_app, session, poll.id, marlow, [["Cedar"]], OPEN + timedelta(minutes=5))
    session.commit()
    close_and_count(forum_app, session, poll)
    report = verify_bundle(export.poll_bundle(session, poll.id))
    assert report.ok, report.first_problem
    assert "(1 by exception)" in report.check("electorate").detail


def test_requests_and_decisions_are_refused_when_they_should_be(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    sprout, marlow = people["fresh_sprout"], people["marlow_p"]
    with pytest.raises(InvalidInput):  # a reason is required
        exceptions.request(session=session, poll=poll, member=sprout, reason="  ", now=NOW)
    session.rollback()
    with pytest.raises(Conflict):  # eligible already
        exceptions.request(session=session, poll=poll, member=marlow, reason="please", now=NOW)
    session.rollback()
    with pytest.raises(NotEligible) as err:  # no exception lifts a suspension
        exceptions.request(session=session, poll=poll, member=people["grumbleweed"], reason="please", now=NOW)
    assert "suspended" in err.value.reasons[0]
    session.rollback()
    with pytest.raises(Conflict):  # after the deadline (3 days before the opening)
        exceptions.request(session=session, poll=poll, member=sprout, reason="late", now=OPEN - timedelta(days=2))
    session.rollback()
    assert session.exec(select(EligibilityException)).all() == []

    row = exceptions.request(session=session, poll=poll, member=sprout, reason="please", now=NOW)
    session.commit()
    with pytest.raises(NotAllowed):  # not an officer
        exceptions.decide(session=session, poll=poll, officer=marlow, exception_id=row.id, accept=True,
                          reason="sure", now=NOW)
    session.rollback()
    with pytest.raises(InvalidInput):  # a decision states its reason
        exceptions.decide(session=session, poll=poll, officer=people["halvard"], exception_id=row.id, accept=True,
                          reason="", now=NOW)
    session.rollback()
    # An officer never decides their own request.
    halvard = people["halvard"]
    halvard.trust_level = 0
    session.add(halvard)
    session.commit()
    own = exceptions.request(session=session, poll=poll, member=halvard, reason="my own", now=NOW)
    session.commit()
    with pytest.raises(NotAllowed):
        exceptions.decide(session=session, poll=poll, officer=halvard, exception_id=own.id, accept=True,
                          reason="me", now=NOW)
    session.rollback()
    exceptions.decide(session=session, poll=poll, officer=people["tamsin_ward"], exception_id=row.id,
                      accept=False, reason="Ask again next year.", now=NOW)
    session.commit()
    with pytest.raises(Conflict):  # decided already
        exceptions.decide(session=session, poll=poll, officer=people["tamsin_ward"], exception_id=row.id,
                          accept=True, reason="changed my mind", now=NOW)
    session.rollback()
    # Pending at the opening: the request lapses and its member is told; a refused member cannot vote.
    open_poll(forum_app, forum, session, poll)
    assert session.get(EligibilityException, own.id).status == "lapsed"
    with pytest.raises(NotEligible):
        cast_ranking(forum_app, session, poll.id, sprout, [["Ash"]], OPEN + timedelta(minutes=1))
    session.rollback()
    with pytest.raises(Conflict):  # the electorate is fixed once voting opens
        exceptions.decide(session=session, poll=session.get(Poll, poll.id), officer=people["tamsin_ward"],
                          exception_id=own.id, accept=True, reason="late", now=OPEN)
    session.rollback()
    deliver(forum_app, forum, OPEN)
    texts = {m["recipients"][0]: m["raw"] for m in forum.data.messages_sent()}
    assert "refused by tamsin_ward" in texts["fresh_sprout"] and "Ask again next year." in texts["fresh_sprout"]
    assert "lapsed" in texts["halvard"]
    types = [e.type for e in session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll.id)).all()]
    assert types.count("exception.requested") == 2 and "exception.refused" in types and "exception.lapsed" in types


def test_the_pages_ask_and_decide_with_csrf_and_confirmation(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    forum_app.config["FAKE_NOW"] = NOW
    client = forum_app.test_client()
    login(forum_app, client, people["fresh_sprout"])
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert 'id="exception-form"' in page
    assert client.post(f"/polls/{poll.id}/exceptions", data={"reason": "no token"}).status_code == 400
    token = csrf_token(client, f"/polls/{poll.id}")
    answer = client.post(f"/polls/{poll.id}/exceptions", data={"csrf_token": token, "reason": "I write the docs."})
    assert answer.status_code == 303
    (row,) = session.exec(select(EligibilityException)).all()
    assert b"pending" in client.get(f"/polls/{poll.id}").data
    # Another member may read the list (it is public, as the audit log is) but not decide.
    other = forum_app.test_client()
    login(forum_app, other, people["marlow_p"])
    assert b"I write the docs." in other.get(f"/polls/{poll.id}/exceptions").data
    assert other.get(f"/polls/{poll.id}/exceptions/{row.id}/accept").status_code == 403
    officer = forum_app.test_client()
    login(forum_app, officer, people["halvard"])
    confirm = officer.get(f"/polls/{poll.id}/exceptions/{row.id}/accept")
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.data
    token = csrf_token(officer, f"/polls/{poll.id}/exceptions/{row.id}/accept")
    empty = officer.post(f"/polls/{poll.id}/exceptions/{row.id}/accept", data={"csrf_token": token, "reason": ""})
    assert empty.status_code == 303
    session.rollback()
    assert session.get(EligibilityException, row.id).status == "pending"  # nothing decided
    done = officer.post(f"/polls/{poll.id}/exceptions/{row.id}/accept",
                        data={"csrf_token": token, "reason": "Writes our docs."})
    assert done.status_code == 303
    session.rollback()
    assert session.get(EligibilityException, row.id).status == "accepted"
    assert b"accepted" in client.get(f"/polls/{poll.id}").data
