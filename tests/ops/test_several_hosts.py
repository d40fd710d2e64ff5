"""Two hosts on one PostgreSQL, each a gunicorn master with its own clock, through an election's
whole life: its nominations close once, it opens once and closes once, every forum post and
receipt goes out exactly once (an amendment's discussion topic too), and killing one host mid-vote
loses no acknowledged ballot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from governance.audit import log
from governance.audit.chain import verify_chain
from governance.models import Ballot, Outbox, Poll
from tests.conftest import make_member
from tests.ops.support import ROOT, environment, open_poll, serving, settings, stop
from tests.ops.support import cast as cast_ballot

VOTERS = 24


def _clock(values: dict[str, str]) -> subprocess.Popen:
    """One host's clock: ``flask polls tick --every 1``."""
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "polls", "tick", "--every", "1"],
                            cwd=str(ROOT),
                            env=environment(values), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_hosts_through_an_election_and_an_amendment_discussion(database_url, forum, tmp_path, new_app):
    if not database_url.startswith("postgresql"):
        pytest.skip("several hosts share one PostgreSQL")
    started = time.monotonic()
    values = settings(database_url, DISCOURSE_URL=forum.url, DISCOURSE_CONNECT_SECRET=forum.sso_secret,
                      DISCOURSE_API_KEY=forum.api_key, DISCOURSE_API_USERNAME=forum.api_username)
    app = new_app(database_url, **values)
    voting = open_poll(app, voters=VOTERS, opens_in=4, kind="election", title="Two hosts")
    for i in range(VOTERS):  # receipts go to forum accounts of the same names
        forum.data.add_user(f"voter{i}", created_at=datetime.now(UTC) - timedelta(days=100))
    # An amendment whose discussion topic both clocks will want to post.
    from governance.polls import charter
    from governance.proposals import service as documents

    with Session(app.extensions["governance.engine"], expire_on_commit=False) as db:
        documents.import_document(session=db, charter=charter.current(db), slug="roadmap",
                                  source="# Roadmap\n\n## Goals\n\nShip it.\n", now=datetime.now(UTC))
        db.commit()
        proposer = make_member(db, username="proposer", forum_user_id=90_000)
        amendment = documents.propose(session=db, actor=proposer, charter=charter.current(db), slug="roadmap",
                                      base_number=1, title="More detail", rationale="Because.",
                                      insertions=[(2, "In detail.")], now=datetime.now(UTC))
        documents.open_discussion(session=db, actor=proposer, charter=charter.current(db), amendment=amendment,
                                  now=datetime.now(UTC))
        db.commit()
    engine = app.extensions["governance.engine"]

    clocks = [_clock(values), _clock(values)]
    acked: dict[int, list[str | None]] = {}
    receipts: set[str] = set()
    lock = threading.Lock()
    try:
        with serving(values, log_path=tmp_path / "a.log") as (port_a, host_a), \
                serving(values, log_path=tmp_path / "b.log") as (port_b, _host_b):

            def status() -> str:
                with Session(engine) as s:
                    return s.get(Poll, voting.poll_id).status

            _wait(lambda: status() == "open", 15, "the poll to open")
            voting.refresh_options(engine)  # the candidates, frozen as options at the opening

            def vote(voter: int, port: int, receipt: bool) -> None:
                try:
                    _code, tracker = cast_ballot(port, voting, voter, ["Ash", "Birch", "Cedar"][voter % 3],
                                                receipt=receipt, timeout=5)
                except OSError:
                    _code, tracker = 0, None
                with lock:
                    acked.setdefault(voter, []).append(tracker)
                    if receipt and tracker:
                        receipts.add(tracker)

            # Phase 1: everyone votes once, half through each host, asking for a forum receipt.
            threads = [threading.Thread(target=vote, args=(v, port_a if v % 2 else port_b, True)) for v in range(VOTERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            assert len(receipts) == VOTERS

            def receipts_pending() -> int:
                with Session(engine) as s:
                    return len(s.execute(select(Outbox.id).where(Outbox.kind == "receipt")).all())

            _wait(lambda: receipts_pending() == 0, 15, "the receipts to go out")

            # Phase 2: replacements through both hosts while host A (server and clock) is killed.
            stop_voting = threading.Event()

            def keep_voting(t: int) -> None:
                k = 0
                while not stop_voting.is_set() and k < 200:
                    voter = (t + 4 * k) % VOTERS
                    vote(voter, port_a if (k + t) % 2 else port_b, False)
                    k += 1
                    time.sleep(0.02)

            workers = [threading.Thread(target=keep_voting, args=(t,)) for t in range(4)]
            for t in workers:
                t.start()
            time.sleep(1.0)
            os.killpg(host_a.pid, signal.SIGKILL)
            os.killpg(clocks[0].pid, signal.SIGKILL)
            time.sleep(1.5)
            stop_voting.set()
            for t in workers:
                t.join(20)

            # Voting must last an hour: bring the close forward instead of waiting for it.
            with engine.begin() as conn:
                conn.execute(Poll.__table__.update().where(Poll.__table__.c.id == voting.poll_id)
                             .values(closes_at=datetime.now(UTC) + timedelta(seconds=1)))

            # Host B's clock alone closes the poll and delivers what is owed.
            def settled() -> bool:
                with Session(engine) as s:
                    poll = s.get(Poll, voting.poll_id)
                    owed = s.execute(select(Outbox.id).where(Outbox.done_at.is_(None))).all()
                    return poll.status == "published" and not owed

            _wait(settled, 30, "the close, the count and every forum post")
    finally:
        for proc in clocks:
            stop(proc)

    with Session(engine) as s:
        entries = list(log.entries(s))
        verify_chain([log.as_entry(e) for e in entries])
        kinds = [e.type for e in entries if e.poll_id == voting.poll_id]
        stored = set(s.execute(select(Ballot.tracker).where(Ballot.poll_id == voting.poll_id,
                                                            Ballot.superseded.is_(False))).scalars())
    assert kinds.count("poll.opened") == 1 and kinds.count("poll.closed") == 1, kinds
    assert kinds.count("nominations.closed") == 1, kinds
    assert kinds.count("mix.added") == 1 and kinds.count("poll.decrypted") == 1, kinds  # counted once

    topics = [t["title"] for t in forum.data.topics_created()]
    assert topics.count("Poll open: Two hosts") == 1, topics
    assert sum(1 for t in topics if t.startswith("Amendment: ")) == 1, topics
    replies = [p for p in forum.data.posts_created() if "Results of **Two hosts**" in p.get("raw", "")]
    assert len(replies) == 1
    sent = [m["raw"] for m in forum.data.messages_sent()]
    trackers = [next(line for line in raw.splitlines() if line.startswith("Tracker:")) for raw in sent]
    assert len(trackers) == len(set(trackers)) == VOTERS  # each receipt once

    assert any(None in items for items in acked.values())  # the kill hit while ballots were being sent
    lost = {}
    for voter, items in acked.items():
        acks = [t for t in items if t]
        if acks and acks[-1] not in stored and items[-1] is not None:
            lost[voter] = acks[-1]
    assert lost == {}, f"acknowledged ballots missing: {lost}"
    assert len(stored) == len([v for v, items in acked.items() if any(items)])  # one ballot per voter
    engine.dispose()
    assert time.monotonic() - started < 90
