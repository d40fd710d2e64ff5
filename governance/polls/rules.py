"""The rules of its body a poll follows, frozen from the charter: officers, certification,
eligibility exceptions, reminder days and the cap on seats per affiliation.

Boundary rule: pure (no Flask, no database). ``service`` freezes ``Poll.rules`` from the charter
body when a draft is saved and again when it is scheduled (the ``poll.scheduled`` and
``poll.opened`` log entries carry them), so a charter changed while a poll runs does not change
that poll's rules. A poll scheduled before these rules existed has ``{}``: no officers' duties,
no certification, no exceptions, no reminders, no cap.
"""

from __future__ import annotations

from typing import Any

#: The keys of ``Poll.rules``.
KEYS = ("officers", "certification", "exceptions", "reminders_days_before_close", "max_seats_per_affiliation")
MAX_REMINDERS = 10
MAX_REMINDER_DAYS = 365


def freeze(body: dict[str, Any], *, kind: str, reminders: list[int] | None = None) -> dict[str, Any]:
    """The rules a poll of ``kind`` takes from its charter ``body`` (every field filled in).

    ``reminders`` is the poll's own choice of reminder days (None: the charter's).

    >>> body = {"officers": ["sc"], "certification": {"required": True, "days": 2},
    ...         "exceptions": {"allowed": True, "deadline_days_before_opening": 3},
    ...         "reminders_days_before_close": [3, 1], "max_seats_per_affiliation": 2}
    >>> freeze(body, kind="decision")["max_seats_per_affiliation"] is None   # a cap is for elections
    True
    >>> freeze(body, kind="election", reminders=[2])["reminders_days_before_close"]
    [2]
    """
    days = list(body.get("reminders_days_before_close") or []) if reminders is None else list(reminders)
    return {
        "officers": sorted(body.get("officers") or []),
        "certification": dict(body.get("certification") or {"required": False, "days": 0}),
        "exceptions": dict(body.get("exceptions") or {"allowed": False, "deadline_days_before_opening": 0}),
        "reminders_days_before_close": sorted(set(days), reverse=True),
        "max_seats_per_affiliation": body.get("max_seats_per_affiliation") if kind == "election" else None,
    }


def reminder_problem(days: list[int]) -> str | None:
    """What is wrong with a poll's reminder days, or None.

    >>> reminder_problem([3, 1]), reminder_problem([1, 1])
    (None, 'give each reminder day once')
    """
    if len(days) > MAX_REMINDERS:
        return f"a poll sends at most {MAX_REMINDERS} reminders"
    if any(not 0 <= d <= MAX_REMINDER_DAYS for d in days):
        return f"reminders are 0 to {MAX_REMINDER_DAYS} days before the close"
    if len(set(days)) != len(days):
        return "give each reminder day once"
    return None


def officers(rules: dict[str, Any]) -> list[str]:
    """The forum groups whose members are the poll's election officers."""
    return list(rules.get("officers") or [])


def officer_groups(rules: dict[str, Any], groups: Any) -> list[str]:
    """The member's groups that make them an election officer of the poll (empty: not one).

    >>> officer_groups({"officers": ["sc", "elections"]}, ["elections", "sig-x"])
    ['elections']
    """
    return sorted(set(officers(rules)) & set(groups or []))


def certification_required(rules: dict[str, Any]) -> bool:
    """Whether the poll's count must be certified before it is published."""
    return bool((rules.get("certification") or {}).get("required"))


def certification_days(rules: dict[str, Any]) -> int:
    """Days the officers have to certify (or void) the count."""
    return int((rules.get("certification") or {}).get("days", 0))


def exceptions_allowed(rules: dict[str, Any]) -> bool:
    """Whether members may ask for an eligibility exception in this poll."""
    return bool((rules.get("exceptions") or {}).get("allowed"))


def exception_deadline_days(rules: dict[str, Any]) -> int:
    """Requests close this many days before voting opens."""
    return int((rules.get("exceptions") or {}).get("deadline_days_before_opening", 0))


def reminder_days(rules: dict[str, Any]) -> list[int]:
    """Days before the close at which members who have not voted are reminded, soonest last."""
    return sorted({int(d) for d in rules.get("reminders_days_before_close") or []}, reverse=True)


def cap(rules: dict[str, Any]) -> int | None:
    """The most seats one affiliation may hold in this election (None: no cap)."""
    value = rules.get("max_seats_per_affiliation")
    return int(value) if value is not None else None


def affiliation_key(text: str) -> str:
    """The form two declared affiliations are compared in: case and spacing do not count.

    >>> affiliation_key("  Acme   Corp ") == affiliation_key("ACME corp")
    True
    """
    return " ".join(text.split()).casefold()
