"""The peer of ``bench/tally_cli.py``: read a ballot file in plain Python and count it with pyrankvote.

Run: ``python bench/tally_peer.py FILE irv|stv`` (STV for 3 seats). The readers are the plain
ones a script using pyrankvote would have: one pass over the lines, one ``Ballot`` per ballot
(a line's count repeats the same object). Prints the winners.
"""

from __future__ import annotations

import sys
from pathlib import Path


def read(path: Path) -> tuple[list[str], list[tuple[list[int], int]]]:
    """Candidate names and (ranking as candidate indices, count) per line of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    suffix = path.suffix
    ballots: list[tuple[list[int], int]] = []
    if suffix == ".blt":
        n = int(lines[0].split()[0])
        k = 1
        while lines[k].strip() != "0":
            parts = lines[k].split()
            ballots.append(([int(c) - 1 for c in parts[1:-1]], int(parts[0])))
            k += 1
        names = [lines[k + 1 + i].strip().strip('"') for i in range(n)]
    elif suffix == ".soi":
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("# ALTERNATIVE NAME")]
        for ln in lines:
            if ln and not ln.startswith("#"):
                head, body = ln.split(":", 1)
                ballots.append(([int(c) - 1 for c in body.split(",") if c.strip()], int(head)))
    elif suffix == ".abif":
        ids: dict[str, int] = {}
        names = []
        for ln in lines:
            if ln.startswith("="):
                key, full = ln[1:].split(":", 1)
                ids[key] = len(names)
                names.append(full.strip()[1:-1])
            elif ln and ln[0].isdigit():
                head, body = ln.split(":", 1)
                ballots.append(([ids[c] for c in body.split(">") if c], int(head)))
    elif suffix == ".csv":
        names = lines[0].split(",")[1:]
        for ln in lines[1:]:
            cells = ln.split(",")
            ranks = sorted((int(r), i) for i, r in enumerate(cells[1:]) if r)
            ballots.append(([i for _, i in ranks], int(cells[0])))
    else:
        raise SystemExit(f"unknown file type {suffix}")
    return names, ballots


def main() -> None:
    """Read, build pyrankvote's objects, count, print."""
    import pyrankvote
    from pyrankvote import Ballot, Candidate

    path, method = Path(sys.argv[1]), sys.argv[2]
    names, rows = read(path)
    candidates = [Candidate(name) for name in names]
    ballots = []
    for ranking, count in rows:
        ballot = Ballot(ranked_candidates=[candidates[c] for c in ranking])
        ballots.extend([ballot] * count)
    if method == "irv":
        result = pyrankvote.instant_runoff_voting(candidates, ballots)
    else:
        result = pyrankvote.single_transferable_vote(candidates, ballots, number_of_seats=3)
    print("elected", [c.name for c in result.get_winners()])


if __name__ == "__main__":
    main()
