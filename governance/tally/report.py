"""Render a count's ``Result`` as JSON, a human-readable text report, or CSV.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

* ``to_json``: ``Result.to_dict()`` as JSON; exact numbers as decimal strings (``number_text``),
  so nothing is rounded silently. Keys include ``method``, ``seats``, ``elected`` (names, in order),
  ``tied``, ``rounds``, ``tie_breaks``, ``parameters`` and ``details``.
* ``to_text``: a report in the manner of Droop and OpenSTV: a header with the method and its
  parameters, one table row per candidate and one column per round (votes at the end of the
  round), the exhausted ballots and the quota or threshold, then what happened in each round and
  why, every tie-break, method details (pairwise matrix, strongest paths, locked pairs, dropped
  options) and the final result.
* ``to_csv``: one row per candidate, one column per round, then an ``outcome`` column; extra rows
  for ``exhausted`` and ``quota``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from .core import Result, number_text

__all__ = ["METHOD_NAMES", "to_csv", "to_json", "to_text"]

#: Plain names of the methods, for report headers.
METHOD_NAMES = {
    "irv": "Instant-runoff voting",
    "schulze": "Schulze method (strongest paths)",
    "ranked-pairs": "Ranked Pairs (Tideman, margins)",
    "debian": "Debian constitution A.6 (Schulze with a default option)",
    "meek": "Meek STV",
    "wigm": "Weighted inclusive Gregory method STV",
    "scottish": "Scottish STV (2007 rules)",
    "civs-pr": "CIVS proportional representation",
    "yesno": "Yes/no decision",
}


def to_json(result: Result, *, indent: int | None = 2) -> str:
    """The result as JSON text.

    >>> from governance.tally.core import Round
    >>> r = Result("irv", 1, ("a",), rounds=(Round(1, {"a": 2, "b": 1}, elected=("a",)),))
    >>> sorted(json.loads(to_json(r)))[:6]
    ['ballots', 'candidates', 'details', 'elected', 'method', 'parameters']
    """
    return json.dumps(result.to_dict(), indent=indent, ensure_ascii=False) + "\n"


def _short(value: Any, places: int) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, Fraction)):
        return number_text(value, places).split("~")[0]
    return str(value)


def _outcomes(result: Result) -> dict[str, str]:
    status: dict[str, str] = {}
    for rnd in result.rounds:
        for name in rnd.elected:
            status.setdefault(name, f"elected in round {rnd.number}")
        for name in rnd.excluded:
            status.setdefault(name, f"excluded in round {rnd.number}")
    for name in result.elected:
        status.setdefault(name, "elected")
    for name in result.tied:
        status[name] = "tied"
    return status


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _names_in_order(result: Result) -> list[str]:
    names = list(result.candidates)
    for rnd in result.rounds:
        for name in rnd.votes:
            if name not in names:
                names.append(name)
    return names


def to_text(result: Result, *, title: str = "", places: int = 4) -> str:
    """A report for people; fractions are shown truncated to ``places`` decimals.

    >>> from governance.tally.core import Round
    >>> r = Result("irv", 1, ("a",), rounds=(Round(1, {"a": 2, "b": 1}, elected=("a",), note="a wins"),),
    ...            candidates=("a", "b"), ballots=3)
    >>> print(to_text(r))  # doctest: +NORMALIZE_WHITESPACE
    Method:     Instant-runoff voting (irv)
    Seats:      1
    Ballots:    3
    Candidates: a, b
    <BLANKLINE>
    Candidate  Round 1
    a                2
    b                1
    Exhausted        0
    <BLANKLINE>
    Round 1: a wins
    <BLANKLINE>
    Elected: a
    """
    lines: list[str] = []
    if title:
        lines += [f"Election:   {title}"]
    lines += [
        f"Method:     {METHOD_NAMES.get(result.method, result.method)} ({result.method})",
        f"Seats:      {result.seats}",
        f"Ballots:    {result.ballots}",
        f"Candidates: {', '.join(result.candidates)}",
    ]
    for key, value in result.parameters.items():
        if key == "seats":
            continue
        shown = (
            "none (a tie for the win is reported, not broken)"
            if value is None and key == "tie_breaker"
            else _param(value)
        )
        lines.append(f"{key.replace('_', ' ').capitalize() + ':':<11} {shown}")
    lines.append("")

    if result.rounds:
        header = ["Candidate"] + [f"Round {r.number}" for r in result.rounds]
        rows = [header]
        for name in _names_in_order(result):
            if any(name in r.votes for r in result.rounds):
                rows.append([name] + [_short(r.votes.get(name, ""), places) for r in result.rounds])
        rows.append(["Exhausted"] + [_short(r.exhausted, places) for r in result.rounds])
        if any(r.quota is not None for r in result.rounds):
            label = "Threshold (more than)" if result.method == "irv" else "Quota"
            rows.append([label] + [_short(r.quota, places) for r in result.rounds])
        lines += _table(rows)
        lines.append("")
        for rnd in result.rounds:
            actions = []
            # Name the round's decisions unless the note already does.
            if rnd.elected and not all(name in rnd.note for name in rnd.elected):
                actions.append(f"elected: {', '.join(rnd.elected)}")
            if rnd.excluded and not all(name in rnd.note for name in rnd.excluded):
                actions.append(f"excluded: {', '.join(rnd.excluded)}")
            moves = rnd.extra.get("transfers") if isinstance(rnd.extra, Mapping) else None
            if moves:
                actions.append(
                    "transfers: " + ", ".join(f"{k} +{_short(v, places)}" for k, v in moves.items())
                )
            text = "; ".join(x for x in [rnd.note, *actions] if x)
            lines.append(f"Round {rnd.number}: {text}" if text else f"Round {rnd.number}")
        lines.append("")

    if result.tie_breaks:
        lines.append("Tie-breaks:")
        for t in result.tie_breaks:
            detail = f" ({t.detail})" if t.detail else ""
            lines.append(
                f"  round {t.round}, {t.purpose}: {', '.join(t.tied)} tied; {t.chosen} chosen by {t.how}{detail}"
            )
        lines.append("")

    lines += _details(result, places)
    if result.elected:
        lines.append(f"Elected: {', '.join(result.elected)}")
    if result.tied:
        lines.append(f"Tied (not resolved): {', '.join(result.tied)}")
    if not result.elected and not result.tied:
        lines.append("Elected: nobody")
    return "\n".join(lines)


def _param(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_param(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(_param(v) for v in value)
    return str(value)


def _details(result: Result, places: int) -> list[str]:
    d = result.details
    lines: list[str] = []
    if "dropped" in d and d["dropped"]:
        lines.append("Dropped options:")
        lines += [f"  {x['option']}: {x['reason']} ({x['clause']})" for x in d["dropped"]]
        lines.append("")
    for key, heading in (
        ("pairwise", "Pairwise preferences (row over column)"),
        ("strongest_paths", "Strongest paths"),
    ):
        matrix = d.get(key)
        # Only a square mapping of mappings is a matrix to print (CIVS keeps other shapes here).
        if isinstance(matrix, Mapping) and matrix and all(isinstance(v, Mapping) for v in matrix.values()):
            names = list(matrix)
            rows = [[""] + names]
            for a in names:
                rows.append([a] + ["-" if a == b else _short(matrix[a].get(b, ""), places) for b in names])
            lines.append(f"{heading}:")
            lines += ["  " + row for row in _table(rows)]
            lines.append("")
    if d.get("locked") is not None:
        lines.append(
            "Locked pairs (winner > loser, margin): "
            + "; ".join(f"{a} > {b} ({m})" for a, b, m in d["locked"])
        )
        if d.get("skipped"):
            lines.append(
                "Skipped (would close a cycle): " + "; ".join(f"{a} > {b} ({m})" for a, b, m in d["skipped"])
            )
        if d.get("possible_winners"):
            lines.append(
                "Possible winners over all orders of equal pairs: " + ", ".join(d["possible_winners"])
            )
        lines.append("")
    if d.get("ranking"):
        lines.append("Ranking: " + " > ".join(" = ".join(group) for group in d["ranking"]))
        lines.append("")
    if result.method == "yesno" and "reason" in d:
        lines += [f"Yes: {d['yes']}  No: {d['no']}  Abstain: {d['abstain']}", f"Decision: {d['reason']}", ""]
    return lines


def to_csv(result: Result, *, places: int = 9) -> str:
    """One row per candidate, one column per round, and an ``outcome`` column.

    >>> from governance.tally.core import Round
    >>> r = Result("irv", 1, ("a",), rounds=(Round(1, {"a": 2, "b": 1}, elected=("a",)),), candidates=("a", "b"))
    >>> print(to_csv(r), end="")
    candidate,round 1,outcome
    a,2,elected in round 1
    b,1,
    exhausted,0,
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["candidate"] + [f"round {r.number}" for r in result.rounds] + ["outcome"])
    status = _outcomes(result)
    for name in _names_in_order(result):
        writer.writerow(
            [name]
            + [number_text(r.votes[name], places) if name in r.votes else "" for r in result.rounds]
            + [status.get(name, "")]
        )
    writer.writerow(["exhausted"] + [number_text(r.exhausted, places) for r in result.rounds] + [""])
    if any(r.quota is not None for r in result.rounds):
        writer.writerow(
            ["quota"]
            + [number_text(r.quota, places) if r.quota is not None else "" for r in result.rounds]
            + [""]
        )
    return out.getvalue()
