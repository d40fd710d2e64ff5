"""Quick timings of the STV counts: Meek on 1M synthetic ballots and on the City of Sydney 2021 election.

Run: .venv/bin/python bench/stv_quick.py [--ballots N] [--pure]

Prints seconds; asserts nothing. The synthetic ballots are Plackett-Luce-like rankings of 15
candidates (popularity weights drawn once, seeded), truncated at a random length of 1-15, so
most ballots are distinct, as in a large real election.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from governance.tally import stv
from governance.tally._fast import ArrayProfile
from governance.tally.blt import read_blt
from governance.tally.core import Profile

ROOT = Path(__file__).resolve().parent.parent
SYDNEY = ROOT / "tests" / "data" / "tally" / "sydney" / "Sydney.blt"


def synthetic(n_ballots: int, n_cands: int = 15, seed: int = 2024) -> np.ndarray:
    """Rankings as rows of candidate indices, padded with -1."""
    rng = np.random.default_rng(seed)
    popularity = rng.gamma(1.0, 1.0, n_cands)
    keys = rng.gumbel(size=(n_ballots, n_cands)) + np.log(popularity)
    order = np.argsort(-keys, axis=1).astype(np.int16)
    length = rng.integers(1, n_cands + 1, n_ballots)
    order[np.arange(n_cands)[None, :] >= length[:, None]] = -1
    return order


def timed(label: str, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label:<58} {time.perf_counter() - start:7.3f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--pure", action="store_true", help="also time the tuple-Profile path")
    args = parser.parse_args()
    names = [f"C{i + 1}" for i in range(15)]
    rows = synthetic(args.ballots)

    def array_count():
        profile = ArrayProfile.from_array(names, rows, seats=3)
        return profile, stv.meek(profile)

    total = time.perf_counter()
    profile, result = timed(f"meek, {args.ballots:,} ballots: ArrayProfile + count", array_count)
    print(f"  {len(profile.codes):,} ballot rows; elected {result.elected}")
    timed("meek on that ArrayProfile (count only)", lambda: stv.meek(profile))
    print(f"end to end {time.perf_counter() - total:.3f} s")

    if args.pure:
        rankings = [tuple((int(c),) for c in row if c >= 0) for row in rows.tolist()]
        plain = timed(
            "Profile.from_indices on tuple rankings", lambda: Profile.from_indices(names, rankings, seats=3)
        )
        r2 = timed("meek on that Profile", lambda: stv.meek(plain))
        assert r2.elected == result.elected

    text = SYDNEY.read_text(encoding="utf-8")
    sydney = timed("City of Sydney 2021: read_blt", lambda: read_blt(text, name="Sydney.blt"))
    r = timed("City of Sydney 2021: meek (9 seats, 44 candidates)", lambda: stv.meek(sydney))
    print(f"  elected {', '.join(r.elected)}")
    timed("City of Sydney 2021: wigm", lambda: stv.wigm(sydney))
    timed("City of Sydney 2021: scottish", lambda: stv.scottish(sydney))


if __name__ == "__main__":
    main()
