"""Read and write the BLT ballot format (ERS / Hill-Wichmann-Woodall, with the OpenSTV and Droop extensions).

Boundary rule: pure library code; imports only ``governance.tally`` modules, numpy and the standard library.

The format, as Algorithm 123 (Hill, Wichmann & Woodall, 1987) defines it and later programs extended it::

    4 2                 # <candidates> <seats>
    -2                  # optional: candidate 2 withdrew (several "-k" may follow)
    [tie 3 1 2 4]       # optional Droop options: [tie ...] [withdrawn ...] [nick ...] [droop ...]
    3 1 3 4 0           # <weight> <preferences...> 0 ; "3=4" ranks two candidates equally
    1 2 0
    0                   # end of ballots
    "Adam"              # one quoted name per candidate
    "Basil"
    "Charlotte"
    "Donald"
    "Title"             # quoted title; further quoted strings (source, comment) are kept

Accepted extras: UTF-8 with or without a byte-order mark, ``#`` comments to the end of the line and
``/* ... */`` comments (outside quotes), OpenSTV ballot ids ``(id)`` before the weight, ``-`` for a
skipped ranking (ignored), nicknames from ``[nick ...]`` in place of candidate numbers. Names and
the title may also be **unquoted, one per line** (as in the public collections of Scottish council
STV ward files): ``BltMeta.dialect`` then says so.

Quoting: inside quotes ``\\"`` is a quote and ``\\\\`` a backslash (and the other JSON escapes,
``\\n``, ``\\u0007``...); ``write_blt`` writes a name with a quote, a backslash or a control
character that way, and every other name plainly, as every BLT program reads it. A quoted text
with a backslash that is not a valid escape (``"C:\\votes"``) is read as written.

Decisions: each ballot sits on one line and ends with ``0`` on that line (every real file does; it
makes a missing ``0`` a precise error instead of a silently merged ballot). Weights are whole
numbers from 1 to 18 digits (``2.0`` is read as 2; a fractional weight is rejected, since the count
rules here work on whole ballots). A line of negative numbers before the first ballot lists
withdrawn candidates; a ballot line with a negative weight is an error. Blank ballots (``1 0``) are
kept in the profile: rules that count "valid ballots" leave them out themselves, and CIVS counts
them. Text after the title that is not quoted (some validation files end with a ``Quota 84.88``
line) is kept in ``BltMeta.trailing``. Every error is a ``TallyError("<name>:<line>: what is
wrong")``; limits on the file (line length, control characters, candidates) are ``_scan``'s.

Speed: the ballot lines of a large file (``_scan.FAST_LINES`` or more, only numbers and spaces)
are read by ``_scan.ballot_lines`` into a ballot array, and the profile is an
``_fast.ArrayProfile``; other files are read line by line, identical ballots merged as they come.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from . import _scan
from ._fast import ArrayProfile
from .core import Ballot, Profile, Ranking, TallyError, TieBreaker
from .names import _awkward, json_string

__all__ = ["BltMeta", "quote", "read_blt", "read_blt_bytes", "read_blt_meta", "write_blt"]


@dataclass(frozen=True)
class BltMeta:
    """Everything a BLT file says besides the ballots, plus the parsed profile.

    ``tie_order`` lists candidate names from a ``[tie ...]`` line, or is None. ``options`` holds
    ``[droop key=value ...]`` settings; ``extra`` the quoted strings after the title (Wichmann's
    source and comment fields); ``trailing`` any unquoted text after them; ``dialect`` notes on
    how the file departs from the standard layout (for reports).
    """

    profile: Profile
    title: str
    tie_order: tuple[str, ...] | None = None
    nicknames: tuple[str, ...] | None = None
    options: dict[str, str] = field(default_factory=dict)
    undeclared: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    trailing: str = ""
    blank_ballots: int = 0
    dialect: tuple[str, ...] = ()

    def tie_breaker(self) -> TieBreaker:
        """The file's tie-breaking order as Droop and the PR Foundation rules use it.

        The order is the ``[tie ...]`` line or else the ballot-file order, and its first tied
        candidate is the one chosen whatever the purpose (``exclude_first``).
        """
        order = self.tie_order if self.tie_order is not None else self.profile.candidates
        return TieBreaker(order_names=tuple(order), exclude_first=True)


# === Reading ======================================================================================

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\f\v]+)
      | (?P<hash>\#.*)
      | (?P<block>/\*)
      | (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<badquote>")
      | (?P<option>\[[^\]]*\])
      | (?P<badoption>\[)
      | (?P<word>[^\s"\[\#]+)
    """,
    re.VERBOSE,
)
_TERMINATOR = re.compile(rb"^[ \t]*0[ \t\r]*$", re.MULTILINE)
_NUMBER = re.compile(r"[+-]?\d+")


class _Tok(NamedTuple):
    kind: str  # "quoted", "option", "word"
    text: str
    line: int  # 1-based


class _Lexer:
    """Tokens of a BLT file, line by line, with ``/* ... */`` comments that may span lines."""

    def __init__(self, src: _scan.Source) -> None:
        self.src = src
        self.block_from = 0  # 1-based line where an open block comment began, or 0

    def line(self, index: int) -> list[_Tok]:
        """The tokens of line ``index`` (0-based)."""
        text = self.src.text(index)
        number = index + 1
        pos = 0
        if self.block_from:
            close = text.find("*/")
            if close < 0:
                return []
            self.block_from, pos = 0, close + 2
        if '"' not in text and "[" not in text and "/*" not in text:
            words = text[pos:].split("#", 1)[0].split()
            return [_Tok("word", w, number) for w in words]
        out: list[_Tok] = []
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            kind = m.lastgroup
            pos = m.end()
            if kind == "badquote":
                raise self.error(number, "quoted text is not closed on its line")
            if kind == "badoption":
                raise self.error(number, "option '[' is not closed by ']' on its line")
            if kind == "block":
                close = text.find("*/", pos)
                if close < 0:
                    self.block_from = number
                    break
                pos = close + 2
            elif kind == "word" and "/*" in m.group():
                raise self.error(number, "comment '/*' is not closed")
            elif kind in ("quoted", "option", "word"):
                out.append(_Tok(kind, m.group(), number))
        return out

    def error(self, number: int, message: str) -> TallyError:
        return TallyError(f"{self.src.name}:{number}: {message}")


def unquote(text: str) -> str:
    """The name inside a quoted BLT string (``"..."``), with its escapes decoded.

    >>> unquote('"Ann"'), unquote('"say \\\\"hi\\\\""'), unquote('"C:\\\\votes"')
    ('Ann', 'say "hi"', 'C:\\\\votes')
    """
    inner = text[1:-1]
    if "\\" not in inner:
        return inner
    try:
        return json.loads(text)
    except ValueError:
        return inner  # not a valid escape: read as written (older files)


def quote(name: str) -> str:
    """A name as a quoted BLT string that ``unquote`` reads back exactly.

    >>> quote("Ann"), quote('say "hi"')
    ('"Ann"', '"say \\\\"hi\\\\""')
    """
    if '"' in name or "\\" in name or any(_awkward(c) for c in name):
        return json_string(name)
    return f'"{name}"'


def _int(tok: _Tok, name: str, what: str) -> int:
    if not _NUMBER.fullmatch(tok.text) or len(tok.text) > 12:
        raise TallyError(f"{name}:{tok.line}: expected {what}, found {tok.text[:40]!r}")
    return int(tok.text)


def _weight(tok: _Tok, name: str) -> int:
    text = tok.text
    if text.isdigit() and text.isascii() and len(text) <= _scan.MAX_WEIGHT_DIGITS and int(text) > 0:
        return int(text)
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise TallyError(f"{name}:{tok.line}: expected a ballot weight, found {text[:40]!r}")
    if len(text.lstrip("+-").split(".")[0].lstrip("0")) > _scan.MAX_WEIGHT_DIGITS:
        raise TallyError(
            f"{name}:{tok.line}: ballot weight has more than {_scan.MAX_WEIGHT_DIGITS} digits"
        )
    value = Fraction(text)
    if value <= 0:
        raise TallyError(f"{name}:{tok.line}: ballot weight must be positive, found {text}")
    if value.denominator != 1:
        raise TallyError(f"{name}:{tok.line}: fractional ballot weight {text} is not supported")
    return int(value)


def read_blt(text: str, *, name: str = "<blt>") -> Profile:
    """Parse BLT text into a Profile (candidates in file order, identical ballots aggregated).

    Args:
        text: the file's contents (a leading byte-order mark is ignored).
        name: how errors name the source, e.g. the file name.

    Returns:
        The profile; see ``read_blt_meta`` for the tie order, options and other extras.

    >>> p = read_blt('3 2\\n-3\\n4 1 2 0\\n2 2=3 1 0\\n1 0\\n0\\n"A"\\n"B"\\n"C"\\n"Test"\\n')
    >>> p.candidates, p.seats, sorted(p.withdrawn), p.title
    (('A', 'B', 'C'), 2, [2], 'Test')
    >>> [(b.ranking, b.weight) for b in p.ballots]
    [(((0,), (1,)), 4), (((1, 2), (0,)), 2), ((), 1)]
    >>> read_blt('2 1\\n1 1 3 0\\n0\\n"A"\\n"B"\\n"T"', name="x.blt")
    Traceback (most recent call last):
    ...
    governance.tally.core.TallyError: x.blt:2: candidate number 3 is not between 1 and 2
    """
    return read_blt_meta(text, name=name).profile


def read_blt_meta(text: str, *, name: str = "<blt>") -> BltMeta:
    """Parse BLT text into the profile plus the file's title, tie order, options and extras.

    >>> meta = read_blt_meta('2 1\\n[tie 2 1]\\n3 1 0\\n0\\n"A"\\n"B"\\n"T"\\n"source"')
    >>> meta.tie_order, meta.extra, meta.tie_breaker().disfavoured(["A", "B"], candidates=("A", "B"))
    (('B', 'A'), ('source',), 'B')
    """
    return read_blt_bytes(text.encode("utf-8", "surrogatepass"), name=name)


def read_blt_bytes(raw: bytes, *, name: str = "<blt>") -> BltMeta:
    """``read_blt_meta`` for the file's bytes (what ``governance-tally`` reads, once)."""
    src = _scan.Source(raw, name, style="blt")
    return _Reader(src).read()


class _Reader:
    def __init__(self, src: _scan.Source) -> None:
        self.src = src
        self.name = src.name
        self.lex = _Lexer(src)
        self.line = 0  # next line to read (0-based)
        self.pending: list[_Tok] = []

    def error(self, number: int, message: str) -> TallyError:
        return TallyError(f"{self.name}:{number}: {message}")

    def next_line(self) -> list[_Tok] | None:
        """The tokens of the next line that has any (None at the end of the file)."""
        if self.pending:
            out, self.pending = self.pending, []
            return out
        while self.line < self.src.lines:
            toks = self.lex.line(self.line)
            self.line += 1
            if toks:
                return toks
        if self.lex.block_from:
            raise self.error(self.lex.block_from, "comment '/*' is not closed")
        return None

    def last_number(self) -> int:
        return max(1, self.src.lines)

    def read(self) -> BltMeta:
        name = self.name
        toks = self.next_line()
        if toks is None:
            raise self.error(1, "empty file: expected '<candidates> <seats>'")
        first = toks[0]
        ncand = _int(first, name, "the number of candidates")
        if ncand < 1:
            raise self.error(first.line, "the number of candidates must be at least 1")
        if len(toks) < 2:
            if self.next_line() is None:
                raise self.error(first.line, "file ends early: expected the number of seats")
            raise self.error(first.line, "header must give '<candidates> <seats>' on one line")
        if ncand > _scan.MAX_CANDIDATES:
            raise self.error(
                first.line, f"{ncand:,} candidates declared; at most {_scan.MAX_CANDIDATES:,} are supported"
            )
        if ncand > len(self.src.raw) // 2:
            raise self.error(first.line, f"{ncand:,} candidates declared, but the file is too short to name them")
        seats = _int(toks[1], name, "the number of seats")
        if seats < 1:
            raise self.error(toks[1].line, "the number of seats must be at least 1")
        rest = toks[2:]
        if rest:
            self.pending = rest
        self.ncand = ncand
        self.header_line = first.line

        withdrawn: set[int] = set()
        tie_tokens = nick_tokens = None
        options: dict[str, str] = {}
        undeclared_tokens: list[_Tok] = []
        withdrawn_tokens: list[_Tok] = []
        # Header extras, before the ballots: lines of "-k" withdrawals and [option ...] blocks.
        while True:
            toks = self.next_line()
            if toks is None:
                raise self.error(self.last_number(), "file ends early: expected a ballot or the 0 that ends the ballots")
            if toks[0].kind == "option":
                for tok in toks:
                    if tok.kind != "option":
                        raise self.error(tok.line, f"expected an option [...], found {tok.text[:40]!r}")
                    body = tok.text[1:-1].split()
                    if not body:
                        raise self.error(tok.line, "empty option '[]'")
                    key, args = body[0].lower(), body[1:]
                    line_toks = [_Tok("word", x, tok.line) for x in args]
                    if key == "tie":
                        tie_tokens = line_toks
                    elif key == "nick":
                        nick_tokens = line_toks
                    elif key == "withdrawn":
                        withdrawn_tokens.extend(line_toks)
                    elif key == "undeclared":
                        undeclared_tokens.extend(line_toks)
                    elif key == "droop":
                        for arg in args:
                            k, _, v = arg.partition("=")
                            options[k] = v
                    else:
                        raise self.error(tok.line, f"unknown option [{key} ...]")
                continue
            if all(t.kind == "word" and re.fullmatch(r"-\d+", t.text) for t in toks):
                for t in toks:
                    if len(t.text) > 7 or not 1 <= -int(t.text) <= ncand:
                        raise self.error(t.line, f"withdrawn candidate {t.text[1:41]} is not between 1 and {ncand}")
                    withdrawn.add(-int(t.text) - 1)
                continue
            self.pending = toks
            break

        self.nick_index: dict[str, int] = {}
        if nick_tokens is not None:
            if len(nick_tokens) != ncand:
                line = nick_tokens[0].line if nick_tokens else first.line
                raise self.error(line, f"[nick ...] must give {ncand} nicknames, found {len(nick_tokens)}")
            for k, t in enumerate(nick_tokens):
                if t.text in self.nick_index:
                    raise self.error(t.line, f"nickname {t.text!r} is used twice")
                self.nick_index[t.text] = k
        for t in withdrawn_tokens:
            withdrawn.add(self.candidate(t.text, t.line))
        undeclared = [self.candidate(t.text, t.line) for t in undeclared_tokens]

        ballots_from = self.pending[0].line - 1
        arrays = self.fast_ballots(ballots_from)
        if arrays is None:
            counts, _ = self.slow_ballots()
        names, title, extra, trailing, dialect = self.names()
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise self.error(self.names_line, f"candidate name {dup!r} is used twice")

        tie_order = None
        if tie_tokens is not None:
            order = [self.candidate(t.text, t.line) for t in tie_tokens]
            if sorted(order) != list(range(ncand)):
                line = tie_tokens[0].line if tie_tokens else first.line
                raise self.error(line, "[tie ...] must list every candidate exactly once")
            tie_order = tuple(names[k] for k in order)

        if arrays is not None:
            codes, weights = arrays
            profile: Profile = ArrayProfile(
                names, codes, weights, seats=seats, withdrawn=withdrawn, title=title
            )
            blank = sum(weights[codes[:, 0] < 0].tolist()) if len(codes) else 0
        else:
            profile = Profile(
                candidates=tuple(names),
                ballots=tuple(Ballot(r, w) for r, w in counts.items()),
                seats=seats,
                withdrawn=frozenset(withdrawn),
                title=title,
            )
            blank = counts.get((), 0)
        return BltMeta(
            profile=profile,
            title=title,
            tie_order=tie_order,
            nicknames=tuple(t.text for t in nick_tokens) if nick_tokens is not None else None,
            options=options,
            undeclared=tuple(names[k] for k in undeclared),
            extra=tuple(extra),
            trailing=trailing,
            blank_ballots=blank,
            dialect=dialect,
        )

    def candidate(self, text: str, line: int) -> int:
        if text in self.nick_index:
            return self.nick_index[text]
        if not (text.isdigit() and text.isascii()):
            raise self.error(line, f"expected a candidate number, found {text[:40]!r}")
        k = int(text) if len(text) <= 7 else 0
        if not 1 <= k <= self.ncand:
            raise self.error(line, f"candidate number {text[:40]} is not between 1 and {self.ncand}")
        return k - 1

    # --- ballots --------------------------------------------------------------------------
    def fast_ballots(self, first: int):
        """The ballot lines as arrays when they are many; chunks the bulk reader doubts are read line by line."""
        src = self.src
        if self.nick_index or first < self.header_line or src.lines - first < _scan.FAST_LINES:
            return None
        if self.lex.block_from:
            return None
        ends = [p for p in (src.raw.find(b"\n0\n", src.starts[first] - 1), src.raw.find(b"\n0\r\n", src.starts[first] - 1)) if p >= 0]
        if not ends:
            return None
        stop = src.line_at(min(ends) + 1)
        if stop - first < _scan.FAST_LINES:
            return None
        parts = []
        for a, b in _scan.chunks(src, first, stop):
            data = src.chunk(a, b)
            got = None
            if not data.translate(None, b"0123456789 \r\n") and _scan.line_ends_with_zero(src, a, b):
                got = _scan.rows_from_stream(data, b - a, self.ncand)
            if got is None:
                self.pending, self.line = [], a
                counts, ended = self.slow_ballots(stop=b)
                got = _scan.strict_rows(counts, self.ncand)
                if ended or got is None:  # an earlier end of the ballots, or equal rankings
                    self.pending, self.line = [], first
                    return None
            parts.append(got)
        self.pending, self.line = [], stop + 1
        return _scan.concat(parts, self.ncand)

    def slow_ballots(self, stop: int | None = None) -> tuple[dict[Ranking, int], bool]:
        """Ballot lines one by one until the lone 0 or line ``stop`` (identical lines are read once).

        Returns the rankings with their weights, and whether the lone 0 was reached.
        """
        counts: dict[Ranking, int] = {}
        seen: dict[str, Ranking] = {}
        while True:
            if stop is not None and self.line >= stop and not self.pending:
                return counts, False
            toks = self.next_line()
            if toks is None:
                raise self.error(self.last_number(), "file ends early: expected a ballot or the 0 that ends the ballots")
            line = toks[0].line
            if any(t.kind != "word" for t in toks):
                if toks[0].kind == "word" and toks[0].text == "0":  # the lone 0, names on its line
                    self.pending = toks[1:]
                    return counts, True
                if toks[0].kind != "word":
                    raise self.error(line, "expected a ballot or the 0 line that ends the ballots")
                raise self.error(line, "ballot does not end with 0")
            words = [t.text for t in toks]
            if words[0].startswith("(") and words[0].endswith(")"):  # OpenSTV ballot id
                words = words[1:]
                if not words:
                    raise self.error(line, "file ends early: expected a ballot weight")
            if words == ["0"]:
                return counts, True
            if words[0] == "0":
                raise self.error(line, "ballot weight must be positive (a lone 0 ends the ballots)")
            key = " ".join(words)  # one string per distinct line: far smaller than a tuple of words
            ranking = seen.get(key)
            weight = _weight(_Tok("word", words[0], line), self.name)
            if ranking is None:
                ranking = seen[key] = self.ranking(words, line)
            counts[ranking] = counts.get(ranking, 0) + weight

    def ranking(self, words: list[str], line: int) -> Ranking:
        if words[-1] != "0" or len(words) < 2:
            raise self.error(line, "ballot does not end with 0")
        groups: list[tuple[int, ...]] = []
        seen: set[int] = set()
        for k, word in enumerate(words[1:-1], start=1):
            if word == "0":
                raise self.error(line, f"text after the 0 that ends the ballot: {' '.join(words[k + 1 :])[:40]!r}")
            if word == "-":  # OpenSTV skipped ranking
                continue
            group = []
            for part in word.split("="):
                if not part:
                    raise self.error(line, f"misplaced '=' in {word[:40]!r}")
                c = self.candidate(part, line)
                if c in seen:
                    raise self.error(line, f"candidate {part} is ranked more than once")
                seen.add(c)
                group.append(c)
            groups.append(_scan.SINGLE[group[0]] if len(group) == 1 else tuple(sorted(group)))
        return tuple(groups)

    # --- names ----------------------------------------------------------------------------
    def names(self) -> tuple[list[str], str, list[str], str, tuple[str, ...]]:
        toks = self.next_line()
        if toks is None:
            raise self.error(self.last_number(), "file ends early: expected the name of candidate 1")
        self.names_line = toks[0].line
        if toks[0].kind != "quoted":
            return self.unquoted_names(toks[0].line - 1)
        stream: list[_Tok] = list(toks)
        names: list[str] = []

        def need(what: str) -> _Tok:
            while not stream:
                more = self.next_line()
                if more is None:
                    raise self.error(self.last_number(), f"file ends early: expected {what}")
                stream.extend(more)
            return stream.pop(0)

        for k in range(self.ncand):
            tok = need(f"the name of candidate {k + 1}")
            if tok.kind != "quoted":
                raise self.error(tok.line, f"expected the quoted name of candidate {k + 1}, found {tok.text[:40]!r}")
            names.append(unquote(tok.text))
            self.names_line = tok.line
        tok = need("the quoted title")
        if tok.kind != "quoted":
            raise self.error(tok.line, f"expected the quoted title, found {tok.text[:40]!r}")
        title = unquote(tok.text)
        extra: list[str] = []
        trailing: list[str] = []
        while True:
            if not stream:
                more = self.next_line()
                if more is None:
                    break
                stream.extend(more)
            tok = stream.pop(0)
            if tok.kind == "quoted" and not trailing:
                extra.append(unquote(tok.text))
            else:
                trailing.append(tok.text if tok.kind != "quoted" else unquote(tok.text))
        return names, title, extra, " ".join(trailing), ()

    def unquoted_names(self, line: int) -> tuple[list[str], str, list[str], str, tuple[str, ...]]:
        """Names and title one per line without quotes (a quoted line is unquoted all the same)."""
        values: list[str] = []
        self.lex.block_from = 0
        while line < self.src.lines and len(values) < self.ncand + 1:
            text = self.src.text(line).strip()
            line += 1
            if text:
                values.append(unquote(text) if len(text) > 1 and text[0] == text[-1] == '"' else text)
                self.names_line = line
        if len(values) < self.ncand:
            raise self.error(self.last_number(), f"file ends early: expected the name of candidate {len(values) + 1}")
        if len(values) == self.ncand:
            raise self.error(self.last_number(), "file ends early: expected the title")
        trailing = " ".join(t for t in (self.src.text(i).strip() for i in range(line, self.src.lines)) if t)
        return values[:-1], values[-1], [], trailing, ("names and title unquoted, one per line",)


# === Writing ======================================================================================


def write_blt(profile: Profile) -> str:
    """Render a profile as BLT text that ``read_blt`` reads back to an equal profile.

    Withdrawn candidates go on a ``-k`` line, equal rankings are joined with ``=``; names with
    quotes, backslashes or control characters are escaped (``quote``).

    >>> p = Profile.build(["A", "B", "C"], [["A", ["B", "C"]], ["B"]], seats=2, withdrawn=["C"], title="T")
    >>> print(write_blt(p), end="")
    3 2
    -3
    1 1 2=3 0
    1 2 0
    0
    "A"
    "B"
    "C"
    "T"
    >>> read_blt(write_blt(p)) == p
    True
    """
    lines = [f"{len(profile.candidates)} {profile.seats}"]
    if profile.withdrawn:
        lines.append(" ".join(f"-{k + 1}" for k in sorted(profile.withdrawn)))
    for ballot in profile.ballots:
        prefs = " ".join("=".join(str(k + 1) for k in group) for group in ballot.ranking)
        lines.append(f"{ballot.weight} {prefs} 0" if prefs else f"{ballot.weight} 0")
    lines.append("0")
    lines.extend(quote(n) for n in profile.candidates)
    lines.append(quote(profile.title))
    return "\n".join(lines) + "\n"
