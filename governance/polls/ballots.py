"""Reading a submitted ballot (pure): from form fields or JSON to a ranking of option labels.

Boundary rule: pure functions; no Flask, no database. Every problem is reported at once, in
plain words, and nothing is stored unless the whole ballot is valid.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..copy import N_, Message
from ..errors import InvalidInput
from .methods import EQUAL_RANKS

REFERENDUM_CHOICES = ("yes", "no", "abstain")


@dataclass(frozen=True)
class OptionRef:
    """What the parser needs of an option: its id and label."""

    id: int
    label: str


def is_small_number(text: str) -> bool:
    """ASCII digits, at most four: what int() reads safely as a rank ("²" is a digit to isdigit).

    >>> is_small_number("12"), is_small_number("²"), is_small_number("1" * 5000)
    (True, False, False)
    """
    return text.isascii() and text.isdigit() and len(text) <= 4


def parse_form(*, method: str, options: Sequence[OptionRef], form: Mapping[str, list[str]]) -> list[list[str]]:
    """Turn form fields ``rank-<option id>`` = "1".."n" or "" into a ranking (groups of labels).

    ``form`` maps a field name to all values sent for it (so a repeated field is caught).
    Ranks may have gaps (1, 3, 4 counts as 1, 2, 3). Equal ranks are allowed only by methods that
    count them (Schulze, Ranked Pairs). An empty ballot (nothing ranked) is allowed.

    >>> opts = [OptionRef(1, "Ada"), OptionRef(2, "Bo"), OptionRef(3, "Cy")]
    >>> parse_form(method="irv", options=opts, form={"rank-1": ["2"], "rank-2": ["1"], "rank-3": [""]})
    [['Bo'], ['Ada']]
    """
    if method == "yesno":
        return parse_choice(form.get("choice", []))
    by_id = {str(o.id): o for o in options}
    problems: list[tuple[str, str]] = []
    ranks: dict[str, int] = {}
    n = len(options)
    for field, values in form.items():
        if not field.startswith("rank-"):
            continue
        key = field[len("rank-"):]
        option = by_id.get(key)
        if option is None:
            problems.append((field, "the ballot names an option that is not on this poll"))
            continue
        if len(values) != 1:
            problems.append((field, f"{option.label} is ranked more than once"))
            continue
        raw = values[0].strip()
        if raw == "":
            continue
        if not is_small_number(raw) or not 1 <= int(raw) <= n:
            problems.append((field, f"the rank of {option.label} must be a whole number from 1 to {n}"))
            continue
        ranks[option.label] = int(raw)
    if problems:
        raise InvalidInput(problems)
    return _groups(method, ranks)


def parse_json(*, method: str, options: Sequence[OptionRef], data: object) -> list[list[str]]:
    """Read ``{"ranking": [["label"], ["a", "b"], ...]}`` or ``{"choice": "yes"}`` (API clients)."""
    if not isinstance(data, dict):
        raise InvalidInput([("ballot", N_("the ballot must be a JSON object"))])
    if method == "yesno":
        choice = data.get("choice")
        return parse_choice([choice] if isinstance(choice, str) else [])
    ranking = data.get("ranking")
    if not isinstance(ranking, list):
        raise InvalidInput([("ranking", N_("the ballot needs a ranking: a list of groups of option names"))])
    labels = {o.label for o in options}
    seen: set[str] = set()
    problems: list[tuple[str, str]] = []
    groups: list[list[str]] = []
    for position, group in enumerate(ranking, start=1):
        names = [group] if isinstance(group, str) else group
        if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
            problems.append(("ranking", Message('rank %(position)s must be an option name or a non-empty list of names', position=position)))
            continue
        for name in names:
            if name not in labels:
                problems.append(("ranking", Message('%(name)s is not an option of this poll', name=repr(name))))
            elif name in seen:
                problems.append(("ranking", Message('%(name)s is ranked more than once', name=name)))
            seen.add(name)
        if len(names) > 1 and method not in EQUAL_RANKS:
            problems.append(("ranking", Message('rank %(position)s holds several options; this method needs a strict order', position=position)))
        groups.append(sorted(names))
    if len(ranking) > len(options):
        problems.append(("ranking", N_("the ballot has more ranks than the poll has options")))
    if problems:
        raise InvalidInput(problems)
    return groups


def parse_choice(values: Sequence[str]) -> list[list[str]]:
    """A referendum choice: exactly one of yes, no, abstain. Abstain is stored as an empty ranking."""
    if len(values) != 1 or values[0] not in REFERENDUM_CHOICES:
        raise InvalidInput([("choice", N_("choose exactly one of yes, no or abstain"))])
    return [] if values[0] == "abstain" else [[values[0]]]


def _groups(method: str, ranks: Mapping[str, int]) -> list[list[str]]:
    by_rank: dict[int, list[str]] = {}
    for label, rank in ranks.items():
        by_rank.setdefault(rank, []).append(label)
    groups = [sorted(by_rank[r]) for r in sorted(by_rank)]
    if method not in EQUAL_RANKS:
        shared = [(r, names) for r, names in sorted(by_rank.items()) if len(names) > 1]
        if shared:
            rank, names = shared[0]
            raise InvalidInput([("ranking", Message('%(value)s share rank %(rank)s; this method needs every ranked option to have its own rank', value=' and '.join(names), rank=rank))])
    return groups


def voter_order(options: Sequence[OptionRef], *, key: bytes, voter: str) -> list[OptionRef]:
    """The per-voter random order options are shown in (stable for a voter, favouring no one)."""
    def weight(option: OptionRef) -> bytes:
        return hmac.new(key, f"{voter}:{option.id}".encode(), hashlib.sha256).digest()

    return sorted(options, key=weight)


def format_tracker(tracker: str) -> str:
    """Group a tracker's hex digits in fours for reading aloud.

    >>> format_tracker("3f9a12bc77de0a41")
    '3f9a-12bc-77de-0a41'
    """
    return "-".join(tracker[i:i + 4] for i in range(0, len(tracker), 4))


def normalise_tracker(text: str) -> str:
    """Accept a tracker as typed (spaces, dashes, upper case)."""
    return "".join(ch for ch in text.lower() if ch in "0123456789abcdef")
