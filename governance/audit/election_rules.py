"""The verifier's checks of a poll's election rules: eligibility exceptions, certification, the cap.

Boundary rule: standard library, ``governance.identity.eligibility`` (the pure rule) and the rest
of ``governance.audit``; no Flask, SQLModel or SQLAlchemy. ``bundle.py`` calls these from its
checks of both bundle formats; docs/audit.md §6c specifies them.

A poll scheduled since the charter's election rules exist carries them in ``election.json``:
``rules`` (officers, certification, exceptions, reminder days, cap), frozen by the
``poll.opened`` log entry, and ``exceptions`` (every request for an eligibility exception with
its reasons and decision). The checks:

* **electorate** (with the bundle's own electorate check): every eligible member of a group poll,
  and every participant of a community-wide poll, meets the poll's rule at the opening, or holds
  an accepted exception and meets the standing no exception waives (``Rule()``).
* **rules**: the rules are the ones ``poll.opened`` froze; each exception's status is the one
  its last log entry gives, each accepted one was decided before the opening by an election
  officer other than the member, on a request made before the deadline, and they are exactly the
  ones ``poll.opened`` lists; a required certification was logged after the count and before the
  publication, for the published result, by an officer who was not a candidate, within the
  period; the count's cap and affiliations are the ones the charter and the opening froze.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .chain import Entry
from .report import OK, _error, _fail

EXCEPTION_EVENTS = {"exception.requested": "pending", "exception.withdrawn": "withdrawn",
                    "exception.accepted": "accepted", "exception.refused": "refused", "exception.lapsed": "lapsed"}


def _time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise _error(f"an unreadable time {str(text)[:40]!r}") from None


def affiliation_key(text: str) -> str:
    """How the count compares affiliations: case and spacing do not count (``polls.rules``)."""
    return " ".join(text.split()).casefold()


def has_rules(election: Mapping[str, Any]) -> bool:
    """Whether the bundle carries the election rules (a poll scheduled since they exist)."""
    return "rules" in election


def _exceptions(election: Mapping[str, Any]) -> list[dict[str, Any]]:
    listed = election.get("exceptions", [])
    if not isinstance(listed, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), int)
                                                and isinstance(e.get("forum_user_id"), int) for e in listed):
        raise _error("election.json: exceptions must be a list of requests, each with an id and a forum_user_id")
    if len({e["id"] for e in listed}) != len(listed):
        raise _fail("election.json lists an exception request twice")
    return listed


def accepted_by_forum_id(election: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The accepted exceptions of ``election.json``, by the member's forum id."""
    return {e["forum_user_id"]: e for e in _exceptions(election) if e.get("status") == "accepted"}


def _rule_and_opening(election: Mapping[str, Any]):
    from governance.identity.eligibility import Rule

    try:
        return Rule.from_dict(dict(election.get("eligibility") or {})), _time(election.get("opens_at"))
    except (TypeError, ValueError) as exc:
        raise _error(f"election.json: unusable eligibility rule ({exc})") from None


def _verdict(rule, evidence: Any, opens: datetime, exception: Mapping[str, Any] | None, who: str) -> str:
    """Check one member's frozen evidence; return "rule" or "exception" (how they are eligible)."""
    from governance.identity.eligibility import Evidence, Rule, check

    try:
        facts = Evidence.from_dict(evidence)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _error(f"the evidence of {who!r} is malformed ({exc})") from None
    verdict = check(rule, facts, opens_at=opens)
    if verdict.ok:
        return "rule"
    if exception is None:
        raise _fail(f"{who!r} did not meet the poll's rule ({verdict.reasons[0]}) and holds no accepted exception")
    if exception.get("forum_user_id") != facts.forum_user_id:
        raise _fail(f"{who!r}'s exception {exception.get('id')} belongs to another account")
    standing = check(Rule(), facts, opens_at=opens)
    if not standing.ok:
        raise _fail(f"{who!r} holds exception {exception.get('id')}, but no exception waives this: "
                    f"{standing.reasons[0]}")
    return "exception"


def check_group_eligible(election: Mapping[str, Any], eligible: Sequence[Mapping[str, Any]]) -> int:
    """A group poll: every eligible member meets the rule, or holds the accepted exception its entry
    names. Returns how many are eligible by exception."""
    if not has_rules(election):
        return 0
    rule, opens = _rule_and_opening(election)
    by_id = {e["id"]: e for e in _exceptions(election) if e.get("status") == "accepted"}
    count = 0
    for member in eligible:
        named = member.get("exception")
        exception = by_id.get(named) if named is not None else None
        if named is not None and exception is None:
            raise _fail(f"electorate.json: {member['username']!r} is eligible by exception {named}, which "
                        "election.json does not list as accepted")
        how = _verdict(rule, member.get("evidence"), opens, exception, member["username"])
        if how == "rule" and named is not None:
            raise _fail(f"electorate.json: {member['username']!r} meets the rule but is marked as an exception")
        count += how == "exception"
    return count


def check_rule_participants(election: Mapping[str, Any], evidence: Sequence[Mapping[str, Any]]) -> int:
    """A community-wide poll: every participant meets the rule, or holds an accepted exception and
    the standing rule. Returns how many voted by exception."""
    rule, opens = _rule_and_opening(election)
    excepted = accepted_by_forum_id(election) if has_rules(election) else {}
    count = 0
    for entry in evidence:
        item = entry.get("evidence", entry) if isinstance(entry, dict) else {}
        forum_id = item.get("forum_user_id") if isinstance(item, dict) else None
        how = _verdict(rule, item, opens, excepted.get(forum_id), str(entry.get("username")))
        count += how == "exception"
    return count


# === The "rules" check ===========================================================================


def check_rules(election: Mapping[str, Any], entries: Sequence[Entry]) -> tuple[str, str]:
    """The rules frozen at opening, the exceptions' decisions, the certification and the cap."""
    opened = [e for e in entries if e.type == "poll.opened"]
    frozen = opened[-1].payload.get("rules") if opened else None
    if not has_rules(election):
        if frozen is not None:
            raise _fail("election.json lacks the rules that log entry "
                        f"{opened[-1].seq} (poll.opened) froze")
        return OK, "no rules to check: the poll was scheduled before the charter's election rules existed"
    rules = election["rules"]
    if frozen is None or frozen != rules:
        raise _fail("election.json's rules are not the ones the poll.opened entry froze")
    if not isinstance(rules, dict):
        raise _error("election.json: rules must be an object")
    officers = set(rules.get("officers") or [])
    done = [_check_exceptions(election, entries, opened[-1], rules, officers)]
    done.append(_check_certification(election, entries, rules, officers))
    done.append(_check_cap(election, opened[-1], rules))
    return OK, "; ".join(d for d in done if d)


def _check_exceptions(election: Mapping[str, Any], entries: Sequence[Entry], opened: Entry,
                      rules: Mapping[str, Any], officers: set[str]) -> str:
    listed = {e["id"]: e for e in _exceptions(election)}
    events: dict[int, list[Entry]] = {}
    for entry in entries:
        if entry.type in EXCEPTION_EVENTS:
            events.setdefault(entry.payload.get("exception"), []).append(entry)
    if set(events) != set(listed):
        missing = sorted(set(events) - set(listed), key=str)
        extra = sorted(set(listed) - set(events), key=str)
        if missing:
            raise _fail(f"the log records exception request {missing[0]}, which election.json does not list")
        raise _fail(f"election.json lists exception request {extra[0]}, which the log never recorded")
    deadline_days = int((rules.get("exceptions") or {}).get("deadline_days_before_opening", 0))
    opens = _time(election.get("opens_at"))
    accepted = []
    for number, item in listed.items():
        history = events[number]
        last = history[-1]
        if EXCEPTION_EVENTS[last.type] != item.get("status"):
            raise _fail(f"exception request {number} is {item.get('status')!r} in election.json, but its last "
                        f"log entry {last.seq} makes it {EXCEPTION_EVENTS[last.type]!r}")
        if any(e.payload.get("forum_user_id") != item["forum_user_id"] for e in history):
            raise _fail(f"exception request {number}'s log entries name another account")
        if item["status"] != "accepted":
            continue
        asked = [e for e in history if e.type == "exception.requested"]
        if not asked or _time(asked[-1].created_at) >= opens - timedelta(days=deadline_days):
            raise _fail(f"exception {number} was not asked for before the deadline ({deadline_days} days before "
                        "voting opened)")
        if last.seq > opened.seq:
            raise _fail(f"exception {number} was accepted after voting opened (log entry {last.seq})")
        groups = set(last.payload.get("officer_groups") or [])
        if not groups or not groups <= officers:
            raise _fail(f"exception {number} was accepted by {last.actor!r}, who was not one of the poll's "
                        f"election officers ({', '.join(sorted(officers)) or 'none'})")
        if last.actor == last.payload.get("username"):
            raise _fail(f"exception {number} was accepted by the member who asked for it")
        accepted.append(number)
    if sorted(accepted) != sorted(opened.payload.get("exceptions") or []):
        raise _fail(f"the accepted exceptions are not the ones log entry {opened.seq} (poll.opened) froze")
    return f"{len(listed)} exception request(s), {len(accepted)} accepted by officers before the opening"


def _check_certification(election: Mapping[str, Any], entries: Sequence[Entry], rules: Mapping[str, Any],
                         officers: set[str]) -> str:
    cert = rules.get("certification") or {}
    certified = [e for e in entries if e.type == "poll.certified"]
    if not cert.get("required"):
        if certified or any(e.type == "poll.counted" for e in entries):
            raise _fail("the rules require no certification, yet the log holds one")
        return "no certification required"
    counted = [e for e in entries if e.type == "poll.counted"]
    tallied = [e for e in entries if e.type == "poll.tallied"]
    published = [e for e in entries if e.type == "results.published"]
    if not counted or not certified:
        raise _fail("the rules require the count to be certified before publication; the log holds no "
                    "certification")
    if not tallied or not published:
        raise _fail("the log lacks the poll.tallied or results.published entry")
    mark, tally, first_published = certified[-1], tallied[-1], published[0]
    if not counted[-1].seq < tally.seq < mark.seq < first_published.seq:
        raise _fail(f"the certification (log entry {mark.seq}) is not between the count and the publication")
    if mark.payload.get("results_hash") != tally.payload.get("results_hash"):
        raise _fail(f"log entry {mark.seq} certified another result than the one published")
    groups = set(mark.payload.get("officer_groups") or [])
    if not mark.actor or not groups or not groups <= officers:
        raise _fail(f"the count was certified by {mark.actor!r}, who was not one of the poll's election officers "
                    f"({', '.join(sorted(officers)) or 'none'})")
    if election.get("kind") == "election" and mark.actor in (election.get("candidates") or []):
        raise _fail(f"the count was certified by {mark.actor!r}, a candidate of this election")
    days = int(cert.get("days", 0))
    if days and _time(mark.created_at) > _time(counted[-1].created_at) + timedelta(days=days):
        raise _fail(f"the count was certified after the {days} day(s) the rules allow")
    return f"certified by {mark.actor} ({', '.join(sorted(groups))}) before publication"


def _check_cap(election: Mapping[str, Any], opened: Entry, rules: Mapping[str, Any]) -> str:
    cap = rules.get("max_seats_per_affiliation")
    options = election.get("options") or {}
    if cap is None:
        if "max_per_affiliation" in options or "affiliations" in options:
            raise _fail("election.json counts with a cap on seats per affiliation the rules do not set")
        return ""
    declared = opened.payload.get("affiliations") or {}
    want = {name: affiliation_key(text) for name, text in declared.items() if str(text).strip()}
    if options.get("max_per_affiliation") != cap:
        raise _fail(f"election.json counts with a cap of {options.get('max_per_affiliation')!r}, not the rules' {cap}")
    if options.get("affiliations") != want:
        raise _fail(f"election.json's affiliations are not the ones log entry {opened.seq} (poll.opened) froze")
    return f"at most {cap} seat(s) per affiliation, {len(want)} candidate(s) affiliated"
