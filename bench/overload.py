"""Voting past the machine's capacity: does the platform shed load instead of drowning?

For each database (SQLite, PostgreSQL) and each load level (8, 200, 600, 1,500 concurrent clients
by default) the real app runs under gunicorn with the shipped configuration
(``deploy/gunicorn.conf.py``: the stamping gthread worker, admission bound, queue timeout,
deadline) and a separate load-generator process sends ballots from that many clients. Each client
is a person at a browser: one request at a time, a 10 s timeout after which it gives up (closing
the connection), and after a 503 it waits the ``Retry-After`` it was given (at most 5 s) before
trying again.

Per level it prints: acknowledged ballots/s, p50 and p99 of the acknowledged requests, 503s,
client timeouts and other errors, and the check of the ballot table against what the clients
were told (cast.py's ``verify``): **lost** (a voter's last acknowledged ballot missing) must be 0,
and **replaced by a request the client gave up on** is the failure the issue describes (an
acknowledged ballot overwritten later by a request its client had abandoned).

With ``--baseline`` every level also runs without shedding (``MAX_IN_FLIGHT`` = threads, queue
timeout and deadline at an hour): the yardstick measured in the same run. Prints figures; asserts
nothing. Bounded: every level stops after ``--seconds``; loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from cast import OPTIONS, RECEIPT_RE, RawClient, Row, Secrets, USER_AGENT, app_settings, make_app, prepare, verify  # noqa: E402,I001
from common import ROOT, free_port, percentile, postgres_database, postgres_server  # noqa: E402

CLIENT_TIMEOUT = 10.0
MAX_RETRY_WAIT = 5.0
_RETRY_RE = re.compile(rb"\r\nretry-after:[ \t]*(\d+)", re.IGNORECASE)


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def ballot_fields(rng: random.Random, csrf: str, poll_id: int, option_ids: dict[str, int]) -> list[tuple[str, str]]:
    """One ballot as the no-JavaScript form posts it once the voter confirmed the review (the server
    encrypts it on arrival; the one place ballots are made: adapt it here)."""
    labels = OPTIONS[:]
    rng.shuffle(labels)
    ranking = labels[: rng.randint(1, len(labels))]
    return [("csrf_token", csrf), ("poll", str(poll_id)), ("confirm", "yes"), ("nonce", f"{rng.getrandbits(128):032x}")] + [
        (f"rank-{option_ids[label]}", str(n)) for n, label in enumerate(ranking, 1)]


class Client(RawClient):
    """cast.py's raw HTTP/1.1 client, also reading Retry-After."""

    def request_with_retry_after(self, method, path, body, headers) -> tuple[int, bytes, float]:
        status, head, _data = self.request(method, path, body, headers)
        return status, head, self.last_retry_after

    def _more(self) -> None:
        super()._more()
        match = _RETRY_RE.search(self.buffer)
        if match:
            self.last_retry_after = float(match.group(1))

    last_retry_after = 0.0


def drive(job: dict, result_path: str) -> None:
    """``job["clients"]`` threads, each a person voting for ``job["seconds"]``; write the records.

    A record is (voter, sent at, latency, status or 0, tracker, kind) with kind one of ok, 503,
    timeout, error. Voter v belongs to client v % clients, so a voter's requests are sequential.
    """
    clients, seconds = job["clients"], job["seconds"]
    records: list[list] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    clock: dict[str, float] = {}

    def run(t: int) -> None:
        rng = random.Random(t)
        conn = Client(job["port"], timeout=CLIENT_TIMEOUT)
        mine = list(range(t, len(job["cookies"]), clients)) or [t % len(job["cookies"])]
        start.wait()
        k = 0
        while time.perf_counter() < clock["end"]:
            voter = mine[rng.randrange(min(k, len(mine)))] if k and rng.random() < 0.2 else mine[k % len(mine)]
            k += 1
            cookie, csrf = job["cookies"][voter]
            body = urlencode(ballot_fields(rng, csrf, job["poll_id"], job["option_ids"])).encode()
            headers = {"User-Agent": USER_AGENT, "Cookie": f"{job['cookie_name']}={cookie}",
                       "Content-Type": "application/x-www-form-urlencoded"}
            sent = time.perf_counter()
            status, tracker, kind, wait = 0, "", "error", 0.0
            conn.last_retry_after = 0.0
            try:
                status, head, wait = conn.request_with_retry_after("POST", job["path"], body, headers)
                if status == 303:  # to the receipt, whose address names the tracker
                    match = RECEIPT_RE.search(head)
                    tracker, kind = (match.group(1).decode(), "ok") if match else ("", "error")
                elif status == 503:
                    kind = "503"
            except TimeoutError:
                kind = "timeout"
                conn.close()  # the person gives up: the server sees the connection close
                detail = ""
            except (OSError, ValueError) as exc:
                detail = type(exc).__name__
                conn.close()
            else:
                detail = "" if kind in ("ok", "503") else f"HTTP {status}"
            records[t].append([voter, sent - clock["start"], time.perf_counter() - sent, status, tracker, kind,
                               detail])
            if kind == "503":
                time.sleep(min(MAX_RETRY_WAIT, wait or 1.0, max(0.0, clock["end"] - time.perf_counter())))
                # A fresh connection for the retry: after waiting Retry-After (5 s) the server's
                # keep-alive (5 s) may have closed this one, and a request sent into a closed
                # connection gets no answer (run 2 counted those as errors).
                conn.close()
        conn.close()

    threads = [threading.Thread(target=run, args=(t,), daemon=True, name=f"client-{t}") for t in range(clients)]
    for thread in threads:
        thread.start()
    clock["start"] = time.perf_counter()
    clock["end"] = clock["start"] + seconds
    start.wait()
    for thread in threads:
        thread.join(seconds + CLIENT_TIMEOUT + 30)
    elapsed = time.perf_counter() - clock["start"]
    with open(result_path, "w") as fh:
        json.dump({"elapsed": elapsed, "records": [r for rs in records for r in rs]}, fh)


def run_load(job: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        path = fh.name
    try:
        process = multiprocessing.get_context("spawn").Process(target=drive, args=(job, path))
        process.start()
        process.join(job["seconds"] + CLIENT_TIMEOUT + 90)
        if process.is_alive():
            process.kill()
            raise RuntimeError("the load generator did not finish in time")
        with open(path) as fh:
            return json.load(fh)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


@contextlib.contextmanager
def shipped_gunicorn(env: dict[str, str], log_path: str, workers: int):
    """gunicorn with deploy/gunicorn.conf.py on a free loopback port, in its own process group."""
    import signal
    import subprocess

    from common import _get

    port = free_port()
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
           "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:app"]
    with open(log_path, "ab") as log:
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
            yield port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def level(name: str, url: str, clients: int, args, work: Path, *, shed: bool) -> dict:
    """One database, one load level, on a fresh database."""
    keys = Secrets()
    settings = app_settings(url, keys, free_port())
    # The yardstick: every thread may run the app and nothing times out.
    unbounded = {} if shed else {"MAX_IN_FLIGHT": args.threads, "QUEUE_TIMEOUT": 3600, "REQUEST_DEADLINE": 3600}
    if args.max_in_flight and shed:
        unbounded["MAX_IN_FLIGHT"] = args.max_in_flight
    app = make_app({**settings, **unbounded})
    prepared = prepare(app, voters=max(args.voters, clients * 2), results_ballots=0, method="irv", encrypt=False)
    env = {f"GOVERNANCE_{k}": str(v) for k, v in {**settings, **unbounded}.items()}
    env.update({"GOVERNANCE_THREADS": str(args.threads), "PROMETHEUS_MULTIPROC_DIR": ""})
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    with shipped_gunicorn(env, str(work / f"gunicorn-{name}-{clients}.log"), args.workers) as port:
        load = run_load({"port": port, "path": f"/polls/{prepared.poll_id}/ballot", "seconds": args.seconds,
                         "clients": clients, "cookies": prepared.cookies, "poll_id": prepared.poll_id,
                         "option_ids": prepared.option_ids, "cookie_name": app.config["SESSION_COOKIE_NAME"]})
    records = load["records"]
    row = Row(database=name)
    verify(app.extensions["governance.engine"], prepared.poll_id, records, row)
    app.extensions["governance.engine"].dispose()
    acked = [r for r in records if r[5] == "ok"]
    kinds = {k: sum(1 for r in records if r[5] == k) for k in ("503", "timeout", "error")}
    details: dict[str, int] = {}
    for r in records:
        if r[5] == "error":
            details[r[6]] = details.get(r[6], 0) + 1
    return {"database": name, "clients": clients, "shed": shed, "requests": len(records),
            "acked_per_s": len(acked) / load["elapsed"],
            "p50_ms": percentile([r[2] for r in acked], 50) * 1000, "p99_ms": percentile([r[2] for r in acked], 99) * 1000,
            "all_p99_ms": percentile([r[2] for r in records], 99) * 1000,
            **kinds, "error_kinds": details, "lost": row.lost, "superseded": row.superseded_unacknowledged, "duplicates": row.duplicates}


def report(rows: list[dict], args) -> None:
    out()
    out(f"Overload: {args.seconds:.0f} s per level, gunicorn {args.workers} workers x {args.threads} threads "
        f"(deploy/gunicorn.conf.py), client timeout {CLIENT_TIMEOUT:.0f} s, {os.cpu_count()} CPUs shared")
    out("Load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    header = (f"{'database':<10} {'shed':<4} {'clients':>7} {'ballots/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'all p99':>8} {'503s':>6} {'timeouts':>8} {'errors':>6} {'lost':>4} {'replaced by abandoned':>21}")
    out(header)
    out("-" * len(header))
    for r in rows:
        out(f"{r['database']:<10} {'yes' if r['shed'] else 'no':<4} {r['clients']:>7} {r['acked_per_s']:>9.0f} "
            f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['all_p99_ms']:>8.0f} {r['503']:>6} {r['timeout']:>8} "
            f"{r['error']:>6} {r['lost']:>4} {r['superseded']:>21}")
    for r in rows:
        if r["error_kinds"]:
            out(f"  {r['database']} {r['clients']} clients shed={'yes' if r['shed'] else 'no'} errors: "
                + ", ".join(f"{k} x{n}" for k, n in sorted(r["error_kinds"].items(), key=lambda kv: -kv[1])))
    by = {(r["database"], r["clients"], r["shed"]): r for r in rows}
    for (database, clients, shed), r in by.items():
        base = by.get((database, clients, False))
        if shed and base and base["acked_per_s"]:
            out(f"  {database} at {clients} clients: {r['acked_per_s'] / base['acked_per_s']:.2f}x the ballots/s "
                f"of no shedding, timeouts {r['timeout']} vs {base['timeout']}, "
                f"replaced-by-abandoned {r['superseded']} vs {base['superseded']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", default="8,200,600,1500", help="load levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level (default 20)")
    parser.add_argument("--voters", type=int, default=3000, help="distinct voters (at least 2 per client)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--max-in-flight", type=int, default=0,
                        help="GOVERNANCE_MAX_IN_FLIGHT for the shedding runs (default: the database's own)")
    parser.add_argument("--baseline", action="store_true", help="also run each level without shedding")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    names = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    levels = [int(x) for x in args.clients.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="governance-overload-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        server = None
        for name in names:
            for clients in levels:
                for shed in ([True, False] if args.baseline else [True]):
                    if name == "sqlite":
                        url = f"sqlite:///{work}/overload-{clients}-{int(shed)}.db"
                        rows.append(level(name, url, clients, args, work, shed=shed))
                    else:
                        if server is None:
                            server = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL") or stack.enter_context(
                                postgres_server())
                        with postgres_database(server) as url:
                            rows.append(level(name, url, clients, args, work, shed=shed))
                    r = rows[-1]
                    out(f"[{name} {clients} clients, shed={'yes' if shed else 'no'}] {r['acked_per_s']:.0f} ballots/s, "
                        f"p99 {r['p99_ms']:.0f} ms, 503s {r['503']}, timeouts {r['timeout']}, lost {r['lost']}, "
                        f"replaced by abandoned {r['superseded']}")
        report(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
