"""Whole-process benchmark of ``governance-tally FILE``: file in, result out, against pyrankvote.

Run from the repository root (``pip install -e .[bench]`` installs pyrankvote):

    .venv/bin/python bench/tally_cli.py                    # 100k, 300k, 1M ballots; BLT, ABIF, PrefLib, CSV
    .venv/bin/python bench/tally_cli.py --quick            # 20k and 50k ballots: a smoke run
    .venv/bin/python bench/tally_cli.py --sizes 1000000 --formats blt --runs 3

The ballots are those of ``bench/tally.py`` (15 candidates, truncated Plackett-Luce rankings),
written once per size into ``--cache`` (default ``/tmp/governance-tally-bench``): BLT with one
ballot per line (weight 1, as election software exports it), and ABIF, PrefLib ``.soi`` and CSV
as our writers write them (identical ballots merged into one line with a count).

Each count is a fresh process (``governance-tally FILE -m METHOD``); time is its wall time,
memory its peak resident set size and CPU its user + system time (both from ``os.wait4``; CPU time
moves less than wall time when other work shares the machine). The peer is pyrankvote in a fresh process too,
reading the same file with a plain Python reader of that format (``bench/tally_peer.py``) and
counting IRV, or its STV for 3 seats. pyrankvote has no Schulze, so the Schulze row is compared
with pyrankvote's IRV, as is IRV's. Ratios are the peer's wall ("x time") and CPU ("x cpu") time over ours in the same run. The
script prints figures and ratios and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SUFFIX = {"blt": ".blt", "abif": ".abif", "preflib": ".soi", "csv": ".csv"}
COMMAND = [sys.executable, "-m", "governance.tally.cli"]
os.chdir(ROOT)
PEER = [sys.executable, str(ROOT / "bench" / "tally_peer.py")]


def ballot_file(cache: Path, fmt: str, n: int) -> Path:
    """The generated file of ``n`` ballots in ``fmt`` (written on first use, by a child process).

    This process imports neither numpy nor the tally engine and holds no ballots, so that it
    stays small: a child's peak RSS as ``wait4`` reports it starts from its parent's size.
    """
    path = cache / f"ballots-{n}{SUFFIX[fmt]}"
    if not path.exists():
        code = subprocess.call([sys.executable, __file__, "--generate", fmt, str(n), str(path)])
        if code:
            raise SystemExit(f"generating {path} failed")
    return path


def generate(fmt: str, n: int, path: Path) -> None:
    """Write ``n`` benchmark ballots to ``path`` in ``fmt``."""
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from tally import CANDIDATES, make_ballots

    from governance.tally._fast import ArrayProfile
    from governance.tally.formats import write_ballots

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = make_ballots(n)
    tmp = path.with_suffix(path.suffix + ".tmp")
    if fmt == "blt":
        with open(tmp, "w") as out:
            out.write(f"{len(CANDIDATES)} 3\n")
            for row in rows.tolist():
                out.write("1 " + " ".join(str(c + 1) for c in row if c >= 0) + " 0\n")
            out.write("0\n" + "".join(f'"{c}"\n' for c in CANDIDATES) + '"Benchmark"\n')
    else:
        profile = ArrayProfile.from_array(CANDIDATES, rows, seats=3, title="Benchmark")
        write_ballots(profile, tmp.with_suffix(""), format=fmt)
        tmp.with_suffix("").rename(tmp)
    tmp.rename(path)
    return path


def run(argv: list[str], budget: float) -> tuple[str, float, float, str, float]:
    """(status, seconds, peak MiB, last output line, CPU seconds) of one process.

    Started with ``posix_spawn`` (no copy of this process's memory, so the child's peak RSS is
    its own) and reaped with ``os.wait4``, which reports that peak.
    """
    with tempfile.TemporaryFile() as out:
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, out.fileno(), 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        timer = threading.Timer(budget, os.kill, (pid, 9))
        timer.start()
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
        timer.cancel()
        out.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
    if elapsed >= budget:
        return "timeout", budget, 0.0, "", 0.0
    code = os.waitstatus_to_exitcode(status)
    state = "ok" if code == 0 else f"exit {code}"
    cpu = usage.ru_utime + usage.ru_stime
    return state, elapsed, usage.ru_maxrss / 1024, (lines[-1] if lines else "")[:70], cpu


def main(argv=None) -> int:
    """Generate the files, run every count and the peer, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--formats", default="blt,abif,preflib,csv")
    parser.add_argument("--methods", default="irv,schulze,meek")
    parser.add_argument("--runs", type=int, default=1, help="runs of each count (the table shows each)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per process before it is stopped")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/governance-tally-bench"))
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--generate", nargs=3, metavar=("FORMAT", "N", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(args.generate[0], int(args.generate[1]), Path(args.generate[2]))
        return 0
    sizes = args.sizes or ([20_000, 50_000] if args.quick else [100_000, 300_000, 1_000_000])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    import resource

    print(f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB (children's peaks start there)")
    for fmt in args.formats.split(","):
        print(f"\n## {fmt} ({SUFFIX[fmt]})")
        print(
            f"{'ballots':>9} {'MB':>6}  {'count':<22} {'time s':>7} {'cpu s':>6} {'peak MiB':>9} "
            f"{'peer s':>7} {'cpu s':>6} {'peer MiB':>9} {'x time':>7} {'x cpu':>6}"
        )
        for n in sizes:
            path = ballot_file(args.cache, fmt, n)
            mb = path.stat().st_size / 1e6
            peers: dict[str, tuple] = {}
            for method in args.methods.split(","):
                peer_method = "stv" if method == "meek" else "irv"
                if not args.no_peer and peer_method not in peers:
                    peers[peer_method] = run([*PEER, str(path), peer_method], args.budget)
                for k in range(args.runs):
                    extra = ["--seats", "3"] if method == "meek" else []
                    status, secs, mib, last, cpu = run([*COMMAND, str(path), "-m", method, *extra], args.budget)
                    label = f"{method}" + (f" (run {k + 1})" if args.runs > 1 else "")
                    peer = peers.get(peer_method)
                    if status != "ok":
                        print(f"{n:>9} {mb:6.1f}  {label:<22} {status:>7}  {last}")
                        continue
                    if peer and peer[0] == "ok":
                        ptxt = f"{peer[1]:7.2f} {peer[4]:6.2f} {peer[2]:9.1f} {peer[1] / secs:7.1f} {peer[4] / cpu:6.1f}"
                    else:
                        ptxt = peer[0] if peer else ""
                    print(f"{n:>9} {mb:6.1f}  {label:<22} {secs:7.2f} {cpu:6.2f} {mib:9.1f} {ptxt}")
                    sys.stdout.flush()
            for pm, (status, secs, mib, last, cpu) in peers.items():
                print(f"{n:>9} {mb:6.1f}  {'pyrankvote ' + pm:<22} {secs:7.2f} {cpu:6.2f} {mib:9.1f}  {status}: {last[:40]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
