"""Yes/no/abstain decisions with an exact threshold and a quorum.

Boundary rule: pure library code; imports nothing from the project outside ``governance.tally``.

The rules, stated exactly (all arithmetic is on integers and ``Fraction``):

* **Threshold.** ``threshold`` is the share of the votes *for or against* that "yes" needs:
  ``Fraction(1, 2)`` for a simple majority, ``Fraction(2, 3)``, or ``Fraction(3, 4)`` for 3:1.
  Abstentions are not votes for or against and do not move the threshold.
* **Comparison.** With ``strict=True`` the proposal passes when ``yes > threshold * (yes + no)``;
  with ``strict=False`` when ``yes >= threshold * (yes + no)``. The default (``strict=None``) is
  the usual wording: *more than half* for a simple majority (``threshold == 1/2``, so a tie fails)
  and *at least* the fraction for any supermajority (exactly two thirds passes a 2/3 vote).
  A vote with no "yes" and no "no" at all never passes.
* **Quorum.** ``quorum`` is a number of ballots; it is met when the ballots that count towards it
  are **at least** ``quorum``. Abstentions are ballots cast and count towards the quorum unless
  ``abstain_counts_for_quorum=False``. Alternatively ``quorum`` may be a ``Fraction`` of
  ``electorate`` (e.g. ``Fraction(1, 3)`` with ``electorate=90`` needs 30 ballots). A vote that
  misses its quorum does not pass, whatever the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .core import Profile, Result, Round, TallyError

__all__ = ["YesNo", "decide", "yesno"]


@dataclass(frozen=True)
class YesNo:
    """The outcome of one yes/no decision, with every figure needed to check it."""

    yes: int
    no: int
    abstain: int
    threshold: Fraction
    strict: bool
    quorum_needed: int | Fraction
    participation: int
    quorum_met: bool
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (fractions as ``"2/3"``)."""
        return {
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "threshold": str(self.threshold),
            "strict": self.strict,
            "comparison": ">" if self.strict else ">=",
            "quorum_needed": str(self.quorum_needed),
            "participation": self.participation,
            "quorum_met": self.quorum_met,
            "passed": self.passed,
            "reason": self.reason,
        }


def decide(
    yes: int,
    no: int,
    abstain: int = 0,
    *,
    threshold: Fraction = Fraction(1, 2),
    strict: bool | None = None,
    quorum: int | Fraction = 0,
    electorate: int | None = None,
    abstain_counts_for_quorum: bool = True,
) -> YesNo:
    """Decide a yes/no vote from its counts (see the module docstring for the exact rules).

    >>> decide(10, 10).passed, decide(11, 10).passed                     # more than half
    (False, True)
    >>> decide(20, 10, threshold=Fraction(2, 3)).passed                  # at least two thirds
    True
    >>> decide(20, 10, threshold=Fraction(2, 3), strict=True).passed
    False
    >>> decide(5, 0, 4, quorum=10).quorum_met, decide(5, 0, 5, quorum=10).passed
    (False, True)
    """
    for label, value in (("yes", yes), ("no", no), ("abstain", abstain)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TallyError(f"{label} must be a whole number of at least 0")
    threshold = Fraction(threshold)
    if not 0 < threshold < 1:
        raise TallyError("the threshold must be a fraction between 0 and 1 (1/2, 2/3, 3/4...)")
    if strict is None:
        strict = threshold == Fraction(1, 2)
    if isinstance(quorum, Fraction) and quorum.denominator != 1:
        if electorate is None:
            raise TallyError("a fractional quorum needs the size of the electorate")
        if not 0 <= quorum <= 1:
            raise TallyError("a fractional quorum must be between 0 and 1")
        needed: int | Fraction = quorum * electorate
    else:
        needed = int(quorum)
    if needed < 0:
        raise TallyError("the quorum cannot be negative")
    participation = yes + no + (abstain if abstain_counts_for_quorum else 0)
    quorum_met = participation >= needed
    target = threshold * (yes + no)
    sign = ">" if strict else ">="
    meets = (yes > target) if strict else (yes >= target)
    if not quorum_met:
        passed, reason = False, f"quorum not met: {participation} ballots, {needed} needed"
    elif yes + no == 0:
        passed, reason = False, "no votes for or against"
    else:
        passed = meets
        verdict = "passes" if meets else "fails"
        reason = f"{verdict}: yes {sign} {threshold} * (yes + no) is {yes} {sign} {_num(target)}: {meets}"
    return YesNo(yes, no, abstain, threshold, strict, needed, participation, quorum_met, passed, reason)


def _num(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value} ({float(value):.4f})"


def yesno(
    profile: Profile,
    *,
    yes_option: str = "yes",
    no_option: str = "no",
    threshold: Fraction = Fraction(1, 2),
    strict: bool | None = None,
    quorum: int | Fraction = 0,
    electorate: int | None = None,
    abstain_counts_for_quorum: bool = True,
    tie_breaker: Any = None,
) -> Result:
    """Decide a yes/no vote cast as ranked ballots over the options ``yes`` and ``no``.

    A ballot counts "yes" when it ranks yes above no (a ranked option beats an unranked one), "no"
    in the opposite case, and abstains when it ranks them equally or not at all. ``tie_breaker``
    is accepted for a uniform interface and never used: a tie is decided by the threshold rule.
    ``Result.elected`` is ``("yes",)`` when the proposal passes, else ``("no",)``.

    >>> p = Profile.build(["yes", "no"], [["yes"], ["yes"], ["no"], []])
    >>> r = yesno(p, threshold=Fraction(2, 3))
    >>> r.elected, r.details["yes"], r.details["no"], r.details["abstain"]
    (('yes',), 2, 1, 1)
    """
    names = profile.candidates
    if yes_option not in names or no_option not in names:
        raise TallyError(f"a yes/no vote needs the options {yes_option!r} and {no_option!r}")
    y, n = names.index(yes_option), names.index(no_option)
    yes = no = abstain = 0
    for ballot in profile.ballots:
        level = {c: g for g, group in enumerate(ballot.ranking) for c in group}
        ly, ln = level.get(y, len(ballot.ranking)), level.get(n, len(ballot.ranking))
        if ly < ln:
            yes += ballot.weight
        elif ln < ly:
            no += ballot.weight
        else:
            abstain += ballot.weight
    outcome = decide(
        yes,
        no,
        abstain,
        threshold=threshold,
        strict=strict,
        quorum=quorum,
        electorate=electorate,
        abstain_counts_for_quorum=abstain_counts_for_quorum,
    )
    winner = yes_option if outcome.passed else no_option
    rnd = Round(
        number=1,
        votes={yes_option: yes, no_option: no, "abstain": abstain},
        elected=(winner,),
        note=outcome.reason,
    )
    return Result(
        method="yesno",
        seats=1,
        elected=(winner,),
        rounds=(rnd,),
        parameters={
            "threshold": str(outcome.threshold),
            "strict": outcome.strict,
            "quorum": str(quorum),
            "electorate": electorate,
            "abstain_counts_for_quorum": abstain_counts_for_quorum,
        },
        details=outcome.to_dict(),
        candidates=names,
        ballots=profile.total_weight,
    )
