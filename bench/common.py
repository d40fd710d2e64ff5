"""Helpers shared by the benchmarks: free ports, throw-away PostgreSQL, gunicorn, percentiles, the
libsodium yardstick, work spread over every CPU.

Nothing here asserts a timing. Every server started here listens on 127.0.0.1 only and is stopped
(with its whole process group) when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

def voter_cookies(app: Flask, tokens: Sequence[str], *, user_agent: str) -> list[tuple[str, str]]:
    """(signed session cookie, CSRF token) for each login-session token, signed as the app signs its own.

    The cookie carries Flask-Login's session token and identifier and a CSRF secret, so a
    load generator or crash test can post ballots as many distinct logged-in voters.
    """
    from flask import session as flask_session
    from flask_wtf.csrf import generate_csrf

    from governance.identity.login import login_manager

    serializer = app.session_interface.get_signing_serializer(app)
    cookies = []
    for token in tokens:
        with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                      headers={"User-Agent": user_agent}):
            flask_session["_user_id"] = token
            flask_session["_fresh"] = True
            flask_session["_id"] = login_manager._session_identifier_generator()
            csrf = generate_csrf()
            cookies.append((serializer.dumps(dict(flask_session)), csrf))
    return cookies


def yardstick(count: int = 4000) -> float:
    """Seconds for one libsodium ristretto255 scalar multiplication (variable base)."""
    from governance.crypto import group as g

    p, k = g.smul_base(12345), g.Secret.random()
    t = time.perf_counter()
    for _ in range(count):
        g.smul(k, p)
    return (time.perf_counter() - t) / count


def on_every_cpu(func: Callable[[Any, list, int], list], shared: Any, items: Sequence) -> list:
    """``func(shared, chunk, n)`` over one chunk of ``items`` per CPU, in spawned processes; the
    results joined in the order of ``items``."""
    workers = os.cpu_count() or 1
    size = max(1, -(-len(items) // workers))
    chunks = [list(items[i:i + size]) for i in range(0, len(items), size)]
    with multiprocessing.get_context("spawn").Pool(len(chunks)) as pool:
        parts = pool.starmap(func, [(shared, chunk, n) for n, chunk in enumerate(chunks)])
    return [result for part in parts for result in part]


#: A bare Flask app (no database, no templates, no extensions): the ceiling for a Flask view
#: served by the same gunicorn settings, so the ballot figures can be read as a ratio of it.
bare_app = Flask(__name__)


@bare_app.get("/")
def bare_index():
    """The smallest useful response."""
    return "ok"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def _cpu_of(stat_path: str) -> tuple[int, float] | None:
    """(process group, CPU seconds used) of one /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(stat_path) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state, ppid, pgrp, ..., utime (12th), stime (13th).
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(*, pgid: int | None = None, cmdline_contains: str | None = None) -> float:
    """CPU seconds used so far by the live processes of a process group or whose command line holds a text."""
    total = 0.0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        if cmdline_contains is not None:
            try:
                with open(stat[: -len("stat")] + "cmdline", "rb") as fh:
                    if cmdline_contains.encode() not in fh.read():
                        continue
            except OSError:
                continue
        got = _cpu_of(stat)
        if got is None or (pgid is not None and got[0] != pgid):
            continue
        total += got[1]
    return total


# === PostgreSQL ==================================================================================


def _pg_bindir() -> str | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return dirs[-1] if dirs else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL server on loopback (as scripts/setup.sh starts one); yields its URL."""
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)")
    tmp = tempfile.mkdtemp(prefix="governance-bench-pg.")
    port = free_port()
    run: list[str] = []
    if os.getuid() == 0:
        # initdb refuses to run as root: run the server as the postgres system user.
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                            "postgres"], check=True)
        shutil.chown(tmp, "postgres")
        run = ["runuser", "-u", "postgres", "--"]
    data = f"{tmp}/data"
    try:
        subprocess.run([*run, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                        "--no-locale"], check=True, capture_output=True)
        subprocess.run([*run, f"{bindir}/pg_ctl", "-D", data, "-l", f"{tmp}/server.log", "-w", "-t", "60", "-o",
                        f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=on -c max_connections=200",
                        "start"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh, empty database on the server at ``server_url``; dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from governance.db import make_engine

    name = f"gov_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# === gunicorn ====================================================================================


def _get(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@contextlib.contextmanager
def gunicorn(target: str, *, env: dict[str, str], workers: int = 2, threads: int = 1, ready_path: str = "/healthz",
             pythonpath: str | None = None, log_path: str | None = None,
             timeout: float = 60.0) -> Iterator[tuple[int, int]]:
    """Serve ``target`` (module:app) with gunicorn on a free loopback port; yield (port, process group).

    The server runs in its own process group, so stopping it stops master and workers together.
    """
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers), "--bind",
           f"127.0.0.1:{port}", "--graceful-timeout", "5", "--timeout", "60", "--log-level", "warning"]
    if threads > 1:
        cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    if pythonpath:
        cmd += ["--pythonpath", pythonpath]
    cmd.append(target)
    log = open(log_path or os.devnull, "ab")
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env={**os.environ, **env}, stdout=log, stderr=log,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode} (see {log_path or 'its output'})")
            with contextlib.suppress(OSError):
                if _get(port, ready_path) == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer {ready_path} within {timeout:.0f} s")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
