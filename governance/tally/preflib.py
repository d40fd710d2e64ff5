"""PrefLib ballot files: reading (in bulk for large files) and writing.

Boundary rule: pure library code, as ``formats``.

**PrefLib** (``.soi`` strict orders, incomplete; ``.toi`` orders with ties, incomplete; ``.soc`` and
``.toc`` the complete versions). Header lines ``# KEY: value``; ``# ALTERNATIVE NAME i: name`` for
every i from 1 to ``NUMBER ALTERNATIVES``; then ``count: 3,1,{2,4}`` lines (``{...}`` is a group
of tied alternatives, ``.toi``/``.toc`` only). Declared ``NUMBER VOTERS`` and
``NUMBER UNIQUE ORDERS`` must match the data. A line ``count:`` with nothing after it is
read as that many blank ballots (PrefLib files do not contain them; ``write_preflib`` writes
them so that no ballot is lost).
"""

from __future__ import annotations

import re

import numpy as np

from . import _scan
from ._fast import ArrayProfile
from ._scan import check_ranking, line_count, line_error
from .core import Profile, Ranking, TallyError
from .names import quote_name, unquote_name

__all__ = ["parse_preflib", "read_preflib_bytes", "write_preflib"]


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
                raise line_error(number, "ALTERNATIVE NAME without a number")
            if len(idx) > 6:
                raise line_error(number, f"alternative {idx[:20]} is beyond NUMBER ALTERNATIVES")
            k = int(idx)
            if k in names:
                raise line_error(number, f"alternative {k} is named twice")
            names[k] = (number, value)
        elif idx is None:
            headers[key] = (number, value)

    kind = (kind or headers.get("DATA TYPE", (0, ""))[1] or "toi").lower()
    if kind not in ("soi", "toi", "soc", "toc"):
        raise TallyError(f"unknown PrefLib data type {kind[:20]!r}")
    if "NUMBER ALTERNATIVES" in headers:
        line_no, value = headers["NUMBER ALTERNATIVES"]
        if not value.isdigit() or not value.isascii():
            raise line_error(line_no, f"NUMBER ALTERNATIVES {value[:40]!r} is not a whole number")
        if len(value) > 6 or int(value) > _scan.MAX_CANDIDATES:
            raise line_error(line_no, f"NUMBER ALTERNATIVES {value[:20]}: at most {_scan.MAX_CANDIDATES:,} are supported")
        n = int(value)
    elif names:
        n = max(names)
    else:
        raise TallyError("line 1: truncated header: no NUMBER ALTERNATIVES and no ALTERNATIVE NAME lines")
    extra = sorted(k for k in names if not 1 <= k <= n)
    if extra:
        raise line_error(names[extra[0]][0], f"alternative {extra[0]} is beyond NUMBER ALTERNATIVES {n}")
    if len(names) < n:
        missing = next(k for k in range(1, n + 1) if k not in names)
        last = max([ln for ln, _ in names.values()] + [ln for ln, _ in headers.values()] + [0])
        raise line_error(last + 1, f"truncated header: no ALTERNATIVE NAME {missing} (of {n})")
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
            raise line_error(line_no, f"NUMBER VOTERS says {value[:40]} but the ballot lines add up to {total}")
    if "NUMBER UNIQUE ORDERS" in headers:
        line_no, value = headers["NUMBER UNIQUE ORDERS"]
        if not value.isdigit() or len(value) > 40 or int(value) != lines:
            raise line_error(line_no, f"NUMBER UNIQUE ORDERS says {value[:40]} but there are {lines} ballot lines")
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
            raise line_error(number, "header line after the first ballot line")
        head, sep, body = line.partition(":")
        if not sep:
            raise line_error(number, "expected 'count: ranking'")
        weight = line_count(head, number)
        groups = _preflib_groups(body, number, n, ties=kind in ("toi", "toc"))
        ranking = check_ranking(groups, number, candidates)
        if kind in ("soc", "toc") and ranking and sum(len(g) for g in ranking) != n:
            raise line_error(number, f"a {kind} order must rank all {n} alternatives")
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
            raise line_error(line, "unbalanced braces")
        if token.startswith("{"):
            if not ties:
                raise line_error(line, "tied alternatives ({...}) are not allowed in strict orders (.soi/.soc)")
            members = [t.strip() for t in token[1:-1].split(",")]
        else:
            members = [token]
        group = []
        for m in members:
            if not m.isdigit() or not m.isascii():
                raise line_error(line, f"{m[:40]!r} is not an alternative number")
            i = int(m) if len(m) <= 7 else 0
            if not 1 <= i <= n:
                raise line_error(line, f"unknown candidate number {i} (alternatives are 1 to {n})")
            group.append(i - 1)
        groups.append(group)
    if re.search(r",\s*,|^\s*,|,\s*$", re.sub(r"\{[^}]*\}", "x", body)):
        raise line_error(line, "empty entry between commas")
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


