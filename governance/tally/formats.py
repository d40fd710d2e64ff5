"""Ballot file formats: PrefLib (.soi/.toi/.soc/.toc) and plain CSV; ABIF via ``abif``, BLT via ``blt``; ``load``.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

Every reader takes text and returns a ``Profile``; every writer takes a ``Profile`` and returns
text. A file that cannot be read exactly as written is rejected with a ``TallyError`` whose
message starts ``line N:`` (``read_ballots`` adds the file name), never guessed at. ``load`` reads
a file's bytes once, checks them (``_scan.Source``: UTF-8, no control characters, no line over
1 MiB) and returns the profile with what the command needs besides (BLT's tie order, notes).
Large files in the layout writers use are read in bulk (``_scan``); the profile is then an
``_fast.ArrayProfile``. Names and titles are written so that they read back exactly
(``names.quote_name``).

**PrefLib** (``.soi`` strict orders, incomplete; ``.toi`` orders with ties, incomplete; ``.soc`` and
``.toc`` the complete versions). Header lines ``# KEY: value``; ``# ALTERNATIVE NAME i: name`` for
every i from 1 to ``NUMBER ALTERNATIVES``; then ``count: 3,1,{2,4}`` lines (``{...}`` is a group
of tied alternatives, ``.toi``/``.toc`` only). Declared ``NUMBER VOTERS`` and
``NUMBER UNIQUE ORDERS`` must match the data. A line ``count:`` with nothing after it is
read as that many blank ballots (PrefLib files do not contain them; ``write_preflib`` writes
them so that no ballot is lost).

**ABIF** is read and written by ``abif`` (``parse_abif`` and ``write_abif`` are re-exported here).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _scan
from ._fast import ArrayProfile
from .abif import parse_abif, read_abif_bytes, write_abif
from .core import Profile, Ranking, TallyError, TieBreaker
from .names import quote_name, unquote_name

__all__ = [
    "FORMATS",
    "Loaded",
    "csv_name",
    "load",
    "parse_abif",
    "parse_csv",
    "parse_preflib",
    "read_ballots",
    "write_abif",
    "write_ballots",
    "write_csv",
    "write_preflib",
]

#: File extension -> format name understood by ``read_ballots`` / ``write_ballots``.
FORMATS = {
    ".blt": "blt",
    ".soi": "preflib",
    ".toi": "preflib",
    ".soc": "preflib",
    ".toc": "preflib",
    ".abif": "abif",
    ".csv": "csv",
}


def _error(line: int, message: str) -> TallyError:
    return TallyError(f"line {line}: {message}")


def _count(text: str, line: int) -> int:
    text = text.strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise _error(line, f"count {text[:40]!r} is not a whole number")
    if len(text.lstrip("0")) > _scan.MAX_WEIGHT_DIGITS:
        raise _error(line, f"count has more than {_scan.MAX_WEIGHT_DIGITS} digits")
    value = int(text)
    if value < 1:
        raise _error(line, f"count must be at least 1, not {value}")
    return value


def _check_ranking(groups: Sequence[Sequence[int]], line: int, names: Sequence[str]) -> Ranking:
    seen: set[int] = set()
    out = []
    for group in groups:
        for c in group:
            if c in seen:
                raise _error(line, f"candidate {names[c]!r} is ranked more than once")
            seen.add(c)
        if len(group) == 1:
            out.append(_scan.SINGLE[group[0]])
        elif group:
            out.append(tuple(sorted(group)))
    return tuple(out)


# === Dispatch ===================================================================================


@dataclass(frozen=True)
class Loaded:
    """A ballot file as read: the profile, its format, and what else the file says.

    ``tie_breaker`` is a BLT file's own tie order (its ``[tie ...]`` line, else ballot-file
    order) for STV counts; ``notes`` says how the file departs from its format's usual layout.
    """

    profile: Profile
    kind: str
    tie_breaker: TieBreaker | None = None
    notes: tuple[str, ...] = ()


def load(path: str | Path, *, format: str | None = None, raw: bytes | None = None) -> Loaded:
    """Read a ballot file once and return its profile and extras (see ``Loaded``).

    Errors name the file and the line: ``ballots.toi: line 14: unknown candidate number 9``
    (BLT: ``ballots.blt:14: ...``).
    """
    path = Path(path)
    kind = format or FORMATS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(FORMATS))
        raise TallyError(f"{path}: unknown ballot file type {path.suffix!r} (known: {known})")
    if raw is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TallyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if kind == "blt":
        from .blt import read_blt_bytes

        meta = read_blt_bytes(raw, name=str(path))  # its errors read "<file>:<line>: ..."
        return Loaded(meta.profile, kind, meta.tie_breaker(), meta.dialect)
    try:
        if kind == "preflib":
            profile = read_preflib_bytes(raw, kind=path.suffix.lower().lstrip(".") if format is None else None)
        elif kind == "abif":
            profile = read_abif_bytes(raw)
        elif kind == "csv":
            profile = read_csv_bytes(raw)
        else:
            raise TallyError(f"unknown ballot format {kind!r}")
    except TallyError as exc:
        raise TallyError(f"{path}: {exc}") from None
    return Loaded(profile, kind)


def read_ballots(path: str | Path, *, format: str | None = None) -> Profile:
    """Read a ballot file, choosing the reader by extension (or ``format``).

    Errors name the file and the line: ``ballots.toi: line 14: unknown candidate number 9``.
    """
    return load(path, format=format).profile


def write_ballots(profile: Profile, path: str | Path, *, format: str | None = None) -> None:
    """Write a profile to a file in the format its extension names (or ``format``)."""
    path = Path(path)
    kind = format or FORMATS.get(path.suffix.lower())
    if kind == "blt":
        from .blt import write_blt

        text = write_blt(profile)
    elif kind == "preflib":
        text = write_preflib(profile, kind=path.suffix.lower().lstrip(".") if format is None else None)
    elif kind == "abif":
        text = write_abif(profile)
    elif kind == "csv":
        text = write_csv(profile)
    else:
        raise TallyError(f"{path}: unknown ballot file type {path.suffix!r}")
    path.write_text(text, encoding="utf-8")


# === PrefLib ====================================================================================

_HEADER = re.compile(r"#\s*([A-Z][A-Z ]*[A-Z])\s*(?:(\d+)\s*)?:\s?(.*)$")


def parse_preflib(text: str, *, kind: str | None = None) -> Profile:
    """Read PrefLib ``.soi``/``.toi``/``.soc``/``.toc`` text.

    ``kind`` (the extension without the dot) enforces its rules: no ties in ``soi``/``soc``,
    every alternative ranked in ``soc``/``toc``; ``DATA TYPE`` in the header is used when ``kind``
    is None.

    >>> p = parse_preflib("# NUMBER ALTERNATIVES: 2\\n# ALTERNATIVE NAME 1: x\\n# ALTERNATIVE NAME 2: y\\n3: 2,1\\n1: {1,2}\\n")
    >>> p.candidates, [(b.ranking, b.weight) for b in p.ballots]
    (('x', 'y'), [(((1,), (0,)), 3), (((0, 1),), 1)])
    """
    return read_preflib_bytes(text.encode("utf-8", "surrogatepass"), kind=kind)


def read_preflib_bytes(raw: bytes, *, kind: str | None = None) -> Profile:
    """``parse_preflib`` for a file's bytes (errors start ``line N:``)."""
    src = _scan.Source(raw, "")
    headers: dict[str, tuple[int, str]] = {}
    names: dict[int, tuple[int, str]] = {}
    first = src.lines
    for i in range(src.lines):
        number = i + 1
        line = src.text(i).strip()
        if not line:
            continue
        if not line.startswith("#"):
            first = i
            break
        m = _HEADER.match(line)
        if m is None:
            continue  # a free comment
        key, idx, value = m.group(1), m.group(2), unquote_name(m.group(3).strip())
        if key == "ALTERNATIVE NAME":
            if idx is None:
                raise _error(number, "ALTERNATIVE NAME without a number")
            if len(idx) > 6:
                raise _error(number, f"alternative {idx[:20]} is beyond NUMBER ALTERNATIVES")
            k = int(idx)
            if k in names:
                raise _error(number, f"alternative {k} is named twice")
            names[k] = (number, value)
        elif idx is None:
            headers[key] = (number, value)

    kind = (kind or headers.get("DATA TYPE", (0, ""))[1] or "toi").lower()
    if kind not in ("soi", "toi", "soc", "toc"):
        raise TallyError(f"unknown PrefLib data type {kind[:20]!r}")
    if "NUMBER ALTERNATIVES" in headers:
        line_no, value = headers["NUMBER ALTERNATIVES"]
        if not value.isdigit() or not value.isascii():
            raise _error(line_no, f"NUMBER ALTERNATIVES {value[:40]!r} is not a whole number")
        if len(value) > 6 or int(value) > _scan.MAX_CANDIDATES:
            raise _error(line_no, f"NUMBER ALTERNATIVES {value[:20]}: at most {_scan.MAX_CANDIDATES:,} are supported")
        n = int(value)
    elif names:
        n = max(names)
    else:
        raise TallyError("line 1: truncated header: no NUMBER ALTERNATIVES and no ALTERNATIVE NAME lines")
    extra = sorted(k for k in names if not 1 <= k <= n)
    if extra:
        raise _error(names[extra[0]][0], f"alternative {extra[0]} is beyond NUMBER ALTERNATIVES {n}")
    if len(names) < n:
        missing = next(k for k in range(1, n + 1) if k not in names)
        last = max([ln for ln, _ in names.values()] + [ln for ln, _ in headers.values()] + [0])
        raise _error(last + 1, f"truncated header: no ALTERNATIVE NAME {missing} (of {n})")
    candidates = [names[k][1] for k in range(1, n + 1)]
    if len(set(candidates)) != n:
        raise TallyError("two alternatives have the same name")

    arrays = _preflib_bulk(src, first, n, kind, candidates)
    if arrays is None:
        counts, lines = _preflib_lines(src, first, src.lines, n, kind, candidates)
        total = sum(counts.values())
    else:
        codes, weights = arrays
        lines = len(codes)
        total = sum(weights.tolist())
    if "NUMBER VOTERS" in headers:
        line_no, value = headers["NUMBER VOTERS"]
        if not value.isdigit() or len(value) > 40 or int(value) != total:
            raise _error(line_no, f"NUMBER VOTERS says {value[:40]} but the ballot lines add up to {total}")
    if "NUMBER UNIQUE ORDERS" in headers:
        line_no, value = headers["NUMBER UNIQUE ORDERS"]
        if not value.isdigit() or len(value) > 40 or int(value) != lines:
            raise _error(line_no, f"NUMBER UNIQUE ORDERS says {value[:40]} but there are {lines} ballot lines")
    title = headers.get("TITLE", (0, ""))[1]
    if arrays is not None:
        return ArrayProfile(candidates, codes, weights, title=title)
    return Profile.from_indices(candidates, list(counts), weights=list(counts.values()), title=title)


def _preflib_lines(src, first: int, stop: int, n: int, kind: str, candidates) -> tuple[dict[Ranking, int], int]:
    """Ballot lines ``first``..``stop - 1`` one by one: ``({ranking: weight}, lines read)``."""
    counts: dict[Ranking, int] = {}
    lines = 0
    for i in range(first, stop):
        number = i + 1
        line = src.text(i).strip()
        if not line:
            continue
        if line.startswith("#"):
            raise _error(number, "header line after the first ballot line")
        head, sep, body = line.partition(":")
        if not sep:
            raise _error(number, "expected 'count: ranking'")
        weight = _count(head, number)
        groups = _preflib_groups(body, number, n, ties=kind in ("toi", "toc"))
        ranking = _check_ranking(groups, number, candidates)
        if kind in ("soc", "toc") and ranking and sum(len(g) for g in ranking) != n:
            raise _error(number, f"a {kind} order must rank all {n} alternatives")
        counts[ranking] = counts.get(ranking, 0) + weight
        lines += 1
    return counts, lines


_PREFLIB_BYTES = b"0123456789:, \r\n"
_TO_SPACES = bytes.maketrans(b":,", b"  ")


def _preflib_bulk(src, first: int, n: int, kind: str, candidates):
    """The ballot lines in bulk (``count: a,b,c``, one space after the colon at most), or None."""
    if src.lines - first < _scan.FAST_LINES:
        return None
    parts = []
    for a, b in _scan.chunks(src, first, src.lines):
        got = _preflib_chunk(src, a, b, n, kind)
        if got is None:
            counts, lines = _preflib_lines(src, a, b, n, kind, candidates)
            got = _scan.strict_rows(counts, n)
            if got is None or lines != len(got[0]):
                return None  # equal rankings, or identical lines merged: read it all line by line
        parts.append(got)
    return _scan.concat(parts, n)


def _preflib_chunk(src, a: int, b: int, n: int, kind: str):
    data = src.chunk(a, b)
    # Only digits, ':', ',' and a space right after the colon; exactly one colon per line, right
    # after the count's digits.
    if data.translate(None, _PREFLIB_BYTES) or data.count(b" ") != data.count(b": "):
        return None
    colons = _scan.one_per_line(src, a, b, ord(":"))
    if colons is None:
        return None
    got = _scan.rows_from_stream(data.translate(_TO_SPACES).replace(b"\n", b" 0\n"), b - a, n)
    if got is None:
        return None
    codes, weights = got
    if not (_scan.digits(weights) == colons).all():  # the weight is all that comes before the colon
        return None
    ranked = (codes >= 0).sum(axis=1)
    # Each line has at least (items - 1) commas, exactly that many only when no entry between
    # commas is empty: so the totals agree only when every line is well formed.
    if data.count(b",") != int(np.maximum(ranked - 1, 0).sum()):
        return None
    if kind in ("soc", "toc") and ((ranked != 0) & (ranked != n)).any():
        return None
    return codes, weights


def _preflib_groups(body: str, line: int, n: int, *, ties: bool) -> list[list[int]]:
    body = body.strip()
    if not body:
        return []
    groups: list[list[int]] = []
    for token in re.findall(r"\{[^}]*\}|[^,{}]+|[{}]", body):
        token = token.strip()
        if token in ("{", "}"):
            raise _error(line, "unbalanced braces")
        if token.startswith("{"):
            if not ties:
                raise _error(line, "tied alternatives ({...}) are not allowed in strict orders (.soi/.soc)")
            members = [t.strip() for t in token[1:-1].split(",")]
        else:
            members = [token]
        group = []
        for m in members:
            if not m.isdigit() or not m.isascii():
                raise _error(line, f"{m[:40]!r} is not an alternative number")
            i = int(m) if len(m) <= 7 else 0
            if not 1 <= i <= n:
                raise _error(line, f"unknown candidate number {i} (alternatives are 1 to {n})")
            group.append(i - 1)
        groups.append(group)
    if re.search(r",\s*,|^\s*,|,\s*$", re.sub(r"\{[^}]*\}", "x", body)):
        raise _error(line, "empty entry between commas")
    return groups


def write_preflib(profile: Profile, *, kind: str | None = None) -> str:
    """PrefLib text; ``kind`` defaults to ``soi`` for strict ballots and ``toi`` when any ties.

    >>> p = Profile.build(["x", "y"], [["y", "x"], [["x", "y"]]])
    >>> print(write_preflib(p).splitlines()[-2:])
    ['1: 2,1', '1: {1,2}']
    """
    has_ties = any(len(g) > 1 for b in profile.ballots for g in b.ranking)
    kind = kind or ("toi" if has_ties else "soi")
    if kind in ("soi", "soc") and has_ties:
        raise TallyError(f"a .{kind} file cannot hold ballots with equal rankings; use .toi")
    lines = [
        f"# FILE NAME: ballots.{kind}",
        f"# TITLE: {quote_name(profile.title) if profile.title else ''}",
        f"# DATA TYPE: {kind}",
        f"# NUMBER ALTERNATIVES: {len(profile.candidates)}",
        f"# NUMBER VOTERS: {profile.total_weight}",
        f"# NUMBER UNIQUE ORDERS: {len(profile.ballots)}",
    ]
    lines += [f"# ALTERNATIVE NAME {i}: {quote_name(name)}" for i, name in enumerate(profile.candidates, start=1)]
    for b in sorted(profile.ballots, key=lambda b: -b.weight):
        parts = [
            str(g[0] + 1) if len(g) == 1 else "{" + ",".join(str(c + 1) for c in g) + "}" for g in b.ranking
        ]
        lines.append(f"{b.weight}: {','.join(parts)}".rstrip())
    return "\n".join(lines) + "\n"


# === CSV ========================================================================================

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
        raise _error(1, "truncated header: every column needs a name")
    if len(columns) > _scan.MAX_CANDIDATES:
        raise _error(1, f"{len(columns):,} columns; at most {_scan.MAX_CANDIDATES:,} candidates are supported")
    rank_layout = all(_RANK_HEADER.fullmatch(c) for c in columns)
    if not rank_layout and any(_RANK_HEADER.fullmatch(c) for c in columns):
        raise _error(1, "the header mixes rank columns with candidate names")
    if not rank_layout:
        columns = [unquote_name(c) for c in columns]
        if len(set(columns)) != len(columns):
            raise _error(1, "a candidate is named twice in the header")
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
        raise _error(1, f"bad CSV: {exc}") from None
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
                raise _error(number, f"expected {len(header)} cells, found {len(row)}")
            cells = [c.strip() for c in row]
            weight = _count(cells[0], number) if has_count else 1
            cells = cells[1:] if has_count else cells
            if rank_layout:
                groups = []
                for cell in cells:
                    if not cell:
                        continue  # a skipped rank: the next one counts
                    group = []
                    for name in (n.strip() for n in cell.split("=")):
                        if name not in index and len(candidates) >= _scan.MAX_CANDIDATES:
                            raise _error(number, f"more than {_scan.MAX_CANDIDATES:,} candidates")
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
                        raise _error(
                            number,
                            f"rank {cell[:40]!r} for {candidates[i]!r} is not a whole number of at least 1",
                        )
                    levels.setdefault(int(cell), []).append(i)
                groups = [levels[k] for k in sorted(levels)]
            rankings.append(_check_ranking(groups, number, candidates))
            weights.append(weight)
    except csv.Error as exc:
        raise _error(reader.line_num, f"bad CSV: {exc}") from None
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


def rankings_of(profile: Profile) -> Iterable[tuple[tuple[str, ...], ...]]:
    """Each distinct ballot as named groups (helper for tests and reports)."""
    for b in profile.ballots:
        yield tuple(profile.names(g) for g in b.ranking)
