"""The nomination and acceptance forms: each problem shown beside its field on the poll page, with
the rules stated there, what was typed kept, and nothing saved. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from governance.models import Nomination
from governance.polls import nominations
from tests.conftest import csrf_token, login
from tests.polls.officers_support import NOW, members
from tests.polls.test_affiliations import _election


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", "halvard", "marlow_p")


def test_standing_without_a_statement_is_shown_on_the_form(forum_app, session, people):
    poll = _election(session, people["tamsin_ward"])
    forum_app.config["FAKE_NOW"] = NOW
    client = forum_app.test_client()
    login(forum_app, client, people["halvard"])
    page = client.get(f"/polls/{poll.id}").get_data(as_text=True)
    assert "Required when you stand yourself" in page  # the rule beside the field, before any mistake
    token = csrf_token(client, f"/polls/{poll.id}")
    refused = client.post(f"/polls/{poll.id}/nominations", data={"csrf_token": token, "statement": "  ",
                                                                 "conflicts": "I chair the release team."})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'id="nom-statement-error"' in text and "Write a short statement for voters." in text
    assert "I chair the release team." in text  # what was typed is kept
    assert "Candidates" in text  # the poll page itself, not a dead end
    session.rollback()
    assert session.exec(select(Nomination)).all() == []


def test_nominating_someone_unknown_is_shown_beside_the_username(forum_app, session, people):
    poll = _election(session, people["tamsin_ward"])
    forum_app.config["FAKE_NOW"] = NOW
    client = forum_app.test_client()
    login(forum_app, client, people["halvard"])
    token = csrf_token(client, f"/polls/{poll.id}")
    refused = client.post(f"/polls/{poll.id}/nominations", data={"csrf_token": token, "username": "nobody_here"})
    assert refused.status_code == 400 and b'id="nom-username-error"' in refused.data
    assert b"has not logged in here yet" in refused.data and b'value="nobody_here"' in refused.data


def test_accepting_without_a_statement_is_shown_on_the_accept_form(forum_app, session, people):
    poll = _election(session, people["tamsin_ward"])
    nominations.nominate(session=session, actor=people["halvard"], poll=poll, nominee=people["marlow_p"],
                         statement="", conflicts="", now=NOW)
    session.commit()
    forum_app.config["FAKE_NOW"] = NOW
    client = forum_app.test_client()
    login(forum_app, client, people["marlow_p"])
    token = csrf_token(client, f"/polls/{poll.id}")
    refused = client.post(f"/polls/{poll.id}/nominations/accept", data={"csrf_token": token, "statement": ""})
    assert refused.status_code == 400 and b'id="acc-statement-error"' in refused.data
    assert b"Required: a few words for voters" in refused.data
    session.rollback()
    assert session.exec(select(Nomination)).one().accepted_at is None
    ok = client.post(f"/polls/{poll.id}/nominations/accept", data={"csrf_token": token, "statement": "Yes."})
    assert ok.status_code == 302
