"""Reading ballot files fast and safely: one pass of checks over the bytes, then ballot lines in bulk.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

``Source`` holds a ballot file's bytes and checks them once, before any parsing: UTF-8 text, no
control characters (a NUL byte or any other C0 control except tab, carriage return and newline),
no line longer than ``MAX_LINE`` bytes. Each check is a pass in C over the bytes (``bytes.translate``,
numpy), so a hostile file fails in time linear in its size and memory about its size, naming the
line that is wrong.

The ballot lines of a large file are then read in chunks of about ``CHUNK`` bytes. A chunk in the
plain layout that programs write (one ballot per line, numbers or short ids, single separators)
is turned into one stream of numbers by byte substitutions, parsed by ``numpy.fromstring`` in C,
and cut into ballots at the ``0`` that ends each one; a few whole-chunk checks (the separators per
line, the value ranges, the digits of each weight against its place on the line) prove that the
stream is the lines as written. A chunk that fails any check is handed back (``None``) and the
format's line-by-line reader reads it instead, which either gives the exact error with its line
or reads an unusual but valid layout. Both paths give the same ballots; a test checks it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np

from .core import Ranking, TallyError

__all__ = [
    "CHUNK",
    "FAST_LINES",
    "MAX_CANDIDATES",
    "MAX_LINE",
    "MAX_WEIGHT_DIGITS",
    "Source",
    "chunks",
    "duplicates",
    "rows_from_stream",
]

#: The longest line a ballot file may have, in bytes (1 MiB).
MAX_LINE = 1 << 20
#: The most candidates a ballot file may declare (a count's pairwise matrix is this squared).
MAX_CANDIDATES = 1_000
#: Shared one-candidate groups ``(k,)``: line-by-line readers use them instead of a new tuple per
#: ballot, which takes a large file's rankings from about 850 to about 350 bytes each.
SINGLE = tuple((k,) for k in range(MAX_CANDIDATES))
#: Weights and counts have at most this many digits (below 10**18, so they fit in int64).
MAX_WEIGHT_DIGITS = 18
#: Ballot sections with at least this many lines are read in bulk.
FAST_LINES = 2000
#: Bytes per chunk of the bulk reader (its temporary arrays are a few times this).
CHUNK = 1 << 20

_TEXT = bytes(b for b in range(256) if b >= 32 and b != 127) + b"\t\r\n"
_LIMIT = 10**MAX_WEIGHT_DIGITS


class Source:
    """A ballot file's bytes, checked: UTF-8, no control characters, no overlong line.

    ``starts[i]`` and ``ends[i]`` are the byte offsets of line i (0-based; ``ends`` excludes the
    newline). Errors read ``"<name>: line N: ..."`` (or ``<name>:N:`` with ``style="blt"``).
    """

    def __init__(self, raw: bytes, name: str, *, style: str = "line") -> None:
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        self.raw, self.name, self.style = raw, name, style
        self.buf = np.frombuffer(raw, dtype=np.uint8)
        nl = np.flatnonzero(self.buf == 10)
        self.starts = np.concatenate(([0], nl + 1)).astype(np.int64)
        self.ends = np.concatenate((nl, [len(raw)])).astype(np.int64)
        if raw.endswith(b"\n"):  # no empty last line after the final newline
            self.starts, self.ends = self.starts[:-1], self.ends[:-1]
        self.lines = len(self.starts)
        if self.lines:
            lengths = self.ends - self.starts
            longest = int(np.argmax(lengths))
            if int(lengths[longest]) > MAX_LINE:
                raise self.error(longest, f"line is {int(lengths[longest]):,} bytes long (at most {MAX_LINE:,})")
        if raw.translate(None, _TEXT):
            pos = int(np.argmax(np.isin(self.buf, np.frombuffer(_TEXT, dtype=np.uint8), invert=True)))
            raise self.error(self.line_at(pos), f"control character U+{raw[pos]:04X} (not a text file?)")
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error(self.line_at(exc.start), "not UTF-8 text") from None

    def line_at(self, offset: int) -> int:
        """The 0-based line holding byte ``offset``."""
        return max(0, int(np.searchsorted(self.starts, offset, side="right")) - 1)

    def error(self, line: int, message: str) -> TallyError:
        """A TallyError naming the file and the (0-based) line."""
        if self.style == "blt":
            return TallyError(f"{self.name}:{line + 1}: {message}")
        prefix = f"{self.name}: " if self.name else ""
        return TallyError(f"{prefix}line {line + 1}: {message}")

    def text(self, line: int) -> str:
        """Line ``line`` as text, without its newline or a trailing carriage return."""
        return self.raw[self.starts[line] : self.ends[line]].decode("utf-8").rstrip("\r")

    def chunk(self, first: int, stop: int) -> bytes:
        """The bytes of lines ``first`` to ``stop - 1``, each ending with a newline."""
        return self.raw[self.starts[first] : self.ends[stop - 1]] + b"\n"


def chunks(src: Source, first: int, stop: int):
    """Consecutive ``(a, b)`` line ranges covering ``first`` to ``stop - 1``, about ``CHUNK`` bytes each."""
    a = first
    while a < stop:
        b = int(np.searchsorted(src.starts, src.starts[a] + CHUNK, side="right"))
        b = min(stop, max(b, a + 1))
        yield a, b
        a = b


def line_ends_with_zero(src: Source, a: int, b: int) -> bool:
    """Every line from a to b - 1 ends with a space and a 0 (the BLT ballot's end), before any CR."""
    ends = src.ends[a:b]
    ends = ends - (src.buf[np.maximum(ends - 1, 0)] == 13)
    if int((ends - src.starts[a:b]).min()) < 3:
        return False
    return bool((src.buf[ends - 1] == 48).all() and (src.buf[ends - 2] == 32).all())


def one_per_line(src: Source, a: int, b: int, sep: int, offsets: np.ndarray | None = None) -> np.ndarray | None:
    """Where ``sep`` sits in each line a..b-1 (offset from the line start), or None unless exactly once."""
    lo, hi = int(src.starts[a]), int(src.ends[b - 1])
    where = np.flatnonzero(src.buf[lo:hi] == sep) + lo
    if len(where) != b - a:
        return None
    line = np.searchsorted(src.starts[a:b], where, side="right") - 1
    if not (line == np.arange(b - a)).all():
        return None
    return where - src.starts[a:b]


def packed_tokens(chunk: bytes, seps: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Tokens between single separator bytes: ``(keys, lengths, separator after each)``.

    Each key is the token's bytes as a little-endian integer; None when a token is over 8 bytes.
    ``chunk`` must end with a separator (its newline).
    """
    buf = np.frombuffer(chunk, dtype=np.uint8)
    is_sep = np.zeros(len(buf), dtype=bool)
    for s in seps:
        is_sep |= buf == s
    ends = np.flatnonzero(is_sep)
    starts = np.empty(len(ends), dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    if len(lengths) and int(lengths.max()) > 8:
        return None
    # The 8 bytes that end where a token ends, read as one little-endian integer (an unaligned
    # view over the chunk, 8 zero bytes in front), shifted so that only the token's bytes remain.
    pad = np.zeros(len(buf) + 8, dtype=np.uint8)
    pad[8:] = buf
    window = np.ndarray((len(pad) - 7,), dtype="<u8", buffer=pad, strides=(1,))
    keys = window[ends] >> ((8 - lengths).astype(np.uint64) * np.uint64(8) % np.uint64(64))
    keys[lengths == 0] = 0
    return keys, lengths, buf[ends]


def digits(values: np.ndarray) -> np.ndarray:
    """The number of decimal digits of each positive value."""
    out = np.ones(len(values), dtype=np.int64)
    for k in range(1, MAX_WEIGHT_DIGITS + 1):
        out += values >= 10**k
    return out


def numbers(stream: bytes) -> np.ndarray | None:
    """The whole numbers in ``stream`` (separated by white space), parsed in C; None if it holds anything else."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return np.fromstring(stream, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


def rows_from_stream(stream: bytes, rows: int, ncand: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Parse ``stream`` (per ballot: ``weight item... 0``) into ``(codes, weights)``; None unless exactly ``rows`` ballots.

    Items are candidate numbers 1..ncand; weights 1 to 10**18 - 1; a candidate may appear once.
    """
    vals = numbers(stream)
    return None if vals is None else rows_from_values(vals, rows, ncand)


def rows_from_values(vals: np.ndarray, rows: int, ncand: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``rows_from_stream`` for the numbers themselves."""
    zeros = np.flatnonzero(vals == 0)
    if len(zeros) != rows or rows == 0 or zeros[-1] != len(vals) - 1:
        return None
    first = np.empty(rows, dtype=np.int64)
    first[0] = 0
    first[1:] = zeros[:-1] + 1
    size = zeros - first  # tokens before each ballot's 0: the weight and the items
    if int(size.min()) < 1 or (len(vals) and int(vals.min()) < 0):
        return None
    # Token t of ballot r (its j-th token, the weight being the 0th) goes to table[r, j]; the 0
    # that ends the ballot and the padding leave zeros, which become -1 (no candidate).
    span = int(size.max()) + 1
    dest = np.arange(len(vals), dtype=np.int64)
    dest -= np.repeat(first - np.arange(rows, dtype=np.int64) * span, size + 1)
    table = np.zeros(rows * span, dtype=np.int64)
    table[dest] = vals
    table = table.reshape(rows, span)
    weights = table[:, 0].copy()
    if int(weights.max()) >= _LIMIT:
        return None
    items = table[:, 1:-1] if span > 2 else np.zeros((rows, 1), dtype=np.int64)
    if items.size and int(items.max()) > ncand:
        return None
    codes = (items - 1).astype(np.int8 if ncand < 127 else np.int16)
    if duplicates(codes, ncand).any():
        return None
    return codes, weights


def duplicates(codes: np.ndarray, n: int) -> np.ndarray:
    """Rows that rank a candidate more than once."""
    rows = len(codes)
    if codes.ndim != 2 or codes.shape[1] < 2 or rows == 0:
        return np.zeros(rows, dtype=bool)
    if n <= 62:
        table = np.zeros(n + 1, dtype=np.int64)  # table[-1] == table[n] == 0 for padding
        table[:n] = np.left_shift(np.int64(1), np.arange(n, dtype=np.int64))
        total = np.zeros(rows, dtype=np.int64)
        union = np.zeros(rows, dtype=np.int64)
        for k in range(codes.shape[1]):
            bit = table[codes[:, k]]
            total += bit
            union |= bit
        return total != union
    s = np.sort(codes, axis=1)
    return ((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(axis=1)


def concat(parts: list[tuple[np.ndarray, np.ndarray]], ncand: int) -> tuple[np.ndarray, np.ndarray]:
    """Join ``(codes, weights)`` chunks into one pair, padding rows to the widest."""
    dtype = np.int8 if ncand < 127 else np.int16
    width = max((c.shape[1] for c, _ in parts), default=1) or 1
    rows = sum(len(c) for c, _ in parts)
    codes = np.full((rows, width), -1, dtype=dtype)
    weights = np.empty(rows, dtype=np.int64)
    at = 0
    for c, w in parts:
        codes[at : at + len(c), : c.shape[1]] = c
        weights[at : at + len(c)] = w
        at += len(c)
    return codes, weights


def strict_rows(rankings: dict, ncand: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Rankings read line by line (``{ranking: weight}``) as arrays; None if any has equal ranks."""
    if not rankings:
        return np.full((0, 1), -1, dtype=np.int8 if ncand < 127 else np.int16), np.zeros(0, dtype=np.int64)
    width = max(1, max(len(r) for r in rankings))
    rows = []
    for r in rankings:
        if any(len(g) != 1 for g in r):
            return None
        rows.append([g[0] for g in r] + [-1] * (width - len(r)))
    if max(rankings.values()) >= 2**62:
        return None
    codes = np.array(rows, dtype=np.int8 if ncand < 127 else np.int16).reshape(len(rows), width)
    return codes, np.array(list(rankings.values()), dtype=np.int64)


# === Shared by the line readers (PrefLib, CSV) =================================================


def line_error(line: int, message: str) -> TallyError:
    """An error naming the line it is on."""
    return TallyError(f"line {line}: {message}")


def line_count(text: str, line: int) -> int:
    """A ballot line's weight: a whole number of at most ``MAX_WEIGHT_DIGITS`` digits, at least 1."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise line_error(line, f"count {text[:40]!r} is not a whole number")
    if len(text.lstrip("0")) > MAX_WEIGHT_DIGITS:
        raise line_error(line, f"count has more than {MAX_WEIGHT_DIGITS} digits")
    value = int(text)
    if value < 1:
        raise line_error(line, f"count must be at least 1, not {value}")
    return value


def check_ranking(groups: Sequence[Sequence[int]], line: int, names: Sequence[str]) -> Ranking:
    """Candidate groups as a ``Ranking``; an error when a candidate is ranked twice."""
    seen: set[int] = set()
    out = []
    for group in groups:
        for c in group:
            if c in seen:
                raise line_error(line, f"candidate {names[c]!r} is ranked more than once")
            seen.add(c)
        if len(group) == 1:
            out.append(SINGLE[group[0]])
        elif group:
            out.append(tuple(sorted(group)))
    return tuple(out)
