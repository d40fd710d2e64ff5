"""What the poll lists (the home page and /polls) say about each poll for the reader.

Boundary rule: web helpers; reads through the polls services and the request's session, writes
nothing. A mark says whether the reader can vote, has voted or cannot vote (never what or when);
turnout is the count of voters, with the electorate and a percentage where the electorate is
known (group polls freeze it at the opening); a referendum with a quorum shows how far it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session, func, select

from .. import copy
from ..models import Participation, Poll
from ..polls import service
from .filters import figure, percent, plural
from .i18n import translate

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Mark:
    """The reader's standing in one poll: ``key`` is a CSS class, ``text`` what the badge says."""

    key: str
    text: str
    detail: str = ""


@dataclass(frozen=True)
class Turnout:
    """Voters so far, of how many, and a referendum's quorum."""

    voters: int
    electorate: int | None
    quorum: int

    @property
    def percent(self) -> str:
        """The share of the electorate that voted ("" when the electorate is not known)."""
        return percent(self.voters, self.electorate)

    @property
    def text(self) -> str:
        """"12 voters of 40 eligible (30%)" or "12 voters"."""
        words = plural(self.voters, "voter")
        if self.electorate:
            words = _("%(voters)s of %(electorate)s eligible (%(percent)s)", voters=words,
                      electorate=figure(self.electorate), percent=self.percent)
        return words

    @property
    def quorum_text(self) -> str:
        """Progress toward the quorum in words ("" without a quorum)."""
        if not self.quorum:
            return ""
        if self.voters >= self.quorum:
            return _("Quorum reached: %(ballots)s cast, %(quorum)s needed.", ballots=plural(self.voters, "ballot"),
                     quorum=figure(self.quorum))
        missing = self.quorum - self.voters
        return _("%(ballots)s of the %(quorum)s the quorum needs: %(missing)s needed (abstentions count).",
                 ballots=plural(self.voters, "ballot"), quorum=figure(self.quorum),
                 missing=plural(missing, "more ballot"))


def _reasons(verdict) -> str:
    return copy.sentence("; ".join(translate(reason) for reason in verdict.reasons))


def sort_for_lists(groups: dict[str, list[Poll]]) -> dict[str, list[Poll]]:
    """Open polls closing soonest first, upcoming ones opening soonest first; results newest first."""
    groups = dict(groups)
    groups["open"] = sorted(groups.get("open", []), key=lambda p: (p.closes_at or FAR_FUTURE, p.id))
    groups["upcoming"] = sorted(groups.get("upcoming", []), key=lambda p: (p.opens_at or FAR_FUTURE, p.id))
    return groups


def turnouts(db: Session, polls: list[Poll]) -> dict[int, Turnout]:
    """Turnout of every poll that has opened, in one query."""
    opened = [p for p in polls if p.status in ("open", "closed", "published")]
    if not opened:
        return {}
    counts = dict(db.exec(select(Participation.poll_id, func.count()).where(
        Participation.poll_id.in_([p.id for p in opened])).group_by(Participation.poll_id)).all())
    return {p.id: Turnout(voters=counts.get(p.id, 0), electorate=p.electorate_size,
                          quorum=p.quorum if p.kind == "referendum" else 0) for p in opened}


def marks(db: Session, polls: list[Poll], now: datetime) -> dict[int, Mark]:
    """The reader's mark on each poll (none for visitors, drafts and cancelled polls)."""
    if not current_user.is_authenticated:
        return {}
    voted = set(db.exec(select(Participation.poll_id).where(
        Participation.member_id == current_user.id,
        Participation.poll_id.in_([p.id for p in polls] or [0]))).all())
    out: dict[int, Mark] = {}
    for poll in polls:
        if poll.status == "open":
            if poll.id in voted:
                out[poll.id] = Mark("voted", _("You voted"), _("You may replace your ballot until voting closes."))
                continue
            verdict = service.eligibility(db, poll, current_user)
            out[poll.id] = (Mark("can-vote", _("You can vote")) if verdict.ok else
                            Mark("cannot-vote", _("You cannot vote"), _reasons(verdict)))
        elif poll.status in ("scheduled", "nominations"):
            verdict = service.eligibility_now(poll, current_user, now)
            out[poll.id] = (Mark("can-vote", _("You will be able to vote")) if verdict.ok else
                            Mark("cannot-vote", _("You cannot vote"), _reasons(verdict)))
        elif poll.status in ("closed", "published"):
            out[poll.id] = Mark("voted", _("You voted")) if poll.id in voted else Mark("did-not-vote", _("You did not vote"))
    return out

