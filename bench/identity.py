"""Identity at the scale of a real community: a 30,000-account forum with Discourse's default limits.

Prints, for one run (see bench/README.md, "Identity at scale"):

* sync: wall time and admin API calls for every account, with the run killed (SIGKILL) half-way
  and started again, and how many list pages were read twice;
* logins: distinct members logging in through the whole DiscourseConnect round trip against the
  platform under gunicorn, all from one address (the platform sees a NAT): logins a minute,
  p50/p99 of the round trip and of the platform's return step, API calls per login, 429s;
* forum change to eligibility: webhook path (suspension to the member's record and sessions),
  polling path (a silence, which sends no webhook, found by the next sync pass) and the vote-time
  re-read of a record older than the freshness bound.

The forum runs in this process (a thread) with ``discourse_limits``: 60 admin API requests a
minute forum-wide, 50 per 10 seconds and 200 a minute per address. Simulated members' browsers
give the forum distinct addresses with ``X-Forwarded-For`` (documentation ranges; every request
goes to 127.0.0.1). Nothing here asserts a timing.

    .venv/bin/python bench/identity.py                      # 30,000 accounts, 2,000 logins (~15 min)
    .venv/bin/python bench/identity.py --quick              # 3,000 accounts, 300 logins (~3 min)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import text  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from bench.common import _get, free_port, percentile  # noqa: E402

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _Quiet(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


@contextlib.contextmanager
def serve_forum(data, *, sso_secret: str, api_key: str):
    from governance.forum_standin.app import create_forum_app
    from governance.forum_standin.webhooks import Sender

    app = create_forum_app(data=data, sso_secrets={"*": sso_secret}, api_key=api_key, discourse_limits=True)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    sender = Sender(data, url).start()
    try:
        yield url, sender
    finally:
        sender.stop()
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serve_platform(env: dict[str, str], port: int, log_path: Path, workers: int):
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers), "--bind",
           f"127.0.0.1:{port}", "--graceful-timeout", "5", "--timeout", "60", "--log-level", "warning", "app:app"]
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env={**os.environ, **env}, stdout=log, stderr=log,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode} (see {log_path})")
            with contextlib.suppress(OSError):
                if _get(port, "/healthz") == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
        log.close()


def list_pages(data) -> list[int]:
    with data.lock:
        pairs = list(zip(data.api_requests(), data.queries, strict=True))
    return [int(dict(parse_qsl(q)).get("page", 1)) for (_, path, _), q in pairs
            if path.startswith("/admin/users/list/")]


def sql(engine, query: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(query), params).all()


# === sync ========================================================================================


def run_sync(env: dict[str, str], *, kill_at_page: int | None, engine, args: list[str] | None = None,
             log_path: Path) -> tuple[float, bool]:
    """``flask forum sync`` in a subprocess; SIGKILL it once the pass's cursor reaches the page."""
    cmd = [sys.executable, "-m", "flask", "--app", "app", "forum", "sync", "--quiet", *(args or [])]
    started = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env={**os.environ, **env}, stdout=log, stderr=log)
        killed = False
        while proc.poll() is None:
            if kill_at_page is not None:
                rows = sql(engine, "SELECT max(next_page) FROM forum_sync_pass WHERE finished_at IS NULL")
                if rows and rows[0][0] and rows[0][0] > kill_at_page:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
                    proc.wait()
                    break
            time.sleep(0.2)
        if proc.returncode not in (0, -9):
            raise RuntimeError(f"forum sync failed with {proc.returncode} (see {log_path})")
    return time.monotonic() - started, killed


# === logins ======================================================================================


def login_once(platform: str, forum: str, username: str, address: str) -> tuple[float, float, bool, str]:
    """One member's DiscourseConnect round trip; (total seconds, platform return step seconds, ok, why not)."""
    started = time.monotonic()
    try:
        return _login(platform, forum, username, address)
    except (requests.RequestException, KeyError, AttributeError) as exc:
        return time.monotonic() - started, 0.0, False, f"{type(exc).__name__}: {exc}"[:120]


def _login(platform: str, forum: str, username: str, address: str) -> tuple[float, float, bool, str]:
    with requests.Session() as browser:
        started = time.monotonic()
        first = browser.get(platform + "/auth/login", allow_redirects=False, timeout=30)
        if first.status_code != 302:
            return time.monotonic() - started, 0.0, False, f"/auth/login answered {first.status_code}"
        provider = first.headers["Location"]
        fwd = {"X-Forwarded-For": address}
        step = browser.get(provider, allow_redirects=False, timeout=30, headers=fwd)
        if urlsplit(step.headers.get("Location", "")).path == "/login":
            page = browser.get(forum + "/login", timeout=30, headers=fwd)
            token = _CSRF.search(page.text).group(1)
            chosen = browser.post(forum + "/login", data={"csrf_token": token, "username": username},
                                  allow_redirects=False, timeout=30, headers=fwd)
            step = browser.get(urljoin(forum, chosen.headers["Location"]), allow_redirects=False, timeout=30,
                               headers=fwd)
        back = step.headers["Location"]
        returned = time.monotonic()
        done = browser.get(back, allow_redirects=False, timeout=30)
        finished = time.monotonic()
        ok = done.status_code == 302 and bool(browser.cookies.get("governance_session"))
        return finished - started, finished - returned, ok, "" if ok else f"/auth/sso answered {done.status_code}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=30_000)
    parser.add_argument("--logins", type=int, default=2_000)
    parser.add_argument("--new-share", type=float, default=0.05,
                        help="share of logins by accounts created after the sync (never seen: one API call)")
    parser.add_argument("--rate", type=float, default=450,
                        help="logins started a minute, evenly spaced (0: as fast as --threads browsers go); "
                        "2,000 at 450/min take 4.4 minutes")
    parser.add_argument("--threads", type=int, default=32, help="browsers at most at once")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--webhook-samples", type=int, default=20)
    parser.add_argument("--polling-pages", type=int, default=30,
                        help="pages of a second sync pass used to time the polling path")
    parser.add_argument("--quick", action="store_true", help="3,000 accounts, 300 logins")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.logins, args.webhook_samples, args.polling_pages = 3_000, 300, 10, 10

    from governance.db import make_engine, upgrade
    from governance.forum_standin.seed import seed_large
    from governance.forum_standin.webhooks import add_webhook
    from governance.identity import freshness
    from governance.identity.forum import Forum
    from governance.models import Member
    from governance.models.base import utcnow

    tmp = Path(tempfile.mkdtemp(prefix="bench-identity-"))
    db_path = tmp / "governance.db"
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    sso_secret, api_key, hook_secret = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(16)
    port = free_port()
    platform = f"http://127.0.0.1:{port}"

    t = time.monotonic()
    data = seed_large(args.accounts)
    seeded = time.monotonic() - t
    listed = sum(1 for u in data.users.values() if u.human and u.active and not u.staged)
    out(f"forum: {args.accounts:,} accounts seeded in {seeded:.2f} s ({listed:,} active and not staged); "
        "limits: 60 admin API requests/min forum-wide, 50/10 s and 200/min per address")

    with serve_forum(data, sso_secret=sso_secret, api_key=api_key) as (forum_url, sender):
        env = {
            "GOVERNANCE_ENV": "production", "GOVERNANCE_SECRET_KEY": secrets.token_hex(32),
            "GOVERNANCE_DATABASE_URL": f"sqlite:///{db_path}", "GOVERNANCE_BASE_URL": platform,
            "GOVERNANCE_DISCOURSE_URL": forum_url, "GOVERNANCE_DISCOURSE_CONNECT_SECRET": sso_secret,
            "GOVERNANCE_DISCOURSE_API_KEY": api_key, "GOVERNANCE_DISCOURSE_API_USERNAME": "system",
            "GOVERNANCE_DISCOURSE_WEBHOOK_SECRET": hook_secret, "GOVERNANCE_DISCOURSE_API_LIMIT": "60",
        }

        # --- sync, killed half-way and continued --------------------------------------------
        pages = listed // 100 + 1
        calls0 = len(data.api_requests())
        first, killed = run_sync(env, kill_at_page=pages // 2, engine=engine, log_path=tmp / "sync.log")
        second, _ = run_sync(env, kill_at_page=None, engine=engine, log_path=tmp / "sync.log")
        calls = len(data.api_requests()) - calls0
        read = Counter(list_pages(data))
        twice = sum(1 for n in read.values() if n > 1)
        members = sql(engine, "SELECT count(*) FROM member")[0][0]
        refused = len(data.refusals)
        out(f"sync: {members:,} accounts in {first + second:.0f} s ({first:.0f} s, then "
            f"{'SIGKILL at page ' + str(pages // 2) if killed else 'not killed'}, {second:.0f} s to finish), "
            f"{calls} admin API calls ({calls / max(1, first + second) * 60:.1f}/min), "
            f"{len(read)} list pages, {twice} read twice, 429s: {refused}")

        # --- polling path: a silence (no webhook) found by the next pass ----------------------
        ordered = sorted((u for u in data.users.values() if u.human and u.active and not u.staged),
                         key=lambda u: (u.created_at, u.id))
        window = ordered[: args.polling_pages * 100]
        targets = random.Random(3).sample(window[:-1], 5)
        changed_at = time.monotonic()
        for user in targets:
            data.silence(user.username)
        found: dict[str, float] = {}

        def watch():
            while len(found) < len(targets) and time.monotonic() - changed_at < 900:
                names = [u.username for u in targets if u.username not in found]
                rows = sql(engine, "SELECT username FROM member WHERE silenced AND username IN ("
                           + ",".join(f"'{n}'" for n in names) + ")")
                for (name,) in rows:
                    found.setdefault(name, time.monotonic() - changed_at)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        pass_time, _ = run_sync(env, kill_at_page=None, engine=engine, log_path=tmp / "sync.log",
                                args=["--max-pages", str(args.polling_pages)])
        watcher.join(timeout=5)
        delays = sorted(found.values())
        out(f"polling path (silence, no webhook): found by the next pass after "
            f"{', '.join(f'{d:.0f}' for d in delays)} s ({len(delays)}/{len(targets)}; accounts within the "
            f"first {args.polling_pages} pages, read in {pass_time:.0f} s); bound: one full pass "
            f"({first + second:.0f} s here)")

        # --- logins -------------------------------------------------------------------------
        rng = random.Random(7)
        eligible = [u for u in ordered if not u.suspended and u not in targets]
        new_count = int(args.logins * args.new_share)
        chosen = [u.username for u in rng.sample(eligible, args.logins - new_count)]
        for n in range(new_count):
            chosen.append(data.add_user(f"newcomer{n:05d}", trust_level=0).username)
        rng.shuffle(chosen)
        with serve_platform(env, port, tmp / "gunicorn.log", args.workers):
            add_webhook(data, platform + "/auth/forum-webhook", hook_secret)
            calls0, refused0 = len(data.api_requests()), len(data.refusals)
            addresses = [f"{prefix}.{i}" for prefix in ("192.0.2", "198.51.100", "203.0.113")
                         for i in range(1, 255)]
            started = time.monotonic()
            late = []

            def scheduled(pair):
                index, username = pair
                if args.rate:
                    due = started + index * 60.0 / args.rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    else:
                        late.append(-wait)
                return login_once(platform, forum_url, username, addresses[index % len(addresses)])

            with ThreadPoolExecutor(args.threads) as pool:
                results = list(pool.map(scheduled, enumerate(chosen)))
            elapsed = time.monotonic() - started
            calls = len(data.api_requests()) - calls0
            ok = sum(r[2] for r in results)
            totals = [r[0] * 1000 for r in results]
            steps = [r[1] * 1000 for r in results]
            sessions = sql(engine, "SELECT count(DISTINCT member_id) FROM login_session")[0][0]
            stale = sql(engine, "SELECT count(*) FROM member WHERE stale_since IS NOT NULL")[0][0]
            why = Counter(r[3] for r in results if not r[2])
            pace = f"started at {args.rate:.0f}/min" if args.rate else f"{args.threads} browsers flat out"
            out(f"logins: {ok}/{len(chosen)} succeeded ({sessions} members with a session) in {elapsed:.0f} s "
                f"= {ok / elapsed * 60:.0f}/min ({pace}; {len(late)} started late, by up to "
                f"{max(late, default=0):.1f} s), one address at the platform"
                + (f"; failures: {dict(why)}" if why else ""))
            out(f"  round trip p50 {percentile(totals, 50):.0f} ms, p99 {percentile(totals, 99):.0f} ms, "
                f"max {max(totals):.0f} ms; platform return step p50 {percentile(steps, 50):.0f} ms, "
                f"p99 {percentile(steps, 99):.0f} ms")
            out(f"  admin API calls: {calls} for {len(chosen)} logins = {calls / len(chosen):.3f}/login "
                f"({new_count} never-seen accounts; {stale} records left stale for a later read); "
                f"429s: {len(data.refusals) - refused0}")

            # --- webhook path: suspension to record and sessions -----------------------------
            known = [n for n in chosen if not n.startswith("newcomer")][: args.webhook_samples]
            delays = []
            for name in known:
                t0 = time.monotonic()
                data.suspend(name)
                while time.monotonic() - t0 < 10:
                    row = sql(engine, "SELECT m.suspended, (SELECT count(*) FROM login_session s WHERE "
                              "s.member_id = m.id AND s.revoked_at IS NULL) FROM member m WHERE username = :n", n=name)
                    if row and row[0][0] and row[0][1] == 0:
                        delays.append((time.monotonic() - t0) * 1000)
                        break
                    time.sleep(0.002)
            out(f"webhook path (suspension to record and sessions ended): {len(delays)}/{len(known)}, "
                f"p50 {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms")

        # --- vote-time re-read of an old record ---------------------------------------------
        from sqlmodel import Session, select

        adapter = Forum(url=forum_url, api_key=api_key, api_username="system", timeout=(1.0, 2.0), max_wait=0.0)
        timings = []
        for user in targets:
            data.unsilence(user.username)
            with Session(engine) as db:
                member = db.exec(select(Member).where(Member.username == user.username)).one()
                later = utcnow() + freshness.FRESHNESS + freshness.timedelta(minutes=1)
                t0 = time.monotonic()
                evidence = freshness.fresh_evidence(db, member, forum=adapter, now=later)
                timings.append((time.monotonic() - t0) * 1000)
                assert not evidence.silenced
        out(f"vote-time re-read (record older than {int(freshness.FRESHNESS.total_seconds() // 60)} min): "
            f"p50 {statistics.median(timings):.0f} ms, max {max(timings):.0f} ms; a record within the bound: "
            "no call")
    engine.dispose()
    out(f"(work files in {tmp})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
