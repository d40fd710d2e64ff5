"""A published result in plain words: why each winner won, which ties were broken and how, why
every other option lost or was dropped.

Boundary rule: reads a stored result (``Poll.result``, the tally's ``Result.to_dict()``) and the
poll's kind; no database. The words only restate figures the page and the downloads show;
nothing here counts again. "Elected" is said only of elections. They are in the page's language
(Flask-Babel's ``gettext``, which gives the English outside a request).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from .filters import figure, fraction_words, percent, plural

#: How each tie-break rule reads in a sentence.
HOW = {
    "seeded random order": lazy_gettext("the seeded random order (from the tie-break seed published when voting "
                                        "opened)"),
    "earlier round": lazy_gettext("looking back at the earlier rounds (the one behind in the latest round that "
                                  "told them apart)"),
    "candidate order": lazy_gettext("the order of the options on the ballot"),
}


def _how(key) -> str:
    return str(HOW.get(key, key or ""))


def _num(text: Any) -> Fraction:
    try:
        return Fraction(str(text).lstrip("~"))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _names(labels: list[str], display: dict[str, str]) -> str:
    shown = [display.get(label, label) for label in labels]
    if len(shown) <= 1:
        return "".join(shown)
    return _("%(names)s and %(last)s", names=", ".join(shown[:-1]), last=shown[-1])


def _referendum(result: dict[str, Any], bar: dict[str, Any]) -> list[str]:
    d = result.get("details") or {}
    passed = result.get("elected") == ["yes"]
    yes, no, abstain = (int(_num(d.get(k, 0))) for k in ("yes", "no", "abstain"))
    counts = {"yes": figure(yes), "no": figure(no), "abstain": figure(abstain)}
    words = [_("Passed: yes %(yes)s, no %(no)s, abstain %(abstain)s.", **counts) if passed else
             _("Not passed: yes %(yes)s, no %(no)s, abstain %(abstain)s.", **counts)]
    quorum = int(bar.get("quorum") or 0)
    cast = yes + no + abstain
    if quorum:
        values = {"ballots": plural(cast, "ballot"), "quorum": figure(quorum)}
        words.append(_("The quorum was met: %(ballots)s cast (abstentions count), %(quorum)s needed.", **values)
                     if cast >= quorum else
                     _("The quorum was not met: %(ballots)s cast (abstentions count), %(quorum)s needed.", **values))
    if bar.get("threshold"):
        share = (_("%(percent)s of the yes and no votes", percent=percent(yes, yes + no)) if yes + no
                 else _("no yes or no votes"))
        values = {"bar": fraction_words(bar["threshold"]), "yes": figure(yes), "both": figure(yes + no),
                  "share": share}
        words.append(_("Yes needed more than %(bar)s of the yes and no votes; it had %(yes)s of %(both)s "
                       "(%(share)s).", **values) if bar.get("strict", True) else
                     _("Yes needed at least %(bar)s of the yes and no votes; it had %(yes)s of %(both)s "
                       "(%(share)s).", **values))
    elif d.get("reason"):
        from .. import copy

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
                who = display.get(name, name)
                won.append(_("%(name)s was elected in round %(round)s: reached the quota of %(quota)s with "
                             "%(votes)s votes.", name=who, round=number, quota=figure(quota), votes=figure(votes))
                           if quota and _num(votes) >= _num(quota) else
                           _("%(name)s was elected in round %(round)s: was one of the last candidates left for "
                             "the seats still open.", name=who, round=number))
            else:
                total = sum(_num(v) for v in r.get("votes", {}).values())
                level = [n for n, v in r.get("votes", {}).items() if n != name and _num(v) == _num(votes)]
                if total and _num(votes) * 2 > total:
                    share = _("%(votes)s of the %(total)s votes still counting, more than half", votes=figure(votes),
                              total=figure(total))
                elif level:
                    share = _("%(votes)s votes, tied with %(names)s for the most", votes=figure(votes),
                              names=_names(level, display))
                else:
                    share = _("%(votes)s votes, the most left", votes=figure(votes))
                won.append(_("%(name)s won in round %(round)s with %(share)s.", name=display.get(name, name),
                             round=number, share=share))
        for name in r.get("excluded", []):
            votes = r.get("votes", {}).get(name, "")
            lost.append(_("%(name)s was excluded in round %(round)s with the fewest votes (%(votes)s); those "
                          "ballots moved to their next choices.", name=display.get(name, name), round=number,
                          votes=figure(votes)))
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
            won.append(_("%(name)s won: more voters preferred it to each other option, one pair at a time (it "
                         "beats every option head to head).", name=display.get(name, name)))
        else:
            won.append(_("%(name)s won: no option beat every other head to head, so the method compared the "
                         "strength of the chains of preferences (see the pairwise table).",
                         name=display.get(name, name)))
    winner = (result.get("elected") or [None])[0]
    for name in result.get("candidates") or []:
        if name == winner or name in (result.get("tied") or []):
            continue
        if name in dropped:
            d = dropped[name]
            other = display.get(default, default) if default else _("the default option")
            if d.get("clause") == "A.6.3":
                lost.append(_("%(name)s was dropped before the count (Debian A.6.3): it did not beat “%(other)s” "
                              "by the majority it needed (%(reason)s).", name=display.get(name, name), other=other,
                              reason=d.get("reason")))
            else:
                lost.append(_("%(name)s was dropped before the count (Debian %(clause)s): too few voters ranked "
                              "it above “%(other)s” (%(reason)s).", name=display.get(name, name),
                              clause=d.get("clause"), other=other, reason=d.get("reason")))
        elif winner and pairwise:
            for_w = pairwise.get(winner, {}).get(name, 0)
            for_n = pairwise.get(name, {}).get(winner, 0)
            lost.append(_("%(name)s lost: %(voters)s preferred %(winner)s to it, %(others)s the other way.",
                          name=display.get(name, name), voters=plural(for_w, "voter"),
                          winner=display.get(winner, winner), others=figure(for_n)))
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
        won.append(_("The count ended in a tie between %(names)s that no rule of this method may break; the "
                     "charter says what happens next.", names=_names(result["tied"], display)))
    if not won and result.get("elected"):
        names = _names(result["elected"], display)
        won.append(_("Elected: %(names)s.", names=names) if kind == "election" else
                   _("Winner: %(names)s.", names=names))
    deciding = [t for t in result.get("tie_breaks") or []
                if t.get("purpose") in ("winner", "elect", "order") and t.get("chosen") in (result.get("elected") or [])]
    for t in deciding:
        who = display.get(t.get("chosen"), t.get("chosen"))
        values = {"name": who, "round": t.get("round"), "how": _how(t.get("how")),
                  "others": _names([x for x in t.get("tied", []) if x != t.get("chosen")], display)}
        won.append(_("%(name)s was elected only because a tie was broken in round %(round)s: %(how)s chose "
                     "%(name)s over %(others)s.", **values) if kind == "election" else
                   _("%(name)s won only because a tie was broken in round %(round)s: %(how)s chose %(name)s "
                     "over %(others)s.", **values))
    ties = []
    for t in result.get("tie_breaks") or []:
        purpose = {"exclude": _("which to exclude"), "elect": _("which to elect first"), "order": _("the order"),
                   "winner": _("the winner")}.get(t.get("purpose"), t.get("purpose", ""))
        sentence = _("Round %(round)s: %(names)s were tied for %(purpose)s; %(chosen)s was chosen by %(how)s.",
                     round=t.get("round"), names=_names(list(t.get("tied", [])), display), purpose=purpose,
                     chosen=display.get(t.get("chosen"), t.get("chosen")), how=_how(t.get("how")))
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
