"""Ranked-election counting: a pure library (no Flask, SQLModel or other project imports).

See ``governance.tally.core`` for the data model; each method module exposes one function that
takes a ``Profile`` and returns a ``Result``.
"""

from .core import Ballot, Profile, Result, Round, TallyError, TieBreak, TieBreaker

__all__ = ["Ballot", "Profile", "Result", "Round", "TallyError", "TieBreak", "TieBreaker"]
