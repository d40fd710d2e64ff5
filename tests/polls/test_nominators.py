"""Who may nominate: only a member who may vote in the election, for themselves or for another.

An attacker's accounts (staged, suspended, silenced, too new, too low a trust level) try to put a
name forward; each is refused with the reason, and nothing is recorded, not even in the audit log.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from governance.errors import NotEligible
from governance.models import AuditEntry, Nomination
from governance.polls import charter, nominations, service
from governance.polls.service import PollInput
from tests.conftest import csrf_token, login, make_member
from tests.polls.officers_support import CLOSE, NOW, OPEN, members


def _election(session, committee, **changes):
    data = dict(body="community", kind="election", method="scottish", seats=2, title="Steering committee 2027",
                nominations_open_at=NOW - timedelta(minutes=1), nominations_close_at=NOW + timedelta(hours=1),
                opens_at=OPEN, closes_at=CLOSE)
    data.update(changes)
    current = charter.current(session)
    poll = service.create(session=session, actor=committee, charter=current, data=PollInput(**data), now=NOW)
    service.schedule(session=session, actor=committee, charter=current, poll=poll, now=NOW)
    session.commit()
    return poll


def _recorded(session):
    session.rollback()
    return (session.exec(select(func.count()).select_from(Nomination)).one(),
            session.exec(select(func.count()).select_from(AuditEntry)).one())


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", "halvard", "marlow_p", "mailbox_guest", "grumbleweed",
                   "shoutcaps", "fresh_sprout")


@pytest.mark.parametrize(("nominator", "reason"), [
    ("mailbox_guest", "staged forum accounts"),
    ("grumbleweed", "your forum account is suspended"),
    ("shoutcaps", "your forum account is silenced"),
    ("fresh_sprout", "this poll needs trust level 1; yours is 0"),
])
@pytest.mark.parametrize("whom", ["another", "oneself"])
def test_an_ineligible_account_cannot_nominate(forum_app, session, people, nominator, reason, whom):
    poll = _election(session, people["tamsin_ward"])
    before = _recorded(session)
    nominee = people["halvard"] if whom == "another" else people[nominator]
    with pytest.raises(NotEligible) as refused:
        nominations.nominate(session=session, actor=people[nominator], poll=poll, nominee=nominee,
                             statement="Vote for me.", conflicts="", now=NOW, affiliation="")
    assert "only members who may vote in this election may nominate" in refused.value.message.lower()
    assert any(reason in r for r in refused.value.reasons)
    assert _recorded(session) == before


def test_an_account_younger_than_the_rule_cannot_nominate(forum_app, session, people):
    poll = _election(session, people["tamsin_ward"], min_account_age_days=30)
    newcomer = make_member(session, username="newcomer_q", created_days_ago=3, trust_level=3)
    before = _recorded(session)
    with pytest.raises(NotEligible) as refused:
        nominations.nominate(session=session, actor=newcomer, poll=poll, nominee=people["halvard"],
                             statement="", conflicts="", now=NOW)
    assert any("at least 30 days before it opened" in r for r in refused.value.reasons)
    assert _recorded(session) == before


def test_an_eligible_member_nominates_another_and_stands_themselves(forum_app, session, people):
    poll = _election(session, people["tamsin_ward"], min_account_age_days=30)
    nominations.nominate(session=session, actor=people["halvard"], poll=poll, nominee=people["marlow_p"],
                         statement="", conflicts="", now=NOW)
    nominations.nominate(session=session, actor=people["halvard"], poll=poll, nominee=people["halvard"],
                         statement="I keep the build green.", conflicts="", now=NOW, affiliation="")
    session.commit()
    rows = {m.username: n for n, m in nominations.nominations(session, poll)}
    assert set(rows) == {"halvard", "marlow_p"}
    assert rows["halvard"].accepted_at is not None and rows["marlow_p"].accepted_at is None


@pytest.mark.parametrize(("nominator", "reason"), [
    ("mailbox_guest", "staged forum accounts (created by email, never activated) cannot vote"),
    ("fresh_sprout", "this poll needs trust level 1; yours is 0"),
])
def test_the_form_says_why_an_ineligible_nominator_is_refused(forum_app, session, people, nominator, reason):
    poll = _election(session, people["tamsin_ward"])
    forum_app.config["FAKE_NOW"] = NOW
    client = forum_app.test_client()
    login(forum_app, client, people[nominator])
    token = csrf_token(client, f"/polls/{poll.id}")
    before = _recorded(session)
    refused = client.post(f"/polls/{poll.id}/nominations", data={"csrf_token": token, "username": "halvard"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'id="nom-username-error"' in text
    assert "Only members who may vote in this election may nominate" in text and reason in text
    assert 'value="halvard"' in text  # what was typed is kept
    assert _recorded(session) == before
    assert client.get("/audit/").status_code == 200
    assert "nomination.made" not in client.get("/audit/").get_data(as_text=True)
