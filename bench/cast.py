"""Voting under load: ballots per second, latency, and proof that no ballot is lost or doubled.

For each database (SQLite file, PostgreSQL) the script builds a fresh migrated database, creates
an open community poll through the services (scheduled to open a few seconds ahead, then opened by
the clock once that time has passed for real) and many eligible members, each with a server-side
login session and a session cookie signed with the app's own serializer (with its CSRF token).
It then serves the real app (``app:app``) with gunicorn in production mode on 127.0.0.1 and drives
it from a separate load-generator process: distinct voters post ballots, and voters seen before
replace their ballot. Ballots are encrypted as the ballot page's script encrypts them (each voter's
ballots are encrypted for their own credential with ``governance.crypto`` before the load starts,
so the load generator spends no CPU on it during the run; the server checks every proof), and
posted as the page posts them (``--mode browser``: the form field ``ballot``, answered by a 303 to
the receipt), through the JSON API (``--mode json``), or as the no-JavaScript form's confirmed ranks
that the server encrypts itself (``--mode form``). Afterwards it checks the bulletin board: every
voter's last acknowledged tracker must be their one live ballot (nothing lost) and there must be
one live ballot per voter who got an acknowledgement (no duplicates).

It also times a bare Flask app under the same gunicorn settings (the ceiling for any Flask view
on this machine) and the results page of a published poll with many decoded ballots (the poll is
closed by ``polls.counting.close_poll`` and its decrypted ballots published by
``polls.counting.publish``; mixing and decrypting them is measured by bench/crypto.py).

The figures are printed with the targets next to them; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from common import (  # noqa: E402
    ROOT,
    cpu_seconds,
    free_port,
    gunicorn,
    on_every_cpu,
    percentile,
    postgres_database,
    postgres_server,
    voter_cookies,
)

OPTIONS = ["Ash", "Birch", "Cedar", "Damson", "Elder", "Fir", "Ginkgo", "Hazel", "Ilex", "Juniper", "Kapok",
           "Larch", "Maple", "Nutmeg", "Oak"]  # 15, as the encryption targets state
USER_AGENT = "governance-bench/1"
RECEIPT_RE = re.compile(rb"\r\nlocation:[ \t]*\S*/receipt/([0-9a-f]{64})", re.IGNORECASE)
#: Ballots encrypted ahead for each voter: a voter is sent at most this many (a ballot once
#: replaced cannot be cast again).
BALLOTS_PER_VOTER = 3
TARGETS = {"ballots_per_s": 150.0, "p99_ms": 250.0, "results_p50_ms": 100.0}
VOTE_LIMIT = "1000000/minute"
FULL = {"seconds": 30.0, "voters": 5000, "results_ballots": 100_000, "results_requests": 20, "bare_seconds": 10.0}
QUICK = {"seconds": 5.0, "voters": 500, "results_ballots": 10_000, "results_requests": 5, "bare_seconds": 3.0}


def out(text: str = "") -> None:
    """Print a line at once (the runs are long)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# === Configuration shared by the benchmark process and the served app =============================


@dataclass(frozen=True)
class Secrets:
    """Production-looking secrets, fresh for each run (the app refuses development defaults)."""

    secret_key: str = field(default_factory=lambda: "k" + secrets.token_hex(32))
    connect_secret: str = field(default_factory=lambda: "c" + secrets.token_hex(16))
    api_key: str = field(default_factory=lambda: "a" + secrets.token_hex(16))


def app_settings(url: str, keys: Secrets, forum_port: int, *, rate_limit: bool = True) -> dict[str, str]:
    """The app's settings, as the GOVERNANCE_* environment gives them to gunicorn."""
    settings = {
        "ENV": "production",
        "SECRET_KEY": keys.secret_key,
        "DISCOURSE_CONNECT_SECRET": keys.connect_secret,
        "DISCOURSE_API_KEY": keys.api_key,
        "DATABASE_URL": url,
        "BASE_URL": "http://127.0.0.1",
        # Nothing listens there: casting never calls the forum.
        "DISCOURSE_URL": f"http://127.0.0.1:{forum_port}",
        # High enough never to throttle the benchmark; the limiter still counts every ballot.
        "RATELIMIT_VOTE": VOTE_LIMIT,
    }
    if not rate_limit:
        settings["RATELIMIT_ENABLED"] = "false"  # parsed as JSON by from_prefixed_env
    return settings


def make_app(settings: dict[str, str]):
    """The same app in this process (to prepare data and sign cookies with the same key)."""
    from governance.factory import create_app

    return create_app(dict(settings))


# === Preparing the database =======================================================================


@dataclass
class Prepared:
    poll_id: int
    option_ids: dict[str, int]
    results_poll_id: int
    results_ballots: int
    cookies: list[tuple[str, str]]  # (session cookie, CSRF token) per voter
    timings: dict[str, float]
    ballots: list[list[str]] = field(default_factory=list)  # per voter: encrypted ballots as JSON
    credentials: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)


def _ranking(rng: random.Random) -> list[str]:
    labels = OPTIONS[:]
    rng.shuffle(labels)
    return labels[: rng.randint(1, len(labels))]


def _encrypt_for(params_dict: dict, credentials: list[str], seed: int) -> list[list[str]]:
    """BALLOTS_PER_VOTER encrypted ballots for each credential, as the ballot page makes them."""
    from governance import crypto
    from governance.polls.voting import values_of

    params = crypto.ElectionParams.from_dict(params_dict)
    rng = random.Random(seed)
    out = []
    for credential in credentials:
        mine = []
        for _ in range(BALLOTS_PER_VOTER):
            ballot, _secrets = crypto.encrypt_ballot(params, values_of([[x] for x in _ranking(rng)], tuple(OPTIONS)),
                                                     credential)
            mine.append(json.dumps(ballot, separators=(",", ":")))
        out.append(mine)
    return out


def encrypt_ahead(params_dict: dict, credentials: list[str]) -> list[list[str]]:
    """Encrypt every voter's ballots before the load, on every CPU (the browser's work, done ahead)."""
    return on_every_cpu(_encrypt_for, params_dict, credentials)


#: The community's polls are decrypted by trustees, as the shipped charter requires.
TRUSTEES = ("trustee_a", "trustee_b", "trustee_c")


def _key_ceremony(db, poll, members, now) -> None:
    """The trustees' three rounds, as each would run them with ``governance-trustee``."""
    from governance import crypto
    from governance.polls import trustees

    setup = poll.ceremony["setup"]
    states = {}
    for index, member in enumerate(members, start=1):
        certificate, states[index] = crypto.ceremony_init(setup, index)
        trustees.upload_ceremony(session=db, poll=poll, member=member, message=certificate, now=now)
    certificates = trustees.transcript(db, poll)["certificates"]
    for index, member in enumerate(members, start=1):
        message, states[index] = crypto.ceremony_share(setup, states[index], certificates)
        trustees.upload_ceremony(session=db, poll=poll, member=member, message=message, now=now)
    shares = trustees.transcript(db, poll)["shares"]
    for index, member in enumerate(members, start=1):
        message, states[index] = crypto.ceremony_finish(setup, states[index], certificates, shares)
        trustees.upload_ceremony(session=db, poll=poll, member=member, message=message, now=now)


def prepare(app, *, voters: int, results_ballots: int, method: str, encrypt: bool = True) -> Prepared:
    """Migrate, create the polls, the voters with their sessions and cookies, open the polls."""
    from sqlmodel import Session

    from governance.db import get_session, upgrade
    from governance.identity import sessions
    from governance.models import Member
    from governance.polls import charter, clock, counting, service, voting

    timings: dict[str, float] = {}
    engine = app.extensions["governance.engine"]
    started = time.perf_counter()
    upgrade(engine)
    timings["migrate"] = time.perf_counter() - started

    started = time.perf_counter()
    now = datetime.now(UTC)
    opens = now + timedelta(seconds=3)
    with app.app_context():
        db = get_session()
        committee = Member(forum_user_id=1, username="bench_committee", name="Bench Committee", trust_level=3,
                           groups=["steering-committee"], forum_created_at=now - timedelta(days=800))
        trustee_members = [Member(forum_user_id=2 + i, username=name, name=name.title(), trust_level=3,
                                  groups=["steering-committee"], forum_created_at=now - timedelta(days=800))
                           for i, name in enumerate(TRUSTEES)]
        db.add_all([committee, *trustee_members])
        db.flush()
        current = charter.current(db)
        polls = []
        for title in ("Pick the release name", "Pick the mascot (closed, many ballots)"):
            data = service.PollInput(body="community", kind="decision", method=method, title=title,
                                     description="Benchmark poll.", options=OPTIONS, opens_at=opens,
                                     closes_at=now + timedelta(days=2), trustees=list(TRUSTEES))
            poll = service.create(session=db, actor=committee, charter=current, data=data)
            service.schedule(session=db, actor=committee, charter=current, poll=poll, now=now)
            _key_ceremony(db, poll, trustee_members, now)
            polls.append(poll.id)
        members = [Member(forum_user_id=1000 + i, username=f"voter{i:05d}", name=f"Voter {i}", trust_level=1,
                          forum_created_at=now - timedelta(days=30 + i % 300), refreshed_at=now)
                   for i in range(voters)]
        db.add_all(members)
        db.flush()
        tokens = [sessions.start(session=db, member=m, lifetime=timedelta(hours=6)) for m in members]
        db.commit()
        option_ids = {o.label: o.id for o in service.options(db, db.get(type(poll), polls[0]))}
        db.commit()
    timings["members"] = time.perf_counter() - started

    # Each voter's cookie: Flask-Login's session token and identifier, and the CSRF token, signed
    # exactly as the app signs its own session cookie.
    started = time.perf_counter()
    cookies = voter_cookies(app, tokens, user_agent=USER_AGENT)
    timings["cookies"] = time.perf_counter() - started

    # Open both polls with the clock, once their opening time has passed in real time.
    wait = (opens - datetime.now(UTC)).total_seconds() + 0.2
    if wait > 0:
        time.sleep(wait)
    taken = clock.run_due(engine=engine, immediate=app.extensions["governance.engine_immediate"], forum=None,
                          secret=app.config["SECRET_KEY"],
                          now=datetime.now(UTC))
    if sorted(taken) != sorted((p, "open") for p in polls):
        raise RuntimeError(f"the clock did not open both polls: {taken}")

    # Each voter's ballots, encrypted for their credential as the ballot page would.
    ballots: list[list[str]] = []
    credentials: list[str] = []
    params_dict: dict = {}
    if encrypt:
        started = time.perf_counter()
        with Session(engine) as db:
            box = voting.ballot_box(db, polls[0])
            credentials = [voting.credential(box, m, secret=app.config["SECRET_KEY"]) for m in members]
            params_dict = box.params.to_dict()
        ballots = encrypt_ahead(params_dict, credentials)
        timings["encrypt_ahead"] = time.perf_counter() - started

    # The results poll: closed, and its decrypted ballots published (decoded, counted, stored).
    started = time.perf_counter()
    rng = random.Random(7)
    values = [voting.values_of([[x] for x in _ranking(rng)], tuple(OPTIONS)) for _ in range(results_ballots)]
    with Session(app.extensions["governance.engine_immediate"], expire_on_commit=False) as writer:
        poll = service.get(writer, polls[1])
        counting.close_poll(session=writer, poll=poll, now=datetime.now(UTC))
        counting.publish(session=writer, poll=poll, values=values, now=datetime.now(UTC))
        writer.commit()
    timings["close_and_publish"] = time.perf_counter() - started
    return Prepared(poll_id=polls[0], option_ids=option_ids, results_poll_id=polls[1],
                    results_ballots=results_ballots, cookies=cookies, timings=timings, ballots=ballots,
                    credentials=credentials, params=params_dict)


# === The load generator (a separate process) ======================================================


_LENGTH_RE = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE_RE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


class RawClient:
    """A minimal HTTP/1.1 client over a socket: what the load generator needs and no more.

    It costs the shared CPUs far less per request than ``http.client`` (which parses every
    response header with the email package), so more of the machine is left to the server.
    It keeps the connection when the server does (gthread workers) and reconnects when the
    server closes it (sync workers close after each response). Responses must carry a
    Content-Length, as every response of this app does.
    """

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-response")
        self.buffer += chunk

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        body = body or b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = _LENGTH_RE.search(head)
        if length is None:
            raise ValueError("response without Content-Length")
        size = int(length.group(1))
        while len(self.buffer) < size:
            self._more()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        if _CLOSE_RE.search(head):
            self.close()
        return int(head[9:12]), head, data


def _request(conn: RawClient, method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes, bytes]:
    return conn.request(method, path, body, headers)


def drive(job: dict, result_path: str) -> None:
    """Send requests from ``job["concurrency"]`` threads for ``job["seconds"]``; write the records.

    A record is (voter, sent at, latency s, HTTP status or 0, tracker or "", error text). Voter v
    is always served by thread v % concurrency, so each voter's requests are sequential and their
    order is the order of acknowledgement. A share ``job["replace"]`` of the ballots comes from a
    voter the thread has already served (a replacement, with that voter's next encrypted ballot);
    the rest from the next new voter. A voter is sent at most BALLOTS_PER_VOTER ballots.
    """
    concurrency, seconds = job["concurrency"], job["seconds"]
    records: list[list] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    clock = {}

    def run(t: int) -> None:
        rng = random.Random(t)
        conn = RawClient(job["port"], timeout=30)
        mine = list(range(t, len(job["cookies"]) or 1, concurrency)) or [t]
        start.wait()
        k = 0
        sends: dict[int, int] = {}
        per_voter = len(job["ballots"][0]) if job.get("ballots") else BALLOTS_PER_VOTER
        while time.perf_counter() < clock["end"]:
            voter = None
            if k and rng.random() < job.get("replace", 0.0):
                voter = mine[rng.randrange(min(k, len(mine)))]
                if sends.get(voter, 0) >= per_voter:
                    voter = None
            if voter is None:
                voter = mine[k % len(mine)]
                k += 1
                if sends.get(voter, 0) >= per_voter:
                    break  # every voter of this thread has been sent all their ballots
            method, path, body, headers = "GET", job["path"], None, {"User-Agent": USER_AGENT}
            if job["cookies"]:
                cookie, csrf = job["cookies"][voter]
                headers["Cookie"] = f"{job['cookie_name']}={cookie}"
                method = "POST"
                if job["mode"] == "json":
                    body = ('{"ballot":' + job["ballots"][voter][sends.get(voter, 0)] + "}").encode()
                    headers.update({"Content-Type": "application/json", "X-CSRFToken": csrf})
                elif job["mode"] == "browser":
                    fields = [("csrf_token", csrf), ("poll", str(job["poll_id"])),
                              ("ballot", job["ballots"][voter][sends.get(voter, 0)])]
                    body = urlencode(fields).encode()
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                else:
                    ranking = _ranking(rng)
                    fields = [("csrf_token", csrf), ("poll", str(job["poll_id"])), ("confirm", "yes"),
                              ("nonce", secrets.token_hex(16))]
                    fields += [(f"rank-{job['option_ids'][label]}", str(n)) for n, label in enumerate(ranking, 1)]
                    body = urlencode(fields).encode()
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                sends[voter] = sends.get(voter, 0) + 1
            sent = time.perf_counter()
            status, tracker, error = 0, "", ""
            try:
                status, head, data = _request(conn, method, path, body, headers)
                if job["cookies"] and (200 <= status < 300 or status == 303):
                    if job["mode"] == "json":
                        tracker = json.loads(data).get("tracker", "")
                    else:
                        match = RECEIPT_RE.search(head)
                        tracker = match.group(1).decode() if match else ""
                    if not tracker:
                        error = f"{status} without a tracker"
                elif not 200 <= status < 300:
                    error = data[:120].decode("utf-8", "replace")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:120]
                conn.close()
            records[t].append([voter, sent - clock["start"], time.perf_counter() - sent, status, tracker, error])
        conn.close()

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(concurrency)]
    for thread in threads:
        thread.start()
    clock["start"] = time.perf_counter()
    clock["end"] = clock["start"] + seconds
    cpu_start = time.process_time()
    start.wait()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.perf_counter() - clock["start"]
    cpu = time.process_time() - cpu_start
    with open(result_path, "w") as fh:
        json.dump({"elapsed": elapsed, "cpu": cpu, "records": [r for rs in records for r in rs]}, fh)


def run_load(job: dict) -> dict:
    """Run ``drive`` in a separate process (so the client's work is not the server's) and read its records."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        path = fh.name
    try:
        process = multiprocessing.get_context("spawn").Process(target=drive, args=(job, path))
        process.start()
        process.join(job["seconds"] + 120)
        if process.is_alive():
            process.kill()
            raise RuntimeError("the load generator did not finish in time")
        with open(path) as fh:
            return json.load(fh)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


# === Measuring ====================================================================================


@dataclass
class Row:
    database: str
    ballots_per_s: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    requests: int = 0
    acknowledged: int = 0
    replaced: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    superseded_unacknowledged: int = 0
    duplicates: int = 0
    ballots_in_db: int = 0
    voters_acknowledged: int = 0
    unacknowledged_ballots: int = 0
    participation_rows: int = 0
    bare_rps: float = float("nan")
    bare_cpu_ms: float = float("nan")
    app_cpu_ms: float = float("nan")
    client_cpu_ms: float = float("nan")
    db_cpu_ms: float = float("nan")
    results_p50_ms: float = float("nan")
    results_status: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def verify(engine, poll_id: int, records: list[list], row: Row) -> None:
    """Count lost and duplicate ballots against what the voters were told: each voter's last
    acknowledged ballot must be live on the board, and nothing else may be."""
    from sqlalchemy import func, select

    from governance.models import Ballot, Participation

    by_voter: dict[int, list[list]] = {}
    for record in sorted(records, key=lambda r: r[1]):
        by_voter.setdefault(record[0], []).append(record)
    last_ack: dict[int, str] = {}
    unacked_after: set[int] = set()
    acked_trackers = set()
    for voter, items in by_voter.items():
        for item in items:
            if item[4]:
                last_ack[voter] = item[4]
                acked_trackers.add(item[4])
                unacked_after.discard(voter)
            elif voter in last_ack:
                unacked_after.add(voter)
    with engine.connect() as conn:
        rows = conn.execute(select(Ballot.tracker, Ballot.superseded).where(Ballot.poll_id == poll_id)).all()
        stored = {tracker for tracker, superseded in rows if not superseded}  # the live ballots
        row.participation_rows = conn.execute(select(func.count()).select_from(Participation)
                                              .where(Participation.poll_id == poll_id)).scalar_one()
    missing = [v for v, tracker in last_ack.items() if tracker not in stored]
    # A request the client gave up on may still have replaced the ballot: not lost, but say so.
    row.superseded_unacknowledged = sum(1 for v in missing if v in unacked_after)
    row.lost = len(missing) - row.superseded_unacknowledged
    row.ballots_in_db = len(stored)
    row.voters_acknowledged = len(last_ack)
    row.duplicates = max(0, len(stored) - len(last_ack))
    row.unacknowledged_ballots = len(stored - acked_trackers)


def time_results(port: int, poll_id: int, count: int) -> tuple[float, int]:
    """p50 in ms of GET /polls/<id>/results over ``count`` sequential requests (after one warm-up)."""
    times, status = [], 0
    for i in range(count + 1):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        sent = time.perf_counter()
        conn.request("GET", f"/polls/{poll_id}/results", headers={"User-Agent": USER_AGENT})
        response = conn.getresponse()
        response.read()
        status = response.status
        conn.close()
        if i:
            times.append(time.perf_counter() - sent)
    return percentile(times, 50) * 1000, status


def measure(name: str, url: str, args, work: Path) -> Row:
    """Prepare one database, then measure the bare app, voting, and the results page."""
    from sqlalchemy.engine import make_url

    keys = Secrets()
    settings = app_settings(url, keys, free_port(), rate_limit=not args.no_rate_limit)
    app = make_app({**settings, "RATELIMIT_ENABLED": not args.no_rate_limit})
    row = Row(database=name)
    from governance.copy import article

    kind = article({"irv": "IRV", "schulze": "Schulze"}.get(args.method, args.method) + " decision")
    out(f"[{name}] preparing: {args.voters:,} voters, {kind} over {len(OPTIONS)} options, "
        f"a closed poll with {args.results_ballots:,} ballots")
    prepared = prepare(app, voters=args.voters, results_ballots=args.results_ballots, method=args.method,
                       encrypt=args.mode != "form")
    row.timings = prepared.timings
    out(f"[{name}] prepared in " + ", ".join(f"{k} {v:.1f} s" for k, v in prepared.timings.items()))
    env = {f"GOVERNANCE_{k}": v for k, v in settings.items()}
    common = {"workers": args.workers, "threads": args.threads}

    with gunicorn("common:bare_app", env={}, ready_path="/", pythonpath=str(BENCH), **common) as (port, pgid):
        cpu = cpu_seconds(pgid=pgid)
        bare = run_load({"port": port, "path": "/", "seconds": args.bare_seconds, "concurrency": args.concurrency,
                         "cookies": [], "mode": "get"})
        cpu = cpu_seconds(pgid=pgid) - cpu
    ok = sum(1 for r in bare["records"] if r[3] == 200)
    row.bare_rps = ok / bare["elapsed"]
    row.bare_cpu_ms = cpu / max(ok, 1) * 1000
    out(f"[{name}] bare Flask app: {row.bare_rps:.0f} requests/s over {bare['elapsed']:.1f} s, "
        f"{row.bare_cpu_ms:.2f} ms of gunicorn CPU per request")

    log_path = str(work / f"gunicorn-{name}.log")
    # PostgreSQL backends show their database's name in their process title.
    db_marker = make_url(url).database if name == "postgresql" else None
    with gunicorn("app:app", env=env, log_path=log_path, **common) as (port, pgid):
        out(f"[{name}] voting for {args.seconds:.0f} s from {args.concurrency} connections ({args.mode} ballots)")
        cpu = cpu_seconds(pgid=pgid)
        db_cpu = cpu_seconds(cmdline_contains=f" {db_marker} ") if db_marker else 0.0
        load = run_load({"port": port, "path": f"/polls/{prepared.poll_id}/ballot", "seconds": args.seconds,
                         "concurrency": args.concurrency, "cookies": prepared.cookies, "mode": args.mode,
                         "replace": args.replace,
                         "cookie_name": app.config["SESSION_COOKIE_NAME"], "poll_id": prepared.poll_id,
                         "ballots": prepared.ballots,
                         "option_ids": prepared.option_ids})
        cpu = cpu_seconds(pgid=pgid) - cpu
        db_cpu = (cpu_seconds(cmdline_contains=f" {db_marker} ") - db_cpu) if db_marker else float("nan")
        row.results_p50_ms, row.results_status = time_results(port, prepared.results_poll_id, args.results_requests)
    records = load["records"]
    acked = [r for r in records if r[4]]
    row.requests = len(records)
    row.acknowledged = len(acked)
    row.errors = row.requests - row.acknowledged
    for r in records:
        if not r[4]:
            kind = f"{r[3]} {r[5][:60]}".strip()
            row.error_kinds[kind] = row.error_kinds.get(kind, 0) + 1
    row.ballots_per_s = row.acknowledged / load["elapsed"]
    row.app_cpu_ms = cpu / max(row.requests, 1) * 1000
    row.client_cpu_ms = load["cpu"] / max(row.requests, 1) * 1000
    row.db_cpu_ms = db_cpu / max(row.requests, 1) * 1000
    latencies = [r[2] for r in records]
    row.p50_ms = percentile(latencies, 50) * 1000
    row.p99_ms = percentile(latencies, 99) * 1000
    verify(app.extensions["governance.engine"], prepared.poll_id, records, row)
    row.replaced = row.acknowledged - row.voters_acknowledged
    if args.profile:
        out(f"[{name}] profile:")
        profile_casts(app, prepared, args.profile, args.mode)
    app.extensions["governance.engine"].dispose()
    return row


def profile_casts(app, prepared: Prepared, count: int, mode: str) -> None:
    """Cast ``count`` ballots in-process (test client, one thread) under cProfile; say where the time goes."""
    import cProfile
    import pstats

    from sqlalchemy import event

    engine = app.extensions["governance.engine"]
    statements: dict[str, int] = {}

    def on_execute(conn, cursor, statement, params, context, executemany):
        words = statement.split()
        if words[0] == "SELECT" and " FROM " in statement:
            key = "SELECT ... FROM " + statement.split(" FROM ", 1)[1].split()[0]
        else:
            key = " ".join(words[:3])
        statements[key] = statements.get(key, 0) + 1

    client = app.test_client()
    rng = random.Random(99)
    name = app.config["SESSION_COOKIE_NAME"]
    voters = len(prepared.cookies)
    fresh = []  # new ballots (the load may have used up the prepared ones), encrypted before timing
    if mode != "form":
        fresh = _encrypt_for(prepared.params, [prepared.credentials[i % voters] for i in range(count + 5)], 99)

    def one(i: int) -> None:
        cookie, csrf = prepared.cookies[i % voters]
        client.set_cookie(name, cookie)
        headers = {"User-Agent": USER_AGENT}
        if mode == "json":
            response = client.post(f"/polls/{prepared.poll_id}/ballot", headers={**headers, "X-CSRFToken": csrf},
                                   data='{"ballot":' + fresh[i][0] + "}", content_type="application/json")
        elif mode == "browser":
            data = {"csrf_token": csrf, "poll": str(prepared.poll_id), "ballot": fresh[i][0]}
            response = client.post(f"/polls/{prepared.poll_id}/ballot", data=data, headers=headers)
        else:
            data = {"csrf_token": csrf, "poll": str(prepared.poll_id), "confirm": "yes", "nonce": secrets.token_hex(16)}
            data.update({f"rank-{prepared.option_ids[label]}": str(n) for n, label in enumerate(_ranking(rng), 1)})
            response = client.post(f"/polls/{prepared.poll_id}/ballot", data=data, headers=headers)
        if response.status_code not in (201, 303):
            raise RuntimeError(f"in-process cast answered {response.status_code}")

    for i in range(count, count + 5):
        one(i)
    event.listen(engine, "before_cursor_execute", on_execute)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(count):
        one(i)
    profiler.disable()
    elapsed = time.perf_counter() - started
    event.remove(engine, "before_cursor_execute", on_execute)
    stats = pstats.Stats(profiler).stats
    total = sum(statements.values()) / count
    out(f"  in-process, one thread, no HTTP: {count} ballots in {elapsed:.1f} s = {elapsed / count * 1000:.1f} ms each "
        f"(under cProfile), {total:.0f} SQL statements each:")
    for key, n in sorted(statements.items(), key=lambda kv: (-kv[1], kv[0])):
        out(f"    {n / count:4.1f}  {key}")
    parts = [("rate limit counter", "web/ratelimit.py", "_add"),
             ("login session -> member", "identity/login.py", "load_user"),
             ("poll, key and options (ballot_box)", "polls/voting.py", "ballot_box"),
             ("ballot proof check", "polls/voting.py", "check"),
             ("vote-time forum freshness", "identity/freshness.py", "fetch_if_stale"),
             ("opening the write transaction", "governance/db.py", "begin_writing"),
             ("polls.voting.cast", "polls/voting.py", "cast"),
             ("  audit log append", "audit/log.py", "record"),
             ("commits", "orm/session.py", "commit"),
             ("receipt page render", "flask/templating.py", "render_template"),
             ("CSRF check", "flask_wtf/csrf.py", "protect")]
    out("  cumulative share of the in-process time (parts overlap where nested):")
    for label, path, func in parts:
        spent = sum(v[3] for k, v in stats.items() if k[0].endswith(path) and k[2] == func)
        out(f"    {spent / elapsed:6.1%}  {spent / count * 1000:6.2f} ms  {label}")


# === Report =======================================================================================


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(rows: list[Row], args) -> None:
    """The table, the details behind it, and each target with whether it was met."""
    out()
    out(f"Voting benchmark: {args.seconds:.0f} s per database, {args.voters} voters, {args.concurrency} connections, "
        f"gunicorn {args.workers} workers x {args.threads} thread(s), {args.mode} ballots, "
        f"{os.cpu_count()} CPUs shared by server and client")
    out("Load average (1, 5, 15 min) at start: {:.1f} {:.1f} {:.1f}; at end: {:.1f} {:.1f} {:.1f} "
        "(other work on the machine competes for the same CPUs)".format(*args.load_start, *os.getloadavg()))
    if args.no_rate_limit:
        out("Rate limits turned off (GOVERNANCE_RATELIMIT_ENABLED=false): no counter upsert per ballot")
    else:
        out(f"Rate limit for votes set to {VOTE_LIMIT} (never throttles here; each ballot still pays its "
            "counter upsert)")
    out()
    header = (f"{'database':<11} {'ballots/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'lost':>5} "
              f"{'dupes':>5} {'bare req/s':>10} {'ratio':>6} {'results p50 ms':>14}")
    out(header)
    out("-" * len(header))
    for r in rows:
        ratio = r.ballots_per_s / r.bare_rps if r.bare_rps else float("nan")
        out(f"{r.database:<11} {r.ballots_per_s:>9.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.errors:>6} {r.lost:>5} "
            f"{r.duplicates:>5} {r.bare_rps:>10.0f} {ratio:>6.1%} {r.results_p50_ms:>14.1f}")
    out()
    for r in rows:
        out(f"{r.database}: {r.requests} requests, {r.acknowledged} acknowledged ({r.replaced} of them replaced an "
            f"earlier ballot), {r.voters_acknowledged} voters acknowledged, {r.ballots_in_db} ballots stored, "
            f"{r.participation_rows} participation rows, {r.unacknowledged_ballots} stored ballots never acknowledged, "
            f"{r.superseded_unacknowledged} acknowledged ballots replaced by a request the client gave up on; "
            f"results page ({args.results_ballots} ballots) HTTP {r.results_status}")
        spent = r.app_cpu_ms + (0.0 if r.db_cpu_ms != r.db_cpu_ms else r.db_cpu_ms)
        db_part = "" if r.db_cpu_ms != r.db_cpu_ms else f" + {r.db_cpu_ms:.1f} ms in PostgreSQL backends"
        out(f"    CPU per ballot request: {r.app_cpu_ms:.1f} ms in gunicorn{db_part} (bare Flask request: "
            f"{r.bare_cpu_ms:.2f} ms), {r.client_cpu_ms:.1f} ms in the load generator; CPU-bound ceiling with "
            f"{os.cpu_count()} CPUs for the server alone: {os.cpu_count() * 1000 / spent:.0f} ballots/s, "
            f"with the load generator: {os.cpu_count() * 1000 / (spent + r.client_cpu_ms):.0f} ballots/s")
        for kind, n in sorted(r.error_kinds.items(), key=lambda kv: -kv[1])[:5]:
            out(f"    error x{n}: {kind}")
    out()
    out("Targets:")
    for r in rows:
        checks = [
            (f">= {TARGETS['ballots_per_s']:.0f} ballots/s", r.ballots_per_s >= TARGETS["ballots_per_s"]),
            (f"p99 < {TARGETS['p99_ms']:.0f} ms", r.p99_ms < TARGETS["p99_ms"]),
            ("zero errors", r.errors == 0),
            ("zero lost", r.lost == 0),
            ("zero duplicates", r.duplicates == 0),
            (f"results p50 < {TARGETS['results_p50_ms']:.0f} ms", r.results_p50_ms < TARGETS["results_p50_ms"]
             and r.results_status == 200),
        ]
        out(f"  {r.database:<11} " + "; ".join(f"{label}: {_met(ok)}" for label, ok in checks))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Cast ballots over HTTP against the real app under gunicorn (production mode, 127.0.0.1) "
                    "and report ballots/s, p50/p99 latency, errors, lost and duplicate ballots, the ratio to a "
                    "bare Flask app, and the results page time of a closed poll. Prints figures; asserts nothing.")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both",
                        help="which backend to measure (default: both). PostgreSQL uses the server in "
                             "GOVERNANCE_TEST_POSTGRES_URL (a fresh database on it) or starts a throw-away one")
    parser.add_argument("--seconds", type=float, help="how long to cast ballots (default: 30; --quick: 5)")
    parser.add_argument("--voters", type=int,
                        help="distinct members with a login session (default: 5000; --quick: 500)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="simultaneous client connections, one thread each (default: 8)")
    parser.add_argument("--replace", type=float, default=0.2,
                        help="share of ballots cast by a voter who has voted already, replacing the earlier "
                             "ballot (default: 0.2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: 2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker; more than 1 uses the gthread worker (default: 1, sync)")
    parser.add_argument("--mode", choices=("browser", "json", "form"), default="browser",
                        help="browser: the encrypted ballot in the form field 'ballot', as the ballot page's script "
                             "posts it, answered by a 303 to the receipt; json: {'ballot': ...} with X-CSRFToken; "
                             "form: the no-JavaScript form's confirmed ranks, which the server encrypts "
                             "(default: browser)")
    parser.add_argument("--method", default="irv", choices=("irv", "schulze"), help="counting method (default: irv)")
    parser.add_argument("--results-ballots", type=int,
                        help="ballots in the closed poll whose results page is timed (default: 100000; --quick: 10000)")
    parser.add_argument("--results-requests", type=int,
                        help="results page requests for the p50 (default: 20; --quick: 5)")
    parser.add_argument("--bare-seconds", type=float,
                        help="how long to load the bare Flask app (default: 10; --quick: 3)")
    parser.add_argument("--no-rate-limit", action="store_true",
                        help="turn rate limits off (GOVERNANCE_RATELIMIT_ENABLED=false) to measure what the "
                             "per-ballot counter costs; by default the vote limit is set too high to throttle")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after each load run, cast N more ballots in-process under cProfile and print the SQL "
                             "statements per ballot and where the time goes (default: 0, off)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run with the smaller defaults shown above (options given explicitly still apply)")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.load_start = os.getloadavg()
    os.chdir(ROOT)
    names = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    rows = []
    with tempfile.TemporaryDirectory(prefix="governance-bench-") as tmp:
        work = Path(tmp)
        for name in names:
            if name == "sqlite":
                rows.append(measure("sqlite", f"sqlite:///{work}/governance.db", args, work))
                continue
            with contextlib.ExitStack() as stack:
                server = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL")
                if not server:
                    out("[postgresql] starting a throw-away server")
                    server = stack.enter_context(postgres_server())
                url = stack.enter_context(postgres_database(server))
                rows.append(measure("postgresql", url, args, work))
        report(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
