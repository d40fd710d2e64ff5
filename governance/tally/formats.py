"""Ballot file formats: PrefLib (.soi/.toi/.soc/.toc), ABIF, plain CSV, and BLT via ``blt``.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

Every reader takes text and returns a ``Profile``; every writer takes a ``Profile`` and returns
text. A file that cannot be read exactly as written is rejected with a ``TallyError`` whose
message starts ``line N:`` (``read_ballots`` adds the file name), never guessed at.

**PrefLib** (``.soi`` strict orders, incomplete; ``.toi`` orders with ties, incomplete; ``.soc`` and
``.toc`` the complete versions). Header lines ``# KEY: value``; ``# ALTERNATIVE NAME i: name`` for
every i from 1 to ``NUMBER ALTERNATIVES``; then ``count: 3,1,{2,4}`` lines (``{...}`` is a group
of tied alternatives, ``.toi``/``.toc`` only). Declared ``NUMBER VOTERS`` and
``NUMBER UNIQUE ORDERS`` must match the data. A line ``count:`` with nothing after it is
read as that many blank ballots (PrefLib files do not contain them; ``write_preflib`` writes
them so that no ballot is lost).

**ABIF** (Aggregated Ballot Information Format). ``#`` starts a comment; ``{...}`` lines are JSON
metadata (``title`` is kept); ``=id:[Full Name]`` declares a candidate; ballot lines are
``count: a>b=c>d``. ``>`` separates ranks, ``=`` joins equal ranks, and ``,`` separates
candidates of a rated ballot (``a/5,b/3,c/3``: ranked by rating, higher first, equal ratings
equal). ``,`` without ratings expresses no preference between the candidates (read as equal
ranks). Tokens are bare ids (``[A-Za-z0-9_.-]`` characters) or ``[bracketed names]``. Once any
candidate is declared, an undeclared token is an error; with no declarations, candidates are
taken in order of first appearance.

**CSV**, one ballot per row, in one of two layouts told apart by the header row:

* *candidate columns* (what ``write_csv`` writes): the header names the candidates; each cell is
  the rank (1 = best) the voter gave that candidate, empty for unranked. Equal numbers are equal
  ranks; gaps between numbers do not matter.
* *rank columns*: the header cells are ``rank1``, ``rank2``, ... (or ``choice1``...); each cell
  names the candidate at that rank (``a=b`` for equal ranks), empty cells are skipped.
  Candidates are taken in order of first appearance.

Either layout may start with a ``count`` column giving each row's weight.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .core import Profile, Ranking, TallyError

__all__ = [
    "FORMATS",
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
        raise _error(line, f"count {text!r} is not a whole number")
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
        if group:
            out.append(tuple(sorted(group)))
    return tuple(out)


# === Dispatch ===================================================================================


def read_ballots(path: str | Path, *, format: str | None = None) -> Profile:
    """Read a ballot file, choosing the reader by extension (or ``format``).

    Errors name the file and the line: ``ballots.toi: line 14: unknown candidate number 9``.
    """
    path = Path(path)
    kind = format or FORMATS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(FORMATS))
        raise TallyError(f"{path}: unknown ballot file type {path.suffix!r} (known: {known})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TallyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TallyError(f"{path}: line {line}: not UTF-8 text") from None
    if kind == "blt":
        from .blt import read_blt

        return read_blt(text, name=str(path))  # its errors read "<file>:<line>: ..."
    try:
        if kind == "preflib":
            return parse_preflib(text, kind=path.suffix.lower().lstrip(".") if format is None else None)
        if kind == "abif":
            return parse_abif(text)
        if kind == "csv":
            return parse_csv(text)
    except TallyError as exc:
        raise TallyError(f"{path}: {exc}") from None
    raise TallyError(f"unknown ballot format {kind!r}")


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
    headers: dict[str, tuple[int, str]] = {}
    names: dict[int, tuple[int, str]] = {}
    data: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if data:
                raise _error(number, "header line after the first ballot line")
            m = _HEADER.match(line)
            if m is None:
                continue  # a free comment
            key, idx, value = m.group(1), m.group(2), m.group(3).strip()
            if key == "ALTERNATIVE NAME":
                if idx is None:
                    raise _error(number, "ALTERNATIVE NAME without a number")
                i = int(idx)
                if i in names:
                    raise _error(number, f"alternative {i} is named twice")
                names[i] = (number, value)
            elif idx is None:
                headers[key] = (number, value)
            continue
        data.append((number, line))

    kind = (kind or headers.get("DATA TYPE", (0, ""))[1] or "toi").lower()
    if kind not in ("soi", "toi", "soc", "toc"):
        raise TallyError(f"unknown PrefLib data type {kind!r}")
    if "NUMBER ALTERNATIVES" in headers:
        line_no, value = headers["NUMBER ALTERNATIVES"]
        if not value.isdigit():
            raise _error(line_no, f"NUMBER ALTERNATIVES {value!r} is not a whole number")
        n = int(value)
    elif names:
        n = max(names)
    else:
        raise TallyError("line 1: truncated header: no NUMBER ALTERNATIVES and no ALTERNATIVE NAME lines")
    for i in range(1, n + 1):
        if i not in names:
            last = max([ln for ln, _ in names.values()] + [ln for ln, _ in headers.values()] + [0])
            raise _error(last + 1, f"truncated header: no ALTERNATIVE NAME {i} (of {n})")
    extra = sorted(i for i in names if not 1 <= i <= n)
    if extra:
        raise _error(names[extra[0]][0], f"alternative {extra[0]} is beyond NUMBER ALTERNATIVES {n}")
    candidates = [names[i][1] for i in range(1, n + 1)]
    if len(set(candidates)) != n:
        raise TallyError("two alternatives have the same name")

    rankings: list[Ranking] = []
    weights: list[int] = []
    for number, line in data:
        head, sep, body = line.partition(":")
        if not sep:
            raise _error(number, "expected 'count: ranking'")
        weight = _count(head, number)
        groups = _preflib_groups(body, number, n, ties=kind in ("toi", "toc"))
        ranking = _check_ranking(groups, number, candidates)
        if kind in ("soc", "toc") and ranking and sum(len(g) for g in ranking) != n:
            raise _error(number, f"a {kind} order must rank all {n} alternatives")
        rankings.append(ranking)
        weights.append(weight)

    if "NUMBER VOTERS" in headers:
        line_no, value = headers["NUMBER VOTERS"]
        if not value.isdigit() or int(value) != sum(weights):
            raise _error(line_no, f"NUMBER VOTERS says {value} but the ballot lines add up to {sum(weights)}")
    if "NUMBER UNIQUE ORDERS" in headers:
        line_no, value = headers["NUMBER UNIQUE ORDERS"]
        if not value.isdigit() or int(value) != len(data):
            raise _error(line_no, f"NUMBER UNIQUE ORDERS says {value} but there are {len(data)} ballot lines")
    title = headers.get("TITLE", (0, ""))[1]
    return Profile.from_indices(candidates, rankings, weights=weights, title=title)


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
            if not m.isdigit():
                raise _error(line, f"{m!r} is not an alternative number")
            i = int(m)
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
        f"# TITLE: {profile.title}",
        f"# DATA TYPE: {kind}",
        f"# NUMBER ALTERNATIVES: {len(profile.candidates)}",
        f"# NUMBER VOTERS: {profile.total_weight}",
        f"# NUMBER UNIQUE ORDERS: {len(profile.ballots)}",
    ]
    lines += [f"# ALTERNATIVE NAME {i}: {name}" for i, name in enumerate(profile.candidates, start=1)]
    for b in sorted(profile.ballots, key=lambda b: -b.weight):
        parts = [
            str(g[0] + 1) if len(g) == 1 else "{" + ",".join(str(c + 1) for c in g) + "}" for g in b.ranking
        ]
        lines.append(f"{b.weight}: {','.join(parts)}".rstrip())
    return "\n".join(lines) + "\n"


# === ABIF =======================================================================================

_BARE = r"[A-Za-z0-9_.\-]+"
_DECL = re.compile(rf"=\s*({_BARE}|\[[^\[\]]*\])\s*:\s*\[([^\[\]]*)\]\s*$")
_TOKEN = re.compile(rf"\s*(\[[^\[\]]*\]|{_BARE})\s*(?:/\s*(-?[0-9]+(?:\.[0-9]+)?))?\s*")


def _strip_comment(line: str) -> str:
    depth = 0
    for k, ch in enumerate(line):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "#" and depth == 0:
            return line[:k]
    return line


def parse_abif(text: str) -> Profile:
    """Read ABIF text (see the module docstring for what is accepted).

    >>> p = parse_abif("=a:[Alice]\\n=b:[Bob]\\n=c:[Carol]\\n3: a>b=c\\n2: c\\n")
    >>> p.candidates, [(b.ranking, b.weight) for b in p.ballots]
    (('Alice', 'Bob', 'Carol'), [(((0,), (1, 2)), 3), (((2,),), 2)])
    """
    ids: dict[str, int] = {}
    candidates: list[str] = []
    declared = False
    title = ""
    rankings: list[Ranking] = []
    weights: list[int] = []
    pending: list[tuple[int, str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                meta = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _error(number, f"metadata is not valid JSON: {exc.msg}") from None
            if isinstance(meta, dict) and isinstance(meta.get("title"), str):
                title = meta["title"]
            continue
        if line.startswith("="):
            m = _DECL.match(line)
            if m is None:
                raise _error(number, "a candidate line must look like =id:[Full Name]")
            if pending:
                raise _error(number, "candidate declared after the first ballot line")
            key = m.group(1).strip("[]")
            name = m.group(2)
            if key in ids or name in candidates:
                raise _error(number, f"candidate {key!r} is declared twice")
            ids[key] = len(candidates)
            if name != key:
                ids.setdefault(name, len(candidates))
            candidates.append(name)
            declared = True
            continue
        head, sep, body = line.partition(":")
        if not sep:
            raise _error(number, "expected 'count: ranking'")
        pending.append((number, head, body))

    for number, head, body in pending:
        weight = _count(head, number)
        groups = _abif_groups(body, number, ids, candidates, declared)
        rankings.append(_check_ranking(groups, number, candidates))
        weights.append(weight)
    if not candidates:
        raise TallyError("line 1: no candidates declared or ranked")
    return Profile.from_indices(candidates, rankings, weights=weights, title=title)


def _abif_groups(
    body: str, line: int, ids: dict[str, int], candidates: list[str], declared: bool
) -> list[list[int]]:
    body = body.strip()
    if not body:
        return []
    items: list[tuple[str, str, str | None]] = []  # (separator before, token, rating)
    pos, sep = 0, ""
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if m is None or m.end() == pos:
            raise _error(line, f"cannot read the ballot at {body[pos : pos + 12]!r}")
        items.append((sep, m.group(1), m.group(2)))
        pos = m.end()
        if pos < len(body):
            sep = body[pos]
            if sep not in ">=,":
                raise _error(line, f"unexpected {sep!r}; separators are '>', '=' and ','")
            pos += 1
            if pos >= len(body):
                raise _error(line, "the ballot ends with a separator")

    def index_of(token: str) -> int:
        key = token[1:-1] if token.startswith("[") else token
        if key not in ids:
            if declared:
                raise _error(line, f"unknown candidate {key!r}")
            ids[key] = len(candidates)
            candidates.append(key)
        return ids[key]

    rated = any(r is not None for _, _, r in items)
    if (
        rated
        and any(s == ">" or s == "=" for s, _, _ in items[1:])
        and any(s == "," for s, _, _ in items[1:])
    ):
        raise _error(line, "mixing ',' with '>' or '=' in one ballot")
    if rated and all(s in ("", ",") for s, _, _ in items):
        if any(r is None for _, _, r in items):
            raise _error(line, "every candidate of a rated ballot needs a /rating")
        by_rating: dict[float, list[int]] = {}
        for _, token, rating in items:
            by_rating.setdefault(float(rating), []).append(index_of(token))  # type: ignore[arg-type]
        return [by_rating[r] for r in sorted(by_rating, reverse=True)]
    groups: list[list[int]] = []
    for sep_before, token, _ in items:
        if sep_before in ("=", ",") and groups:
            groups[-1].append(index_of(token))
        else:
            groups.append([index_of(token)])
    return groups


def write_abif(profile: Profile) -> str:
    """ABIF text with one ``=id:[Name]`` line per candidate and one line per distinct ballot.

    >>> print(write_abif(Profile.build(["Ann Lee", "Bo"], [["Bo", "Ann Lee"], ["Bo", "Ann Lee"]])), end="")
    =c1:[Ann Lee]
    =Bo:[Bo]
    2:Bo>c1
    """
    ids = []
    for k, name in enumerate(profile.candidates, start=1):
        bare = re.fullmatch(_BARE, name) is not None
        ids.append(
            name if bare and name not in {f"c{j}" for j in range(1, len(profile.candidates) + 1)} else f"c{k}"
        )
    lines = []
    if profile.title:
        lines.append(json.dumps({"title": profile.title}))
    lines += [f"={ids[i]}:[{name}]" for i, name in enumerate(profile.candidates)]
    if any("[" in n or "]" in n for n in profile.candidates):
        raise TallyError("ABIF cannot hold candidate names with square brackets")
    for b in sorted(profile.ballots, key=lambda b: -b.weight):
        lines.append(f"{b.weight}:" + ">".join("=".join(ids[c] for c in g) for g in b.ranking))
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
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise TallyError("line 1: the file is empty (expected a header row)") from None
    except csv.Error as exc:
        raise _error(1, f"bad CSV: {exc}") from None
    header = [h.strip() for h in header]
    has_count = bool(header) and header[0].lower() in ("count", "weight")
    columns = header[1:] if has_count else header
    if not columns or any(not c for c in columns):
        raise _error(1, "truncated header: every column needs a name")
    rank_layout = all(_RANK_HEADER.fullmatch(c) for c in columns)
    if not rank_layout and any(_RANK_HEADER.fullmatch(c) for c in columns):
        raise _error(1, "the header mixes rank columns with candidate names")
    if not rank_layout and len(set(columns)) != len(columns):
        raise _error(1, "a candidate is named twice in the header")

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
                    if not cell.isdigit() or int(cell) < 1:
                        raise _error(
                            number, f"rank {cell!r} for {candidates[i]!r} is not a whole number of at least 1"
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
    writer.writerow(["count", *profile.candidates])
    for b in sorted(profile.ballots, key=lambda b: -b.weight):
        rank = {c: level for level, group in enumerate(b.ranking, start=1) for c in group}
        writer.writerow([b.weight, *(rank.get(i, "") for i in range(len(profile.candidates)))])
    return out.getvalue()


def rankings_of(profile: Profile) -> Iterable[tuple[tuple[str, ...], ...]]:
    """Each distinct ballot as named groups (helper for tests and reports)."""
    for b in profile.ballots:
        yield tuple(profile.names(g) for g in b.ranking)
