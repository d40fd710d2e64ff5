"""The documents pages over HTTP, on SQLite and PostgreSQL: reading, proposing, publishing, every bad
input refused with a clear message and nothing stored, and the XSS payload list made harmless."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlmodel import select

from governance.models import Amendment
from governance.polls import charter
from governance.proposals import service
from tests.conftest import csrf_token, login
from tests.proposals.roadmap_support import (
    DIFF_TAGS,
    RENDER_ATTRS,
    RENDER_TAGS,
    V1,
    V2,
    XSS_PAYLOADS,
    unsafe_parts,
)
from tests.proposals.test_service import (
    AFTER_GOVERNANCE,
    AFTER_HARD_FORK,
    COMMITTEE,
    GOVERNANCE_DETAIL,
    HARD_FORK_DETAIL,
    NOW,
    committee_publish,
    decide,
    import_roadmap,
    member,
    put_to_vote,
)


@pytest.fixture
def chair(session):
    return member(session, "chair", groups=[COMMITTEE])


@pytest.fixture
def marlow(session):
    return member(session, "marlow")


def switch_client(session):
    """End the fixture session's transaction and forget request state cached in ``g``, if any.

    Where the ``session`` fixture keeps an app context pushed, test requests reuse it, so ``g``
    (the logged-in member, the CSRF token) would leak from one test client to the next; and the
    new client's login session, committed elsewhere, must be visible to the shared session.
    """
    from flask import g, has_app_context

    if has_app_context():
        for name in ("_login_user", "csrf_token"):
            g.pop(name, None)
    session.commit()


def amendments(session) -> list[Amendment]:
    session.rollback()
    session.expire_all()
    return list(session.exec(select(Amendment)).all())


def post_amendment(client, **fields):
    data = {"csrf_token": csrf_token(client, "/documents/roadmap/amendments/new"), "base": "1", "title": "A title",
            "mode": "insert", "action": "propose", **fields}
    return client.post("/documents/roadmap/amendments", data=data)


# === Reading ====================================================================================


def test_pages_of_a_document(app, client, session, chair, marlow):
    import_roadmap(session)
    committee_publish(session, chair, source=V1.rstrip("\n") + "\n\nA closing note.\n", base_number=1)
    assert "Roadmap" in client.get("/documents/").get_data(as_text=True)
    current = client.get("/documents/roadmap").get_data(as_text=True)
    assert "Version 2" in current and 'id="goals"' in current and "A closing note." in current
    first = client.get("/documents/roadmap/v1").get_data(as_text=True)
    assert "This is an older version" in first and "A closing note." not in first
    second = client.get("/documents/roadmap/v2").get_data(as_text=True)
    assert "What this version changed from version 1" in second and "diff-block-inserted" in second
    history = client.get("/documents/roadmap/history").get_data(as_text=True)
    assert "/documents/roadmap/v1" in history and "/documents/roadmap/diff?from=1&amp;to=2" in history
    diff = client.get("/documents/roadmap/diff?from=1&to=2").get_data(as_text=True)
    assert "diff-legend" in diff and '<ins class="diff-ins"><span class="diff-marker">+</span>A closing note.</ins>' in diff
    assert client.get("/documents/roadmap/diff?from=2&to=1").status_code == 200  # either direction


@pytest.mark.parametrize("path, status, words", [
    ("/documents/nope", 404, "no document"),
    ("/documents/roadmap/v9", 404, "no version 9"),
    ("/documents/roadmap/v0", 404, "no version 0"),
    ("/documents/roadmap/diff?from=abc&to=1", 400, "must be a version number"),
    ("/documents/roadmap/diff?from=1&to=99", 404, "no version 99"),
    ("/documents/roadmap/amendments/42", 404, "no amendment 42"),
    ("/documents/roadmap/amendments/99999999999999999999", 404, "no amendment"),
    ("/documents/roadmap/v99999999999999999999", 404, "no version"),
    ("/documents/roadmap/diff?from=-1&to=1", 404, "no version -1"),
    ("/documents/roadmap/diff?from=1&to=99999999999999999999", 404, "no version"),
    ("/documents/roadmap/amendments/new", 302, ""),  # logged out: to the login page
    ("/documents/roadmap/publish", 302, ""),
])
def test_bad_addresses(client, session, path, status, words):
    import_roadmap(session)
    response = client.get(path)
    assert response.status_code == status
    if words:
        assert words in response.get_data(as_text=True)
    else:
        assert "/auth/login" in response.headers["Location"]


# === Proposing ==================================================================================


def test_propose_by_inserting_blocks_then_by_full_text(app, client, session, marlow):
    import_roadmap(session)
    login(app, client, marlow)
    form = client.get("/documents/roadmap/amendments/new").get_data(as_text=True)
    assert f'name="insert-{AFTER_GOVERNANCE}"' in form and 'name="insert--1"' in form
    preview = post_amendment(client, **{f"insert-{AFTER_GOVERNANCE}": GOVERNANCE_DETAIL, "action": "preview"})
    assert preview.status_code == 200 and "Preview (nothing is saved yet)" in preview.get_data(as_text=True)
    assert amendments(session) == []
    response = post_amendment(client, **{f"insert-{AFTER_GOVERNANCE}": GOVERNANCE_DETAIL})
    assert response.status_code == 302
    (detail,) = amendments(session)
    assert detail.kind == "detail" and GOVERNANCE_DETAIL in detail.source_md
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Only new blocks are added" in page and "Inserted (1)" in page and "Open for discussion" in page

    response = post_amendment(client, mode="text", source=V2, title="The May rewrite")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "This changes existing text of version 1" in page
    assert re.search(r"Removed \(\d+\)", page) and "Stabilization" in page
    assert "its words change" in page and "text is added to the end of it" in page
    assert '<del class="diff-del">' in page


def test_lifecycle_buttons_and_lapse_notice(app, client, session, chair, marlow):
    app.config["FAKE_NOW"] = NOW  # the discussion period is counted from the page's clock
    import_roadmap(session)
    login(app, client, marlow)
    post_amendment(client, **{f"insert-{AFTER_GOVERNANCE}": GOVERNANCE_DETAIL})
    post_amendment(client, **{f"insert-{AFTER_GOVERNANCE}": "Terms last two years."}, title="Clash")
    post_amendment(client, **{f"insert-{AFTER_HARD_FORK}": HARD_FORK_DETAIL}, title="Elsewhere")
    first, clash, elsewhere = sorted(amendments(session), key=lambda a: a.id)
    token = csrf_token(client, f"/documents/roadmap/amendments/{first.id}")
    assert client.post(f"/documents/roadmap/amendments/{first.id}/discussion",
                       data={"csrf_token": token}).status_code == 302
    # The forum is unreachable in this test: the topic waits, and the page says so.
    page = client.get(f"/documents/roadmap/amendments/{first.id}").get_data(as_text=True)
    assert "the forum topic is being posted" in page and "Put to the vote" not in page
    refused = client.post(f"/documents/roadmap/amendments/{first.id}/vote", data={"csrf_token": token})
    assert refused.status_code == 303
    assert "Only the managers of community" in client.get(refused.headers["Location"]).get_data(as_text=True)

    chair_client = app.test_client()
    login(app, chair_client, chair)
    switch_client(session)
    token = csrf_token(chair_client, f"/documents/roadmap/amendments/{first.id}")
    opened = chair_client.post(f"/documents/roadmap/amendments/{clash.id}/discussion", data={"csrf_token": token})
    assert opened.headers["Location"].endswith(f"/amendments/{clash.id}")
    # Both are open for discussion; the charter's discussion period must pass before a vote, and only
    # one referendum runs at a time on a document.
    early = chair_client.post(f"/documents/roadmap/amendments/{first.id}/vote", data={"csrf_token": token})
    assert "days of discussion" in chair_client.get(early.headers["Location"]).get_data(as_text=True)
    app.config["FAKE_NOW"] = NOW + timedelta(days=3, minutes=1)
    for amendment in (first, clash):
        response = chair_client.post(f"/documents/roadmap/amendments/{amendment.id}/vote", data={"csrf_token": token})
        assert response.headers["Location"].endswith(f"/amendments/{amendment.id}")
    assert "one referendum runs at a time" in chair_client.get(response.headers["Location"]).get_data(as_text=True)
    session.rollback()
    session.expire_all()
    first, clash = session.get(Amendment, first.id), session.get(Amendment, clash.id)
    assert (first.status, clash.status) == ("voting", "discussion") and first.poll_id and not clash.poll_id
    from governance.models import Poll

    decide(app, session, session.get(Poll, first.poll_id), yes=5)
    app.config["FAKE_NOW"] = None
    switch_client(session)
    page = client.get(f"/documents/roadmap/amendments/{clash.id}").get_data(as_text=True)
    assert "This amendment can no longer be voted on" in page
    assert "Propose it again against the current version" in page
    page = client.get(f"/documents/roadmap/amendments/{elsewhere.id}").get_data(as_text=True)
    assert "first proposed against version 1; re-applied unchanged to version 2" in page
    assert "rebased: from version 1 to version 2" in page and "Draft: not yet open for discussion." in page
    page = client.get(f"/documents/roadmap/amendments/{first.id}").get_data(as_text=True)
    assert "Adopted: it is part of the document." in page and "/documents/roadmap/v2" in page
    version = client.get("/documents/roadmap/v2").get_data(as_text=True)
    assert f"/polls/{first.poll_id}" in version and "yes 5, no 0, abstain 0" in version


def test_adopted_revision_keeps_struck_text_visible(app, client, session, chair, marlow):
    import_roadmap(session)
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                                base_number=1, title="Rewrite", source=V2, now=NOW)
    session.commit()
    decide(app, session, put_to_vote(session, chair, amendment), yes=10)
    page = client.get("/documents/roadmap/v2").get_data(as_text=True)
    assert "Text this version superseded stays here, struck through" in page
    assert '<del class="diff-del"><span class="diff-marker">−</span>### Stabilization</del>' in page
    assert "diff-block-removed" in page and "Removed (" in page


BIG = "x" * 200_001


@pytest.mark.parametrize("fields, status, words", [
    ({"mode": "text", "source": ""}, 400, "The text is empty."),
    ({"mode": "text", "source": "  \r\n "}, 400, "The text is empty."),
    ({"mode": "text", "source": V1}, 400, "changes nothing"),
    ({"mode": "text", "source": V1.replace("\n", "\r\n")}, 400, "changes nothing"),
    ({"mode": "insert"}, 400, "write at least one block to insert"),
    ({"mode": "text", "source": V1 + "\nx\n", "base": "9"}, 400, "has no version 9"),
    ({"mode": "text", "source": V1 + "\nx\n", "base": ""}, 400, "name the version"),
    ({"mode": "text", "source": V1 + "\nx\n", "title": " "}, 400, "give the amendment a short title"),
    ({"mode": "text", "source": BIG}, 400, "the limit is 200,000 bytes"),
    ({"mode": "text", "source": V1 + "\n\x07\n"}, 400, "control character"),
    ({"mode": "text", "source": V1 + "\n\u2066x\n"}, 400, "direction control"),
    ({"mode": "bogus", "source": V1 + "\nx\n"}, 400, "choose full text or inserted blocks"),
    ({"insert-999": "Text."}, 400, "no block 999"),
    ({"insert-abc": "Text."}, 400, "unknown insertion slot"),
    ({"insert-99999999999999999999": "Text."}, 400, "no block 99999999999999999999"),
    ({"mode": "text", "source": V1 + "\nx\n", "base": "99999999999999999999"}, 400, "has no version"),
    ({"mode": "text", "source": V1 + "\nx\n", "supersedes": "99999999999999999999"}, 400, "there is no amendment"),
    ({"mode": "text", "source": "y" * 1_100_000}, 413, "larger than this site accepts"),
])
def test_bad_proposals_are_refused_with_a_message_and_nothing_stored(app, client, session, marlow, fields, status,
                                                                      words):
    import_roadmap(session)
    login(app, client, marlow)
    response = post_amendment(client, **fields)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert words in body or words[:1].upper() + words[1:] in body  # a message is shown as a sentence
    assert amendments(session) == []


def test_superseded_base_and_csrf_and_ineligible(app, client, session, chair, marlow):
    import_roadmap(session)
    login(app, client, marlow)
    token = csrf_token(client, "/documents/roadmap/amendments/new")
    committee_publish(session, chair, source=V1 + "\nNote.\n", base_number=1)
    stale = client.post("/documents/roadmap/amendments", data={"csrf_token": token, "base": "1", "title": "t",
                                                                "mode": "insert", "insert-3": "Text."})
    assert stale.status_code == 409
    assert "Version 1 of Roadmap has been superseded: the current version is 2" in stale.get_data(as_text=True)
    no_token = client.post("/documents/roadmap/amendments", data={"base": "2", "title": "t", "insert-3": "Text."})
    assert no_token.status_code == 400 and "Nothing was changed" in no_token.get_data(as_text=True)
    newcomer_client = app.test_client()
    login(app, newcomer_client, member(session, "newcomer", trust_level=0))
    switch_client(session)
    form = newcomer_client.get("/documents/roadmap/amendments/new").get_data(as_text=True)
    assert "You cannot propose amendments to this document" in form and "trust level 1" in form
    refused = newcomer_client.post("/documents/roadmap/amendments", data={
        "csrf_token": csrf_token(newcomer_client), "base": "2", "title": "t", "insert-3": "Text."})
    assert refused.status_code == 403 and "trust level 1" in refused.get_data(as_text=True)
    assert amendments(session) == []


def test_committee_publish_form(app, client, session, chair, marlow):
    from governance.models import PendingChange
    from tests.charter.charter_support import deliver

    import_roadmap(session)
    login(app, client, marlow)
    assert client.get("/documents/roadmap/publish").status_code == 403
    assert "Publish a version (committee)" not in client.get("/documents/roadmap/v1").get_data(as_text=True)
    login(app, client, chair)
    switch_client(session)
    assert "Publish a version (committee)" in client.get("/documents/roadmap/history").get_data(as_text=True)
    token = csrf_token(client, "/documents/roadmap/publish")
    refused = client.post("/documents/roadmap/publish", data={"csrf_token": token, "base": "1", "action": "preview",
                                                              "source": V2})
    assert refused.status_code == 403 and "propose it as an amendment" in refused.get_data(as_text=True)
    refused = client.post("/documents/roadmap/publish", data={"csrf_token": token, "base": "1", "source": V2,
                                                              "action": "request"})
    assert refused.status_code == 403 and "propose it as an amendment" in refused.get_data(as_text=True)
    unchanged = client.post("/documents/roadmap/publish", data={"csrf_token": token, "base": "1", "source": V1})
    assert unchanged.status_code == 400 and "unchanged" in unchanged.get_data(as_text=True)
    preview = client.post("/documents/roadmap/publish", data={"csrf_token": token, "base": "1", "action": "preview",
                                                              "source": V1 + "\nA note.\n", "note": "clarification"})
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Preview (nothing is published yet)" in page
    assert "What will happen" in page and "a second committee member approves it" in page
    asked = client.post("/documents/roadmap/publish", data={"csrf_token": token, "base": "1", "action": "request",
                                                            "source": V1 + "\nA note.\n", "note": "clarification"})
    assert asked.status_code == 302 and "/charter/changes/" in asked.headers["Location"]
    session.rollback()
    change = session.exec(select(PendingChange)).one()
    assert service.get_document(session, "roadmap").current_version == 1  # nothing before the approval
    second = member(session, "second", groups=[COMMITTEE])
    other = app.test_client()
    login(app, other, second)
    switch_client(session)
    assert other.post(f"/charter/changes/{change.id}/approve",
                      data={"csrf_token": csrf_token(other, f"/charter/changes/{change.id}")}).status_code == 302
    deliver(app, datetime.now(UTC) + timedelta(minutes=1))  # (the pages ran on the real clock)
    page = client.get("/documents/roadmap/v2").get_data(as_text=True)
    assert "the committee's direct publication" in page and "Only new blocks are added" in page
    session.rollback()
    session.expire_all()
    roadmap = service.get_document(session, "roadmap")
    assert [v.number for v in service.list_versions(session, roadmap)] == [2, 1]



# === XSS ========================================================================================


class _PageChecker(HTMLParser):
    """Every way a whole page could run script: script-like tags, on* attributes, unsafe URLs."""

    BAD_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "base", "frame", "frameset"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        from tests.proposals.roadmap_support import url_scheme

        if tag in self.BAD_TAGS and not (tag == "script" and dict(attrs).get("src", "").startswith("/static/")):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name} on <{tag}>")
            if name in ("href", "src", "action", "formaction", "data") and value:
                scheme = url_scheme(value)
                if scheme is not None and scheme not in ("http", "https", "mailto"):
                    self.problems.append(f"{name}={value!r} on <{tag}>")
            if tag == "meta" and name == "http-equiv":
                self.problems.append("meta http-equiv")

    handle_startendtag = handle_starttag


def page_problems(html: str) -> list[str]:
    checker = _PageChecker()
    checker.feed(html)
    checker.close()
    return checker.problems


def _between(html: str, start: str, end: str) -> str:
    i = html.index(start)
    return html[i: html.index(end, i) + len(end)]


STORABLE = [p for p in XSS_PAYLOADS if not any(ord(c) < 32 and c not in "\t\n" for c in p)]


def test_xss_payloads_are_harmless_in_document_history_diff_and_amendment(app, client, session, chair, marlow):
    assert len(STORABLE) >= 60
    half = len(STORABLE) // 2
    text = "# Roadmap\n\n" + "\n\n".join(STORABLE[:half]) + "\n"
    import_roadmap(session, source=text)
    rest = text + "\n" + "\n\n".join(STORABLE[half:]) + "\n"
    committee_publish(session, chair, source=rest, base_number=1)
    amendment = service.propose(session=session, actor=marlow, charter=charter.current(session), slug="roadmap",
                                base_number=2, title="<script>alert(1)</script>", source=rest + "\n" + STORABLE[0],
                                rationale="[x](javascript:alert(1)) <img src=x onerror=alert(1)>", now=NOW)
    session.commit()
    pages = {path: client.get(path) for path in (
        "/documents/", "/documents/roadmap", "/documents/roadmap/v1", "/documents/roadmap/v2",
        "/documents/roadmap/history", "/documents/roadmap/diff?from=1&to=2", "/documents/roadmap/diff?from=2&to=1",
        f"/documents/roadmap/amendments/{amendment.id}")}
    for path, response in pages.items():
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert page_problems(html) == [], path
        assert "<script>alert" not in html.lower(), path
        assert "&lt;script&gt;" in html or path == "/documents/", path
    for path in ("/documents/roadmap", "/documents/roadmap/v2"):
        article = _between(pages[path].get_data(as_text=True), '<article class="document">', "</article>")
        inner = article[len('<article class="document">'):-len("</article>")]
        assert unsafe_parts(inner, tags=RENDER_TAGS, attrs=RENDER_ATTRS) == [], path
    diff = pages["/documents/roadmap/diff?from=1&to=2"].get_data(as_text=True)
    fragment = _between(diff, '<div class="roadmap-diff">', "</ol></div>")
    assert unsafe_parts(fragment, tags=DIFF_TAGS, attrs=frozenset({"class"})) == []


def test_unstorable_payloads_are_refused_with_nothing_stored(app, client, session, marlow):
    import_roadmap(session)
    login(app, client, marlow)
    for payload in [p for p in XSS_PAYLOADS if p not in STORABLE]:
        response = post_amendment(client, mode="text", source=V1 + "\n" + payload + "\n")
        assert response.status_code == 400 and "control character" in response.get_data(as_text=True)
    assert amendments(session) == []
