"""Ballot files: which format a file is in, ``load`` (read once), ``read_ballots`` and ``write_ballots``.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

Every reader takes text and returns a ``Profile``; every writer takes a ``Profile`` and returns
text. A file that cannot be read exactly as written is rejected with a ``TallyError`` whose
message starts ``line N:`` (``read_ballots`` adds the file name), never guessed at. ``load`` reads
a file's bytes once, checks them (``_scan.Source``: UTF-8, no control characters, no line over
1 MiB) and returns the profile with what the command needs besides (BLT's tie order, notes).
Large files in the layout writers use are read in bulk (``_scan``); the profile is then an
``_fast.ArrayProfile``. Names and titles are written so that they read back exactly
(``names.quote_name``).

PrefLib is read and written by ``preflib``, CSV by ``csv_ballots``, ABIF by ``abif``, BLT by ``blt``
(their readers and writers are re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .abif import parse_abif, read_abif_bytes, write_abif
from .core import Profile, TallyError, TieBreaker
from .csv_ballots import csv_name, parse_csv, read_csv_bytes, write_csv
from .preflib import parse_preflib, read_preflib_bytes, write_preflib

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


def rankings_of(profile: Profile) -> Iterable[tuple[tuple[str, ...], ...]]:
    """Each distinct ballot as named groups (helper for tests and reports)."""
    for b in profile.ballots:
        yield tuple(profile.names(g) for g in b.ranking)
