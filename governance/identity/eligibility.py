"""Who may vote: a pure rule over what the forum says about a member at a given moment.

Boundary rule: pure functions and frozen dataclasses; no Flask, no database, no network.

The rule, in order (every failing clause is reported, in plain words):

1. the account is a real person's: not a system account (forum id <= 0), not staged, active;
2. it is not suspended and not silenced;
3. it was created strictly before the poll opened, and at least ``min_account_age_days`` before;
4. its trust level is at least ``min_trust_level``;
5. it is in any one (``groups_mode="any"``) or every one (``"all"``) of ``groups``, when groups are set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..copy import Message, plural, sentence
from ..copy import day as _day


@dataclass(frozen=True)
class Rule:
    """A poll's eligibility rule."""

    groups: tuple[str, ...] = ()
    groups_mode: str = "any"
    min_trust_level: int = 0
    min_account_age_days: int = 0

    def __post_init__(self) -> None:
        if self.groups_mode not in ("any", "all"):
            raise ValueError("groups_mode must be 'any' or 'all'")
        if not 0 <= self.min_trust_level <= 4:
            raise ValueError("min_trust_level must be between 0 and 4")
        if self.min_account_age_days < 0:
            raise ValueError("min_account_age_days cannot be negative")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (stored with the poll and exported for auditors)."""
        return {
            "groups": list(self.groups),
            "groups_mode": self.groups_mode,
            "min_trust_level": self.min_trust_level,
            "min_account_age_days": self.min_account_age_days,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Inverse of to_dict."""
        return cls(
            groups=tuple(data.get("groups", ())),
            groups_mode=data.get("groups_mode", "any"),
            min_trust_level=int(data.get("min_trust_level", 0)),
            min_account_age_days=int(data.get("min_account_age_days", 0)),
        )

    def describe(self, translate=str) -> str:
        """Plain words for the ballot page: who may vote (``translate`` says each part in the
        reader's language; English by default)."""
        parts = [Message("forum members whose account was created before the poll opened")]
        if self.min_account_age_days:
            parts[0] = Message("forum members whose account was at least %(age)s old when the poll opened",
                               age=plural(self.min_account_age_days, "day"))
        if self.min_trust_level:
            parts.append(Message("with trust level %(level)s or higher", level=self.min_trust_level))
        if self.groups:
            joined = ", ".join(self.groups)
            parts.append(Message("in the group %(groups)s", groups=joined) if len(self.groups) == 1 else
                         Message("in any of the groups %(groups)s", groups=joined) if self.groups_mode == "any"
                         else Message("in all of the groups %(groups)s", groups=joined))
        return sentence(" ".join(translate(part) for part in parts))


@dataclass(frozen=True)
class Evidence:
    """What the forum said about one account (the facts eligibility is decided on)."""

    forum_user_id: int
    username: str
    created_at: datetime | None
    trust_level: int = 0
    groups: frozenset[str] = field(default_factory=frozenset)
    suspended: bool = False
    silenced: bool = False
    staged: bool = False
    active: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Inverse of ``to_dict`` (raises KeyError, TypeError or ValueError on malformed data)."""
        created = data.get("created_at")
        return cls(
            forum_user_id=int(data["forum_user_id"]),
            username=data["username"],
            created_at=datetime.fromisoformat(created) if created else None,
            trust_level=int(data.get("trust_level", 0)),
            groups=frozenset(data.get("groups", ())),
            suspended=bool(data.get("suspended")),
            silenced=bool(data.get("silenced")),
            staged=bool(data.get("staged")),
            active=bool(data.get("active", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the frozen electorate and the audit export."""
        return {
            "forum_user_id": self.forum_user_id,
            "username": self.username,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "trust_level": self.trust_level,
            "groups": sorted(self.groups),
            "suspended": self.suspended,
            "silenced": self.silenced,
            "staged": self.staged,
            "active": self.active,
        }


@dataclass(frozen=True)
class Eligibility:
    """The verdict and every reason against."""

    ok: bool
    reasons: tuple[str, ...] = ()


def check(rule: Rule, evidence: Evidence, *, opens_at: datetime, groups: Iterable[str] | None = None) -> Eligibility:
    """Decide whether ``evidence`` satisfies ``rule`` for a poll opening at ``opens_at``.

    ``groups`` overrides the evidence's groups (a frozen snapshot taken when the poll opened).

    >>> from datetime import UTC
    >>> opened = datetime(2024, 5, 1, tzinfo=UTC)
    >>> late = Evidence(7, "kim", datetime(2024, 5, 2, tzinfo=UTC))
    >>> check(Rule(), late, opens_at=opened).reasons
    ('your forum account was created on 2 May 2024, after this poll opened on 1 May 2024',)
    >>> check(Rule(), Evidence(8, "lee", datetime(2020, 1, 1, tzinfo=UTC)), opens_at=opened).ok
    True
    """
    reasons: list[str] = []
    if evidence.forum_user_id <= 0:
        reasons.append(Message("system accounts cannot vote"))
    if evidence.staged:
        reasons.append(Message("staged forum accounts (created by email, never activated) cannot vote"))
    if not evidence.active:
        reasons.append(Message("your forum account is not activated"))
    if evidence.suspended:
        reasons.append(Message("your forum account is suspended"))
    if evidence.silenced:
        reasons.append(Message("your forum account is silenced"))
    created = evidence.created_at
    if created is None:
        reasons.append(Message("the forum did not say when your account was created"))
    elif created >= opens_at:
        reasons.append(Message("your forum account was created on %(created)s, after this poll opened on %(opened)s",
                               created=_day(created), opened=_day(opens_at)))
    elif rule.min_account_age_days and created > opens_at - timedelta(days=rule.min_account_age_days):
        reasons.append(Message(
            "your forum account was created on %(created)s; this poll needs accounts created at least "
            "%(age)s before it opened on %(opened)s", created=_day(created), age=plural(rule.min_account_age_days, "day"),
            opened=_day(opens_at)))
    if evidence.trust_level < rule.min_trust_level:
        reasons.append(Message("this poll needs trust level %(level)s; yours is %(yours)s", level=rule.min_trust_level,
                               yours=evidence.trust_level))
    member_groups = frozenset(groups) if groups is not None else evidence.groups
    if rule.groups:
        wanted = set(rule.groups)
        if rule.groups_mode == "any" and not wanted & member_groups:
            names = ", ".join(rule.groups)
            reasons.append(Message("this poll is for members of %(groups)s, and you were not in it when it opened",
                                   groups=names) if len(rule.groups) == 1 else
                           Message("this poll is for members of %(groups)s, and you were not in any of them when "
                                   "it opened", groups=names))
        elif rule.groups_mode == "all" and not wanted <= member_groups:
            missing = ", ".join(sorted(wanted - member_groups))
            reasons.append(Message("this poll needs membership of every group listed; you were not in %(groups)s when "
                                   "it opened", groups=missing))
    return Eligibility(ok=not reasons, reasons=tuple(reasons))
