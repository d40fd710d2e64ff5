"""The issue's attacks on the rules that protect the roadmap, replayed on SQLite and PostgreSQL: as
one committee member, as two colluding committee members, as a chair during an open referendum.
Each is refused with a reason, or made visible (a forum notice before it takes effect, an audit
event) as the charter says."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from governance.audit import log
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.models import Amendment, CharterVersion, DocumentVersion, PendingChange, Poll
from governance.polls import approvals, charter
from governance.polls import service as polls
from governance.polls.service import PollInput
from governance.proposals import charter_rules
from governance.proposals import service as documents
from tests.charter.charter_support import (
    COMMITTEE,
    body,
    deliver,
    doc,
    editor_form,
    lowered,
    set_charter,
    with_sig,
)
from tests.conftest import csrf_token, login
from tests.proposals.roadmap_support import V1
from tests.proposals.test_service import (
    AFTER_GOVERNANCE,
    GOVERNANCE_DETAIL,
    NOW,
    decide,
    discussed,
    import_roadmap,
    member,
    propose_insertions,
    put_to_vote,
)

REWORDED = V1.replace("We will", "We will fork and maintain Nix, NixPkgs, and NixOS. We will", 1)


@pytest.fixture
def chair(session):
    return member(session, "chair", groups=[COMMITTEE])


@pytest.fixture
def second(session):
    return member(session, "second", groups=[COMMITTEE])


@pytest.fixture(autouse=True)
def clock_at(app):
    app.config["FAKE_NOW"] = NOW


def client_for(app, who):
    client = app.test_client()
    login(app, client, who)
    return client


def post(client, path, data, token_from=None):
    return client.post(path, data={"csrf_token": csrf_token(client, token_from or "/charter/"), **data})


def fresh(session, model, ident):
    session.rollback()
    session.expire_all()
    return session.get(model, ident)


# === One committee member, in under a minute ====================================================


def test_raw_json_publish_is_gone_and_a_lowered_bar_is_a_revision(app, session, chair):
    """Attack 1: the raw JSON with a lowered revision bar and committee revisions, 'Publish'."""
    charter.current(session)
    session.commit()
    web = client_for(app, chair)
    token = csrf_token(web, "/charter/")
    raw = web.post("/charter/", data={"csrf_token": token, "charter": json.dumps(lowered(charter.DEFAULT_CHARTER)),
                                      "note": "x"})
    assert raw.status_code == 405
    exported = web.get("/charter/charter.json")
    assert exported.status_code == 200 and exported.json["rules"]["entrenched"][0] == "rules"

    form = editor_form(lowered(charter.current(session).data))
    preview = post(web, "/charter/edit", form | {"action": "preview"})
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Preview (nothing is saved yet)" in page
    assert "lowers a bar (threshold 2/3 → 1/2" in page and "widens what the committee may publish" in page
    assert "Ask a second committee member to approve" not in page  # a revision cannot be published directly
    refused = post(web, "/charter/edit", form | {"action": "request", "note": "faster"})
    assert refused.status_code == 403 and "revision of the charter" in refused.get_data(as_text=True)
    session.rollback()
    assert [c.number for c in session.exec(select(CharterVersion)).all()] == [1]
    assert session.exec(select(PendingChange)).all() == []
    with pytest.raises(NotAllowed, match="revision of the charter"):
        approvals.request_charter(session=session, actor=chair, charter=charter.current(session),
                                  committee_group=COMMITTEE, data=lowered(charter.current(session).data),
                                  note="faster", now=NOW)
    session.rollback()
    # What it may do: propose it; the charter's own revision bar then applies.
    proposed = post(web, "/charter/edit", form | {"action": "amend", "title": "Faster roadmap changes"})
    assert proposed.status_code == 302
    session.rollback()
    amendment = session.exec(select(Amendment)).one()
    assert amendment.kind == "revision" and amendment.status == "draft"
    poll = put_to_vote(session, chair, amendment)
    assert (poll.threshold, poll.quorum, poll.closes_at - poll.opens_at) == ("3/4", 25, timedelta(days=21))


def test_a_reworded_goal_cannot_be_published_directly(app, session, chair, second):
    """Attack 2: the committee's direct publication of a reworded roadmap goal."""
    import_roadmap(session)
    with pytest.raises(NotAllowed, match="propose it as an amendment"):
        approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                   committee_group=COMMITTEE, slug="roadmap", source=REWORDED, base_number=1, now=NOW)
    session.rollback()
    # Even the effect itself refuses a later version that did not come through the two-person rule.
    with pytest.raises(NotAllowed, match="second committee member"):
        documents.publish_version(session=session, actor=chair, charter=charter.current(session),
                                  committee_group=COMMITTEE, slug="roadmap", source=V1 + "\nMore.\n", base_number=1,
                                  now=NOW)
    session.rollback()
    web = client_for(app, chair)
    response = post(web, "/documents/roadmap/publish", {"base": "1", "source": REWORDED, "action": "request"},
                    token_from="/documents/roadmap/publish")
    assert response.status_code == 403 and "propose it as an amendment" in response.get_data(as_text=True)
    session.rollback()
    assert len(session.exec(select(DocumentVersion).where(DocumentVersion.document_id == 2)).all()) <= 1


def test_nobody_approves_their_own_request(app, session, chair):
    change = approvals.request_charter(session=session, actor=chair, charter=charter.current(session),
                                       committee_group=COMMITTEE, data=with_sig(charter.current(session).data),
                                       note="Release SIG", now=NOW)
    session.commit()
    deliver(app, NOW)
    with pytest.raises(NotAllowed, match="two-person rule"):
        approvals.approve(session=session, actor=chair, charter=charter.current(session), change=change,
                          committee_group=COMMITTEE, now=NOW)
    session.rollback()
    web = client_for(app, chair)
    page = web.get(f"/charter/changes/{change.id}/approve").get_data(as_text=True)
    assert "a second member must approve it" in page
    refused = post(web, f"/charter/changes/{change.id}/approve", {})
    assert refused.status_code == 303
    assert fresh(session, PendingChange, change.id).status == "pending"
    assert charter.current(session).number == 1
    outsider = member(session, "outsider")
    with pytest.raises(NotAllowed):
        approvals.approve(session=session, actor=outsider, charter=charter.current(session), change=change,
                          committee_group=COMMITTEE, now=NOW)


# === Two colluding committee members ============================================================


def test_two_members_publish_detail_only_after_the_forum_is_told(app, session, chair, second):
    charter.current(session)
    session.commit()
    web_a, web_b = client_for(app, chair), client_for(app, second)
    form = editor_form(with_sig(charter.current(session).data))
    asked = post(web_a, "/charter/edit", form | {"action": "request", "note": "A release SIG"})
    assert asked.status_code == 302 and "/charter/changes/" in asked.headers["Location"]
    session.rollback()
    change = session.exec(select(PendingChange)).one()
    assert (change.kind, change.status, change.classification["kind"]) == ("charter", "pending", "detail")
    confirm = web_b.get(f"/charter/changes/{change.id}/approve")
    assert confirm.status_code == 200 and "What will happen" in confirm.get_data(as_text=True)
    assert fresh(session, PendingChange, change.id).status == "pending"  # GET changes nothing
    assert post(web_b, f"/charter/changes/{change.id}/approve", {}).status_code == 302
    # Approved by a second member, but the forum has not been told: still not in force.
    assert fresh(session, PendingChange, change.id).status == "approved"
    assert charter.current(session).number == 1
    forum = deliver(app, NOW + timedelta(minutes=1))
    [notice] = forum.topics
    assert "change the **governance charter** directly, without a vote" in notice["raw"]
    assert f"/charter/changes/{change.id}" in notice["raw"] and change.sha256 in notice["raw"]
    session.rollback()
    assert charter.current(session).number == 2
    assert body(charter.current(session).data, "sig-release")["managers"] == ["sig-release-chairs", COMMITTEE]
    entries = log.entries(session, document="charter")
    order = [e.type for e in entries]
    assert order.index("change.announced") < order.index("change.approved") + 2 < len(order)
    changed = [e for e in entries if e.type == "charter.changed"][-1]
    assert changed.payload["approval"] == {
        "change": change.id, "requested_by": "chair", "approved_by": "second", "waited_days": None,
        "requested_at": log.format_time(NOW), "announced_at": log.format_time(NOW + timedelta(minutes=1))}
    assert order.index("change.announced") < order.index("charter.changed", 1)
    # The charter's document got the same version, with its text.
    version = session.exec(select(DocumentVersion).where(DocumentVersion.change_id == change.id)).one()
    assert charter_rules.parse(version.source_md) == charter.current(session).data


def test_waiting_period_and_objection(app, session, chair, second):
    data = copy.deepcopy(charter.current(session).data)
    data["rules"]["publication"]["waiting_days"] = 2
    set_charter(session, data)
    first = approvals.request_charter(session=session, actor=chair, charter=charter.current(session),
                                      committee_group=COMMITTEE, data=with_sig(data), note="Release SIG", now=NOW)
    other = approvals.request_charter(session=session, actor=chair, charter=charter.current(session),
                                      committee_group=COMMITTEE, data=with_sig(data, "sig-design"), note="Design",
                                      now=NOW)
    session.commit()
    deliver(app, NOW)
    approvals.object_to(session=session, actor=second, charter=charter.current(session), change=other,
                        reason="not discussed", committee_group=COMMITTEE, now=NOW + timedelta(hours=1))
    session.commit()
    engines = dict(engine=app.extensions["governance.engine"], immediate=app.extensions["governance.engine_immediate"])
    assert approvals.run_due(**engines, now=NOW + timedelta(days=1)) == []
    session.rollback()
    assert charter.current(session).number == 2
    assert approvals.run_due(**engines, now=NOW + timedelta(days=2)) == [(first.id, "applied")]
    session.rollback()
    assert charter.current(session).number == 3
    assert fresh(session, PendingChange, other.id).status == "objected"
    assert approvals.run_due(**engines, now=NOW + timedelta(days=30)) == []
    assert "sig-design" not in {b["slug"] for b in charter.current(session).data["bodies"]}


def test_colluding_pair_schedule_a_poll_only_with_notice(app, session, chair, second):
    current = charter.current(session)
    poll = polls.create(session=session, actor=chair, charter=current, data=PollInput(
        body="community", kind="decision", method="irv", title="Release name", options=["Ash", "Birch"],
        opens_at=NOW + timedelta(days=1), closes_at=NOW + timedelta(days=3)))
    session.commit()
    web = client_for(app, chair)
    page = web.get(f"/polls/{poll.id}/schedule").get_data(as_text=True)
    assert "What will happen" in page and "second manager" in page
    assert fresh(session, Poll, poll.id).status == "draft"
    assert client_for(app, chair).post(f"/polls/{poll.id}/schedule").status_code == 400  # no CSRF token
    assert post(web, f"/polls/{poll.id}/schedule", {}, token_from=f"/polls/{poll.id}").status_code == 302
    session.rollback()
    change = session.exec(select(PendingChange)).one()
    # The draft cannot change under the request, and the requester cannot approve it.
    with pytest.raises(Conflict, match="waiting for a second manager"):
        polls.update_draft(session=session, actor=chair, charter=current, poll=fresh(session, Poll, poll.id),
                           data=PollInput(body="community", kind="decision", method="irv", title="Other",
                                          options=["A", "B"], opens_at=NOW + timedelta(days=1),
                                          closes_at=NOW + timedelta(days=3)))
    session.rollback()
    approvals.approve(session=session, actor=second, charter=current, change=change, committee_group=COMMITTEE,
                      now=NOW)
    session.commit()
    assert fresh(session, Poll, poll.id).status == "draft"
    forum = deliver(app, NOW + timedelta(minutes=5))
    assert any("schedule a poll" in t["raw"] for t in forum.topics)
    assert fresh(session, Poll, poll.id).status == "scheduled"
    scheduled = [e for e in log.entries(session, poll_id=poll.id) if e.type == "poll.scheduled"][0]
    assert scheduled.payload["approval"]["approved_by"] == "second"


# === Managers, orphans ==========================================================================


def test_sig_members_are_not_managers_and_an_open_poll_needs_the_committee(app, session, chair):
    current = charter.current(session)
    sig_member = member(session, "sigmember", groups=["sig-security"])
    sig_chair = member(session, "sigchair", groups=["sig-security", "sig-security-chairs"])
    data = PollInput(body="sig-security", kind="decision", method="schulze", title="Pick a scanner",
                     options=["A", "B"], opens_at=NOW + timedelta(days=1), closes_at=NOW + timedelta(days=3))
    with pytest.raises(NotAllowed):
        polls.create(session=session, actor=sig_member, charter=current, data=data)
    session.rollback()
    poll = polls.create(session=session, actor=sig_chair, charter=current, data=data)
    polls.schedule(session=session, actor=sig_chair, charter=current, poll=poll, now=NOW)
    session.commit()
    with pytest.raises(NotAllowed):
        polls.cancel(session=session, actor=sig_member, charter=current, poll=poll, reason="mine")
    session.rollback()
    poll = fresh(session, Poll, poll.id)
    poll.status = "open"  # as the clock leaves it after the opening (the opening itself is not under test)
    session.add(poll)
    session.commit()
    with pytest.raises(NotAllowed, match="only the steering committee"):
        polls.cancel(session=session, actor=sig_chair, charter=current, poll=poll, reason="changed my mind")
    session.rollback()
    with pytest.raises(InvalidInput, match="say why"):
        polls.cancel(session=session, actor=chair, charter=current, poll=fresh(session, Poll, poll.id), reason=" ")
    session.rollback()
    polls.cancel(session=session, actor=chair, charter=current, poll=fresh(session, Poll, poll.id),
                 reason="the options were wrong")
    session.commit()
    assert fresh(session, Poll, poll.id).status == "cancelled"


def test_a_sig_chair_cancels_only_before_the_opening(app, session):
    current = charter.current(session)
    sig_chair = member(session, "sigchair", groups=["sig-security", "sig-security-chairs"])
    poll = polls.create(session=session, actor=sig_chair, charter=current, data=PollInput(
        body="sig-security", kind="decision", method="schulze", title="Pick", options=["A", "B"],
        opens_at=NOW + timedelta(days=1), closes_at=NOW + timedelta(days=3)))
    session.commit()
    polls.cancel(session=session, actor=sig_chair, charter=current, poll=poll, reason="duplicate")
    session.commit()
    assert fresh(session, Poll, poll.id).status == "cancelled"
    poll = polls.create(session=session, actor=sig_chair, charter=current, data=PollInput(
        body="sig-security", kind="decision", method="schulze", title="Pick", options=["A", "B"],
        opens_at=NOW + timedelta(days=1), closes_at=NOW + timedelta(days=3)))
    polls.schedule(session=session, actor=sig_chair, charter=current, poll=poll, now=NOW)
    poll.status = "open"  # as the clock leaves it after the opening
    session.add(poll)
    session.commit()
    with pytest.raises(NotAllowed, match="only the steering committee"):
        polls.cancel(session=session, actor=sig_chair, charter=current, poll=poll, reason="changed my mind")


def test_a_charter_that_would_orphan_a_poll_or_a_document_is_refused(app, session, chair):
    import_roadmap(session)
    current = charter.current(session)
    sig_chair = member(session, "sigchair", groups=["sig-security-chairs"])
    poll = polls.create(session=session, actor=sig_chair, charter=current, data=PollInput(
        body="sig-security", kind="decision", method="schulze", title="Pick", options=["A", "B"]))
    session.commit()
    dropped = copy.deepcopy(current.data)
    dropped["bodies"] = [b for b in dropped["bodies"] if b["slug"] != "sig-security"]
    with pytest.raises(InvalidInput, match=f"still has polls that are not final \\(poll {poll.id}\\)"):
        charter.checked(session, dropped)
    no_roadmap = copy.deepcopy(current.data)
    no_roadmap["documents"] = [d for d in no_roadmap["documents"] if d["slug"] != "roadmap"]
    with pytest.raises(InvalidInput, match="the document 'roadmap' exists"):
        charter.checked(session, no_roadmap)
    long_slug = with_sig(current.data, "s" * 10_000)
    with pytest.raises(InvalidInput, match="at most 40 characters"):
        charter.checked(session, long_slug)
    web = client_for(app, chair)
    form = editor_form(current.data)
    form["body-2-remove"] = "on"  # sig-security
    response = post(web, "/charter/edit", form | {"action": "preview"})
    assert response.status_code == 400 and "still has polls that are not final" in response.get_data(as_text=True)
    form = editor_form(current.data, **{"body-new-slug": "x" * 10_000, "body-new-name": "Long"})
    response = post(web, "/charter/edit", form | {"action": "preview"})
    assert response.status_code == 400 and "at most 40 characters" in response.get_data(as_text=True)
    session.rollback()
    assert charter.current(session).number == 1


@pytest.mark.trustee_charter
def test_the_editor_shows_each_message_next_to_its_field(app, session, chair):
    current = charter.current(session)
    session.commit()
    web = client_for(app, chair)
    form = editor_form(current.data, **{"body-0-trustees-threshold": "5", "body-2-max_seats": "2",
                                        "doc-1-detail-threshold": "1e-5000", "body-1-reminders": "1, x"})
    page = post(web, "/charter/edit", form | {"action": "preview"}).get_data(as_text=True)
    assert "1 ≤ threshold ≤ count ≤ 10" in page and "Only a body that holds elections" in page
    assert "threshold must be a fraction" in page and "Enter a whole number." in page
    trustees = page.index('id="body-0-trustees-threshold"')
    assert page.index("1 ≤ threshold ≤ count ≤ 10", trustees) < page.index('name="body-0-certification-required"')


# === A chair during an open referendum ==========================================================


def test_no_publication_while_a_referendum_on_the_document_is_open(app, session, chair, second):
    """Attack 3: the committee published two versions while a referendum was open."""
    import_roadmap(session)
    amendment = propose_insertions(session, member(session, "marlow"), [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
    poll = put_to_vote(session, chair, amendment)
    with pytest.raises(Conflict, match="frozen while the vote runs"):
        approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                   committee_group=COMMITTEE, slug="roadmap", source=V1 + "\nNote.\n", base_number=1,
                                   now=NOW)
    session.rollback()
    web = client_for(app, chair)
    page = post(web, "/documents/roadmap/publish", {"base": "1", "source": V1 + "\nNote.\n", "action": "preview"},
                token_from="/documents/roadmap/publish")
    assert page.status_code == 409 and "frozen while the vote runs" in page.get_data(as_text=True)
    # The poll page, the amendment page and the bundle name the same texts.
    amendment = fresh(session, Amendment, amendment.id)
    poll_page = web.get(f"/polls/{poll.id}").get_data(as_text=True)
    amendment_page = web.get(f"/documents/roadmap/amendments/{amendment.id}").get_data(as_text=True)
    for digest in (amendment.sha256, amendment.base_sha256):
        assert digest in poll_page and digest in amendment_page
    poll = decide(app, session, poll, yes=5)
    from governance.audit import export

    election = export.election(session, poll)["document_version"]
    assert (election["base_sha256"], election["amended_sha256"]) == (amendment.base_sha256, amendment.sha256)


def test_where_the_charter_allows_it_the_vote_is_voided_with_notice(app, session, chair, second):
    data = copy.deepcopy(charter.current(session).data)
    data["rules"]["open_referendum"] = "void"
    set_charter(session, data)
    import_roadmap(session)
    amendment = propose_insertions(session, member(session, "marlow"), [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
    poll = put_to_vote(session, chair, amendment)
    change = approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                        committee_group=COMMITTEE, slug="roadmap",
                                        source=V1.rstrip("\n") + "\n\nA closing note.\n", base_number=1, now=NOW)
    approvals.approve(session=session, actor=second, charter=charter.current(session), change=change,
                      committee_group=COMMITTEE, now=NOW)
    session.commit()
    forum = deliver(app, NOW)
    assert f"voids the open referendum** poll #{poll.id}" in forum.topics[-1]["raw"]  # told before it happens
    poll, amendment = fresh(session, Poll, poll.id), session.get(Amendment, amendment.id)
    assert session.get(PendingChange, change.id).status == "applied"
    assert poll.status == "cancelled" and "voided" in poll.cancel_reason and "lapse" in poll.cancel_reason
    assert amendment.status == "discussion" and amendment.poll_id is None and amendment.base_number == 2
    assert [h["event"] for h in amendment.history][-2:] == ["vote_voided", "rebased"]


def test_deliberation_before_the_vote(app, session, chair):
    import_roadmap(session)
    amendment = propose_insertions(session, member(session, "marlow"), [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
    documents.open_discussion(session=session, actor=chair, charter=charter.current(session), amendment=amendment,
                              now=NOW)
    session.commit()
    with pytest.raises(Conflict, match="at least 3 days of discussion"):
        documents.start_voting(session=session, actor=chair, charter=charter.current(session), amendment=amendment,
                               now=NOW)
    session.rollback()
    web = client_for(app, chair)
    path = f"/documents/roadmap/amendments/{amendment.id}/vote"
    page = web.get(path).get_data(as_text=True)
    assert "cannot be put to the vote before" in page and " disabled" in page
    refused = post(web, path, {}, token_from=path)
    assert refused.status_code == 303
    assert fresh(session, Amendment, amendment.id).status == "discussion"
    app.config["FAKE_NOW"] = discussed(session, amendment)
    assert post(web, path, {}, token_from=path).status_code == 302
    assert fresh(session, Amendment, amendment.id).status == "voting"


def test_confirmation_pages_change_nothing_on_get(app, session, chair):
    import_roadmap(session)
    marlow = member(session, "marlow")
    amendment = propose_insertions(session, marlow, [(AFTER_GOVERNANCE, GOVERNANCE_DETAIL)])
    web = client_for(app, marlow)
    for step in ("discussion", "withdraw"):
        page = web.get(f"/documents/roadmap/amendments/{amendment.id}/{step}")
        assert page.status_code == 200 and "What will happen" in page.get_data(as_text=True)
    assert fresh(session, Amendment, amendment.id).status == "draft"
    assert web.post(f"/documents/roadmap/amendments/{amendment.id}/discussion").status_code == 400  # no CSRF


# === The charter amended by the community =======================================================


@pytest.mark.parametrize("yes, no, adopted", [(25, 8, True), (24, 9, False)])
def test_a_charter_revision_needs_the_charters_own_bar(app, session, chair, yes, no, adopted):
    current = charter.current(session)
    document = charter.document(session)
    amendment = documents.propose(session=session, actor=member(session, "marlow"), charter=current, slug="charter",
                                  base_number=document.current_version, title="Faster roadmap changes",
                                  source=charter_rules.render(lowered(current.data)), now=NOW)
    session.commit()
    assert amendment.kind == "revision" and amendment.classification["classifier"] == "charter-clauses"
    poll = put_to_vote(session, chair, amendment)
    poll = decide(app, session, poll, yes=yes, no=no)  # 25/33 ≥ 3/4; 24/33 is not
    session.expire_all()
    in_force = charter.current(session)
    if adopted:
        assert in_force.number == 2 and doc(in_force.data, "roadmap")["revision"]["threshold"] == "1/2"
        version = documents.current_version(session, charter.document(session))
        assert (version.number, version.adopted_by, version.poll_id) == (2, "poll", poll.id)
        assert charter_rules.parse(version.source_md) == in_force.data
    else:
        assert in_force.number == 1 and session.get(Amendment, amendment.id).status == "rejected"


def test_the_generic_text_form_cannot_rewrite_the_charter(app, session):
    current = charter.current(session)
    document = charter.document(session)
    session.commit()
    text = charter_rules.render(lowered(current.data)).replace("Roadmap", "Road map", 1)
    with pytest.raises(InvalidInput, match="not the rendering"):
        documents.propose(session=session, actor=member(session, "marlow"), charter=current, slug="charter",
                          base_number=document.current_version, title="x", source=text, now=NOW)
    session.rollback()
    web = client_for(app, member(session, "other"))
    assert web.get("/documents/charter/amendments/new").headers["Location"].endswith("/charter/edit")


@pytest.mark.trustee_charter
def test_charter_page_export_and_history(app, client, session, chair):
    assert client.get("/charter/").status_code == 200
    page = client.get("/charter/").get_data(as_text=True)
    assert "Entrenched clauses" in page and "sig-security-chairs" in page and "2 of 3 trustees" in page
    assert client.get("/charter/charter.json?version=1").json["name"] == "Community governance charter"
    assert client.get("/charter/charter.json?version=99").status_code == 404
    assert client.get("/charter/edit").status_code == 302  # log in first
    assert client.get("/documents/charter").status_code == 200  # the charter is a governed document
    assert "Machine-readable form" in client.get("/documents/charter/v1").get_data(as_text=True)
    web = client_for(app, chair)
    editor = web.get("/charter/edit").get_data(as_text=True)
    assert 'name="body-0-key_mode"' in editor and 'name="body-2-max_seats"' in editor
    assert "Ask a second committee member" not in editor  # only after a preview of detail
    preview = post(web, "/charter/edit", editor_form(with_sig(charter.current(session).data)) | {"action": "preview"})
    page = preview.get_data(as_text=True)
    assert "Ask a second committee member to approve" in page and "diff-block-inserted" in page
    assert "Release SIG" in page and "adds a body" in page
    unchanged = post(web, "/charter/edit", editor_form(charter.current(session).data) | {"action": "preview"})
    assert unchanged.status_code == 400 and "The charter is unchanged" in unchanged.get_data(as_text=True)


def test_a_request_lapses_when_the_charter_stops_allowing_it(app, session, chair, second):
    import_roadmap(session)
    change = approvals.request_document(session=session, actor=chair, charter=charter.current(session),
                                        committee_group=COMMITTEE, slug="roadmap", source=V1 + "\nMore.\n",
                                        base_number=1, now=NOW)
    approvals.approve(session=session, actor=second, charter=charter.current(session), change=change,
                      committee_group=COMMITTEE, now=NOW)
    session.commit()
    stricter = copy.deepcopy(charter.current(session).data)
    doc(stricter, "roadmap")["committee_may_publish"] = []
    set_charter(session, stricter)
    deliver(app, NOW)
    change = fresh(session, PendingChange, change.id)
    assert change.status == "lapsed" and "does not let the committee publish" in change.reason
    assert documents.get_document(session, "roadmap").current_version == 1
    assert [e.type for e in log.entries(session, document="roadmap")][-1] == "change.lapsed"
