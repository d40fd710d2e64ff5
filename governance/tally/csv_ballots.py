"""CSV ballot files, one ballot per row: reading (in bulk for large files) and writing.

Boundary rule: pure library code, as ``formats``.

**CSV**, one ballot per row, in one of two layouts told apart by the header row:

* *candidate columns* (what ``write_csv`` writes): the header names the candidates; each cell is
  the rank (1 = best) the voter gave that candidate, empty for unranked. Equal numbers are equal
  ranks; gaps between numbers do not matter.
* *rank columns*: the header cells are ``rank1``, ``rank2``, ... (or ``choice1``...); each cell
  names the candidate at that rank (``a=b`` for equal ranks), empty cells are skipped.
  Candidates are taken in order of first appearance.

Either layout may start with a ``count`` column giving each row's weight. A header cell that
would be misread (``rank1`` as a candidate's name, leading spaces...) is written as a JSON string
(``csv_name``) and decoded when read.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from . import _scan
from ._fast import ArrayProfile
from ._scan import check_ranking, line_count, line_error
from .core import Profile, Ranking, TallyError
from .names import quote_name, unquote_name

__all__ = ["csv_name", "parse_csv", "read_csv_bytes", "write_csv"]


_RANK_HEADER = re.compile(r"(?:rank|choice|preference)\s*_?\s*(\d+)", re.IGNORECASE)


def parse_csv(text: str) -> Profile:
    """Read CSV ballots, one per row, in either layout (see the module docstring).

    >>> parse_csv("count,x,y,z\\n2,1,,2\\n1,,1,1\\n").ballots[0]
    Ballot(ranking=((0,), (2,)), weight=2)
    >>> parse_csv("rank1,rank2\\nx,y\\ny,\\n").candidates
    ('x', 'y')
    """
    return read_csv_bytes(text.encode("utf-8", "surrogatepass"))


def _header(header: list[str]) -> tuple[bool, list[str], bool]:
    """``(has_count, columns, rank_layout)`` of a CSV header row (names decoded)."""
    header = [h.strip() for h in header]
    has_count = bool(header) and header[0].lower() in ("count", "weight")
    columns = header[1:] if has_count else header
    if not columns or any(not c for c in columns):
        raise line_error(1, "truncated header: every column needs a name")
    if len(columns) > _scan.MAX_CANDIDATES:
        raise line_error(1, f"{len(columns):,} columns; at most {_scan.MAX_CANDIDATES:,} candidates are supported")
    rank_layout = all(_RANK_HEADER.fullmatch(c) for c in columns)
    if not rank_layout and any(_RANK_HEADER.fullmatch(c) for c in columns):
        raise line_error(1, "the header mixes rank columns with candidate names")
    if not rank_layout:
        columns = [unquote_name(c) for c in columns]
        if len(set(columns)) != len(columns):
            raise line_error(1, "a candidate is named twice in the header")
    return has_count, columns, rank_layout


def read_csv_bytes(raw: bytes) -> Profile:
    """``parse_csv`` for a file's bytes (errors start ``line N:``)."""
    src = _scan.Source(raw, "")
    if src.lines > _scan.FAST_LINES and '"' not in src.text(0):
        try:
            header = next(csv.reader([src.text(0)]))
        except (StopIteration, csv.Error):
            header = None
        if header is not None:
            has_count, columns, rank_layout = _header(header)
            if not rank_layout:
                arrays = _csv_bulk(src, has_count, columns)
                if arrays is not None:
                    return ArrayProfile(columns, *arrays)
    return _parse_csv_text(src.raw.decode("utf-8"))


def _csv_bulk(src, has_count: bool, columns: list[str]):
    n = len(columns)
    cells = n + (1 if has_count else 0)
    parts = []
    for a, b in _scan.chunks(src, 1, src.lines):
        got = _csv_chunk(src, a, b, has_count, n, cells)
        if got is None:
            return None  # anything unusual: the csv module reads the whole file
        parts.append(got)
    return _scan.concat(parts, n) if parts else None


_CSV_BYTES = b"0123456789,\n"
_BIG = np.int64(2**62)


def _csv_chunk(src, a: int, b: int, has_count: bool, n: int, cells: int):
    data = src.chunk(a, b)
    if data.translate(None, _CSV_BYTES) or b",0" in data or b"\n0" in data or data[:1] in b"0\n":
        return None
    rows = b - a
    buf = np.frombuffer(data, dtype=np.uint8)
    seps = np.flatnonzero((buf == 44) | (buf == 10))  # the end of every cell
    if len(seps) != rows * cells:
        return None
    ends = seps.reshape(rows, cells)
    if not (buf[ends[:, -1]] == 10).all():  # the same number of cells on every line
        return None
    starts = np.empty_like(seps)
    starts[0] = 0
    starts[1:] = seps[:-1] + 1
    filled = seps > starts
    vals = _scan.numbers(data.translate(bytes.maketrans(b",", b" ")))
    if vals is None or len(vals) != int(filled.sum()):
        return None
    table = np.zeros(rows * cells, dtype=np.int64)
    table[filled] = vals
    table = table.reshape(rows, cells)
    if has_count:
        weights, ranks = table[:, 0].copy(), table[:, 1:]
    else:
        weights, ranks = np.ones(rows, dtype=np.int64), table
    empty = ~filled.reshape(rows, cells).any(axis=1)
    if empty.any():  # rows with no cell filled are skipped, as the csv reader does
        keep = ~empty
        weights, ranks = weights[keep], ranks[keep]
    if len(weights) and (int(weights.min()) < 1 or int(weights.max()) >= 10**_scan.MAX_WEIGHT_DIGITS):
        return None
    if ranks.size and int(ranks.max()) >= _BIG:
        return None
    key = np.where(ranks > 0, ranks, _BIG)
    order = np.argsort(key, axis=1, kind="stable")
    ordered = np.take_along_axis(key, order, axis=1)
    if ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] < _BIG)).any():
        return None  # equal ranks
    codes = np.where(ordered < _BIG, order, -1).astype(np.int8 if n < 127 else np.int16)
    width = max(1, int((ordered < _BIG).sum(axis=1).max()) if len(codes) else 1)
    return codes[:, :width], weights


def _parse_csv_text(text: str) -> Profile:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise TallyError("line 1: the file is empty (expected a header row)") from None
    except csv.Error as exc:
        raise line_error(1, f"bad CSV: {exc}") from None
    has_count, columns, rank_layout = _header(header)

    candidates: list[str] = [] if rank_layout else list(columns)
    index = {name: i for i, name in enumerate(candidates)}
    rankings: list[Ranking] = []
    weights: list[int] = []
    try:
        for row in reader:
            number = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise line_error(number, f"expected {len(header)} cells, found {len(row)}")
            cells = [c.strip() for c in row]
            weight = line_count(cells[0], number) if has_count else 1
            cells = cells[1:] if has_count else cells
            if rank_layout:
                groups = []
                for cell in cells:
                    if not cell:
                        continue  # a skipped rank: the next one counts
                    group = []
                    for name in (n.strip() for n in cell.split("=")):
                        if name not in index and len(candidates) >= _scan.MAX_CANDIDATES:
                            raise line_error(number, f"more than {_scan.MAX_CANDIDATES:,} candidates")
                        if name not in index:
                            index[name] = len(candidates)
                            candidates.append(name)
                        group.append(index[name])
                    groups.append(group)
            else:
                levels: dict[int, list[int]] = {}
                for i, cell in enumerate(cells):
                    if not cell:
                        continue
                    if not cell.isdigit() or not cell.isascii() or len(cell) > 18 or int(cell) < 1:
                        raise line_error(
                            number,
                            f"rank {cell[:40]!r} for {candidates[i]!r} is not a whole number of at least 1",
                        )
                    levels.setdefault(int(cell), []).append(i)
                groups = [levels[k] for k in sorted(levels)]
            rankings.append(check_ranking(groups, number, candidates))
            weights.append(weight)
    except csv.Error as exc:
        raise line_error(reader.line_num, f"bad CSV: {exc}") from None
    if not candidates:
        raise TallyError("line 1: no candidates")
    return Profile.from_indices(candidates, rankings, weights=weights)


def write_csv(profile: Profile) -> str:
    """CSV in the candidate-column layout with a leading ``count`` column.

    >>> print(write_csv(Profile.build(["x", "y"], [["y", "x"]])), end="")
    count,x,y
    1,2,1
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["count", *(csv_name(name) for name in profile.candidates)])
    for b in sorted(profile.ballots, key=lambda b: -b.weight):
        rank = {c: level for level, group in enumerate(b.ranking, start=1) for c in group}
        writer.writerow([b.weight, *(rank.get(i, "") for i in range(len(profile.candidates)))])
    return out.getvalue()


def csv_name(name: str) -> str:
    """A candidate's header cell: the name, or a JSON string when the reader would misread it.

    >>> csv_name("Ann"), csv_name("rank1"), csv_name(" x")
    ('Ann', '"rank1"', '" x"')
    """
    return quote_name(name, lambda v: _RANK_HEADER.fullmatch(v) is not None or v.lower() in ("count", "weight"))


