"""Poll pages over HTTP: creating, voting (every bad input), receipts, results and downloads."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from governance.models import Ballot, Poll
from governance.polls import charter, service
from tests.conftest import cast_ranking, csrf_token, login, sync_member
from tests.polls.test_lifecycle import CLOSE, NOW, OPEN, committee, make_scheduled  # noqa: F401


@pytest.fixture
def web(forum_app, forum):
    """A client of the forum-wired app, with the clock under the test's control."""
    forum_app.config["FAKE_NOW"] = NOW
    return forum_app.test_client()


def at(app, moment):
    app.config["FAKE_NOW"] = moment


def open_poll(app, session, committee, **changes):  # noqa: F811
    poll = make_scheduled(session, committee, **changes)
    at(app, OPEN + timedelta(minutes=1))
    return poll


def option_ids(session, poll):
    session.rollback()
    return {o.label: o.id for o in service.options(session, session.get(Poll, poll.id))}


def test_index_and_poll_page_are_public(forum_app, web, session, committee):  # noqa: F811
    poll = make_scheduled(session, committee)
    assert web.get("/polls/").status_code == 200
    page = web.get(f"/polls/{poll.id}")
    assert page.status_code == 200 and b"Pick the release name" in page.data
    assert b"Forum members whose account was created before the poll opened" in page.data


def test_draft_is_hidden_from_non_managers(forum_app, web, session, committee, forum):  # noqa: F811
    current = charter.current(session)
    from tests.polls.test_lifecycle import decision_input

    poll = service.create(session=session, actor=committee, charter=current, data=decision_input())
    session.commit()
    assert web.get(f"/polls/{poll.id}").status_code == 404
    login(forum_app, web, committee)
    assert web.get(f"/polls/{poll.id}").status_code == 200


def test_committee_creates_a_poll_through_the_form(forum_app, web, session, committee):  # noqa: F811
    login(forum_app, web, committee)
    token = csrf_token(web, "/polls/new")
    form = {"csrf_token": token, "body": "community", "kind": "decision", "method": "schulze",
            "title": "Mascot", "options": "Axolotl\nOtter\n", "opens_at": "2099-01-01T10:00",
            "closes_at": "2099-01-08T10:00", "default_option": "on", "quorum": "0", "threshold": "1/2"}
    response = web.post("/polls/new", data=form)
    assert response.status_code == 302
    poll = session.exec(select(Poll).where(Poll.title == "Mascot")).one()
    assert [o.label for o in service.options(session, poll)] == ["Axolotl", "Otter", "None of the above"]
    bad = web.post("/polls/new", data={**form, "title": "", "options": "Only"})
    assert bad.status_code == 400 and b"Nothing was saved" in bad.data and b"Give the poll a title." in bad.data
    assert len(session.exec(select(Poll)).all()) == 1


def test_member_cannot_create(forum_app, web, session, forum):
    marlow = sync_member(session, forum, "marlow_p")
    login(forum_app, web, marlow)
    assert web.get("/polls/new").status_code == 403


def _tracker_of(response) -> str:
    """The tracker a cast answered with (it redirects to the ballot's receipt)."""
    assert response.status_code == 303, response.data[:300]
    match = re.search(r"/receipt/([0-9a-f]{64})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def test_vote_review_receipt_replace_and_results(forum_app, web, session, committee, forum):  # noqa: F811
    poll = open_poll(forum_app, session, committee)
    voter = sync_member(session, forum, "marlow_p")
    login(forum_app, web, voter)
    page = web.get(f"/polls/{poll.id}/ballot")
    assert page.status_code == 200 and b"Rank the options" in page.data and b"data-credential" in page.data
    ids = option_ids(session, poll)
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    nonce = re.search(rb'name="nonce" value="([0-9a-f]+)"', page.data).group(1).decode()
    form = {"csrf_token": token, "poll": str(poll.id), "nonce": nonce, f"rank-{ids['Birch']}": "1",
            f"rank-{ids['Ash']}": "2", f"rank-{ids['Cedar']}": ""}
    # The plain form first shows what will be cast; nothing is recorded yet.
    review = web.post(f"/polls/{poll.id}/ballot", data=form)
    assert review.status_code == 200 and b"Check your ballot" in review.data
    assert re.search(rb"<li>Birch</li>\s*<li>Ash</li>", review.data) and b"Not ranked: Cedar" in review.data
    session.rollback()
    assert session.exec(select(Ballot)).all() == []
    first = _tracker_of(web.post(f"/polls/{poll.id}/ballot", data={**form, "confirm": "yes"}))
    receipt = web.get(f"/polls/{poll.id}/receipt/{first}")
    assert receipt.status_code == 200 and first[:4].encode() in receipt.data and b"Ballot recorded" in receipt.data
    assert b"Birch" not in receipt.data  # the server cannot show what an encrypted ballot says
    # Submitting the same form again (a resubmission) records nothing new: same ballot, same tracker.
    assert _tracker_of(web.post(f"/polls/{poll.id}/ballot", data={**form, "confirm": "yes"})) == first
    session.rollback()
    assert len(session.exec(select(Ballot)).all()) == 1
    # The ballot page now shows the current tracker.
    again = web.get(f"/polls/{poll.id}/ballot")
    assert b"You have voted" in again.data and first[:4].encode() in again.data
    second = _tracker_of(web.post(f"/polls/{poll.id}/ballot", data={
        **form, "confirm": "yes", f"rank-{ids['Ash']}": "1", f"rank-{ids['Birch']}": "2"}))
    assert first != second
    assert b"replaces your earlier" in web.get(f"/polls/{poll.id}/receipt/{second}").data
    board = web.get(f"/polls/{poll.id}/board", query_string={"tracker": first[:16].upper()})
    assert b"replaced" in board.data and b"Found" in board.data
    # Results stay hidden while open; turnout is live.
    assert web.get(f"/polls/{poll.id}/results").status_code == 409
    assert b"1 voter" in web.get(f"/polls/{poll.id}").data
    at(forum_app, CLOSE)
    results = web.get(f"/polls/{poll.id}/results")
    assert results.status_code == 200 and b"<svg" in results.data and b"Round by round" in results.data
    for fmt, marker in [("json", b'"method"'), ("csv", b"round"), ("txt", b"Ash"), ("blt", b'"Ash"'),
                        ("abif", b"Ash"), ("toi", b"Ash")]:
        download = web.get(f"/polls/{poll.id}/results.{fmt}")
        assert download.status_code == 200 and marker in download.data, fmt
    decrypted = web.get(f"/polls/{poll.id}/ballots")
    assert decrypted.status_code == 200 and b"Ash" in decrypted.data and second.encode() not in decrypted.data
    found = web.get(f"/polls/{poll.id}/board", query_string={"tracker": second[:16]})
    assert b"it counts" in found.data
    assert b"No ballot on this board" in web.get(f"/polls/{poll.id}/board", query_string={"tracker": "0" * 16}).data


def test_a_ballot_encrypted_in_the_browser_is_checked_and_cast(forum_app, web, session, committee, forum):  # noqa: F811
    """The page's script sends only the encrypted ballot; a copy under another credential is refused."""
    import json

    from governance import crypto

    poll = open_poll(forum_app, session, committee)
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    page = web.get(f"/polls/{poll.id}/ballot")
    params = crypto.ElectionParams.from_dict(json.loads(
        re.search(rb'data-params="([^"]+)"', page.data).group(1).decode().replace("&#34;", '"')))
    credential = re.search(rb'data-credential="([0-9a-f]{32})"', page.data).group(1).decode()
    ballot, _secrets = crypto.encrypt_ballot(params, [0, 1, 2], credential)  # Birch first, then Cedar
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    response = web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                          "ballot": json.dumps(ballot)})
    assert _tracker_of(response) == crypto.tracker(ballot)
    # The same ciphertexts under another voter's credential: the proof does not hold for them.
    login(forum_app, web, sync_member(session, forum, "halvard"))
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    copied = web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                        "ballot": json.dumps(ballot)})
    assert copied.status_code == 400 and b"another credential" in copied.data
    other = dict(ballot, credential="0" * 32)
    forged = web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                        "ballot": json.dumps(other)})
    assert forged.status_code == 400 and b"nothing was recorded" in forged.data
    session.rollback()
    assert len(session.exec(select(Ballot)).all()) == 1


@pytest.mark.parametrize("case", ["unknown", "duplicate", "out_of_range", "not_number", "shared_rank",
                                  "other_poll", "no_csrf", "superscript_digit", "huge_number"])
def test_bad_ballots_are_refused_and_change_nothing(forum_app, web, session, committee, forum, case):  # noqa: F811
    poll = open_poll(forum_app, session, committee)
    voter = sync_member(session, forum, "marlow_p")
    login(forum_app, web, voter)
    ids = option_ids(session, poll)
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    base = {"csrf_token": token, "poll": str(poll.id)}
    data = {
        "unknown": {**base, "rank-999999": "1"},
        "duplicate": [("csrf_token", token), ("poll", str(poll.id)), (f"rank-{ids['Ash']}", "1"),
                      (f"rank-{ids['Ash']}", "2")],
        "out_of_range": {**base, f"rank-{ids['Ash']}": "4"},
        "not_number": {**base, f"rank-{ids['Ash']}": "first"},
        "shared_rank": {**base, f"rank-{ids['Ash']}": "1", f"rank-{ids['Birch']}": "1"},
        "other_poll": {**base, "poll": "12345", f"rank-{ids['Ash']}": "1"},
        "no_csrf": {"poll": str(poll.id), f"rank-{ids['Ash']}": "1"},
        "superscript_digit": {**base, f"rank-{ids['Ash']}": "\u00b2"},  # a digit to str.isdigit, not to int()
        "huge_number": {**base, f"rank-{ids['Ash']}": "1" * 5000},  # beyond int()'s digit limit
    }[case]
    if isinstance(data, list):
        from werkzeug.datastructures import MultiDict

        data = MultiDict(data)
    response = web.post(f"/polls/{poll.id}/ballot", data=data)
    assert response.status_code == 400
    assert b"Traceback" not in response.data
    session.rollback()
    assert session.exec(select(Ballot)).all() == []
    assert service.turnout(session, session.get(Poll, poll.id)) == 0


def test_json_ballot_api(forum_app, web, session, committee, forum):  # noqa: F811
    poll = open_poll(forum_app, session, committee)
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    token = csrf_token(web, f"/polls/{poll.id}")
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    ok = web.post(f"/polls/{poll.id}/ballot", json={"ranking": [["Cedar"], ["Ash"]]}, headers=headers)
    assert ok.status_code == 201 and len(ok.json["tracker"]) == 64 and ok.json["seq"] > 0
    bad = web.post(f"/polls/{poll.id}/ballot", json={"ranking": [["Cedar"], ["Cedar"]]}, headers=headers)
    assert bad.status_code == 400 and "ranked more than once" in bad.json["error"]["message"]


def test_ineligible_member_sees_reasons(forum_app, web, session, committee, forum):  # noqa: F811
    poll = open_poll(forum_app, session, committee)
    login(forum_app, web, sync_member(session, forum, "fresh_sprout"))
    page = web.get(f"/polls/{poll.id}")
    assert b"You may not vote in this poll" in page.data and b"trust level" in page.data
    assert web.get(f"/polls/{poll.id}/ballot").status_code == 403


def test_voting_after_close_is_refused(forum_app, web, session, committee, forum):  # noqa: F811
    poll = open_poll(forum_app, session, committee)
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    ids = option_ids(session, poll)
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    at(forum_app, CLOSE + timedelta(seconds=1))
    response = web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                          f"rank-{ids['Ash']}": "1", "confirm": "yes"})
    assert response.status_code == 409


@pytest.mark.parametrize("changes", [
    {"method": "irv"},
    {"method": "schulze"},
    {"method": "ranked-pairs"},
    {"method": "schulze", "default_option": True},
    {"kind": "referendum", "method": "yesno", "options": [], "threshold": "2/3", "quorum": 2},
], ids=["irv", "schulze", "ranked-pairs", "debian-nota", "referendum"])
def test_results_page_and_downloads_for_every_decision_method(forum_app, web, session, committee, forum, changes):  # noqa: F811
    poll = open_poll(forum_app, session, committee, **changes)
    web.get(f"/polls/{poll.id}")  # the clock opens it
    session.rollback()
    poll = session.get(Poll, poll.id)
    labels = [o.label for o in service.options(session, poll)]
    for i, name in enumerate(["marlow_p", "halvard", "inkwell", "rackham", "cadence"]):
        voter = sync_member(session, forum, name)
        ranking = [[labels[i % len(labels)]]] + ([[labels[(i + 1) % len(labels)]]] if poll.kind != "referendum" else [])
        cast_ranking(forum_app, session, poll.id, voter, ranking, OPEN + timedelta(minutes=i))
        session.commit()
    at(forum_app, CLOSE)
    page = web.get(f"/polls/{poll.id}/results")
    assert page.status_code == 200, page.data[:500]
    assert b"Traceback" not in page.data
    if poll.kind == "referendum":  # yes, no, yes, no, yes
        assert b"yes 3, no 2, abstain 0." in page.data
    elif poll.method == "irv":
        assert b"Round by round" in page.data
    else:
        assert b"Pairwise preferences" in page.data
    for fmt in ("json", "csv", "txt", "blt", "abif", "toi"):
        assert web.get(f"/polls/{poll.id}/results.{fmt}").status_code == 200, fmt


def test_results_page_counts_ballots_and_invalid_ones(forum_app, web, session, committee, forum):  # noqa: F811
    """The figures beside the result come from the decrypted ballots: all of them, and those not counted."""
    poll = open_poll(forum_app, session, committee)
    web.get(f"/polls/{poll.id}")  # the clock opens it
    session.rollback()
    poll = session.get(Poll, poll.id)
    labels = [o.label for o in service.options(session, poll)]
    rankings = [[[labels[0]]], [[labels[1]], [labels[0]]], [[labels[0], labels[1]]]]  # the last shares rank 1
    for i, (name, ranking) in enumerate(zip(["marlow_p", "halvard", "inkwell"], rankings, strict=True)):
        cast_ranking(forum_app, session, poll.id, sync_member(session, forum, name), ranking,
                     OPEN + timedelta(minutes=i))
        session.commit()
    at(forum_app, CLOSE)
    page = web.get(f"/polls/{poll.id}/results")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.get_data(as_text=True))
    assert "3 voters · 3 ballots" in text
    assert "(1 invalid, not counted)" in text


def test_every_ballot_attempt_spends_the_vote_limit_once(forum_app, web, session, committee, forum):  # noqa: F811
    """Ballots are counted in their own transaction; refused ones are counted again on their own."""
    from governance.models import RateLimitCounter

    poll = open_poll(forum_app, session, committee)
    forum_app.config["RATELIMIT_VOTE"] = "4/minute"
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    ids = option_ids(session, poll)
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    good = {"csrf_token": token, "poll": str(poll.id), f"rank-{ids['Ash']}": "1", "confirm": "yes"}

    def spent():
        session.rollback()
        return sum(c.count for c in session.exec(select(RateLimitCounter)).all()
                   if c.key.startswith("vote:"))

    assert web.post(f"/polls/{poll.id}/ballot", data=good).status_code == 303
    assert spent() == 1
    bad_form = web.post(f"/polls/{poll.id}/ballot", data={**good, f"rank-{ids['Ash']}": "9"})
    assert bad_form.status_code == 400 and spent() == 2
    bad_json = web.post(f"/polls/{poll.id}/ballot", json={"ranking": [["Nope"]]},
                        headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert bad_json.status_code == 400 and spent() == 3
    at(forum_app, CLOSE + timedelta(seconds=1))  # refused inside the service (409)
    assert web.post(f"/polls/{poll.id}/ballot", data=good).status_code == 409 and spent() == 4
    at(forum_app, OPEN + timedelta(minutes=2))
    over = web.post(f"/polls/{poll.id}/ballot", data={**good, f"rank-{ids['Birch']}": "2"})
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    session.rollback()
    ballots = session.exec(select(Ballot)).all()
    assert len(ballots) == 1
    assert spent() == 4  # a refused request leaves the counter at the limit


def test_a_ballot_that_cannot_get_the_database_in_time_gets_503_and_writes_nothing(
        forum_app, web, session, committee, forum, monkeypatch, database_url):  # noqa: F811
    """SQLite: another writer holds the write lock past the busy timeout."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the single writer lock is SQLite's")
    import governance.db as db

    poll = open_poll(forum_app, session, committee)
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    ids = option_ids(session, poll)
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = forum_app.extensions["governance.engine_immediate"].connect()
    tx = holder.begin()
    try:
        response = web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                              f"rank-{ids['Ash']}": "1", "confirm": "yes"})
    finally:
        tx.rollback()
        holder.close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert b"Nothing you submitted was saved" in response.data
    session.rollback()
    assert session.exec(select(Ballot)).all() == []
    assert web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                      f"rank-{ids['Ash']}": "1", "confirm": "yes"}).status_code == 303


def test_json_ballot_nested_too_deeply_is_refused(forum_app, web, session, committee, forum):  # noqa: F811
    poll = open_poll(forum_app, session, committee)
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    token = csrf_token(web, f"/polls/{poll.id}")
    body = "[" * 5000 + "]" * 5000
    response = web.post(f"/polls/{poll.id}/ballot", data=body, content_type="application/json",
                        headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 400
    session.rollback()
    assert session.exec(select(Ballot)).all() == []


@pytest.mark.parametrize("path", ["/polls/99999999999", "/polls/99999999999/results", "/polls/99999999999/ballot"])
def test_poll_ids_beyond_the_database_are_not_found(forum_app, web, session, forum, path):
    login(forum_app, web, sync_member(session, forum, "marlow_p"))
    assert web.get(path).status_code == 404
    token = csrf_token(web, "/polls/")
    assert web.post("/polls/99999999999/ballot", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize("field, value, words", [
    ("quorum", "99999999999", b"that number is too large"),
    ("opens_at", "0001-01-01T00:00+05:00", b"enter a date and time"),
])
def test_poll_form_values_out_of_range_are_refused(forum_app, web, session, committee, field, value, words):  # noqa: F811
    login(forum_app, web, committee)
    token = csrf_token(web, "/polls/new")
    form = {"csrf_token": token, "body": "community", "kind": "decision", "method": "irv", "title": "Mascot",
            "options": "Axolotl\nOtter\n", "opens_at": "2099-01-01T10:00", "closes_at": "2099-01-08T10:00",
            "quorum": "0", "threshold": "1/2", field: value}
    response = web.post("/polls/new", data=form)
    assert response.status_code == 400 and (words in response.data or words[:1].upper() + words[1:] in response.data)  # a sentence
    session.rollback()
    assert session.exec(select(Poll)).all() == []


def test_the_index_lists_only_the_drafts_of_bodies_you_manage(forum_app, web, session, committee, forum):  # noqa: F811
    from tests.polls.test_lifecycle import decision_input

    current = charter.current(session)
    service.create(session=session, actor=committee, charter=current, data=decision_input(title="Community draft"))
    session.commit()
    forum.data.create_group("sig-security-chairs")  # the charter's managers of a SIG: its chairs
    forum.data.add_to_group("sig-security-chairs", "marlow_p")
    manager = sync_member(session, forum, "marlow_p")  # manages sig-security polls only
    service.create(session=session, actor=manager, charter=current,
                   data=decision_input(body="sig-security", method="schulze", title="Security draft"))
    session.commit()
    login(forum_app, web, manager)
    page = web.get("/polls/").data
    assert b"Security draft" in page and b"Community draft" not in page


@pytest.mark.parametrize("change, status, words", [
    ("suspend", 403, b"suspended"),
    ("silence", 403, b"silenced"),
    ("forum down", 503, b"could not confirm in time"),
])
def test_a_member_who_lost_standing_after_logging_in_cannot_vote(  # noqa: F811
        forum_app, web, session, committee, forum, change, status, words):  # noqa: F811
    """The vote-time rule: a forum record older than 15 minutes is read again before the ballot
    counts; a suspension or silence since then refuses it, and a forum that cannot answer records
    nothing (docs/identity.md)."""
    from datetime import UTC, datetime

    from governance.models import Member

    poll = open_poll(forum_app, session, committee)
    voter = sync_member(session, forum, "marlow_p")
    login(forum_app, web, voter)
    ids = option_ids(session, poll)
    token = csrf_token(web, f"/polls/{poll.id}/ballot")
    session.rollback()
    session.get(Member, voter.id).refreshed_at = datetime.now(UTC) - timedelta(minutes=20)
    session.commit()
    if change == "suspend":
        forum.data.suspend("marlow_p", reason="spam")
    elif change == "silence":
        forum.data.silence("marlow_p", reason="shouting")
    else:
        forum.data.set_delay(10)
    response = web.post(f"/polls/{poll.id}/ballot", data={"csrf_token": token, "poll": str(poll.id),
                                                          f"rank-{ids['Ash']}": "1", "confirm": "yes"})
    assert response.status_code == status and (words in response.data or words[:1].upper() + words[1:] in response.data)
    session.rollback()
    assert session.exec(select(Ballot)).all() == []
    assert service.turnout(session, session.get(Poll, poll.id)) == 0
