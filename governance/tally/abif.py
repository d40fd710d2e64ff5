"""ABIF (Aggregated Ballot Information Format): reader and writer.

Boundary rule: pure library code; imports only ``governance.tally`` modules, numpy and the standard library.

``#`` starts a comment (outside brackets); ``{...}`` lines are metadata: JSON, or the
``{key: "value"}`` form abiftool writes (keys without quotes); ``title`` is kept. ``=id:[Full
Name]`` declares a candidate; ballot lines are ``count: a>b=c>d``. ``>`` separates ranks, ``=``
joins equal ranks, and ``,`` separates candidates of a rated ballot (``a/5,b/3,c/3``: ranked by
rating, higher first, equal ratings equal). ``,`` without ratings expresses no preference between
the candidates (read as equal ranks). Tokens are bare ids (``[A-Za-z0-9_.-]`` characters),
``[bracketed names]`` or ``"quoted names"``. Once any candidate is declared, an undeclared token
is an error; with no declarations, candidates are taken in order of first appearance.

Names: brackets hold any text but brackets and line breaks, and ABIF has no escapes. A name that
brackets cannot hold is declared with a stand-in (``bracket_name``: brackets become parentheses,
control characters U+FFFD) and the exact names go in a metadata line
``{"candidate_names": {"<id>": "<name>"}}``, which our reader applies and other programs ignore.

Large files in the layout writers use (``count:id>id>id``, ids of at most 8 bytes, no spaces) are
read in bulk (``_scan``); other lines one by one.
"""

from __future__ import annotations

import json
import re

import numpy as np

from . import _scan
from ._fast import ArrayProfile
from ._scan import check_ranking as _check_ranking
from ._scan import line_count as _count
from ._scan import line_error as _error
from .core import Profile, Ranking, TallyError
from .names import _awkward, json_string

__all__ = ["bracket_name", "parse_abif", "read_abif_bytes", "write_abif"]

_BARE = r"[A-Za-z0-9_.\-]+"
_DECL = re.compile(rf"=\s*({_BARE}|\[[^\[\]]*\]|\"[^\"]*\")\s*:\s*\[([^\[\]]*)\]\s*$")
_TOKEN = re.compile(rf"\s*(\[[^\[\]]*\]|\"[^\"]*\"|{_BARE})\s*(?:/\s*(-?[0-9]+(?:\.[0-9]+)?))?\s*")
_LOOSE_META = re.compile(r"\{\s*[\"']?([\w ]+?)[\"']?\s*:\s*(.*?)\s*\}")
_ID_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:>\n"


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


def _metadata(whole: str, number: int, line: str | None = None) -> dict:
    """A metadata line: JSON (a ``#`` inside its strings is not a comment), else abiftool's form."""
    try:
        meta = json.loads(whole)
    except json.JSONDecodeError:
        pass
    else:
        return meta if isinstance(meta, dict) else {}
    line = whole if line is None else line
    try:
        meta = json.loads(line)
    except json.JSONDecodeError as exc:
        m = _LOOSE_META.fullmatch(line)
        if m is None:
            raise _error(number, f"metadata is not valid JSON: {exc.msg}") from None
        key, value = m.group(1).strip(), m.group(2)
        try:
            return {key: json.loads(value)}
        except json.JSONDecodeError:
            return {key: value.strip("'\"")}
    return meta if isinstance(meta, dict) else {}


def parse_abif(text: str) -> Profile:
    """Read ABIF text (see the module docstring for what is accepted).

    >>> p = parse_abif("=a:[Alice]\\n=b:[Bob]\\n=c:[Carol]\\n3: a>b=c\\n2: c\\n")
    >>> p.candidates, [(b.ranking, b.weight) for b in p.ballots]
    (('Alice', 'Bob', 'Carol'), [(((0,), (1, 2)), 3), (((2,),), 2)])
    >>> parse_abif('{version: "0.1"}\\n{title: "Board"}\\n3:x>y\\n').title
    'Board'
    """
    return read_abif_bytes(text.encode("utf-8", "surrogatepass"))


def read_abif_bytes(raw: bytes, *, name: str = "") -> Profile:
    """``parse_abif`` for a file's bytes (errors start ``line N:``)."""
    src = _scan.Source(raw, name)
    ids: dict[str, int] = {}
    candidates: list[str] = []
    keys: list[str] = []
    exact: dict[str, str] = {}
    title = ""
    first = src.lines
    for i in range(src.lines):
        number = i + 1
        whole = src.text(i).strip()
        line = _strip_comment(whole).strip()
        if not line:
            continue
        if line.startswith("{"):
            meta = _metadata(whole, number, line)
            if isinstance(meta.get("title"), str):
                title = meta["title"]
            names = meta.get("candidate_names")
            if isinstance(names, dict):
                exact.update({str(k): v for k, v in names.items() if isinstance(v, str)})
            continue
        if line.startswith("="):
            m = _DECL.match(line)
            if m is None:
                raise _error(number, "a candidate line must look like =id:[Full Name]")
            key = m.group(1)[1:-1] if m.group(1)[0] in '["' else m.group(1)
            full = m.group(2)
            if key in ids or full in candidates:
                raise _error(number, f"candidate {key[:40]!r} is declared twice")
            if len(candidates) >= _scan.MAX_CANDIDATES:
                raise _error(number, f"more than {_scan.MAX_CANDIDATES:,} candidates declared")
            ids[key] = len(candidates)
            candidates.append(full)
            keys.append(key)
            continue
        first = i
        break
    for k, full in enumerate(list(candidates)):
        ids.setdefault(full, k)  # a full name is a token too, unless it is another candidate's id
    for k, key in enumerate(keys):
        if key in exact:
            candidates[k] = exact[key]
    if len(set(candidates)) != len(candidates):
        raise TallyError("line 1: candidate_names gives two candidates the same name")
    declared = bool(candidates)
    parts = _bulk(src, first, ids, candidates) if declared else None
    if parts is None:
        rankings = _lines(src, first, src.lines, ids, candidates, declared)
        if not candidates:
            raise TallyError("line 1: no candidates declared or ranked")
        return Profile.from_indices(candidates, list(rankings), weights=list(rankings.values()), title=title)
    codes, weights = parts
    return ArrayProfile(candidates, codes, weights, title=title)


def _lines(src: _scan.Source, first: int, stop: int, ids, candidates, declared) -> dict[Ranking, int]:
    counts: dict[Ranking, int] = {}
    for i in range(first, stop):
        number = i + 1
        line = _strip_comment(src.text(i)).strip()
        if not line:
            continue
        if line.startswith("{"):
            _metadata(src.text(i).strip(), number, line)
            continue
        if line.startswith("="):
            raise _error(number, "candidate declared after the first ballot line")
        head, sep, body = line.partition(":")
        if not sep:
            raise _error(number, "expected 'count: ranking'")
        weight = _count(head, number)
        ranking = _check_ranking(_groups(body, number, ids, candidates, declared), number, candidates)
        counts[ranking] = counts.get(ranking, 0) + weight
    return counts


def _bulk(src: _scan.Source, first: int, ids: dict[str, int], candidates: list[str]):
    """The ballot lines in bulk, or None when the file is small or not in the writers' layout."""
    n = len(candidates)
    if src.lines - first < _scan.FAST_LINES:
        return None
    table = {}
    for key, index in ids.items():
        raw = key.encode("utf-8")
        if len(raw) <= 8 and re.fullmatch(_BARE, key):  # ids a bare token can name
            table[int.from_bytes(raw, "little")] = index
    # A small modulus under which the ids' keys are distinct: one remainder and one look-up per
    # token (checked against the key itself) instead of a binary search.
    keys = sorted(table)
    modulus = next(m for m in range(max(1, len(keys)), 64 * len(keys) + 2) if len({k % m for k in keys}) == len(keys))
    known = np.zeros(modulus, dtype=np.uint64)
    lookup = np.full(modulus, -1, dtype=np.int64)
    for k in keys:
        known[k % modulus], lookup[k % modulus] = k, table[k]
    parts = []
    for a, b in _scan.chunks(src, first, src.lines):
        got = _chunk(src, a, b, known, lookup, n)
        if got is None:
            got = _scan.strict_rows(_lines(src, a, b, ids, candidates, True), n)
            if got is None:
                return None  # equal rankings somewhere: read the whole file line by line
        parts.append(got)
    return _scan.concat(parts, n)


def _chunk(src: _scan.Source, a: int, b: int, known, lookup, n: int):
    data = src.chunk(a, b)
    if data.translate(None, _ID_BYTES) or b"\n\n" in data:
        return None
    colons = _scan.one_per_line(src, a, b, ord(":"))
    if colons is None:
        return None
    tokens = _scan.packed_tokens(data, b":>\n")
    if tokens is None:
        return None
    keys, lengths, after = tokens
    lines = b - a
    nl = after == 10
    line_no = np.cumsum(nl) - nl  # the line of each token (0-based within the chunk)
    starts_line = np.ones(len(keys), dtype=bool)
    starts_line[1:] = nl[:-1]
    # The first token of each line is the weight and ends at the line's colon.
    if not (after[starts_line] == ord(":")).all() or int(starts_line.sum()) != lines:
        return None
    weight_len = lengths[starts_line]
    if int(weight_len.min()) < 1 or not (weight_len == colons).all():
        return None
    wkeys = keys[starts_line]
    weights = np.zeros(lines, dtype=np.int64)
    for k in range(int(weight_len.max())):
        d = ((wkeys >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.int64)
        m = weight_len > k
        if ((d[m] < 48) | (d[m] > 57)).any():
            return None
        weights[m] = weights[m] * 10 + d[m] - 48
    items = ~starts_line
    empty = items & (lengths == 0)
    # An empty item is only the blank ballot "count:" (colon, then the newline).
    if (empty & ~(nl & np.roll(starts_line, 1))).any():
        return None
    items &= ~empty
    item_keys = keys[items]
    where = (item_keys % np.uint64(len(known))).astype(np.int64)
    if not (known[where] == item_keys).all():
        return None
    # Item t of line r goes to codes[r, t - (index of r's weight) - 1].
    first = np.flatnonzero(starts_line)
    per_line = np.diff(np.append(first, len(keys)))
    col = np.arange(len(keys)) - np.repeat(first + 1, per_line)
    row = line_no
    width = max(1, int(col[items].max()) + 1 if items.any() else 1)
    codes = np.full((lines, width), -1, dtype=np.int8 if n < 127 else np.int16)
    codes[row[items], col[items]] = lookup[where]
    if int(weights.max()) >= 10**_scan.MAX_WEIGHT_DIGITS or _scan.duplicates(codes, n).any():
        return None
    return codes, weights


def _groups(body: str, line: int, ids: dict[str, int], candidates, declared: bool) -> list[list[int]]:
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
        key = token[1:-1] if token[0] in '["' else token
        if key not in ids:
            if declared:
                raise _error(line, f"unknown candidate {key[:40]!r}")
            if len(candidates) >= _scan.MAX_CANDIDATES:
                raise _error(line, f"more than {_scan.MAX_CANDIDATES:,} candidates")
            ids[key] = len(candidates)
            candidates.append(key)
        return ids[key]

    rated = any(r is not None for _, _, r in items)
    if rated and any(s in (">", "=") for s, _, _ in items[1:]) and any(s == "," for s, _, _ in items[1:]):
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


def bracket_name(name: str) -> str:
    """The text an ABIF file shows in ``[...]`` for ``name`` (the name itself when brackets hold it).

    >>> bracket_name("Ann [Chair]"), bracket_name("Bo")
    ('Ann (Chair)', 'Bo')
    """
    if "[" not in name and "]" not in name and not any(_awkward(c) for c in name):
        return name
    return "".join(
        "(" if c == "[" else ")" if c == "]" else "\ufffd" if _awkward(c) else c for c in name
    )


def write_abif(profile: Profile) -> str:
    """ABIF text with one ``=id:[Name]`` line per candidate and one line per distinct ballot.

    >>> print(write_abif(Profile.build(["Ann Lee", "Bo"], [["Bo", "Ann Lee"], ["Bo", "Ann Lee"]])), end="")
    =c1:[Ann Lee]
    =Bo:[Bo]
    2:Bo>c1
    """
    n = len(profile.candidates)
    reserved = {f"c{j}" for j in range(1, n + 1)}
    ids = []
    for k, name in enumerate(profile.candidates, start=1):
        bare = re.fullmatch(_BARE, name) is not None
        ids.append(name if bare and name not in reserved else f"c{k}")
    shown = [bracket_name(name) for name in profile.candidates]
    # A stand-in must not collide with another candidate's name (the reader keys names both ways).
    taken = set(profile.candidates)
    for k, name in enumerate(profile.candidates):
        if shown[k] != name and (shown[k] in taken or shown[k] in shown[:k]):
            shown[k] = f"{shown[k]} ({ids[k]})"
    lines = []
    if profile.title:
        lines.append("{" + json_string("title") + ": " + json_string(profile.title) + "}")
    exact = {ids[k]: name for k, name in enumerate(profile.candidates) if shown[k] != name}
    if exact:
        lines.append(json.dumps({"candidate_names": exact}))
    lines += [f"={ids[i]}:[{shown[i]}]" for i in range(n)]
    for b in sorted(profile.ballots, key=lambda b: -b.weight):
        lines.append(f"{b.weight}:" + ">".join("=".join(ids[c] for c in g) for g in b.ranking))
    return "\n".join(lines) + "\n"
