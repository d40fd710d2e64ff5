"""Helpers for the operations tests: real gunicorn servers with the shipped configuration, a poll
with logged-in voters, and casting ballots over HTTP."""

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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
USER_AGENT = "ops-test"
TRACKER_RE = re.compile(r"/receipt/([0-9a-f]{64})$")  # a cast answers 303 to its receipt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(database_url: str, **extra) -> dict[str, str]:
    """Production settings with fresh secrets, as GOVERNANCE_* values."""
    values = {
        "ENV": "production",
        "SECRET_KEY": "k" + secrets.token_hex(32),
        "DISCOURSE_CONNECT_SECRET": "c" + secrets.token_hex(16),
        "DISCOURSE_API_KEY": "a" + secrets.token_hex(16),
        "DATABASE_URL": database_url,
        "BASE_URL": "http://127.0.0.1",
        "DISCOURSE_URL": f"http://127.0.0.1:{free_port()}",  # closed unless a test says otherwise
        "RATELIMIT_VOTE": "100000/minute",
    }
    values.update(extra)
    return values


def environment(values: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GOVERNANCE_", "PROMETHEUS_"))}
    return {**base, **{f"GOVERNANCE_{k}": str(v) for k, v in values.items()}}


def start_gunicorn(values: dict[str, str], port: int, *, workers: int = 2, stderr=subprocess.PIPE,
                   extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """gunicorn with the shipped configuration, in its own process group."""
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--workers", str(workers),
                             "--bind", f"127.0.0.1:{port}", *extra_args, "app:app"], cwd=str(ROOT),
                            env=environment(values), stdout=subprocess.DEVNULL, stderr=stderr,
                            start_new_session=True)


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"gunicorn exited with {proc.returncode}"
        with contextlib.suppress(OSError):
            if get(port, "/healthz", timeout=2)[0] == 200:
                return
        assert time.monotonic() < deadline, f"gunicorn did not answer /healthz within {timeout:.0f} s"
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the whole process group (SIGKILL if it lingers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def serving(values: dict[str, str], *, workers: int = 2, log_path: Path | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    """A ready gunicorn on a free port; its standard error goes to ``log_path`` (or is dropped)."""
    port = free_port()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = start_gunicorn(values, port, workers=workers, stderr=log)
    try:
        wait_ready(proc, port)
        yield port, proc
    finally:
        stop(proc)
        if log_path:
            log.close()


@dataclass
class Voting:
    poll_id: int
    option_ids: dict[str, int]
    cookies: list[tuple[str, str]]
    cookie_name: str

    def refresh_options(self, engine) -> None:
        """Read the poll's options (an election's exist once it has opened)."""
        from sqlmodel import Session

        from governance.models import Poll
        from governance.polls import service

        with Session(engine) as s:
            self.option_ids.update({o.label: o.id for o in service.options(s, s.get(Poll, self.poll_id))})


def open_poll(app, *, voters: int, opens_in: float = 1.5, closes_in: timedelta = timedelta(days=1),
              kind: str = "decision", title: str = "Ops test") -> Voting:
    """A community poll opening in ``opens_in`` seconds and ``voters`` members with signed cookies.

    An ``election`` takes nominations until half-way to the opening (three candidates, Ash, Birch
    and Cedar, stand themselves); its options, and so ``option_ids``, exist only once it opens
    (``Voting.refresh_options``)."""
    from bench.common import voter_cookies
    from governance.db import get_session
    from governance.identity import sessions
    from governance.models import Member
    from governance.polls import charter, service

    now = datetime.now(UTC)
    with app.app_context():
        db = get_session()
        committee = Member(forum_user_id=1, username="committee", trust_level=3, groups=["steering-committee"],
                           forum_created_at=now - timedelta(days=400))
        db.add(committee)
        db.flush()
        current = charter.current(db)
        opens = now + timedelta(seconds=opens_in)
        if kind == "election":  # one seat; the candidates Ash, Birch and Cedar stand themselves
            data = service.PollInput(body="community", kind="election", method="meek", seats=1, title=title,
                                     options=[], opens_at=opens, closes_at=now + closes_in,
                                     nominations_open_at=now - timedelta(minutes=1),
                                     nominations_close_at=now + timedelta(seconds=opens_in / 2))
        else:
            data = service.PollInput(body="community", kind=kind, method="irv", title=title,
                                     options=["Ash", "Birch", "Cedar"], opens_at=opens, closes_at=now + closes_in)
        poll = service.create(session=db, actor=committee, charter=current, data=data)
        service.schedule(session=db, actor=committee, charter=current, poll=poll, now=now)
        if kind == "election":
            from governance.polls import nominations

            for n, name in enumerate(["Ash", "Birch", "Cedar"]):
                candidate = Member(forum_user_id=50 + n, username=name, trust_level=2, refreshed_at=now,
                                   forum_created_at=now - timedelta(days=400))
                db.add(candidate)
                db.flush()
                nominations.nominate(session=db, actor=candidate, poll=poll, nominee=candidate,
                                     statement=f"I am {name}.", conflicts="", now=now)
        members = [Member(forum_user_id=100 + i, username=f"voter{i}", trust_level=1,
                          forum_created_at=now - timedelta(days=100), refreshed_at=now) for i in range(voters)]
        db.add_all(members)
        db.flush()
        tokens = [sessions.start(session=db, member=m, lifetime=timedelta(hours=1)) for m in members]
        option_ids = {o.label: o.id for o in service.options(db, poll)}
        poll_id = poll.id
        db.commit()
    return Voting(poll_id, option_ids, voter_cookies(app, tokens, user_agent=USER_AGENT),
                  app.config["SESSION_COOKIE_NAME"])


def cast(port: int, voting: Voting, voter: int, first: str = "Ash", *, receipt: bool = False,
         timeout: float = 10.0) -> tuple[int, str | None]:
    """Post one ballot as ``voter`` over HTTP; return (status, tracker or None)."""
    cookie, csrf = voting.cookies[voter]
    fields = [("csrf_token", csrf), ("poll", str(voting.poll_id)), (f"rank-{voting.option_ids[first]}", "1"),
              ("confirm", "yes")]
    if receipt:
        fields.append(("receipt", "on"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/polls/{voting.poll_id}/ballot", body=urlencode(fields),
                     headers={"Cookie": f"{voting.cookie_name}={cookie}", "User-Agent": USER_AGENT,
                              "Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        location = response.getheader("Location") or ""
    finally:
        conn.close()
    match = TRACKER_RE.search(location)
    if response.status == 303 and match:  # as a browser does: the receipt page
        status, _body = get(port, urlsplit(location).path, headers={"Cookie": f"{voting.cookie_name}={cookie}"})
        return status, match.group(1)
    return response.status, None


def open_poll_now(app, *, voters: int, title: str = "Ops test") -> Voting:
    """``open_poll``, then wait for its opening time and let the clock open it."""
    from governance.polls import clock

    voting = open_poll(app, voters=voters, opens_in=0.3, title=title)
    time.sleep(0.4)
    taken = clock.run_due(engine=app.extensions["governance.engine"],
                          immediate=app.extensions["governance.engine_immediate"], forum=None, now=datetime.now(UTC),
                          secret=app.config["SECRET_KEY"])
    assert (voting.poll_id, "open") in taken
    return voting


def cast_in_process(client, voting: Voting, voter: int, first: str = "Ash"):
    """Post one ballot through the test client, confirmed (as after the review page); return the response
    (a 303 to the receipt, whose address ``TRACKER_RE`` reads the tracker from)."""
    cookie, csrf = voting.cookies[voter]
    client.set_cookie(voting.cookie_name, cookie)
    return client.post(f"/polls/{voting.poll_id}/ballot", headers={"User-Agent": USER_AGENT},
                       data={"csrf_token": csrf, "poll": str(voting.poll_id),
                             f"rank-{voting.option_ids[first]}": "1", "confirm": "yes"})


def tracker_of(response) -> str:
    """The tracker a cast answered with (its receipt's address)."""
    assert response.status_code == 303, response.status_code
    return TRACKER_RE.search(response.headers["Location"]).group(1)
