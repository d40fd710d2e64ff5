"""The registry of counting methods and ``count``, the one entry point that checks parameters.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.
The multi-seat methods (``stv``, ``civs``) are imported only when first used.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from . import _fast
from .condorcet import debian, ranked_pairs, schulze
from .core import Profile, Result, TallyError, TieBreaker
from .irv import irv
from .yesno import yesno

__all__ = ["METHODS", "MULTI_SEAT", "SINGLE_WINNER", "count", "options_of"]


class _Lazy:
    """A method living in a module that is imported on first call."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def target(self) -> Callable[..., Result]:
        """Import and return the real function."""
        return getattr(importlib.import_module(f"governance.tally.{self.module}"), self.name)

    def __call__(self, profile: Profile, **options: Any) -> Result:
        return self.target()(profile, **options)

    def __repr__(self) -> str:
        return f"<method governance.tally.{self.module}.{self.name}>"


#: Method name -> callable taking ``(profile, **options)`` and returning a ``Result``.
METHODS: dict[str, Callable[..., Result]] = {
    "irv": irv,
    "schulze": schulze,
    "ranked-pairs": ranked_pairs,
    "debian": debian,
    "meek": _Lazy("stv", "meek"),
    "wigm": _Lazy("stv", "wigm"),
    "scottish": _Lazy("stv", "scottish"),
    "civs-pr": _Lazy("civs", "civs_pr"),
    "yesno": yesno,
}

#: Methods that elect exactly one candidate (or decide one question).
SINGLE_WINNER = frozenset({"irv", "schulze", "ranked-pairs", "debian", "yesno"})
#: Methods that fill ``seats`` seats.
MULTI_SEAT = frozenset(METHODS) - SINGLE_WINNER


def options_of(method: str) -> list[str]:
    """The keyword options a method accepts besides ``tie_breaker``.

    >>> options_of("irv")
    ['equal_rank']
    """
    fn = METHODS[method]
    target = fn.target() if isinstance(fn, _Lazy) else fn
    params = inspect.signature(target).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "tie_breaker"]


def count(
    profile: Profile,
    method: str,
    *,
    seats: int | None = None,
    tie_breaker: TieBreaker | None = None,
    **options: Any,
) -> Result:
    """Count ``profile`` by ``method`` after checking the parameters.

    Args:
        profile: the ballots.
        method: a key of ``METHODS``.
        seats: seats to fill; None keeps ``profile.seats`` for multi-seat methods. Single-winner
            methods accept only None or 1.
        tie_breaker: the explicit tie-breaking policy, passed to the method.
        options: method-specific keywords (``options_of(method)`` lists them).

    Raises:
        TallyError: unknown method (the message lists the valid ones), bad seats, or an option
            the method does not take.

    >>> p = Profile.build(["a", "b"], [["a"], ["a", "b"], ["b"]])
    >>> count(p, "schulze").elected
    ('a',)
    >>> count(p, "borda")
    Traceback (most recent call last):
    ...
    governance.tally.core.TallyError: unknown method 'borda'; valid methods: civs-pr, debian, irv, meek, ranked-pairs, schulze, scottish, wigm, yesno
    """
    if method not in METHODS:
        raise TallyError(f"unknown method {method!r}; valid methods: {', '.join(sorted(METHODS))}")
    if seats is not None and (isinstance(seats, bool) or not isinstance(seats, int) or seats < 1):
        raise TallyError(f"seats must be a whole number of at least 1, not {seats!r}")
    if method in SINGLE_WINNER:
        if seats not in (None, 1):
            raise TallyError(f"{method} elects one winner; seats must be 1, not {seats}")
    else:
        if seats is not None and seats != profile.seats:
            profile = _with_seats(profile, seats)
        hopeful = len(profile.hopeful)
        if profile.seats > hopeful:
            raise TallyError(f"{profile.seats} seats but only {hopeful} candidates stand")
    accepted = options_of(method)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) or "none"
        raise TallyError(f"{method} does not take option(s) {', '.join(unknown)}; it takes: {allowed}")
    return METHODS[method](profile, tie_breaker=tie_breaker, **options)


def _with_seats(profile: Profile, seats: int) -> Profile:
    if isinstance(profile, _fast.ArrayProfile):
        return profile.with_seats(seats)
    return dataclasses.replace(profile, seats=seats)
