"""The chair's controls over HTTP: asking, approving and refusing changes of a poll's times, and
test polls kept out of the public record. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from governance.models import AuditEntry, Poll, TimingChange
from governance.polls import charter, service
from tests.conftest import csrf_token, login, sync_member
from tests.polls.test_lifecycle import CLOSE, NOW, OPEN, committee, decision_input, make_scheduled  # noqa: F401


@pytest.fixture
def chairs(forum_app, forum, session):
    """Two managers of the community's polls, each logged in on their own client."""
    forum_app.config["FAKE_NOW"] = OPEN + timedelta(hours=2)
    out = {}
    for name in ("tamsin_ward", "halvard"):
        member = sync_member(session, forum, name)
        client = forum_app.test_client()
        login(forum_app, client, member)
        out[name] = client
    return out


def _open(forum_app, session, committee):  # noqa: F811
    poll = make_scheduled(session, committee)
    return poll


def test_extension_asked_refused_on_the_form_then_approved_by_a_second_chair(forum_app, session, committee,  # noqa: F811
                                                                             chairs):
    poll = _open(forum_app, session, committee)
    first, second = chairs["tamsin_ward"], chairs["halvard"]
    page = first.get(f"/polls/{poll.id}/timing")
    assert page.status_code == 200 and b"at most doubling the voting period" in page.data
    token = csrf_token(first, f"/polls/{poll.id}/timing")
    bad = first.post(f"/polls/{poll.id}/timing", data={"csrf_token": token, "kind": "extend", "reason": "",
                                                       "closes_at": "2000-01-01T10:00"})
    assert bad.status_code == 400 and b"Nothing was asked" in bad.data
    assert b'id="extend-reason-error"' in bad.data or b'id="extend-closes_at-error"' in bad.data
    later = (CLOSE + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    asked = first.post(f"/polls/{poll.id}/timing", data={"csrf_token": token, "kind": "extend",
                                                         "reason": "The forum was down.", "closes_at": later})
    assert asked.status_code == 303
    session.rollback()
    change = session.exec(select(TimingChange)).one()
    assert session.get(Poll, poll.id).closes_at == CLOSE  # nothing changes before the approval
    own = first.post(f"/polls/{poll.id}/timing/{change.id}/approve", data={"csrf_token": token})
    assert own.status_code == 403 and b"two-person rule" in own.data
    token2 = csrf_token(second, f"/polls/{poll.id}/timing")
    done = second.post(f"/polls/{poll.id}/timing/{change.id}/approve", data={"csrf_token": token2})
    assert done.status_code == 303
    voter = forum_app.test_client()
    shown = voter.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Extended from" in shown and "The forum was down." in shown
    again = second.post(f"/polls/{poll.id}/timing/{change.id}/approve", data={"csrf_token": token2},
                        follow_redirects=True)
    assert "Nothing changed" in again.get_data(as_text=True)
    session.rollback()
    assert session.get(Poll, poll.id).closes_at == (CLOSE + timedelta(days=1)).replace(second=0)


def test_close_early_too_soon_is_refused_with_the_rule_on_the_page(forum_app, session, committee, chairs):  # noqa: F811
    poll = _open(forum_app, session, committee)
    forum_app.config["FAKE_NOW"] = OPEN + timedelta(minutes=20)
    first = chairs["tamsin_ward"]
    first.get(f"/polls/{poll.id}")  # the clock opens it
    token = csrf_token(first, f"/polls/{poll.id}/timing")
    refused = first.post(f"/polls/{poll.id}/timing", data={"csrf_token": token, "kind": "close_early",
                                                           "reason": "Done."})
    assert refused.status_code == 409 and b"at least an hour" in refused.data
    session.rollback()
    assert session.exec(select(TimingChange)).all() == []


def test_a_member_who_manages_nothing_cannot_see_or_ask(forum_app, forum, session, committee, chairs):  # noqa: F811
    poll = _open(forum_app, session, committee)
    marlow = forum_app.test_client()
    login(forum_app, marlow, sync_member(session, forum, "marlow_p"))
    assert marlow.get(f"/polls/{poll.id}/timing").status_code == 403
    token = csrf_token(marlow, "/polls/")
    assert marlow.post(f"/polls/{poll.id}/timing", data={"csrf_token": token, "kind": "close_early",
                                                         "reason": "x"}).status_code == 403


def test_a_test_poll_is_marked_and_left_out_of_the_public_record(forum_app, forum, session, committee, chairs):  # noqa: F811
    first = chairs["tamsin_ward"]
    token = csrf_token(first, "/polls/new")
    form = {"csrf_token": token, "body": "community", "kind": "decision", "method": "schulze",
            "title": "Rehearsal of the ceremony", "options": "Axolotl\nOtter\n", "opens_at": "2099-01-01T10:00",
            "closes_at": "2099-01-08T10:00", "quorum": "0", "threshold": "1/2", "is_test": "on"}
    assert first.post("/polls/new", data=form).status_code == 302
    session.rollback()
    poll = session.exec(select(Poll).where(Poll.title == "Rehearsal of the ceremony")).one()
    assert poll.is_test
    service.schedule(session=session, actor=committee, charter=charter.current(session), poll=poll, now=NOW)
    session.commit()
    public = forum_app.test_client()
    assert "Rehearsal of the ceremony" not in public.get("/polls/").get_data(as_text=True)
    assert "Rehearsal of the ceremony" not in public.get("/").get_data(as_text=True)
    page = public.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Test poll — not part of the public record" in page
    assert "Rehearsal of the ceremony" in first.get("/polls/").get_data(as_text=True)  # for its managers
    entries = session.exec(select(AuditEntry).where(AuditEntry.poll_id == poll.id)).all()
    assert entries and entries[0].payload.get("test") is True
    index = public.get("/audit/").get_data(as_text=True)
    assert all(f"/audit/entries/{e.seq}" not in index for e in entries)
    assert "poll.created" in public.get(f"/audit/?poll={poll.id}").get_data(as_text=True)
    # A real poll's draft cannot become one after scheduling: its form is closed.
    edit = first.post(f"/polls/{poll.id}/edit", data={**form, "is_test": ""})
    assert edit.status_code == 409
    session.rollback()
    assert session.get(Poll, poll.id).is_test


def test_refusing_needs_a_reason_and_an_unknown_control_changes_nothing(forum_app, session, committee,  # noqa: F811
                                                                         chairs):
    poll = _open(forum_app, session, committee)
    first, second = chairs["tamsin_ward"], chairs["halvard"]
    token = csrf_token(first, f"/polls/{poll.id}/timing")
    odd = first.post(f"/polls/{poll.id}/timing", data={"csrf_token": token, "kind": "rewind", "reason": "x"})
    assert odd.status_code == 400 and b"Choose to open voting now, close it early or extend it." in odd.data
    forum_app.config["FAKE_NOW"] = OPEN + timedelta(hours=4)  # open (since the first page) for over an hour
    first.post(f"/polls/{poll.id}/timing", data={"csrf_token": token, "kind": "close_early", "reason": "Settled."})
    session.rollback()
    change = session.exec(select(TimingChange)).one()
    token2 = csrf_token(second, f"/polls/{poll.id}/timing")
    bare = second.post(f"/polls/{poll.id}/timing/{change.id}/refuse", data={"csrf_token": token2,
                                                                           "decision_reason": " "})
    assert bare.status_code == 400 and b'id="decision-decision_reason-error"' in bare.data
    refused = second.post(f"/polls/{poll.id}/timing/{change.id}/refuse",
                          data={"csrf_token": token2, "decision_reason": "Let it run its course."}, follow_redirects=True)
    assert "Request refused; nothing changed." in refused.get_data(as_text=True)
    session.rollback()
    session.expire_all()
    assert session.get(TimingChange, change.id).status == "refused"
    assert session.get(Poll, poll.id).status == "open" and session.get(Poll, poll.id).closes_at == CLOSE
