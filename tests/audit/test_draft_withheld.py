"""A draft poll's wording is the managers' working copy: the public audit pages never show it.

An anonymous reader walks every audit page and JSON (the index and its filters and pages, each
entry, the tree head, proofs, the tracker look-up) while drafts exist, and never sees a draft's
title, description or options; the chain still checks. Once the poll is scheduled, its entries
show in full; a draft cancelled before scheduling stays withheld. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import deque

import pytest

from governance.audit import export, log
from governance.audit.withheld import MESSAGE
from governance.polls import charter, service
from governance.polls.service import PollInput
from tests.conftest import login
from tests.polls.officers_support import CLOSE, NOW, OPEN, members, schedule

TITLE = "Merge the infra and security SIGs"
DESCRIPTION = "Quietly fold sig-security into sig-infra"
OPTIONS = ["Fold now", "Fold next spring"]
EDITED = "Retire the old build farm"
CANCELLED = "Rename the project to Quux"
SECRETS = (TITLE, DESCRIPTION, *OPTIONS, EDITED, CANCELLED)
LINK = re.compile(r'href="(/audit/[^"#]*)"')


@pytest.fixture
def people(session, forum):
    return members(session, forum, "tamsin_ward", "halvard")


def _draft(session, committee, title, **changes):
    data = dict(body="community", kind="decision", method="irv", title=title, description=DESCRIPTION,
                options=list(OPTIONS), opens_at=OPEN, closes_at=CLOSE)
    data.update(changes)
    poll = service.create(session=session, actor=committee, charter=charter.current(session),
                          data=PollInput(**data), now=NOW)
    session.commit()
    return poll


def _walk(client, session, extra=()):
    """Every audit page and JSON an anonymous reader can reach: each link followed, each entry, the
    head, the tracker look-up and the poll filters; {path: text}."""
    seen: dict[str, str] = {}
    size = len(log.entries(session))
    queue = deque(["/audit/", "/audit/head", "/audit/head.json", "/audit/tracker",
                   *(f"/audit/entries/{seq}" for seq in range(size)), *extra])
    while queue:
        path = queue.popleft().replace("&amp;", "&")
        if path in seen or len(seen) > 400:
            continue
        response = client.get(path)
        assert response.status_code < 500, path
        if response.mimetype == "application/zip":  # a bundle: every file in it
            with zipfile.ZipFile(io.BytesIO(response.data)) as bundle:
                seen[path] = "\n".join(bundle.read(n).decode("utf-8", "replace") for n in bundle.namelist())
            continue
        seen[path] = text = response.get_data(as_text=True)
        queue.extend(p for p in LINK.findall(text) if p not in seen)
    return seen


def _leaks(pages):
    return sorted({(path, s) for path, text in pages.items() for s in SECRETS if s in text})


def test_an_anonymous_reader_never_sees_a_draft_until_it_is_scheduled(forum_app, session, people):
    committee = people["tamsin_ward"]
    public = schedule(session, committee, title="Pick the release name")  # a scheduled poll shows in full
    draft = _draft(session, committee, TITLE)
    service.update_draft(session=session, actor=committee, charter=charter.current(session), poll=draft,
                         data=PollInput(body="community", kind="decision", method="irv", title=EDITED,
                                        description=DESCRIPTION, options=list(OPTIONS), opens_at=OPEN,
                                        closes_at=CLOSE))
    gone = _draft(session, committee, CANCELLED)
    service.cancel(session=session, actor=committee, charter=charter.current(session), poll=gone,
                   reason="Not now.")
    session.commit()
    log.make_head(session=session, reason="test")  # so the entry pages carry inclusion proofs
    session.commit()
    session.rollback()

    client = forum_app.test_client()
    extra = [f"/audit/?poll={p}" for p in (public.id, draft.id, gone.id)] + [
        f"/audit/tracker?poll={draft.id}&tracker=0123abcd", f"/audit/polls/{draft.id}/bundle.zip",
        f"/polls/{draft.id}", f"/polls/{gone.id}", "/polls/"]
    pages = _walk(client, session, extra)
    assert _leaks(pages) == [], _leaks(pages)
    shown = next(e for e in log.entries(session, poll_id=public.id) if e.type == "poll.created")
    assert "Pick the release name" in pages[f"/audit/entries/{shown.seq}"]  # a scheduled poll's: in full

    # Each withheld entry still shows where it is in the chain: its hash, the one before, the proof.
    drafts = [e for e in log.entries(session) if e.poll_id in (draft.id, gone.id)]
    assert {e.type for e in drafts} >= {"poll.created", "poll.edited", "poll.cancelled"}
    for entry in drafts:
        page = pages[f"/audit/entries/{entry.seq}"]
        assert MESSAGE in page and entry.hash in page and entry.prev_hash in page
        assert "The proof below leads from this entry to that root." in page
    assert "content withheld" in pages[f"/audit/?poll={draft.id}"]
    assert export.check_log(session).problem is None  # the log checks for anyone, drafts and all

    # The committee member working on the draft still sees it.
    manager = forum_app.test_client()
    login(forum_app, manager, committee)
    assert EDITED in manager.get(f"/polls/{draft.id}").get_data(as_text=True)

    # Scheduled: its entries show in full, on every audit page; the cancelled draft stays withheld.
    session.rollback()
    service.schedule(session=session, actor=committee, charter=charter.current(session), poll=draft, now=NOW)
    session.commit()
    pages = _walk(client, session, extra)
    created = next(e for e in log.entries(session, poll_id=draft.id) if e.type == "poll.created")
    assert TITLE in pages[f"/audit/entries/{created.seq}"]
    assert MESSAGE not in pages[f"/audit/entries/{created.seq}"]
    assert EDITED in pages[f"/audit/entries/{created.seq + 1}"]
    assert {secret for path, secret in _leaks(pages) if path.startswith("/audit/")} <= {TITLE, EDITED}
    cancelled = [e for e in log.entries(session, poll_id=gone.id)]
    assert all(MESSAGE in pages[f"/audit/entries/{e.seq}"] for e in cancelled)
    assert not any(CANCELLED in t for p, t in pages.items() if p.startswith("/audit/"))
    assert export.check_log(session).problem is None
