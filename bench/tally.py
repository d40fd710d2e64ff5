"""Benchmark of the tally engine against pref_voting, pyrankvote, votelib and votekit.

Run from the repository root:

    .venv/bin/python bench/tally.py            # 10k, 100k and 1M ballots (+ Sydney 2021)
    .venv/bin/python bench/tally.py --quick    # 2k and 10k ballots: a smoke run

Every contender counts the same seeded random ballots: 15 candidates, truncated rankings of
varied length (1 to 15), drawn from a Plackett-Luce model so that some candidates are popular.
Each (contender, method, size) runs in a forked child process, so the figures are isolated:

* wall time from ballots in memory to the result (building the contender's own profile object
  included). "ours" starts from an integer array (``ArrayProfile.from_array``); "ours (lists)"
  starts, like the peers, from a Python list of name tuples (``ArrayProfile.from_names``);
  "ours (build)" from the same list through the pure-Python ``Profile.build``;
* peak memory: the child's peak resident set size above its size when it started;
* ratio: each contender's time divided by ours at the same size.

A peer that takes longer than the per-run budget at one size is not run at larger sizes (the
table says "capped"). Peers count their own variants of a method: only ours implements Meek STV,
so the STV rows compare against the peers' nearest STV rule.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from governance.tally import _fast  # noqa: E402
from governance.tally.condorcet import schulze  # noqa: E402
from governance.tally.core import Profile  # noqa: E402
from governance.tally.irv import irv  # noqa: E402

CANDIDATES = [f"C{i:02d}" for i in range(15)]
SYDNEY = Path(__file__).resolve().parent.parent / "tests" / "data" / "tally" / "sydney" / "Sydney.blt"


# === Ballots ====================================================================================


def make_ballots(n: int, seed: int = 2026) -> np.ndarray:
    """``n`` rows of 15 candidate indices, best first, truncated and padded with -1."""
    rng = np.random.default_rng(seed)
    strength = np.log(np.linspace(3.0, 0.5, len(CANDIDATES)))
    keys = strength[None, :] + rng.gumbel(size=(n, len(CANDIDATES))).astype(np.float32)
    order = np.argsort(-keys, axis=1).astype(np.int8)
    length = rng.integers(1, len(CANDIDATES) + 1, size=n)
    order[np.arange(len(CANDIDATES))[None, :] >= length[:, None]] = -1
    return order


def as_lists(rows: np.ndarray) -> list[tuple[str, ...]]:
    """The same ballots as name tuples (the peers' starting point)."""
    return [tuple(CANDIDATES[c] for c in row if c >= 0) for row in rows.tolist()]


# === Contenders =================================================================================


def ours_array(method: str, rows, lists, seats: int):
    profile = _fast.ArrayProfile.from_array(CANDIDATES, rows, seats=seats)
    return _ours(method, profile)


def ours_lists(method: str, rows, lists, seats: int):
    profile = _fast.ArrayProfile.from_names(CANDIDATES, lists, seats=seats)
    return _ours(method, profile)


def ours_build(method: str, rows, lists, seats: int):
    profile = Profile.build(CANDIDATES, lists, seats=seats)
    return _ours(method, profile)


def _ours(method: str, profile: Profile):
    if method == "irv":
        return irv(profile).elected
    if method == "schulze":
        return schulze(profile).elected
    from governance.tally.stv import meek

    return meek(profile).elected


def pref_voting_run(method: str, rows, lists, seats: int):
    from pref_voting.iterative_methods import instant_runoff
    from pref_voting.margin_based_methods import beat_path
    from pref_voting.profiles_with_ties import ProfileWithTies

    if method == "stv":
        raise NotImplementedError
    counts = Counter(lists)
    rankings = [{c: k + 1 for k, c in enumerate(r)} for r in counts]
    profile = ProfileWithTies(rankings, rcounts=list(counts.values()), candidates=CANDIDATES)
    if method == "irv":
        return instant_runoff(profile)
    profile.use_extended_strict_preference()  # ranked beats unranked, as ours
    return beat_path(profile)


def pyrankvote_run(method: str, rows, lists, seats: int):
    import pyrankvote
    from pyrankvote import Ballot, Candidate

    if method == "schulze":
        raise NotImplementedError
    cands = {name: Candidate(name) for name in CANDIDATES}
    ballots = [Ballot(ranked_candidates=[cands[c] for c in r]) for r in lists]
    if method == "irv":
        return pyrankvote.instant_runoff_voting(list(cands.values()), ballots).get_winners()
    return pyrankvote.single_transferable_vote(
        list(cands.values()), ballots, number_of_seats=seats
    ).get_winners()


def votelib_run(method: str, rows, lists, seats: int):
    from votelib.convert import RankedToCondorcetVotes
    from votelib.evaluate.condorcet import Schulze
    from votelib.evaluate.sequential import TransferableVoteSelector

    votes = Counter(r for r in lists if r)
    if method == "schulze":
        return Schulze().evaluate(RankedToCondorcetVotes(unranked_at_bottom=True).convert(votes))
    return TransferableVoteSelector().evaluate(votes, seats if method == "stv" else 1)


def votekit_run(method: str, rows, lists, seats: int):
    from votekit import RankBallot, RankProfile
    from votekit.elections import IRV, STV, Schulze

    counts = Counter(lists)
    ballots = [RankBallot(ranking=tuple(frozenset([c]) for c in r), weight=w) for r, w in counts.items() if r]
    profile = RankProfile(ballots=ballots, candidates=CANDIDATES)
    if method == "irv":
        return IRV(profile).get_elected()
    if method == "schulze":
        return Schulze(profile).get_elected()
    return STV(profile, n_seats=seats).get_elected()


def warm_up() -> None:
    """Import every peer in the parent, so that no contender's time includes its imports."""
    import pref_voting.iterative_methods  # noqa: F401
    import pref_voting.margin_based_methods  # noqa: F401
    import pref_voting.profiles_with_ties  # noqa: F401
    import pyrankvote  # noqa: F401
    import votekit.elections  # noqa: F401
    import votelib.convert  # noqa: F401
    import votelib.evaluate.condorcet  # noqa: F401
    import votelib.evaluate.sequential  # noqa: F401

    import governance.tally.stv  # noqa: F401


CONTENDERS = {
    "ours": ours_array,
    "ours (lists)": ours_lists,
    "ours (build)": ours_build,
    "pref_voting": pref_voting_run,
    "pyrankvote": pyrankvote_run,
    "votelib": votelib_run,
    "votekit": votekit_run,
}


# === Measuring ==================================================================================


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _child(conn, fn, method, rows, lists, seats):
    try:
        start_rss = _rss_kb()
        t0 = time.perf_counter()
        winners = fn(method, rows, lists, seats)
        elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send(("ok", elapsed, max(0, peak - start_rss) / 1024, str(list(winners))[:60]))
    except NotImplementedError:
        conn.send(("n/a", 0.0, 0.0, ""))
    except Exception as exc:  # a peer failing is a result to report, not a crash
        conn.send(("error", 0.0, 0.0, f"{type(exc).__name__}: {exc}"[:60]))
    finally:
        conn.close()


def measure(fn, method, rows, lists, seats, budget):
    """Run one contender in a forked child; returns (status, seconds, MiB, winners)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, method, rows, lists, seats))
    proc.start()
    child.close()
    if parent.poll(budget):
        out = parent.recv()
        proc.join()
        return out
    proc.kill()
    proc.join()
    return ("timeout", budget, 0.0, "")


def run(sizes, methods, budget, seats):
    """Measure every contender on every method and size; print one table per method."""
    for method in methods:
        print(
            f"\n## {method.upper()}"
            + (f" ({seats} seats; ours = Meek, peers = their own STV)" if method == "stv" else "")
        )
        print(f"{'ballots':>9}  {'contender':<13} {'time s':>9} {'peak MiB':>9} {'x ours':>8}  winners")
        capped: dict[str, str] = {}
        for n in sizes:
            rows = make_ballots(n)
            lists = as_lists(rows)
            ours_time = None
            for name, fn in CONTENDERS.items():
                if name in capped:
                    print(f"{n:>9}  {name:<13} {'capped':>9} {'':>9} {'':>8}  ({capped[name]})")
                    continue
                status, secs, mib, winners = measure(fn, method, rows, lists, seats, budget)
                if status == "n/a":
                    capped[name] = "method not offered"
                    print(f"{n:>9}  {name:<13} {'n/a':>9}")
                    continue
                if status != "ok":
                    capped[name] = f"{status} at {n} ballots" + (
                        f" ({budget:.0f} s budget)" if status == "timeout" else ""
                    )
                    print(f"{n:>9}  {name:<13} {status:>9} {'':>9} {'':>8}  {winners}")
                    continue
                if name == "ours":
                    ours_time = secs
                ratio = f"{secs / ours_time:8.1f}" if ours_time else ""
                print(f"{n:>9}  {name:<13} {secs:9.3f} {mib:9.1f} {ratio:>8}  {winners}")
                if secs > budget / 3:
                    capped[name] = f"took {secs:.1f} s at {n} ballots"
            sys.stdout.flush()


def sydney(budget: float) -> None:
    """City of Sydney 2021 (117,362 ballots, 44 candidates, 9 seats) by Meek STV, if blt.py exists."""
    try:
        from governance.tally.blt import read_blt
        from governance.tally.stv import meek
    except ImportError:
        print("\nSydney 2021: skipped (governance.tally.blt or .stv is missing)")
        return
    if not SYDNEY.exists():
        print(f"\nSydney 2021: skipped ({SYDNEY} not found)")
        return

    def whole(method, rows, lists, seats):
        profile = read_blt(SYDNEY.read_text(encoding="utf-8-sig"), name=SYDNEY.name)
        return meek(profile).elected

    status, secs, mib, winners = measure(whole, "meek", None, None, 9, budget)
    print("\n## City of Sydney 2021, Meek STV, 9 seats (read BLT + count)")
    print(f"{status}: {secs:.2f} s, peak {mib:.1f} MiB, elected {winners}")


def main(argv=None) -> int:
    """Parse options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only: a smoke run")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--methods", default="irv,schulze,stv")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds per run before a contender is capped"
    )
    parser.add_argument("--seats", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000])
    budget = args.budget or (20.0 if args.quick else 120.0)
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs; budget {budget:.0f} s per run"
    )
    warm_up()
    run(sizes, args.methods.split(","), budget, args.seats)
    if not args.quick:
        sydney(budget * 5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
