"""A crash (kill -9 of every server process) while votes arrive loses no acknowledged ballot.

The real app runs under gunicorn (production settings, two workers) on a fresh database; a few
client threads cast ballots over HTTP and remember each voter's acknowledged trackers. Part-way
through, the whole gunicorn process group gets SIGKILL. A fresh engine then must find every
voter's last acknowledged tracker in the ballot table (unless a later request of that voter went
unanswered: it may have replaced the ballot just before the kill, and then an unacknowledged
ballot must be there instead), a consistent database (integrity check on
SQLite, an unbroken audit chain, one participation row per ballot), and an app that takes a new
ballot on it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select, text

from bench.common import voter_cookies
from governance.audit import log
from governance.audit.chain import verify_chain
from governance.db import dispose as dispose_engines
from governance.db import make_engine
from governance.models import Ballot, Member, Participation, Poll
from governance.polls import charter, clock, service
from tests.conftest import make_test_app

ROOT = Path(__file__).resolve().parents[2]
USER_AGENT = "crash-test"
TRACKER_RE = re.compile(r"/receipt/([0-9a-f]{64})$")  # a cast answers 303 to its receipt
VOTERS = 40
THREADS = 4
ACKS_BEFORE_KILL = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(database_url: str) -> dict:
    return {
        "ENV": "production",
        "SECRET_KEY": "k" + secrets.token_hex(32),
        "DISCOURSE_CONNECT_SECRET": "c" + secrets.token_hex(16),
        "DISCOURSE_API_KEY": "a" + secrets.token_hex(16),
        "DATABASE_URL": database_url,
        "BASE_URL": "http://127.0.0.1",
        "DISCOURSE_URL": f"http://127.0.0.1:{_free_port()}",  # closed: casting never calls the forum
        "RATELIMIT_VOTE": "100000/minute",
    }


def _prepare(app) -> tuple[Poll, dict[str, int], list[tuple[str, str]], datetime]:
    """An open-soon community poll and VOTERS members, each with a signed session cookie and CSRF token."""

    from governance.db import get_session
    from governance.identity import sessions

    now = datetime.now(UTC)
    opens = now + timedelta(seconds=2)
    with app.app_context():
        db = get_session()
        committee = Member(forum_user_id=1, username="committee", trust_level=3, groups=["steering-committee"],
                           forum_created_at=now - timedelta(days=400))
        db.add(committee)
        db.flush()
        current = charter.current(db)
        data = service.PollInput(body="community", kind="decision", method="irv", title="Crash test",
                                 options=["Ash", "Birch", "Cedar"], opens_at=opens, closes_at=now + timedelta(days=1))
        poll = service.create(session=db, actor=committee, charter=current, data=data)
        service.schedule(session=db, actor=committee, charter=current, poll=poll, now=now)
        members = [Member(forum_user_id=100 + i, username=f"voter{i}", trust_level=1,
                          forum_created_at=now - timedelta(days=100), refreshed_at=now) for i in range(VOTERS)]
        db.add_all(members)
        db.flush()
        tokens = [sessions.start(session=db, member=m, lifetime=timedelta(hours=1)) for m in members]
        option_ids = {o.label: o.id for o in service.options(db, poll)}
        db.commit()
    cookies = voter_cookies(app, tokens, user_agent=USER_AGENT)
    return poll, option_ids, cookies, opens


@contextlib.contextmanager
def _gunicorn(settings: dict, port: int):
    """gunicorn serving app:app in its own process group; SIGKILLed (all of it) on exit at the latest."""
    env = {**os.environ, **{f"GOVERNANCE_{k}": v for k, v in settings.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                             "--log-level", "warning", "app:app"], cwd=str(ROOT), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")[-2000:]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            assert time.monotonic() < deadline, "gunicorn did not start within 20 s"
            time.sleep(0.1)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()


def _cast_until_killed(port: int, poll_id: int, option_ids: dict[str, int], cookies, cookie_name: str,
                       stop: threading.Event, history: dict[int, list[str | None]], counts: dict[str, int],
                       lock: threading.Lock, t: int) -> None:
    """Cast ballots for voters t, t+THREADS, ... (each voter in one thread only, so in order).

    ``history[voter]`` lists the voter's acknowledged trackers in order, with None for a request
    that got no answer (it may or may not have been recorded before the kill).
    """
    mine = list(range(t, VOTERS, THREADS))
    labels = list(option_ids)
    k = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set() and k < 2000:  # bounded even if the kill never comes
        voter = mine[k % len(mine)]
        k += 1
        cookie, csrf = cookies[voter]
        first = labels[(voter + k) % len(labels)]
        fields = [("csrf_token", csrf), ("poll", str(poll_id)), (f"rank-{option_ids[first]}", "1"),
                  ("confirm", "yes")]
        try:
            conn.request("POST", f"/polls/{poll_id}/ballot", body=urlencode(fields),
                         headers={"Cookie": f"{cookie_name}={cookie}", "User-Agent": USER_AGENT,
                                  "Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            location = response.getheader("Location") or ""
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            with lock:
                if not isinstance(exc, ConnectionRefusedError):  # refused: the ballot was never sent
                    history.setdefault(voter, []).append(None)
                counts["failed"] += 1
            time.sleep(0.05)
            continue
        match = TRACKER_RE.search(location)
        with lock:
            if response.status == 303 and match:
                history.setdefault(voter, []).append(match.group(1))
                counts["acked"] += 1
            else:
                counts["refused"] += 1
    conn.close()


def test_kill_9_mid_vote_loses_no_acknowledged_ballot(database_url):
    started = time.monotonic()
    settings = _settings(database_url)
    app = make_test_app(database_url, **settings)
    poll, option_ids, cookies, opens = _prepare(app)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    time.sleep(max(0.0, (opens - datetime.now(UTC)).total_seconds() + 0.1))
    clock.run_due(engine=app.extensions["governance.engine"], immediate=app.extensions["governance.engine_immediate"],
                  forum=None, now=datetime.now(UTC), secret=app.config["SECRET_KEY"])
    dispose_engines(app)

    port = _free_port()
    history: dict[int, list[str | None]] = {}
    counts = {"acked": 0, "refused": 0, "failed": 0}
    lock = threading.Lock()
    stop = threading.Event()
    with _gunicorn(settings, port) as server:
        threads = [threading.Thread(target=_cast_until_killed, daemon=True,
                                    args=(port, poll.id, option_ids, cookies, cookie_name, stop, history, counts,
                                          lock, t)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while counts["acked"] < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(server.pid, signal.SIGKILL)  # master and workers, mid-stream
        server.wait(10)
        time.sleep(0.3)  # let the clients see their connections die
        stop.set()
        for thread in threads:
            thread.join(15)
    assert counts["acked"] >= ACKS_BEFORE_KILL, counts
    assert counts["refused"] == 0, counts
    assert counts["failed"] >= 1, counts  # the kill hit while ballots were being sent

    # A fresh engine on the crashed database: it opens, and nothing acknowledged is missing.
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            stored = set(conn.execute(select(Ballot.tracker).where(Ballot.poll_id == poll.id,
                                                                   Ballot.superseded.is_(False))).scalars())
            participations = conn.execute(select(func.count()).select_from(Participation)
                                          .where(Participation.poll_id == poll.id)).scalar_one()
        acked_trackers = {t for items in history.values() for t in items if t}
        lost, maybe_replaced = {}, 0
        for voter, items in history.items():
            acks = [t for t in items if t]
            if not acks or acks[-1] in stored:
                continue
            if items[-1] is None:  # an unanswered later request may have replaced it before the kill
                maybe_replaced += 1
            else:
                lost[voter] = acks[-1]
        assert lost == {}, f"acknowledged ballots missing after the crash: {lost}"
        # Each ballot replaced by an unanswered request left a stored ballot nobody was told about.
        assert len(stored - acked_trackers) >= maybe_replaced
        assert len(stored) == participations  # a ballot and its participation commit together
        voters_acked = sum(1 for items in history.values() if any(items))
        assert voters_acked <= len(stored) <= VOTERS  # one ballot per voter, at most
        from sqlmodel import Session

        with Session(engine) as s:
            verify_chain([log.as_entry(e) for e in log.entries(s)])
    finally:
        engine.dispose()

    # The app starts again on the same database and takes a new ballot.
    app = make_test_app(database_url, **settings)
    client = app.test_client()
    cookie, csrf = cookies[0]
    client.set_cookie(cookie_name, cookie)
    response = client.post(f"/polls/{poll.id}/ballot", headers={"User-Agent": USER_AGENT},
                           data={"csrf_token": csrf, "poll": str(poll.id), f"rank-{option_ids['Ash']}": "1",
                                 "confirm": "yes"})
    assert response.status_code == 303 and TRACKER_RE.search(response.headers["Location"])
    dispose_engines(app)
    assert time.monotonic() - started < 60
