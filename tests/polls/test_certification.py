"""Certification before publication, on SQLite and PostgreSQL: the count is held for the election
officers, nothing about the result is public meanwhile, an officer certifies (publishing it with the
certification) or voids it with a reason, and the verifier checks that a required certification
happened before publication, by an officer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from governance.audit import export, log
from governance.audit.verifier import verify_bundle
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.models import AuditEntry, Certification, DecodedBallot, Poll
from governance.polls import certification, counting
from tests.audit.audit_support import read_zip, tamper
from tests.conftest import cast_ranking, csrf_token, login
from tests.polls.officers_support import (
    CLOSE,
    OPEN,
    close_and_count,
    deliver,
    members,
    open_poll,
    schedule,
    with_body,
)

BALLOTS = {"marlow_p": [["Birch"], ["Ash"]], "cipher_wren": [["Birch"]], "lockpick_lu": [["Ash"]],
           "nullroute": [["Cedar"], ["Birch"]]}


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", "halvard", *BALLOTS)


def _counted(app, forum, session, people, *, days=2):
    """A community decision whose rules require certification within ``days``, voted and counted."""
    with_body(session, "community", certification={"required": True, "days": days})
    poll = schedule(session, people["tamsin_ward"])
    assert poll.rules["certification"] == {"required": True, "days": days}
    open_poll(app, forum, session, poll)
    for name, ranking in BALLOTS.items():
        cast_ranking(app, session, poll.id, people[name], ranking, OPEN + timedelta(minutes=5))
        session.commit()
    assert close_and_count(app, session, poll) == ["close", "mix", "decrypt", "count"]
    return session.get(Poll, poll.id)


def test_the_count_is_held_unpublished_until_an_officer_certifies_it(forum_app, forum, session, people):
    poll = _counted(forum_app, forum, session, people)
    assert poll.status == "certifying" and poll.result is None and not poll.result_hash
    held = session.get(Certification, poll.id)
    assert held.result["elected"] == ["Birch"] and held.due_at == CLOSE + timedelta(days=2)
    assert len(session.exec(select(DecodedBallot).where(DecodedBallot.poll_id == poll.id)).all()) == 4
    # Nothing about the result is public: no results, ballots, downloads or bundle; the log says
    # only that a count is waiting (no hash: a small poll's result could be guessed from one).
    public = forum_app.test_client()
    forum_app.config["FAKE_NOW"] = CLOSE + timedelta(hours=1)
    for path in ("results", "results.json", "results.blt", "ballots", "audit.zip"):
        url = f"/audit/polls/{poll.id}/bundle.zip" if path == "audit.zip" else f"/polls/{poll.id}/{path}"
        answer = public.get(url)
        assert answer.status_code in (404, 409), (url, answer.status_code)
        assert b"Birch" not in answer.data or path == "ballots"
    with pytest.raises(Conflict):
        export.poll_bundle(session, poll.id)
    entries = [e for e in log.entries(session, poll_id=poll.id)]
    assert [e.type for e in entries][-1] == "poll.counted"
    assert not any(e.type in ("poll.tallied", "poll.decrypted", "results.published") for e in entries)
    assert "Birch" not in json.dumps([e.payload for e in entries if e.seq > 0][-3:])
    page = " ".join(public.get(f"/polls/{poll.id}").get_data(as_text=True).split())
    assert "certify the count before it is published" in page, page[page.find("<main"):][:3000]
    assert 'id="elected"' not in page
    audit_page = public.get(f"/audit/?poll={poll.id}").get_data(as_text=True)
    assert "poll.tallied" not in audit_page
    # A member who is no officer may not see the count; an officer may.
    voter = forum_app.test_client()
    login(forum_app, voter, people["marlow_p"])
    assert voter.get(f"/polls/{poll.id}/certify").status_code == 403
    officer = forum_app.test_client()
    login(forum_app, officer, people["halvard"])
    held_page = officer.get(f"/polls/{poll.id}/certify")
    assert held_page.status_code == 200 and b'id="held-elected"' in held_page.data and b"Birch" in held_page.data
    # The forum is told the count is waiting (the announcement went out first), never the result.
    deliver(forum_app, forum, CLOSE + timedelta(hours=1))
    deliver(forum_app, forum, CLOSE + timedelta(hours=1))
    replies = [p["raw"] for p in forum.data.posts_created() if p["post_number"] > 1]
    assert any("certify the count before it is published" in r for r in replies)
    assert not any("Birch" in r for r in replies)

    # Certifying: a confirmation page, then the publication with the certification.
    confirm = officer.get(f"/polls/{poll.id}/certify/confirm")
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.data
    token = csrf_token(officer, f"/polls/{poll.id}/certify/confirm")
    assert officer.post(f"/polls/{poll.id}/certify/confirm", data={}).status_code == 400  # no CSRF token
    done = officer.post(f"/polls/{poll.id}/certify/confirm", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/polls/{poll.id}/results")
    session.rollback()
    poll = session.get(Poll, poll.id)
    assert poll.status == "published" and poll.result["elected"] == ["Birch"]
    results = public.get(f"/polls/{poll.id}/results").get_data(as_text=True)
    assert 'id="certified"' in results and "halvard" in results
    types = [e.type for e in log.entries(session, poll_id=poll.id)]
    assert types[-5:] == ["poll.counted", "poll.decrypted", "poll.tallied", "poll.certified", "results.published"]
    deliver(forum_app, forum, CLOSE + timedelta(hours=2))
    assert any("Certified by halvard" in p["raw"] for p in forum.data.posts_created())

    bundle = export.poll_bundle(session, poll.id)
    report = verify_bundle(bundle)
    assert report.ok, report.first_problem
    assert "certified by halvard (steering-committee) before publication" in report.check("rules").detail
    election = json.loads(read_zip(bundle)["election.json"])
    assert election["certification"]["officer"] == "halvard"

    # The attack: the certification's entry and its proof cut out of the bundle (a forger who
    # wants the result to look published without one). The chain allows gaps (other polls'
    # entries), so it is the rules check that says what is missing.
    files = read_zip(bundle)
    lines = [line for line in files["log.jsonl"].split(b"\n") if line]
    certified = next(json.loads(line) for line in lines if json.loads(line)["type"] == "poll.certified")
    proofs = json.loads(files["proofs.json"])
    proofs["entries"] = [p for p in proofs["entries"] if p["seq"] != certified["seq"]]
    signatures = json.loads(files["signatures.json"])
    signatures["entries"] = [s for s in signatures["entries"] if s["seq"] != certified["seq"]]
    cut = tamper(bundle, {"log.jsonl": b"".join(line + b"\n" for line in lines
                                               if json.loads(line)["seq"] != certified["seq"]),
                          "proofs.json": json.dumps(proofs).encode(),
                          "signatures.json": json.dumps(signatures).encode()})
    report = verify_bundle(cut)
    assert report.first_problem.name == "rules" and "no certification" in report.first_problem.detail


def test_a_platform_that_publishes_without_the_required_certification_is_caught(forum_app, forum, session, people):
    """The server skips the officers: it releases the held count itself. The log then lacks the
    certification the frozen rules require, and the verifier fails the bundle."""
    poll = _counted(forum_app, forum, session, people)
    held = session.get(Certification, poll.id)
    counting.release(session=session, poll=poll, decoded=counting.decoded_ballots(session, poll),
                     result=held.result, now=CLOSE + timedelta(hours=1))
    session.commit()
    report = verify_bundle(export.poll_bundle(session, poll.id))
    assert report.first_problem.name == "rules"
    assert "require the count to be certified" in report.first_problem.detail


def test_certification_needs_an_officer_who_is_no_candidate_within_the_period(forum_app, forum, session, people):
    poll = _counted(forum_app, forum, session, people, days=1)
    with pytest.raises(NotAllowed):
        certification.certify(session=session, poll=poll, officer=people["marlow_p"], now=CLOSE)
    session.rollback()
    with pytest.raises(Conflict):  # the period is over
        certification.certify(session=session, poll=poll, officer=people["halvard"], now=CLOSE + timedelta(days=1))
    session.rollback()
    assert session.get(Poll, poll.id).status == "certifying"
    # The clock lapses it: cancelled unpublished, the decoded ballots deleted, the forum told.
    from tests.conftest import run_clock

    assert run_clock(forum_app, CLOSE + timedelta(days=1)) == [(poll.id, "certification-lapsed")]
    session.rollback()
    poll = session.get(Poll, poll.id)
    assert poll.status == "cancelled" and "within 1 day" in poll.cancel_reason
    assert session.exec(select(DecodedBallot).where(DecodedBallot.poll_id == poll.id)).all() == []
    assert session.get(Certification, poll.id).result is None
    assert session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll.id,
                                                 AuditEntry.type == "poll.certification_lapsed")).one()


def test_an_officer_voids_the_count_with_a_stated_reason(forum_app, forum, session, people):
    poll = _counted(forum_app, forum, session, people)
    officer = forum_app.test_client()
    forum_app.config["FAKE_NOW"] = CLOSE + timedelta(hours=1)
    login(forum_app, officer, people["tamsin_ward"])
    token = csrf_token(officer, f"/polls/{poll.id}/void")
    without = officer.post(f"/polls/{poll.id}/void", data={"csrf_token": token, "reason": " "})
    assert without.status_code == 303 and without.headers["Location"].endswith(f"/polls/{poll.id}/void")
    session.rollback()
    assert session.get(Poll, poll.id).status == "certifying"
    with pytest.raises(InvalidInput):
        certification.void(session=session, poll=poll, officer=people["tamsin_ward"], reason="", now=CLOSE)
    session.rollback()
    answer = officer.post(f"/polls/{poll.id}/void", data={
        "csrf_token": token, "reason": "The forum's outage kept a third of the electorate from voting."})
    assert answer.status_code == 303
    session.rollback()
    poll = session.get(Poll, poll.id)
    assert poll.status == "cancelled" and "outage" in poll.cancel_reason and poll.result is None
    assert session.exec(select(DecodedBallot).where(DecodedBallot.poll_id == poll.id)).all() == []
    voided = session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll.id,
                                                   AuditEntry.type == "poll.voided")).one()
    assert voided.actor == "tamsin_ward" and voided.payload["officer_groups"] == ["steering-committee"]
    assert "Birch" not in json.dumps(voided.payload)
    with pytest.raises(Conflict):
        export.poll_bundle(session, poll.id)
    deliver(forum_app, forum, CLOSE + timedelta(hours=2))
    assert any("voided by tamsin_ward" in p["raw"] for p in forum.data.posts_created())
    assert forum_app.test_client().get(f"/polls/{poll.id}/results").status_code == 409


def test_without_the_rule_the_count_is_published_at_once(forum_app, forum, session, people):
    poll = schedule(session, people["tamsin_ward"])
    open_poll(forum_app, forum, session, poll)
    cast_ranking(forum_app, session, poll.id, people["marlow_p"], [["Ash"]], OPEN + timedelta(minutes=5))
    session.commit()
    close_and_count(forum_app, session, poll)
    poll = session.get(Poll, poll.id)
    assert poll.status == "published" and session.get(Certification, poll.id) is None
    report = verify_bundle(export.poll_bundle(session, poll.id))
    assert report.ok and "no certification required" in report.check("rules").detail
