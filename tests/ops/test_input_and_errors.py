"""Control characters are refused in every text a request carries, with a 400 that names the
field and changes nothing, on both databases; error pages render when the request's database
session has failed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from governance.models import Amendment, Nomination, Poll
from tests.conftest import csrf_token, login, make_member

POLL_FORM = {"body": "community", "kind": "decision", "method": "irv", "title": "Mascot",
             "options": "Axolotl\nOtter\n", "description": "Line one\r\nLine two\twith a tab",
             "opens_at": "2099-01-01T10:00", "closes_at": "2099-01-08T10:00", "quorum": "0", "threshold": "1/2"}


@pytest.fixture
def committee(session):
    return make_member(session, username="chair", groups=["steering-committee"], trust_level=3)


def _count(session, model) -> int:
    session.rollback()
    return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize("field, value", [
    ("title", "Mas\x00cot"),
    ("title", "Two\nlines"),  # a single-line field: no newline either
    ("options", "Axolotl\nOt\x00ter"),
    ("description", "bell \x07"),
    ("description", "NUL \x00 in a multi-line field"),
    ("title", "C1 control \x85"),
    ("title", "delete \x7f"),
])
def test_a_poll_with_a_control_character_is_refused_and_nothing_is_created(app, client, session, committee,
                                                                          field, value):
    login(app, client, committee)
    token = csrf_token(client, "/polls/new")
    response = client.post("/polls/new", data={**POLL_FORM, "csrf_token": token, field: value})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f"&#39;{field}&#39; contains a control character" in html and "nothing was changed" in html
    assert _count(session, Poll) == 0


def test_tab_newline_and_return_are_fine_in_multi_line_fields(app, client, session, committee):
    login(app, client, committee)
    token = csrf_token(client, "/polls/new")
    response = client.post("/polls/new", data={**POLL_FORM, "csrf_token": token})
    assert response.status_code == 302
    assert session.execute(select(Poll.description_md)).scalar_one() == "Line one\r\nLine two\twith a tab"


def test_a_field_name_with_a_control_character_is_refused(app, client, session, committee):
    login(app, client, committee)
    token = csrf_token(client, "/polls/new")
    response = client.post("/polls/new", data={**POLL_FORM, "csrf_token": token, "ti\x00tle": "x"})
    assert response.status_code == 400 and _count(session, Poll) == 0


def test_a_nomination_statement_with_nul_is_refused(app, client, session, committee):
    login(app, client, committee)
    token = csrf_token(client)
    response = client.post("/polls/1/nominations", data={"csrf_token": token, "statement": "I\x00run"})
    assert response.status_code == 400 and b"statement" in response.data
    assert _count(session, Nomination) == 0


def test_an_amendment_title_with_nul_is_refused(app, client, session, committee):
    login(app, client, committee)
    token = csrf_token(client)
    response = client.post("/documents/roadmap/amendments",
                           data={"csrf_token": token, "title": "Add\x00detail", "rationale": "why", "base": "1"})
    assert response.status_code == 400 and b"title" in response.data
    assert _count(session, Amendment) == 0


def test_a_json_body_with_nul_is_refused_as_json(app, client, session, committee):
    login(app, client, committee)
    token = csrf_token(client)
    response = client.post("/polls/1/ballot", json={"ranking": [["Ash\x00"]]},
                           headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "ranking[0][0]" in error["message"] and "U+0000" in error["message"]


def test_the_500_page_renders_for_a_logged_in_member_after_the_transaction_failed(app, client, session,
                                                                                  committee):
    """The failed request's session is rolled back and not used again: the page needs no database."""
    from governance.db import get_session

    @app.get("/_test/fail")
    def fail():
        db = get_session()
        db.execute(text("SELECT 1/0 FROM charter_version"))  # PostgreSQL aborts the transaction
        return "unreachable"

    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(app, client, committee)
    page = client.get("/_test/fail")
    if page.status_code == 200:  # SQLite divides by zero into NULL: make it fail another way
        pytest.skip("this database did not fail")
    assert page.status_code == 500
    html = page.get_data(as_text=True)
    assert "<h1>Something went wrong <small>(500)</small></h1>" in html
    assert "An unexpected error occurred" in html


def test_the_500_page_renders_when_the_database_is_gone(app, client, session, committee, monkeypatch):
    """Even the member's login cannot be loaded: the page still renders (and says nothing internal)."""
    from sqlalchemy.exc import ProgrammingError

    import governance.identity.login as login_module

    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(app, client, committee)

    def broken(_token):
        raise ProgrammingError("SELECT ...", {}, Exception("relation does not exist"))

    monkeypatch.setattr(login_module.sessions, "resolve", lambda **_kw: broken(None))
    page = client.get("/")
    assert page.status_code in (500, 503)
    assert "<!doctype html>" in page.get_data(as_text=True)
    assert "relation does not exist" not in page.get_data(as_text=True)


def test_pages_of_a_never_migrated_database_say_what_is_wrong(tmp_path, new_app):
    from governance.db import dispose

    app = new_app(f"sqlite:///{tmp_path}/empty.db")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    from governance.db import make_engine

    make_engine(f"sqlite:///{tmp_path}/empty.db").dispose()
    with app.extensions["governance.engine"].connect() as conn:  # an empty file, as SQLite makes one
        conn.exec_driver_sql("SELECT 1")
    client = app.test_client()
    page = client.get("/polls/")
    assert page.status_code == 503
    assert "the database has no schema yet: run flask --app app db upgrade" in page.get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["checks"]["schema"]["ok"] is False
    dispose(app)
