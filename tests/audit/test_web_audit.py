"""The audit pages: the log, one entry, the head, bundle downloads and tracker look-up.

Runs on SQLite and PostgreSQL, with polls driven through their real lifecycle.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from governance.audit import log
from governance.audit.signing import key_id
from governance.audit.verifier import verify_bundle
from tests.audit.test_export_support import (
    GROUP_BALLOTS,
    group_poll,
    open_and_vote,
    schedule_decision,
)
from tests.conftest import login, make_member

ROW = re.compile(r"<tr>.*?</tr>", re.S)



@pytest.fixture
def published(forum_app, forum, session, keys):
    """A published sig-security decision."""
    return group_poll(forum_app, forum, session)


def _html(response) -> str:
    return response.get_data(as_text=True)


# === Pages render ===============================================================================


def test_log_page_lists_entries_newest_first_and_filters_by_poll(forum_app, forum, session, published):
    client = forum_app.test_client()
    other = schedule_decision(session, forum, body="community", manager="tamsin_ward")
    page = client.get("/audit/")
    assert page.status_code == 200
    html = _html(page)
    seqs = [int(s) for s in re.findall(r'href="/audit/entries/(\d+)"', html)]
    assert seqs == sorted(seqs, reverse=True) and seqs[0] == len(log.entries(session)) - 1
    assert "poll.created" in html and "results.published" in html
    assert "Content-Security-Policy" in page.headers and "<script" not in html and "style=" not in html

    only = _html(client.get(f"/audit/?poll={other}"))
    polls = set(re.findall(r'href="/audit/\?poll=(\d+)"', only))
    assert polls == {str(other)}
    assert f"/audit/polls/{other}/bundle.zip" in only


def test_log_page_is_paged(app, session):
    for i in range(120):
        log.record(session=session, type="charter.changed", actor="steward", payload={"n": i})
    session.commit()
    client = app.test_client()
    first = _html(client.get("/audit/"))
    assert "Page 1 of 3 (120 entries)" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert '/audit/entries/119"' in first and '/audit/entries/69"' not in first
    last = _html(client.get("/audit/?page=3"))
    assert '/audit/entries/0"' in last and 'rel="next"' not in last
    assert "Page 3 of 3" in _html(client.get("/audit/?page=2000"))


def test_entry_page_shows_canonical_json_hash_prev_link_and_a_verified_proof(forum_app, session, published):
    client = forum_app.test_client()
    entries = log.entries(session)
    middle = entries[len(entries) // 2]
    html = _html(client.get(f"/audit/entries/{middle.seq}"))
    assert middle.hash in html and middle.prev_hash in html
    assert f'href="/audit/entries/{middle.seq - 1}"' in html
    assert log.as_entry(middle).to_dict()["hash"] in html
    canonical = re.search(r"<pre><code>(.*?)</code></pre>", html, re.S).group(1)
    assert json.loads(canonical.replace("&#34;", '"').replace("&quot;", '"'))["seq"] == middle.seq
    assert "The proof below leads from this entry to that root." in html
    assert "genesis" in _html(client.get("/audit/entries/0"))
    assert client.get(f"/audit/entries/{len(entries) + 5}").status_code == 404


def test_entry_newer_than_the_head_says_so(app, session):
    log.record(session=session, type="charter.changed", actor="steward", payload={})
    log.make_head(session=session, reason="test")
    log.record(session=session, type="charter.changed", actor="steward", payload={})
    session.commit()
    client = app.test_client()
    assert "The proof below leads" in _html(client.get("/audit/entries/0"))
    assert "newer than the latest tree head" in _html(client.get("/audit/entries/1"))


def test_head_page_and_json_show_the_signed_head_and_public_key(forum_app, session, published, keys):
    from sqlmodel import select

    from governance.models import TreeHead

    client = forum_app.test_client()
    head = session.exec(select(TreeHead).order_by(TreeHead.id.desc())).first()  # the newest: at the count
    html = _html(client.get("/audit/head"))
    assert head.root_hash in html and head.signature in html
    assert keys[1].decode().splitlines()[1] in html and key_id(keys[1]) in html
    data = client.get("/audit/head.json").get_json()
    assert data["root_hash"] == head.root_hash and data["tree_size"] == head.tree_size
    assert data["signature"] == head.signature and data["key_id"] == key_id(keys[1])
    assert data["public_key"] == keys[1].decode()


def test_head_pages_before_the_first_head(client):
    assert "No tree head has been made yet" in _html(client.get("/audit/head"))
    missing = client.get("/audit/head.json")
    assert missing.status_code == 404 and missing.get_json()["error"]["status"] == 404


def test_bundle_download_verifies_and_is_refused_before_the_close(forum_app, forum, session, published, keys):
    client = forum_app.test_client()
    response = client.get(f"/audit/polls/{published.poll_id}/bundle.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f"poll-{published.poll_id}-audit.zip" in response.headers["Content-Disposition"]
    assert verify_bundle(response.get_data(), public_key=keys[1]).ok

    open_id = schedule_decision(session, forum, body="sig-security", manager="vexillum")
    refused = client.get(f"/audit/polls/{open_id}/bundle.zip")
    assert refused.status_code == 409 and "once voting has closed" in _html(refused)
    assert client.get("/audit/polls/999/bundle.zip").status_code == 404


# === Tracker look-up ============================================================================


def test_voter_finds_their_ballot_by_tracker(forum_app, published):
    """Encrypted ballots: the look-up sends the voter to the poll's bulletin board, where the tracker is."""
    client = forum_app.test_client()
    assert "Look up" in _html(client.get("/audit/tracker"))
    for tracker in published.trackers.values():
        response = client.get(f"/audit/tracker?poll={published.poll_id}&tracker={tracker}")
        assert response.status_code == 302 and f"/polls/{published.poll_id}/board" in response.headers["Location"]
        html = _html(client.get(f"/audit/tracker?poll={published.poll_id}&tracker={tracker}", follow_redirects=True))
        assert tracker[:4] in html and "it counts" in html
    # Upper case and surrounding spaces, as copied from a receipt, are accepted.
    tracker = published.trackers["nullroute"]
    found = client.get(f"/audit/tracker?poll={published.poll_id}&tracker=%20{tracker.upper()}%20",
                       follow_redirects=True)
    assert "it counts" in _html(found)
    unknown = client.get(f"/audit/tracker?poll={published.poll_id}&tracker={'0' * 16}", follow_redirects=True)
    assert "No ballot on this board has that tracker" in _html(unknown)


def test_tracker_while_open_is_on_the_board_and_says_nothing_of_the_vote(forum_app, forum, session, keys):
    poll_id = schedule_decision(session, forum, body="sig-security", manager="vexillum")
    driven = open_and_vote(forum_app, forum, session, poll_id, {"vexillum": [["Ash"]]})
    response = forum_app.test_client().get(f"/audit/tracker?poll={poll_id}&tracker={driven.trackers['vexillum']}",
                                           follow_redirects=True)
    assert response.status_code == 200
    html = _html(response)
    assert "it counts" in html
    assert "Ash" not in html.split('<main id="main"', 1)[1]


@pytest.mark.parametrize("query, field", [
    ("poll=abc&tracker=0123456789abcdef", "poll"),
    ("poll=-1&tracker=0123456789abcdef", "poll"),
    ("poll=0&tracker=0123456789abcdef", "poll"),
    ("poll=99999999999999999999999&tracker=0123456789abcdef", "poll"),
    ("poll=1.5&tracker=0123456789abcdef", "poll"),
    ("tracker=0123456789abcdef", "poll"),
    ("poll=1&tracker=", "tracker"),
    ("poll=1&tracker=xyz", "tracker"),
    ("poll=1&tracker=0123", "tracker"),
    ("poll=1&tracker=" + "a" * 200, "tracker"),
    ("poll=1&tracker=%27%20OR%201=1--", "tracker"),
    ("poll=1&tracker=%00%00%00%00%00%00%00%00", "tracker"),
    ("poll=%F0%9F%98%80&tracker=%3Cscript%3E", "poll"),
])
def test_tracker_refuses_garbage_with_a_clear_400(client, query, field):
    response = client.get(f"/audit/tracker?{query}")
    assert response.status_code == 400
    html = _html(response)
    assert ("Poll must be a positive whole number" in html or "Give a poll number" in html) if field == "poll" \
        else "A tracker is 8 to 128" in html  # shown as sentences
    assert "<script>" not in html


@pytest.mark.parametrize("path, status", [
    ("/audit/?poll=abc", 400),
    ("/audit/?poll=99999999999999999999", 400),
    ("/audit/?page=-3", 400),
    ("/audit/?page=x", 400),
    ("/audit/entries/99999999999999999999", 404),
    ("/audit/entries/-1", 404),
    ("/audit/polls/99999999999999999999/bundle.zip", 404),
    ("/audit/tracker?poll=424242&tracker=0123456789abcdef", 404),
])
def test_bad_addresses_get_a_4xx_never_a_500(client, path, status):
    assert client.get(path).status_code == status


# === Secrecy ====================================================================================


def test_no_audit_page_puts_a_username_next_to_a_tracker(forum_app, session, published):
    client = forum_app.test_client()
    trackers = set(published.trackers.values())
    voters = set(GROUP_BALLOTS)
    pages = ["/audit/", f"/audit/?poll={published.poll_id}", "/audit/head"]
    pages += [f"/audit/entries/{e.seq}" for e in log.entries(session)]
    pages += [f"/audit/tracker?poll={published.poll_id}&tracker={t}" for t in trackers]
    for path in pages:
        html = _html(client.get(path, follow_redirects=True))
        # Rows of the log: a row with a tracker names no voter.
        for row in ROW.findall(html):
            if any(t in row for t in trackers):
                assert not any(v in row for v in voters), (path, row)
        # Pages about one ballot or tracker name no voter at all (the manager only on their own entries).
        if "/entries/" in path or "/tracker" in path:
            if any(t in html for t in trackers):
                main = html.split('<main id="main"', 1)[1]
                assert not any(v in main for v in voters), path
    bundle = client.get(f"/audit/polls/{published.poll_id}/bundle.zip").get_data()
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        for name in ("ballots.jsonl", "ballots.blt", "ballots.abif", "ballots.toi"):
            assert not any(v.encode() in zf.read(name) for v in voters), name


def test_logins_are_not_governance_events(app, client, session):
    member = make_member(session, username="quiet_voter")
    before = len(log.entries(session))
    login(app, client, member)
    assert client.get("/audit/").status_code == 200
    session.expire_all()
    assert len(log.entries(session)) == before
    assert "quiet_voter" not in _html(client.get("/audit/")).split('<main id="main"', 1)[1]
