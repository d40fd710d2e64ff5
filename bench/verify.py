"""Benchmark ``governance-audit verify`` on closed polls' bundles, whole process, file in and report out.

    .venv/bin/python bench/verify.py                       # 1,000 and 10,000 ballots x 15 options
    .venv/bin/python bench/verify.py --sizes 1000 --runs 3 # repeat each verification (the machine is noisy)
    .venv/bin/python bench/verify.py --keep DIR            # keep (and reuse) the generated bundles in DIR

Each bundle is made by the platform itself, as a real poll's is: a community decision with 15
options on a platform-held key, opened by the clock, one encrypted ballot per voter (encrypted
ahead for the voter's credential, as the ballot page does, then checked and cast through the
voting service), closed, mixed twice, decrypted with proofs and counted by the clock, and
exported with a signed tree head. Then ``governance-audit verify BUNDLE --workers W`` runs as its
own process for each W, and the benchmark prints its wall time, CPU time, peak memory and the
time of each step (from its progress lines), and, as ratios:

* against the yardstick (one libsodium ristretto255 scalar multiplication, measured in the same
  run): how many the verifier spends per ciphertext, which tells the machine's speed apart from
  the verifier's;
* against the targets: 100,000 ballots in at most 10 s and 1,000,000 in at most 60 s, projected
  linearly from the largest size measured (every step of the verifier is linear in the ballots).

A trustee-key poll adds one mix per trustee beyond the platform's two and one decryption share
per trustee of the threshold: its verification costs the same per mix and per share.
Never asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import on_every_cpu, yardstick  # noqa: E402

WIDTH = 15
OPTIONS = [f"Option {chr(65 + i)}" for i in range(WIDTH)]
TARGETS = {100_000: 10.0, 1_000_000: 60.0}
SECRET = "bench-secret-key-" + "x" * 32
_PROGRESS = re.compile(r"^\s*\.\.\. (?P<step>[^:]+): (?P<done>\d+) of (?P<total>\d+)")


def _encrypt_for(params_dict: dict, credentials: list[str], seed: int) -> list[dict]:
    from governance import crypto

    params = crypto.ElectionParams.from_dict(params_dict)
    rng = random.Random(seed)
    out = []
    for credential in credentials:
        ranking = rng.sample(range(1, WIDTH + 1), rng.randint(1, WIDTH))
        values = [0] * WIDTH
        for rank, option in enumerate(ranking, start=1):
            values[option - 1] = rank
        out.append(crypto.encrypt_ballot(params, values, credential)[0])
    return out


def _platform_key_charter() -> None:
    """Every body on a platform-held key (the shipped charter has trustees for the community)."""
    from governance.polls import charter_schema

    for body in charter_schema.DEFAULT_CHARTER["bodies"]:
        body["key_mode"], body["trustees"] = "platform", None
    charter_schema.TRUSTEE_BODIES = ()


def generate(n: int, out: Path, *, method: str) -> dict[str, float]:
    """Run a poll of ``n`` ballots through the platform and write its bundle to ``out``; step timings."""
    from sqlmodel import Session

    from governance.audit import export
    from governance.audit.signing import generate_key
    from governance.db import dispose, upgrade
    from governance.factory import create_app
    from governance.models import Member, Poll
    from governance.polls import charter, clock, service, voting

    private_pem, public_pem = generate_key()
    os.environ["GOVERNANCE_AUDIT_SIGNING_KEY"] = private_pem.decode("ascii")
    os.environ.pop("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", None)
    _platform_key_charter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "ENV": "production", "SECRET_KEY": SECRET,
                          "DATABASE_URL": f"sqlite:///{tmp}/bench.db", "BASE_URL": "http://localhost",
                          "DISCOURSE_URL": "http://127.0.0.1:9", "DISCOURSE_CONNECT_SECRET": "bench-connect",
                          "DISCOURSE_API_KEY": "bench-api-key"})
        engine, immediate = app.extensions["governance.engine"], app.extensions["governance.engine_immediate"]
        upgrade(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        opens, closes = now + timedelta(hours=1), now + timedelta(days=3)
        started = time.perf_counter()
        with Session(engine, expire_on_commit=False) as db:
            chair = Member(forum_user_id=1, username="bench_chair", name="Bench Chair", trust_level=3,
                           groups=["steering-committee"], forum_created_at=now - timedelta(days=800),
                           refreshed_at=now)
            db.add(chair)
            db.flush()
            data = service.PollInput(body="community", kind="decision", method=method,
                                     title=f"Verification benchmark ({n:,} ballots)", options=OPTIONS,
                                     opens_at=opens, closes_at=closes)
            poll = service.create(session=db, actor=chair, charter=charter.current(db), data=data)
            service.schedule(session=db, actor=chair, charter=charter.current(db), poll=poll, now=now)
            members = [Member(forum_user_id=1000 + i, username=f"voter{i:07d}", name=f"Voter {i}", trust_level=1,
                              forum_created_at=now - timedelta(days=30 + i % 300), refreshed_at=opens)
                       for i in range(n)]
            db.add_all(members)
            db.commit()
            poll_id = poll.id
        taken = clock.run_due(engine=engine, immediate=immediate, forum=None, now=opens, secret=SECRET)
        if taken != [(poll_id, "open")]:
            raise RuntimeError(f"the clock did not open the poll: {taken}")
        timings["poll and members"] = time.perf_counter() - started

        started = time.perf_counter()
        with Session(engine) as db:
            box = voting.ballot_box(db, poll_id)
            credentials = [voting.credential(box, m, secret=SECRET) for m in members]
            params = box.params.to_dict()
        ballots = on_every_cpu(_encrypt_for, params, credentials)
        timings["encrypt (as browsers do)"] = time.perf_counter() - started

        started = time.perf_counter()
        with Session(immediate, expire_on_commit=False) as db:
            for i, (member, ballot) in enumerate(zip(members, ballots, strict=True)):
                box = voting.ballot_box(db, poll_id)
                tracker = voting.check(box, ballot, credentials[i])
                voting.cast(session=db, box=box, member=db.merge(member, load=False), ballot=ballot,
                            tracker=tracker, credential_value=credentials[i],
                            now=opens + timedelta(seconds=1 + 60 * i / n))  # within the record's freshness
                db.commit()
        timings["check and cast"] = time.perf_counter() - started

        started = time.perf_counter()
        steps = []
        for _ in range(10):
            taken = clock.run_due(engine=engine, immediate=immediate, forum=None, now=closes, secret=SECRET)
            steps += [step for _pid, step in taken]
            with Session(engine) as db:
                if db.get(Poll, poll_id).status == "published":
                    break
        else:
            raise RuntimeError(f"the poll was not published: {steps}")
        timings["close, mix, decrypt, count"] = time.perf_counter() - started

        started = time.perf_counter()
        with Session(engine) as db:
            out.write_bytes(export.poll_bundle(db, poll_id))
        out.with_suffix(".pem").write_bytes(public_pem)
        timings["export"] = time.perf_counter() - started
        dispose(app)
    return timings


def verify(bundle: Path, *, workers: int) -> dict:
    """Run ``governance-audit verify`` as its own process; wall, CPU, peak memory, step times, result."""
    command = [sys.executable, "-m", "governance.audit.cli", "verify", str(bundle), "--workers", str(workers),
               "--public-key", str(bundle.with_suffix(".pem")), "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    steps: dict[str, float] = {}
    first_seen: dict[str, float] = {}
    last = started
    for line in process.stderr:
        match = _PROGRESS.match(line)
        if match:
            now = time.perf_counter()
            step = match["step"]
            first_seen.setdefault(step, last)
            steps[step] = now - first_seen[step]
            last = now
    stdout = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(stdout) if stdout.strip().startswith("{") else {}
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "steps": steps, "ok": process.returncode == 0 and report.get("ok") is True,
            "exit": process.returncode, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="ballots per bundle")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="--workers values to verify with")
    parser.add_argument("--runs", type=int, default=1, help="verifications of each bundle per --workers value")
    parser.add_argument("--method", default="schulze", help="the decision's counting method (default schulze)")
    parser.add_argument("--keep", metavar="DIR", help="keep the bundles in DIR and reuse those already there")
    args = parser.parse_args()
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="verify-bench-"))
    keep.mkdir(parents=True, exist_ok=True)
    unit = yardstick()
    print(f"yardstick: one libsodium scalar multiplication = {unit * 1e6:.1f} us "
          f"(cores: {os.cpu_count()}, load: {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    largest: dict[int, tuple[int, float]] = {}
    for n in args.sizes:
        bundle = keep / f"poll-{n}-{args.method}.zip"
        if not bundle.exists():
            timings = generate(n, bundle, method=args.method)
            print(f"\n{n:,} ballots x {WIDTH} options: bundle made by the platform in "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        print(f"\n{n:,} ballots: {bundle} ({bundle.stat().st_size / 2**20:.1f} MiB)")
        print(f"{'workers':>7} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'yardsticks/ct':>14}  result  steps (s)")
        for workers in args.workers:
            for _ in range(args.runs):
                unit = yardstick()
                run = verify(bundle, workers=workers)
                per = run["wall"] / (n * WIDTH) / unit
                steps = ", ".join(f"{k} {v:.1f}" for k, v in run["steps"].items())
                result = "ok" if run["ok"] else f"FAILED (exit {run['exit']})"
                print(f"{workers:>7} {run['wall']:>8.2f} {run['cpu']:>8.2f} {run['rss_mib']:>9.0f} {per:>14.1f}  "
                      f"{result:6}  {steps}", flush=True)
                if not run["ok"]:
                    print(f"        first problem: {run['report'].get('first_problem')}")
                best = largest.get(workers)
                if best is None or n > best[0] or (n == best[0] and run["wall"] < best[1]):
                    largest[workers] = (n, run["wall"])
    print("\nprojected linearly from the largest bundle (every check is linear in the ballots):")
    for workers, (n, wall) in sorted(largest.items()):
        for size, target in TARGETS.items():
            projected = wall * size / n
            print(f"  workers {workers}: {size:>9,} ballots ~{projected:8.0f} s; target {target:.0f} s "
                  f"(x{projected / target:.0f} over)" if projected > target else
                  f"  workers {workers}: {size:>9,} ballots ~{projected:8.0f} s; target {target:.0f} s (met)")
    print(f"\nyardstick at the end: {yardstick() * 1e6:.1f} us; load {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
