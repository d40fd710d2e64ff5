"""A published result in plain words: why each winner won, which ties were broken and how, why
every other option lost or was dropped.

Boundary rule: reads a stored result (``Poll.result``, the tally's ``Result.to_dict()``) and the
poll's kind; no database, no Flask. The words only restate figures the page and the downloads
show; nothing here counts again. "Elected" is said only of elections.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .. import copy
from ..copy import figure, plural

#: How each tie-break rule reads in a sentence.
HOW = {
    "seeded random order": "the seeded random order (from the tie-break seed published when voting opened)",
    "earlier round": "looking back at the earlier rounds (the one behind in the latest round that told them apart)",
    "candidate order": "the order of the options on the ballot",
}


def _num(text: Any) -> Fraction:
    try:
        return Fraction(str(text).lstrip("~"))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _names(labels: list[str], display: dict[str, str]) -> str:
    shown = [display.get(label, label) for label in labels]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _referendum(result: dict[str, Any], bar: dict[str, Any]) -> list[str]:
    d = result.get("details") or {}
    passed = result.get("elected") == ["yes"]
    yes, no, abstain = (int(_num(d.get(k, 0))) for k in ("yes", "no", "abstain"))
    words = [f"{'Passed' if passed else 'Not passed'}: yes {yes}, no {no}, abstain {abstain}."]
    quorum = int(bar.get("quorum") or 0)
    cast = yes + no + abstain
    if quorum:
        words.append(f"The quorum was {'met' if cast >= quorum else 'not met'}: {plural(cast, 'ballot')} cast "
                     f"(abstentions count), {quorum} needed.")
    if bar.get("threshold"):
        share = f"{copy.percent(yes, yes + no)} of the yes and no votes" if yes + no else "no yes or no votes"
        words.append(f"Yes needed {'more than' if bar.get('strict', True) else 'at least'} "
                     f"{copy.fraction_words(bar['threshold'])} of the yes and no votes; it had {yes} of {yes + no} "
                     f"({share}).")
    elif d.get("reason"):
        words.append(copy.sentence(str(d["reason"])))
    return words


def _beats_all(name: str, pairwise: dict[str, dict[str, int]]) -> bool:
    row = pairwise.get(name, {})
    return bool(row) and all(row[other] > pairwise.get(other, {}).get(name, 0) for other in row)


def _rounds_story(result: dict[str, Any], kind: str, display: dict[str, str]) -> tuple[list[str], list[str]]:
    """Winners' and losers' sentences for a round-by-round count (IRV, STV)."""
    rounds = result.get("rounds") or []
    won, lost = [], []
    for r in rounds:
        number = r.get("round")
        quota = r.get("quota")
        for name in r.get("elected", []):
            votes = r.get("votes", {}).get(name, "")
            if kind == "election":
                reason = (f"reached the quota of {figure(quota)} with {figure(votes)} votes" if quota and
                          _num(votes) >= _num(quota) else "was one of the last candidates left for the seats still open")
                won.append(f"{display.get(name, name)} was elected in round {number}: {reason}.")
            else:
                total = sum(_num(v) for v in r.get("votes", {}).values())
                level = [n for n, v in r.get("votes", {}).items() if n != name and _num(v) == _num(votes)]
                if total and _num(votes) * 2 > total:
                    share = f"{figure(votes)} of the {figure(total)} votes still counting, more than half"
                elif level:
                    share = f"{figure(votes)} votes, tied with {_names(level, display)} for the most"
                else:
                    share = f"{figure(votes)} votes, the most left"
                won.append(f"{display.get(name, name)} won in round {number} with {share}.")
        for name in r.get("excluded", []):
            votes = r.get("votes", {}).get(name, "")
            lost.append(f"{display.get(name, name)} was excluded in round {number} with the fewest votes "
                        f"({figure(votes)}); those ballots moved to their next choices.")
    return won, lost


def _condorcet_story(result: dict[str, Any], display: dict[str, str]) -> tuple[list[str], list[str]]:
    details = result.get("details") or {}
    pairwise = details.get("pairwise") or {}
    won, lost = [], []
    dropped = {d.get("option"): d for d in details.get("dropped") or []}
    default = None
    if details.get("default") is not None:
        candidates = result.get("candidates") or []
        index = details["default"]
        default = candidates[index] if isinstance(index, int) and index < len(candidates) else index
    for name in result.get("elected", [])[:1]:
        if _beats_all(name, pairwise):
            won.append(f"{display.get(name, name)} won: more voters preferred it to each other option, one "
                       "pair at a time (it beats every option head to head).")
        else:
            won.append(f"{display.get(name, name)} won: no option beat every other head to head, so the "
                       "method compared the strength of the chains of preferences (see the pairwise table).")
    winner = (result.get("elected") or [None])[0]
    for name in result.get("candidates") or []:
        if name == winner or name in (result.get("tied") or []):
            continue
        if name in dropped:
            d = dropped[name]
            other = display.get(default, default) if default else "the default option"
            if d.get("clause") == "A.6.3":
                lost.append(f"{display.get(name, name)} was dropped before the count (Debian A.6.3): it did not "
                            f"beat “{other}” by the majority it needed ({d.get('reason')}).")
            else:
                lost.append(f"{display.get(name, name)} was dropped before the count (Debian {d.get('clause')}): "
                            f"too few voters ranked it above “{other}” ({d.get('reason')}).")
        elif winner and pairwise:
            for_w = pairwise.get(winner, {}).get(name, 0)
            for_n = pairwise.get(name, {}).get(winner, 0)
            lost.append(f"{display.get(name, name)} lost: {plural(for_w, 'voter')} preferred "
                        f"{display.get(winner, winner)} to it, {for_n} the other way.")
    return won, lost


CONDORCET = ("schulze", "ranked-pairs")


def explain(result: dict[str, Any], *, kind: str, method: str, display: dict[str, str] | None = None,
            bar: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Plain sentences about a result: ``outcome``, ``ties`` and ``others`` (why each other option lost).

    ``bar`` is a referendum's ``{"threshold", "strict", "quorum"}``.
    """
    display = display or {}
    if kind == "referendum":
        return {"outcome": _referendum(result, bar or {}), "ties": [], "others": []}
    if method in CONDORCET:
        won, lost = _condorcet_story(result, display)
    else:
        won, lost = _rounds_story(result, kind, display)
    if result.get("tied"):
        won.append(f"The count ended in a tie between {_names(result['tied'], display)} that no rule of this "
                   "method may break; the charter says what happens next.")
    if not won and result.get("elected"):
        verb = "Elected" if kind == "election" else "Winner"
        won.append(f"{verb}: {_names(result['elected'], display)}.")
    deciding = [t for t in result.get("tie_breaks") or []
                if t.get("purpose") in ("winner", "elect", "order") and t.get("chosen") in (result.get("elected") or [])]
    for t in deciding:
        who = display.get(t.get("chosen"), t.get("chosen"))
        won.append(f"{who} {'was elected' if kind == 'election' else 'won'} only because a tie was broken in round "
                   f"{t.get('round')}: {HOW.get(t.get('how'), t.get('how', ''))} chose {who} over "
                   f"{_names([x for x in t.get('tied', []) if x != t.get('chosen')], display)}.")
    ties = []
    for t in result.get("tie_breaks") or []:
        purpose = {"exclude": "which to exclude", "elect": "which to elect first", "order": "the order",
                   "winner": "the winner"}.get(t.get("purpose"), t.get("purpose", ""))
        how = HOW.get(t.get("how"), t.get("how", ""))
        sentence = (f"Round {t.get('round')}: {_names(list(t.get('tied', [])), display)} were tied for {purpose}; "
                    f"{display.get(t.get('chosen'), t.get('chosen'))} was chosen by {how}.")
        if t.get("detail"):
            sentence += f" {t['detail']}"
        ties.append(sentence)
    return {"outcome": won, "ties": ties, "others": lost}


def distinct_rounds(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rounds worth a column: a round with the same figures as the one before and nobody elected
    or excluded in it (STV's round 0 and round 1, often) is left out; the downloads keep every round."""
    shown: list[dict[str, Any]] = []
    for r in rounds:
        if shown and not r.get("elected") and not r.get("excluded") and r.get("votes") == shown[-1].get("votes") \
                and r.get("exhausted") == shown[-1].get("exhausted"):
            continue
        shown.append(r)
    return shown


def pairwise_of(candidates: list[str], rankings: list[Any]) -> dict[str, dict[str, int]]:
    """How many voters preferred each candidate to each other (information only: STV does not use it)."""
    from ..tally.condorcet import pairwise_matrix
    from ..tally.core import Profile

    d = pairwise_matrix(Profile.build(candidates, rankings))
    return {a: {b: d[i][j] for j, b in enumerate(candidates) if j != i} for i, a in enumerate(candidates)}
