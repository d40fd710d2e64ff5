"""Read and write the BLT ballot format (ERS / Hill-Wichmann-Woodall, with the OpenSTV and Droop extensions).

Boundary rule: pure library code; imports only ``governance.tally.core`` and the standard library.

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
skipped ranking (ignored), nicknames from ``[nick ...]`` in place of candidate numbers.

Decisions: each ballot sits on one line and ends with ``0`` on that line (every real file does; it
makes a missing ``0`` a precise error instead of a silently merged ballot). Weights are whole
numbers of at least 1 (``2.0`` is read as 2; a fractional weight is rejected, since the count rules
here work on whole ballots). Blank ballots (``1 0``) are kept in the profile: rules that count
"valid ballots" leave them out themselves, and CIVS counts them. Text after the title that is not
quoted (some validation files end with a ``Quota 84.88`` line) is kept in ``BltMeta.trailing``.
Every error is a ``TallyError("<name>:<line>: what is wrong")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from .core import Ballot, Profile, Ranking, TallyError, TieBreaker

__all__ = ["BltMeta", "read_blt", "read_blt_meta", "write_blt"]


@dataclass(frozen=True)
class BltMeta:
    """Everything a BLT file says besides the ballots, plus the parsed profile.

    ``tie_order`` lists candidate names from a ``[tie ...]`` line, or is None. ``options`` holds
    ``[droop key=value ...]`` settings; ``extra`` the quoted strings after the title (Wichmann's
    source and comment fields); ``trailing`` any unquoted text after them.
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
      | (?P<nl>\n)
      | (?P<hash>\#[^\n]*)
      | (?P<block>/\*.*?\*/)
      | (?P<quoted>"[^"\n]*")
      | (?P<badquote>"[^\n]*)
      | (?P<option>\[[^\]]*\])
      | (?P<badoption>\[[^\n]*)
      | (?P<word>[^\s"\[\#]+)
    """,
    re.VERBOSE | re.DOTALL,
)


class _Tok(NamedTuple):
    kind: str  # "quoted", "option", "word"
    text: str
    line: int


_BLOCK_COMMENT = re.compile(r'"[^"\n]*"|/\*.*?\*/', re.DOTALL)  # quoted text is matched to be kept


def _blank_comment(m: re.Match[str]) -> str:
    text = m.group()
    return text if text.startswith('"') else "\n" * text.count("\n")


def _tokens(text: str, name: str) -> list[_Tok]:
    # Block comments go first (keeping their newlines, so line numbers stay right); then each
    # line is split on whitespace, and only lines with quotes, options or comments use the regex.
    text = _BLOCK_COMMENT.sub(_blank_comment, text)
    out: list[_Tok] = []
    for line, content in enumerate(text.split("\n"), start=1):
        if '"' not in content and "[" not in content:
            if "/*" in content.split("#", 1)[0]:
                raise TallyError(f"{name}:{line}: comment '/*' is not closed")
            if "#" in content:
                content = content.split("#", 1)[0]
            out.extend([_Tok("word", w, line) for w in content.split()])
            continue
        for m in _TOKEN.finditer(content):
            kind = m.lastgroup
            if kind == "badquote":
                raise TallyError(f"{name}:{line}: quoted text is not closed on its line")
            if kind == "badoption":
                raise TallyError(f"{name}:{line}: option '[' is not closed by ']' on its line")
            if kind == "word" and m.group().startswith("/*"):
                raise TallyError(f"{name}:{line}: comment '/*' is not closed")
            if kind in ("quoted", "option", "word"):
                out.append(_Tok(kind, m.group(), line))
    return out


def _int(tok: _Tok, name: str, what: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", tok.text):
        raise TallyError(f"{name}:{tok.line}: expected {what}, found {tok.text!r}")
    return int(tok.text)


def _weight(tok: _Tok, name: str) -> int:
    text = tok.text
    if text.isdigit() and text.isascii() and int(text) > 0:
        return int(text)
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise TallyError(f"{name}:{tok.line}: expected a ballot weight, found {text!r}")
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
    if text.startswith("\ufeff"):
        text = text[1:]
    toks = _tokens(text, name)
    if not toks:
        raise TallyError(f"{name}:1: empty file: expected '<candidates> <seats>'")
    last_line = toks[-1].line
    i = 0

    def need(what: str) -> _Tok:
        nonlocal i
        if i >= len(toks):
            raise TallyError(f"{name}:{last_line}: file ends early: expected {what}")
        tok = toks[i]
        i += 1
        return tok

    first = need("the number of candidates")
    ncand = _int(first, name, "the number of candidates")
    if ncand < 1:
        raise TallyError(f"{name}:{first.line}: the number of candidates must be at least 1")
    tok = need("the number of seats")
    if tok.line != first.line:
        raise TallyError(f"{name}:{first.line}: header must give '<candidates> <seats>' on one line")
    seats = _int(tok, name, "the number of seats")
    if seats < 1:
        raise TallyError(f"{name}:{tok.line}: the number of seats must be at least 1")

    withdrawn: set[int] = set()
    tie_tokens: list[_Tok] | None = None
    nick_tokens: list[_Tok] | None = None
    options: dict[str, str] = {}
    undeclared_tokens: list[_Tok] = []
    withdrawn_tokens: list[_Tok] = []

    # Header extras: "-k" withdrawals and [option ...] blocks, in any order, before the ballots.
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "option":
            i += 1
            body = tok.text[1:-1].split()
            if not body:
                raise TallyError(f"{name}:{tok.line}: empty option '[]'")
            key, args = body[0].lower(), body[1:]
            line_toks = [_Tok("word", a, tok.line) for a in args]
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
                raise TallyError(f"{name}:{tok.line}: unknown option [{key} ...]")
        elif tok.kind == "word" and re.fullmatch(r"-\d+", tok.text):
            i += 1
            k = -int(tok.text)
            if not 1 <= k <= ncand:
                raise TallyError(f"{name}:{tok.line}: withdrawn candidate {k} is not between 1 and {ncand}")
            withdrawn.add(k - 1)
        else:
            break

    nick_index: dict[str, int] = {}
    if nick_tokens is not None:
        if len(nick_tokens) != ncand:
            line = nick_tokens[0].line if nick_tokens else first.line
            raise TallyError(
                f"{name}:{line}: [nick ...] must give {ncand} nicknames, found {len(nick_tokens)}"
            )
        for k, t in enumerate(nick_tokens):
            if t.text in nick_index:
                raise TallyError(f"{name}:{t.line}: nickname {t.text!r} is used twice")
            nick_index[t.text] = k

    def candidate(tok: _Tok) -> int:
        if tok.text in nick_index:
            return nick_index[tok.text]
        if not (tok.text.isdigit() and tok.text.isascii()):
            raise TallyError(f"{name}:{tok.line}: expected a candidate number, found {tok.text!r}")
        k = int(tok.text)
        if not 1 <= k <= ncand:
            raise TallyError(f"{name}:{tok.line}: candidate number {k} is not between 1 and {ncand}")
        return k - 1

    for t in withdrawn_tokens:
        withdrawn.add(candidate(t))
    undeclared = [candidate(t) for t in undeclared_tokens]

    # Ballots, one per line, each ending with 0; a lone 0 ends them.
    index_cache = {str(k + 1): k for k in range(ncand) if str(k + 1) not in nick_index}
    counts: dict[Ranking, int] = {}
    blank = 0
    while True:
        tok = need("a ballot or the 0 that ends the ballots")
        if tok.kind != "word":
            raise TallyError(f"{name}:{tok.line}: expected a ballot or the 0 line that ends the ballots")
        if tok.text.startswith("(") and tok.text.endswith(")"):  # OpenSTV ballot id
            tok = need("a ballot weight")
        if tok.text == "0":
            if i < len(toks) and toks[i].line == tok.line and toks[i].kind == "word":
                raise TallyError(
                    f"{name}:{tok.line}: ballot weight must be positive (a lone 0 ends the ballots)"
                )
            break
        line = tok.line
        weight = _weight(tok, name)
        groups: list[tuple[int, ...]] = []
        seen: set[int] = set()
        while True:
            if i >= len(toks) or toks[i].line != line or toks[i].kind != "word":
                raise TallyError(f"{name}:{line}: ballot does not end with 0")
            tok = toks[i]
            i += 1
            if tok.text == "0":
                break
            if tok.text == "-":  # OpenSTV skipped ranking
                continue
            group = []
            for part in tok.text.split("="):
                if not part:
                    raise TallyError(f"{name}:{line}: misplaced '=' in {tok.text!r}")
                k = candidate(_Tok("word", part, line)) if part not in index_cache else index_cache[part]
                if k in seen:
                    raise TallyError(f"{name}:{line}: candidate {part} is ranked more than once")
                seen.add(k)
                group.append(k)
            groups.append(tuple(sorted(group)))
        ranking = tuple(groups)
        if not ranking:
            blank += weight
        counts[ranking] = counts.get(ranking, 0) + weight

    names: list[str] = []
    for k in range(ncand):
        tok = need(f"the name of candidate {k + 1}")
        if tok.kind != "quoted":
            raise TallyError(
                f"{name}:{tok.line}: expected the quoted name of candidate {k + 1}, found {tok.text!r}"
            )
        names.append(tok.text[1:-1])
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise TallyError(f"{name}:{toks[i - 1].line}: candidate name {dup!r} is used twice")
    tok = need("the quoted title")
    if tok.kind != "quoted":
        raise TallyError(f"{name}:{tok.line}: expected the quoted title, found {tok.text!r}")
    title = tok.text[1:-1]
    extra = []
    while i < len(toks) and toks[i].kind == "quoted":
        extra.append(toks[i].text[1:-1])
        i += 1
    trailing = " ".join(t.text for t in toks[i:])

    tie_order = None
    if tie_tokens is not None:
        order = [candidate(t) for t in tie_tokens]
        if sorted(order) != list(range(ncand)):
            line = tie_tokens[0].line if tie_tokens else first.line
            raise TallyError(f"{name}:{line}: [tie ...] must list every candidate exactly once")
        tie_order = tuple(names[k] for k in order)

    profile = Profile(
        candidates=tuple(names),
        ballots=tuple(Ballot(r, w) for r, w in counts.items()),
        seats=seats,
        withdrawn=frozenset(withdrawn),
        title=title,
    )
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
    )


# === Writing ======================================================================================


def write_blt(profile: Profile) -> str:
    """Render a profile as BLT text that ``read_blt`` reads back to an equal profile.

    Withdrawn candidates go on a ``-k`` line, equal rankings are joined with ``=``.

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
    for text in (*profile.candidates, profile.title):
        if '"' in text or "\n" in text:
            raise TallyError(
                f"cannot write {text!r} in BLT: names and title may not contain quotes or newlines"
            )
    lines = [f"{len(profile.candidates)} {profile.seats}"]
    if profile.withdrawn:
        lines.append(" ".join(f"-{k + 1}" for k in sorted(profile.withdrawn)))
    for ballot in profile.ballots:
        prefs = " ".join("=".join(str(k + 1) for k in group) for group in ballot.ranking)
        lines.append(f"{ballot.weight} {prefs} 0" if prefs else f"{ballot.weight} 0")
    lines.append("0")
    lines.extend(f'"{n}"' for n in profile.candidates)
    lines.append(f'"{profile.title}"')
    return "\n".join(lines) + "\n"
