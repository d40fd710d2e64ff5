"""Polls from draft to published results: scheduling, nominations, opening, casting, closing.

Boundary rule: services take a session and a clock, flush and never commit; they raise domain
errors. Every state change writes its audit event in the same transaction.

Time: every function takes ``now`` (UTC-aware). A poll's status follows the clock: ``advance``
moves it along when its times have passed, on any request and from ``flask polls tick``.
Closing is also enforced inside each vote's own transaction: a ballot whose transaction runs at
or after ``closes_at`` is refused even if no request has closed the poll yet.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, update
from sqlalchemy.orm import load_only
from sqlmodel import Session, select

from ..audit import log
from ..audit.canonical import canonical_json, plain, sha256_hex
from ..errors import Conflict, ForumUnavailable, InvalidInput, NotAllowed, NotEligible, NotFound, VotingClosed
from ..identity.eligibility import Eligibility, Evidence, Rule, check
from ..identity.service import member_evidence
from ..models import (
    Ballot,
    CharterVersion,
    ElectorateEntry,
    Member,
    Nomination,
    Outbox,
    Participation,
    Poll,
    PollKey,
    PollOption,
)
from ..models.base import MAX_ID
from ..proposals.render import render
from . import charter as charters
from .ballots import OptionRef
from .methods import KIND_METHODS, METHOD_NAMES

MAX_OPTIONS = 100
MAX_TITLE = 200
MAX_TEXT = 20_000
NOTA_LABEL = "None of the above"
ACTIVE = ("nominations", "scheduled", "open", "closed")


# === Reading ====================================================================================


def get(session: Session, poll_id: int) -> Poll:
    """A poll by id, or NotFound."""
    poll = session.get(Poll, poll_id) if 0 < poll_id <= MAX_ID else None
    if poll is None:
        raise NotFound(f"There is no poll {poll_id}.")
    return poll


def options(session: Session, poll: Poll) -> list[PollOption]:
    """The poll's options in ballot-file order."""
    return list(session.exec(select(PollOption).where(PollOption.poll_id == poll.id)
                             .order_by(PollOption.position)).all())


def list_by_status(session: Session) -> dict[str, list[Poll]]:
    """Polls grouped for the index page: open, upcoming (nominations, scheduled), results, drafts."""
    groups: dict[str, list[Poll]] = {"open": [], "upcoming": [], "results": [], "draft": [], "cancelled": []}
    for poll in session.exec(select(Poll).order_by(Poll.closes_at.desc(), Poll.id.desc())).all():
        if poll.status == "open":
            groups["open"].append(poll)
        elif poll.status in ("nominations", "scheduled"):
            groups["upcoming"].append(poll)
        elif poll.status in ("closed", "published"):
            groups["results"].append(poll)
        else:
            groups[poll.status].append(poll)
    return groups


def turnout(session: Session, poll: Poll) -> int:
    """How many members have voted (live while open; ballots are never shown before the close)."""
    return session.exec(select(func.count()).select_from(Participation)
                        .where(Participation.poll_id == poll.id)).one()


def ballot_count(session: Session, poll: Poll) -> int:
    """How many ballots a poll holds (never which)."""
    return session.exec(select(func.count()).select_from(Ballot).where(Ballot.poll_id == poll.id)).one()


def nominations(session: Session, poll: Poll, *, include_withdrawn: bool = True) -> list[tuple[Nomination, Member]]:
    """An election's nominations with their nominees."""
    query = select(Nomination, Member).join(Member, Member.id == Nomination.member_id) \
        .where(Nomination.poll_id == poll.id).order_by(Member.username)
    rows = [(n, m) for n, m in session.exec(query).all()]
    return rows if include_withdrawn else [(n, m) for n, m in rows if n.withdrawn_at is None]


def rule_of(poll: Poll) -> Rule:
    """The poll's eligibility rule."""
    return Rule.from_dict(poll.eligibility or {})


# === Creating and scheduling ====================================================================


@dataclass
class PollInput:
    """What a manager submits to create or edit a draft."""

    body: str
    kind: str
    method: str
    title: str
    description: str = ""
    seats: int = 1
    options: list[str] = field(default_factory=list)
    default_option: bool = False
    quorum: int = 0
    threshold: str = "1/2"
    threshold_strict: bool = True
    min_trust_level: int | None = None
    min_account_age_days: int | None = None
    nominations_open_at: datetime | None = None
    nominations_close_at: datetime | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None


def _threshold(text: str) -> Fraction:
    value = charters.parse_threshold(text)
    if value is None:
        raise InvalidInput([("threshold", "the threshold must be a fraction between 0 and 1, such as 1/2, 2/3 "
                                          "or 3/4")])
    return value


def _validate(data: PollInput, body: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if data.kind not in KIND_METHODS:
        problems.append(("kind", "choose an election, a decision or a referendum"))
    elif data.kind not in body.get("kinds", []):
        problems.append(("kind", f"the charter does not let {body['name']} hold a {data.kind}"))
    elif data.method not in KIND_METHODS[data.kind]:
        allowed = ", ".join(METHOD_NAMES[m] for m in KIND_METHODS[data.kind])
        problems.append(("method", f"a {data.kind} is counted with {allowed}"))
    title = data.title.strip()
    if not title:
        problems.append(("title", "give the poll a title"))
    elif len(title) > MAX_TITLE:
        problems.append(("title", f"the title is longer than {MAX_TITLE} characters"))
    if len(data.description) > MAX_TEXT:
        problems.append(("description", f"the description is longer than {MAX_TEXT} characters"))
    if data.kind == "election":
        if not 1 <= data.seats <= 50:
            problems.append(("seats", "an election fills between 1 and 50 seats"))
        if data.options:
            problems.append(("options", "election candidates come from nominations, not a list of options"))
    elif data.kind == "decision":
        labels = [o.strip() for o in data.options if o.strip()]
        if len(labels) < 2:
            problems.append(("options", "a decision needs at least two options"))
        if len(labels) > MAX_OPTIONS:
            problems.append(("options", f"a poll can have at most {MAX_OPTIONS} options"))
        if len({label.casefold() for label in labels}) != len(labels):
            problems.append(("options", "two options have the same name"))
        if any(len(label) > 200 for label in labels):
            problems.append(("options", "an option is longer than 200 characters"))
        if data.default_option and NOTA_LABEL.casefold() in {label.casefold() for label in labels}:
            problems.append(("options", f"{NOTA_LABEL!r} is added for you when the default option is on"))
    if data.kind == "referendum":
        try:
            _threshold(data.threshold)
        except InvalidInput as exc:
            problems += exc.reasons
    if data.quorum < 0:
        problems.append(("quorum", "the quorum cannot be negative"))
    if data.min_trust_level is not None and not 0 <= data.min_trust_level <= 4:
        problems.append(("min_trust_level", "trust levels run from 0 to 4"))
    if data.min_account_age_days is not None and not 0 <= data.min_account_age_days <= 3650:
        problems.append(("min_account_age_days", "the minimum account age must be 0 to 3650 days"))
    return problems


def _apply(poll: Poll, data: PollInput, body: dict[str, Any]) -> None:
    poll.body, poll.kind, poll.method = data.body, data.kind, data.method
    poll.title = data.title.strip()
    poll.description_md = data.description
    poll.description_html = render(data.description) if data.description.strip() else ""
    poll.seats = data.seats if data.kind == "election" else 1
    poll.default_option = data.default_option and data.kind == "decision"
    poll.quorum = data.quorum
    poll.threshold = str(_threshold(data.threshold)) if data.kind == "referendum" else "1/2"
    poll.threshold_strict = data.threshold_strict
    rule = dict(body.get("eligibility") or {})
    if body.get("group"):
        rule["groups"] = [body["group"]]
    if data.min_trust_level is not None:
        rule["min_trust_level"] = max(data.min_trust_level, int(rule.get("min_trust_level", 0)))
    if data.min_account_age_days is not None:
        rule["min_account_age_days"] = max(data.min_account_age_days, int(rule.get("min_account_age_days", 0)))
    poll.eligibility = Rule.from_dict(rule).to_dict()
    poll.nominations_open_at = data.nominations_open_at
    poll.nominations_close_at = data.nominations_close_at
    poll.opens_at, poll.closes_at = data.opens_at, data.closes_at


def _replace_options(session: Session, poll: Poll, labels: list[str]) -> None:
    for option in options(session, poll):
        session.delete(option)
    session.flush()
    for position, label in enumerate(labels):
        session.add(PollOption(poll_id=poll.id, position=position, label=label,
                               is_default=(label == NOTA_LABEL and poll.default_option)))
    session.flush()


def _labels_for(poll: Poll, data: PollInput) -> list[str]:
    if poll.kind == "referendum":
        return ["yes", "no"]
    if poll.kind == "decision":
        labels = [o.strip() for o in data.options if o.strip()]
        return labels + ([NOTA_LABEL] if poll.default_option else [])
    return []


def create(*, session: Session, actor: Member, charter: CharterVersion, data: PollInput,
           now: datetime | None = None) -> Poll:
    """Create a draft poll for a body the actor manages (``now`` defaults to the clock)."""
    body = charters.body(charter, data.body)
    if not charters.may_manage(charter, data.body, actor):
        raise NotAllowed(f"Only members of {', '.join(body.get('managers', []))} may create polls for {body['name']}.")
    problems = _validate(data, body)
    if problems:
        raise InvalidInput(problems)
    poll = Poll(body=data.body, kind=data.kind, method=data.method, title=data.title, created_by=actor.id)
    _apply(poll, data, body)
    session.add(poll)
    session.flush()
    _replace_options(session, poll, _labels_for(poll, data))
    log.record(session=session, type="poll.created", actor=actor, poll_id=poll.id, created_at=now,
               payload={"poll": poll.id, "body": poll.body, "kind": poll.kind, "title": poll.title})
    return poll


def update_draft(*, session: Session, actor: Member, charter: CharterVersion, poll: Poll, data: PollInput) -> Poll:
    """Edit a draft (only drafts can be edited)."""
    if poll.status != "draft":
        raise Conflict("Only a draft can be edited; this poll is " + poll.status + ".")
    if data.body != poll.body:
        raise InvalidInput([("body", "a poll cannot move to another body; create a new one")])
    body = charters.body(charter, poll.body)
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed("You may not edit this poll.")
    from ..models import PendingChange

    if session.exec(select(PendingChange.id).where(PendingChange.poll_id == poll.id,
                                                   PendingChange.status.in_(("pending", "approved")))).first():
        raise Conflict("This draft's scheduling is waiting for a second manager's approval, so it cannot change "
                       "now; withdraw the request first.")
    problems = _validate(data, body)
    if problems:
        raise InvalidInput(problems)
    _apply(poll, data, body)
    session.add(poll)
    _replace_options(session, poll, _labels_for(poll, data))
    log.record(session=session, type="poll.edited", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "title": poll.title})
    return poll


def schedule_problems(session: Session, poll: Poll, now: datetime) -> list[tuple[str, str]]:
    """What stops a draft from being scheduled now (empty when it can be)."""
    problems: list[tuple[str, str]] = []
    if poll.opens_at is None or poll.closes_at is None:
        problems.append(("opens_at", "set when voting opens and closes"))
    else:
        if poll.opens_at <= now:
            problems.append(("opens_at", "voting must open in the future"))
        if poll.closes_at <= poll.opens_at:
            problems.append(("closes_at", "voting must close after it opens"))
        elif poll.closes_at - poll.opens_at < timedelta(hours=1):
            problems.append(("closes_at", "voting must stay open for at least an hour"))
    if poll.kind == "election":
        start, end = poll.nominations_open_at, poll.nominations_close_at
        if start is None or end is None:
            problems.append(("nominations_open_at", "an election needs a nomination period"))
        elif not (start < end <= (poll.opens_at or end)):
            problems.append(("nominations_close_at", "nominations must open, then close, no later than voting opens"))
    elif len(options(session, poll)) < 2:
        problems.append(("options", "the poll needs at least two options"))
    return problems


def schedule(*, session: Session, actor: Member, charter: CharterVersion, poll: Poll, now: datetime,
             approval: dict[str, Any] | None = None) -> Poll:
    """Fix a draft's times: it moves to nominations (elections) or scheduled, and can no longer change.

    This is the effect. Pages ask through ``polls.approvals.request_schedule`` (the two-person
    rule and the forum notice), which calls this with ``approval`` once a second manager approved
    and the forum was told; the operator's demo and the tests call it directly.
    """
    if poll.status != "draft":
        raise Conflict("Only a draft can be scheduled.")
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed("You may not schedule this poll.")
    problems = schedule_problems(session, poll, now)
    if problems:
        raise InvalidInput(problems)
    poll.status = "nominations" if poll.kind == "election" else "scheduled"
    session.add(poll)
    payload = {"poll": poll.id, "status": poll.status, "opens_at": _t(poll.opens_at),
               "closes_at": _t(poll.closes_at), "eligibility": poll.eligibility,
               "method": poll.method, "seats": poll.seats}
    if approval is not None:
        payload["approval"] = approval
    log.record(session=session, created_at=now, type="poll.scheduled", actor=actor, poll_id=poll.id, payload=payload)
    session.flush()
    return poll


def cancel(*, session: Session, actor: Member, charter: CharterVersion, poll: Poll, reason: str,
           committee_group: str = "steering-committee") -> Poll:
    """Cancel a poll before its results are published, with a public reason.

    The body's managers may cancel a poll that has not opened; an *open* poll (ballots are being
    cast) only the committee may cancel.
    """
    if poll.status in ("published", "cancelled", "closed"):
        raise Conflict(f"A {poll.status} poll cannot be cancelled.")
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed("You may not cancel this poll.")
    if poll.status == "open" and committee_group not in (actor.groups or []):
        raise NotAllowed("Voting is open: only the steering committee may cancel this poll now, with a reason.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput([("reason", "say why the poll is cancelled; the reason is published")])
    if len(reason) > 1000:
        raise InvalidInput([("reason", "the reason is longer than 1000 characters")])
    _withdraw_schedule_requests(session, poll, actor, reason)
    return void(session=session, poll=poll, reason=reason, actor=actor)


def _withdraw_schedule_requests(session: Session, poll: Poll, actor: Member, reason: str) -> None:
    """A cancelled draft's scheduling request ends with it."""
    from ..models import PendingChange

    for change in session.exec(select(PendingChange).where(PendingChange.poll_id == poll.id,
                                                           PendingChange.status.in_(("pending", "approved")))).all():
        change.status = "withdrawn"
        change.reason = f"the poll was cancelled: {reason}"[:1000]
        session.add(change)
        log.record(session=session, type="change.withdrawn", actor=actor, poll_id=poll.id,
                   payload={"change": change.id, "reason": change.reason})


def void(*, session: Session, poll: Poll, reason: str, actor: Member | None = None) -> Poll:
    """Cancel a poll for a reason the platform itself determined (e.g. its amendment went stale).

    Ballots already cast lapse: they are never counted, and voter links are destroyed.
    """
    poll = _lock_poll(session, poll, exclusive=True)  # decide on the status as it is under the lock
    if poll.status in ("published", "cancelled", "closed"):
        return poll
    was_open = poll.status == "open"
    poll.status = "cancelled"
    poll.cancel_reason = reason[:1000]
    session.add(poll)
    if was_open:
        _forget_voters(session, poll)
    log.record(session=session, type="poll.cancelled", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "reason": poll.cancel_reason})
    session.flush()
    return poll


def create_referendum(*, session: Session, actor: Member | None, body: str, title: str, description: str,
                      threshold: str, strict: bool, quorum: int, opens_at: datetime, closes_at: datetime,
                      amendment_id: int, eligibility: dict[str, Any] | None = None) -> Poll:
    """A scheduled yes/no/abstain poll deciding a document amendment (its rule comes from the charter)."""
    poll = Poll(body=body, kind="referendum", method="yesno", title=title[:MAX_TITLE],
                description_md=description, description_html=render(description) if description.strip() else "",
                threshold=str(_threshold(threshold)), threshold_strict=strict, quorum=quorum,
                eligibility=Rule.from_dict(eligibility or {}).to_dict(), opens_at=opens_at, closes_at=closes_at,
                amendment_id=amendment_id, status="scheduled", created_by=getattr(actor, "id", None))
    if closes_at <= opens_at:
        raise InvalidInput([("closes_at", "voting must close after it opens")])
    session.add(poll)
    session.flush()
    _replace_options(session, poll, ["yes", "no"])
    log.record(session=session, type="poll.created", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "body": body, "kind": "referendum", "title": poll.title,
                        "amendment": amendment_id})
    log.record(session=session, type="poll.scheduled", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "status": "scheduled", "opens_at": _t(opens_at), "closes_at": _t(closes_at),
                        "eligibility": poll.eligibility, "method": "yesno", "seats": 1})
    return poll


def _t(value: datetime | None) -> str | None:
    return None if value is None else log.format_time(value)


# === Nominations =================================================================================


def nominate(*, session: Session, actor: Member, poll: Poll, nominee: Member, statement: str, conflicts: str,
             now: datetime) -> Nomination:
    """Nominate a member (oneself: accepted at once; someone else: they must accept)."""
    if poll.kind != "election":
        raise Conflict("Only elections take nominations.")
    if poll.status != "nominations" or not _in_nomination_period(poll, now):
        raise Conflict("Nominations are not open for this election.")
    _check_statements(statement, conflicts, required=actor.id == nominee.id)
    verdict = eligibility_now(poll, nominee, now)
    if not verdict.ok:
        raise NotEligible(f"{nominee.username} cannot stand in this election.", list(verdict.reasons))
    existing = session.exec(select(Nomination).where(Nomination.poll_id == poll.id,
                                                      Nomination.member_id == nominee.id)).first()
    if existing is not None and existing.withdrawn_at is None:
        raise Conflict(f"{nominee.username} is already nominated.")
    nomination = existing or Nomination(poll_id=poll.id, member_id=nominee.id, nominated_by=actor.id)
    nomination.nominated_by = actor.id
    nomination.withdrawn_at = None
    _set_statements(nomination, statement, conflicts)
    nomination.accepted_at = now if actor.id == nominee.id else None
    session.add(nomination)
    session.flush()
    log.record(session=session, created_at=now, type="nomination.made", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "nominee": nominee.username, "accepted": nomination.accepted_at is not None})
    return nomination


def _check_statements(statement: str, conflicts: str, *, required: bool) -> None:
    problems = []
    if required and not statement.strip():
        problems.append(("statement", "write a short statement for voters"))
    if len(statement) > MAX_TEXT or len(conflicts) > MAX_TEXT:
        problems.append(("statement", f"statements are limited to {MAX_TEXT} characters"))
    if problems:
        raise InvalidInput(problems)


def _set_statements(nomination: Nomination, statement: str, conflicts: str) -> None:
    nomination.statement_md, nomination.statement_html = statement, render(statement) if statement.strip() else ""
    nomination.conflicts_md, nomination.conflicts_html = conflicts, render(conflicts) if conflicts.strip() else ""


def accept_nomination(*, session: Session, actor: Member, poll: Poll, statement: str, conflicts: str,
                      now: datetime) -> Nomination:
    """The nominee accepts (with their own statement and declaration)."""
    nomination = _own_nomination(session, actor, poll)
    if poll.status != "nominations" or not _in_nomination_period(poll, now):
        raise Conflict("Nominations are closed.")
    _check_statements(statement, conflicts, required=True)
    _set_statements(nomination, statement, conflicts)
    nomination.accepted_at = now
    session.add(nomination)
    log.record(session=session, created_at=now, type="nomination.accepted", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "nominee": actor.username})
    session.flush()
    return nomination


def withdraw_nomination(*, session: Session, actor: Member, poll: Poll, now: datetime) -> Nomination:
    """A candidate withdraws; allowed until voting opens."""
    nomination = _own_nomination(session, actor, poll)
    if poll.status not in ("nominations", "scheduled"):
        raise Conflict("Candidates can withdraw only until voting opens.")
    nomination.withdrawn_at = now
    session.add(nomination)
    log.record(session=session, created_at=now, type="nomination.withdrawn", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "nominee": actor.username})
    session.flush()
    return nomination


def _own_nomination(session: Session, actor: Member, poll: Poll) -> Nomination:
    row = session.exec(select(Nomination).where(Nomination.poll_id == poll.id,
                                                Nomination.member_id == actor.id)).first()
    if row is None or row.withdrawn_at is not None:
        raise NotFound("You have no standing nomination in this election.")
    return row


def _in_nomination_period(poll: Poll, now: datetime) -> bool:
    return bool(poll.nominations_open_at and poll.nominations_close_at
                and poll.nominations_open_at <= now < poll.nominations_close_at)


# === Eligibility =================================================================================


def eligibility_now(poll: Poll, member: Member, now: datetime) -> Eligibility:
    """Eligibility judged on the member's current forum data (before a poll opens)."""
    opens = poll.opens_at or now
    return check(rule_of(poll), member_evidence(member), opens_at=min(opens, max(now, opens)))


def eligibility(session: Session, poll: Poll, member: Member, *, evidence: Evidence | None = None) -> Eligibility:
    """May ``member`` vote in this (open) poll?

    Group polls use the electorate frozen at opening: the member must be in it, judged on the
    evidence recorded then. Community-wide polls judge the member's forum data as refreshed at
    login against the poll's opening time.
    """
    opened = poll.opens_at or poll.opened_at
    if opened is None:
        return Eligibility(False, ("this poll has not opened yet",))
    rule = rule_of(poll)
    if rule.groups:
        entry = session.exec(select(ElectorateEntry).where(ElectorateEntry.poll_id == poll.id,
                                                           ElectorateEntry.forum_user_id == member.forum_user_id)).first()
        if entry is None:
            groups = ", ".join(rule.groups)
            return Eligibility(False, (f"you were not a member of {groups} when this poll opened",))
        return check(rule, Evidence.from_dict(entry.evidence), opens_at=opened)
    return check(rule, evidence or member_evidence(member), opens_at=opened)


# === Opening =====================================================================================


@dataclass(frozen=True)
class GroupSnapshot:
    """Members of the poll's groups as the forum listed them, with each one's evidence."""

    members: list[dict[str, Any]]
    raw_sha256: str


def snapshot_electorate(poll: Poll, forum: Any) -> GroupSnapshot | None:
    """Fetch the group members (outside any transaction: this calls the forum).

    Members whose ``added_at`` is not before the opening time are left out, so a snapshot taken a
    little after the opening still freezes the groups as they were at the opening.
    Returns None for community-wide polls (nothing to snapshot).
    """
    from ..identity.forum import parse_time

    rule = rule_of(poll)
    if not rule.groups:
        return None
    opens = poll.opens_at
    raw_pages: list[Any] = []
    chosen: dict[int, dict[str, Any]] = {}
    for group in rule.groups:
        listed = forum.group_members(group)
        raw_pages.append({"group": group, "members": listed})
        try:
            for item in listed:
                added = parse_time(item.get("added_at"))
                if added and opens and added >= opens:
                    continue
                chosen.setdefault(int(item["id"]), {"groups": set()})["groups"].add(group)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ForumUnavailable(f"The forum gave an unexpected answer (members of {group}).") from None
    members = []
    for user_id in sorted(chosen):
        if user_id <= 0:
            continue
        evidence, _raw = forum.evidence(user_id)
        # Group membership as of the opening (from the lists), not as of now.
        frozen = Evidence(**{**evidence.__dict__, "groups": frozenset(chosen[user_id]["groups"])})
        members.append(frozen.to_dict())
    digest = sha256_hex(canonical_json(plain(raw_pages)))
    return GroupSnapshot(members=members, raw_sha256=digest)


def open_poll(*, session: Session, poll: Poll, now: datetime, snapshot: GroupSnapshot | None) -> Poll:
    """Open voting: freeze the options, the electorate and the tie-break seed."""
    from ..audit.bundle import electorate_hash, rule_electorate_hash

    poll = _lock_poll(session, poll, exclusive=True)
    if poll.status != "scheduled":
        return poll
    if poll.kind == "election":
        standing = [(n, m) for n, m in nominations(session, poll, include_withdrawn=False) if n.accepted_at]
        if len(standing) <= poll.seats:
            poll.status = "cancelled"
            poll.cancel_reason = (f"Only {len(standing)} accepted candidate(s) for {poll.seats} seat(s) when "
                                  "voting was due to open.")
            session.add(poll)
            log.record(session=session, created_at=now, type="poll.cancelled", actor=None, poll_id=poll.id,
                       payload={"poll": poll.id, "reason": poll.cancel_reason})
            return poll
        for position, (_nomination, member) in enumerate(standing):
            session.add(PollOption(poll_id=poll.id, position=position, label=member.username,
                                   description=member.name, member_id=member.id))
        session.flush()
    rule = rule_of(poll)
    if rule.groups:
        if snapshot is None:
            raise Conflict("The electorate could not be frozen: the forum's group lists were not fetched.")
        eligible = []
        for item in snapshot.members:
            session.add(ElectorateEntry(poll_id=poll.id, forum_user_id=item["forum_user_id"],
                                        username=item["username"], evidence=item))
            if check(rule, Evidence.from_dict(item), opens_at=poll.opens_at).ok:
                eligible.append({"username": item["username"], "evidence": item})
        poll.electorate_hash = electorate_hash(eligible)
        poll.electorate_size = len(eligible)
    else:
        poll.electorate_hash = rule_electorate_hash(poll.eligibility, _t(poll.opens_at))
        poll.electorate_size = None
    poll.tie_seed = secrets.token_hex(16)
    poll.status = "open"
    poll.opened_at = now
    session.add(poll)
    session.add(PollKey(poll_id=poll.id, key=secrets.token_hex(32)))
    session.flush()
    labels = [o.label for o in options(session, poll)]
    log.record(session=session, created_at=now, type="poll.opened", actor=None, poll_id=poll.id, payload={
        "poll": poll.id, "options": labels, "method": poll.method, "seats": poll.seats,
        "tie_break_seed": poll.tie_seed, "electorate_hash": poll.electorate_hash,
        "electorate_size": poll.electorate_size, "eligibility": poll.eligibility,
        "group_lists_sha256": snapshot.raw_sha256 if snapshot else None,
        "opens_at": _t(poll.opens_at), "closes_at": _t(poll.closes_at)})
    session.add(Outbox(kind="topic", poll_id=poll.id, payload={"poll": poll.id}))
    session.flush()
    return poll


# === Casting ====================================================================================


@dataclass(frozen=True)
class Receipt:
    """What a voter is told after casting."""

    tracker: str
    replaced: bool
    cast_at: datetime


def _lock_poll(session: Session, poll: Poll, *, exclusive: bool) -> Poll:
    """Take the poll's row lock and return the poll re-read under it.

    Voters share the lock; opening, closing and cancelling take it alone, so a close waits for
    votes in flight and no vote lands after the close. (SQLite write transactions are exclusive
    already: they begin with BEGIN IMMEDIATE.)
    """
    query = select(Poll).where(Poll.id == poll.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update() if exclusive else query.with_for_update(read=True)
    return session.exec(query).one()


def _link(key: str, poll: Poll, member: Member) -> str:
    return hmac.new(bytes.fromhex(key), f"{poll.id}:{member.id}".encode(), hashlib.sha256).hexdigest()


def ballot_hash(tracker: str, ranking: list[list[str]]) -> str:
    """SHA-256 of a ballot as published (canonical JSON of tracker and ranking)."""
    return sha256_hex(canonical_json({"tracker": tracker, "ranking": ranking}))


@dataclass(frozen=True)
class BallotBox:
    """A poll as a vote reads it before writing: the poll, its key and its options.

    ``key`` is the per-poll key of voter links (None once the poll has closed); ``options`` are
    (id, label) pairs in ballot-file order, for reading the submitted ballot. Options are frozen
    when the poll opens; the status, the closing time and the key are read again under the
    poll's lock by ``cast``.
    """

    poll: Poll
    key: str | None
    options: tuple[OptionRef, ...]
    #: The transaction that read the poll under its lock (PostgreSQL's FOR SHARE, or SQLite's
    #: write transaction), or None: ``cast`` re-reads the poll's state unless it runs in it.
    locked_in: Any = None

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(o.label for o in self.options)


# Statements of the voting path, built once: every ballot runs them, and building a statement
# costs more than running it. Parameters are bound by name at execution.
_BALLOTS = Ballot.__table__
_PARTICIPATION = Participation.__table__
_OPTIONS = PollOption.__table__
_POLLS = Poll.__table__
# The columns a vote uses (the rest, such as the description and a closed poll's result, load
# on first use: only a refused ballot's page needs them).
_BOX = (select(Poll, PollKey.key).outerjoin(PollKey, PollKey.poll_id == Poll.id)
        .options(load_only(Poll.id, Poll.body, Poll.kind, Poll.method, Poll.title, Poll.status, Poll.seats,
                           Poll.eligibility, Poll.default_option, Poll.opens_at, Poll.closes_at, Poll.opened_at,
                           Poll.tie_seed))
        .where(Poll.id == bindparam("poll_id")).execution_options(populate_existing=True))
_BOX_SHARED = _BOX.with_for_update(read=True, of=_POLLS)
_STATE = (select(_POLLS.c.status, _POLLS.c.opened_at, _POLLS.c.closes_at, PollKey.__table__.c.key)
          .outerjoin(PollKey.__table__, PollKey.__table__.c.poll_id == _POLLS.c.id)
          .where(_POLLS.c.id == bindparam("poll_id")))
_STATE_SHARED = _STATE.with_for_update(read=True, of=_POLLS)
_BOX_OPTIONS = (select(_OPTIONS.c.id, _OPTIONS.c.label).where(_OPTIONS.c.poll_id == bindparam("poll_id"))
                .order_by(_OPTIONS.c.position))
# SQLite's replacement: its write transaction is exclusive, so no row lock is needed.
_FIND_BALLOT = select(_BALLOTS.c.id, _BALLOTS.c.tracker).where(
    _BALLOTS.c.poll_id == bindparam("poll_id"), _BALLOTS.c.voter_link == bindparam("voter_link"))
_REPLACE_BALLOT = (update(_BALLOTS).where(_BALLOTS.c.id == bindparam("ballot_id"))
                   .values(ranking=bindparam("ranking", type_=_BALLOTS.c.ranking.type),
                           tracker=bindparam("tracker")))


class _VoteWrites(NamedTuple):
    participation: Any  # insert-or-update the voter's participation row
    new_ballot: Any  # insert a first ballot unless the voter has one; returns its id if inserted
    #: PostgreSQL: the participation row, the ballot (replaced, or inserted as the first) and the
    #: audit log's tip under its lock, in one statement (data-modifying WITHs); one row (inserted
    #: ballot id or NULL, replaced tracker or NULL, tip seq, tip hash). Else None.
    together: Any
    #: PostgreSQL: lock the voter's ballot and replace it, returning the replaced tracker. Else None.
    replace: Any


@functools.cache
def _vote_writes(dialect_name: str) -> _VoteWrites:
    """The dialect's writes of a vote, built once."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if dialect_name == "postgresql" else sqlite
    # Parameter names differ from every column name: Core would otherwise add a column whose
    # name is among an UPDATE's parameters to its SET clause.
    participation = dialect.insert(_PARTICIPATION).values(
        id=bindparam("p_id"), poll_id=bindparam("p_poll_id"), member_id=bindparam("p_member_id"),
        evidence=bindparam("p_evidence", type_=_PARTICIPATION.c.evidence.type),
        last_cast_at=bindparam("p_last_cast_at", type_=_PARTICIPATION.c.last_cast_at.type))
    participation = participation.on_conflict_do_update(
        index_elements=["poll_id", "member_id"], set_={"last_cast_at": participation.excluded.last_cast_at})
    new_ballot = (dialect.insert(_BALLOTS).values(
        id=bindparam("new_id"), poll_id=bindparam("new_poll_id"), tracker=bindparam("new_tracker"),
        ranking=bindparam("new_ranking", type_=_BALLOTS.c.ranking.type), voter_link=bindparam("new_voter_link"))
        .on_conflict_do_nothing(index_elements=["poll_id", "voter_link"]).returning(_BALLOTS.c.id))
    if dialect_name != "postgresql":
        return _VoteWrites(participation, new_ballot, None, None)
    from sqlalchemy import exists, literal_column, true

    # The voter's ballot as it stands, locked; replaced if there is one, else a first ballot
    # inserted. A first ballot committed by a concurrent submission of the same voter after this
    # statement's snapshot is in neither: then nothing is written here, and ``replace`` below
    # (a statement of its own, on a fresh snapshot) replaces it.
    current = (select(_BALLOTS.c.id, _BALLOTS.c.tracker)
               .where(_BALLOTS.c.poll_id == bindparam("current_poll_id"),
                      _BALLOTS.c.voter_link == bindparam("current_voter_link"))
               .with_for_update())
    current_cte = current.cte("current_ballot")
    replaced_cte = (update(_BALLOTS).where(_BALLOTS.c.id == current_cte.c.id)
                    .values(ranking=bindparam("new_ranking", type_=_BALLOTS.c.ranking.type),
                            tracker=bindparam("new_tracker"))
                    .returning(current_cte.c.tracker).cte("replaced_ballot"))
    first = select(bindparam("new_id", type_=_BALLOTS.c.id.type), bindparam("new_poll_id", type_=_BALLOTS.c.poll_id.type),
                   bindparam("new_tracker", type_=_BALLOTS.c.tracker.type),
                   bindparam("new_ranking", type_=_BALLOTS.c.ranking.type),
                   bindparam("new_voter_link", type_=_BALLOTS.c.voter_link.type)).where(~exists(current_cte.select()))
    inserted_cte = (dialect.insert(_BALLOTS).from_select(["id", "poll_id", "tracker", "ranking", "voter_link"], first)
                    .on_conflict_do_nothing(index_elements=["poll_id", "voter_link"]).returning(_BALLOTS.c.id)
                    .cte("first_ballot"))
    tip = log.LOCKED_TIP
    one = select(literal_column("1").label("one")).subquery("one")  # the row, even on an empty log
    together = (select(select(inserted_cte.c.id).scalar_subquery().label("inserted"),
                       select(replaced_cte.c.tracker).scalar_subquery().label("replaced"), tip.c.seq, tip.c.hash)
                .select_from(one.outerjoin(tip, true()))
                .add_cte(participation.cte("participation_upsert")))
    locked = current.subquery("current")
    replace = (update(_BALLOTS).where(_BALLOTS.c.id == locked.c.id)
               .values(ranking=bindparam("new_ranking", type_=_BALLOTS.c.ranking.type), tracker=bindparam("new_tracker"))
               .returning(locked.c.tracker))
    return _VoteWrites(participation, new_ballot, together, replace)


#: Options of polls that have opened, by (poll id, tie-break seed): frozen at opening, so a copy
#: per process saves every ballot a query. The seed is drawn at random when the poll opens, so
#: no other poll (in another database, say) shares the key. Bounded.
_FROZEN_OPTIONS: dict[tuple[int, str], tuple[OptionRef, ...]] = {}
_FROZEN_OPTIONS_MAX = 512


def ballot_box(session: Session, poll_id: int) -> BallotBox:
    """Read a poll for voting: the poll with its key, and its options.

    On PostgreSQL the poll's row is read under its shared lock (FOR SHARE), held to the end of
    the transaction; on SQLite the lock is the write transaction itself, if one is open.
    """
    conn = session.connection()
    postgresql = conn.dialect.name == "postgresql"
    found = session.execute(_BOX_SHARED if postgresql else _BOX, {"poll_id": poll_id}).first() \
        if 0 < poll_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"There is no poll {poll_id}.")
    poll = found[0]
    locked = postgresql or bool(conn.get_execution_options().get("sqlite_immediate"))
    frozen = bool(poll.tie_seed) and poll.opened_at is not None and poll.status in ("open", "closed", "published")
    options = _FROZEN_OPTIONS.get((poll.id, poll.tie_seed)) if frozen else None
    if options is None:
        options = tuple(OptionRef(i, label) for i, label in conn.execute(_BOX_OPTIONS, {"poll_id": poll_id}))
        if frozen:
            if len(_FROZEN_OPTIONS) >= _FROZEN_OPTIONS_MAX:
                _FROZEN_OPTIONS.clear()
            _FROZEN_OPTIONS[(poll.id, poll.tie_seed)] = options
    return BallotBox(poll=poll, key=found[1], options=options,
                     locked_in=session.get_transaction() if locked else None)


def cast(*, session: Session, poll: Poll, member: Member, ranking: list[list[str]], now: datetime,
         send_receipt: bool = False, box: BallotBox | None = None) -> Receipt:
    """Record (or replace) a member's ballot; the last one before the close counts.

    ``box`` is the poll as ``ballot_box`` read it, when the caller has it already (the ballot
    page reads it to parse the form); otherwise it is read here. The poll's status, closing
    time and key count only as read under the poll's shared lock in this transaction (else
    they are read again under it): voters share the lock, while opening, closing and
    cancelling take it alone, so a close waits for the votes in flight and no vote lands after
    it (SQLite write transactions are exclusive already). The rest is the participation row
    (insert-or-update), the ballot (the voter's current one locked and replaced, else a first
    one inserted) and the audit append (the log's newest entry under its lock, then the new
    entry). On PostgreSQL that is two statements, all but the new log entry going together; on
    SQLite four for a first ballot and six for a replacement.
    """
    if box is None or box.poll.id != poll.id:
        box = ballot_box(session, poll.id)
    poll = box.poll
    conn = session.connection()
    if box.locked_in is not None and box.locked_in is session.get_transaction():
        state = box.poll
        state_key = box.key
    else:
        state = conn.execute(_STATE_SHARED if conn.dialect.name == "postgresql" else _STATE,
                             {"poll_id": poll.id}).one()
        state_key = state.key
    if state.status != "open" or state.opened_at is None:
        raise VotingClosed("Voting is not open for this poll." if state.status != "closed"
                           else "Voting has closed.")
    if state.closes_at is not None and now >= state.closes_at:
        raise VotingClosed("Voting has closed.")
    evidence = member_evidence(member)
    verdict = eligibility(session, poll, member, evidence=evidence)
    if not verdict.ok:
        raise NotEligible("You may not vote in this poll.", list(verdict.reasons))
    labels = box.labels
    unknown = [name for group in ranking for name in group if name not in labels]
    if unknown:
        raise InvalidInput([("ranking", f"{unknown[0]!r} is not an option of this poll")])
    if state_key is None:
        raise VotingClosed("Voting has closed.")
    writes = _vote_writes(conn.dialect.name)
    link = _link(state_key, poll, member)
    tracker = secrets.token_hex(8)
    params = {"p_id": secrets.token_hex(16), "p_poll_id": poll.id, "p_member_id": member.id,
              "p_evidence": evidence.to_dict(), "p_last_cast_at": now,
              "new_id": secrets.token_hex(16), "new_poll_id": poll.id, "new_tracker": tracker,
              "new_ranking": ranking, "new_voter_link": link, "current_poll_id": poll.id, "current_voter_link": link}
    # Who voted, and the ballot: the voter's current one locked and replaced (so that
    # replacements by one voter queue and each names the ballot it replaces), else a first one
    # inserted. The unique constraint on the voter link settles a race between two submissions
    # of one voter (no savepoint needed): the loser replaces the winner's ballot.
    locked_tip = replaced_tracker = None
    if writes.together is not None:
        row = conn.execute(writes.together, params).one()
        replaced_tracker = row.replaced
        if row.seq is not None:
            locked_tip = (row.seq, row.hash)
        if row.inserted is None and replaced_tracker is None:  # a concurrent first ballot of theirs
            replaced_tracker = conn.execute(writes.replace, params).scalar_one()
    else:
        conn.execute(writes.participation, params)
        if conn.execute(writes.new_ballot, params).first() is None:
            found = conn.execute(_FIND_BALLOT, {"poll_id": poll.id, "voter_link": link}).one()
            conn.execute(_REPLACE_BALLOT, {"ballot_id": found.id, "ranking": ranking, "tracker": tracker})
            replaced_tracker = found.tracker
    payload = {"poll": poll.id, "tracker": tracker, "ballot_hash": ballot_hash(tracker, ranking)}
    if replaced_tracker:
        payload["replaces"] = replaced_tracker
    log.record(session=session, created_at=now, type="ballot.replaced" if replaced_tracker else "ballot.cast",
               actor=None, poll_id=poll.id, payload=payload, locked_tip=locked_tip)
    if send_receipt:
        session.add(Outbox(kind="receipt", poll_id=poll.id,
                           payload={"poll": poll.id, "username": member.username, "tracker": tracker}))
        session.flush()
    return Receipt(tracker=tracker, replaced=bool(replaced_tracker), cast_at=now)


def my_ballot(session: Session, poll: Poll, member: Member) -> Ballot | None:
    """The member's current ballot while the poll is open (through the keyed link), else None."""
    key = session.get(PollKey, poll.id)
    if key is None:
        return None
    return session.exec(select(Ballot).where(Ballot.poll_id == poll.id,
                                             Ballot.voter_link == _link(key.key, poll, member))).first()


def my_participation(session: Session, poll: Poll, member: Member) -> Participation | None:
    """Whether (and, while open, when) the member last voted."""
    return session.exec(select(Participation).where(Participation.poll_id == poll.id,
                                                    Participation.member_id == member.id)).first()


# === Closing and counting =======================================================================


def _forget_voters(session: Session, poll: Poll) -> None:
    """Destroy the per-poll key and every voter link; clear voting times; drop undelivered receipts.

    A receipt waiting in the outbox names a voter and a tracker; one the forum has not taken by
    the close is dropped rather than kept as a link (the tracker was shown on the page already).
    """
    from sqlalchemy import delete

    session.execute(delete(Outbox).where(Outbox.poll_id == poll.id, Outbox.kind == "receipt"))
    key = session.get(PollKey, poll.id)
    if key is not None:
        session.delete(key)
    session.execute(update(Ballot).where(Ballot.poll_id == poll.id).values(voter_link=None))
    session.execute(update(Participation).where(Participation.poll_id == poll.id).values(last_cast_at=None))
    session.flush()


def published_ballots(session: Session, poll: Poll) -> list[dict[str, Any]]:
    """The ballots of a closed poll as published: tracker and ranking, sorted by tracker."""
    if poll.status not in ("closed", "published"):
        raise Conflict("Ballots are published only after the poll closes.")
    rows = session.exec(select(Ballot.tracker, Ballot.ranking).where(Ballot.poll_id == poll.id)
                        .order_by(Ballot.tracker)).all()
    return [{"tracker": t, "ranking": r} for t, r in rows]


def election_dict(session: Session, poll: Poll) -> dict[str, Any]:
    """Everything a re-count needs (the bundle's ``election.json``)."""
    labels = [o.label for o in options(session, poll)]
    method_options: dict[str, Any] = {}
    method = poll.method
    if poll.kind == "referendum":
        method_options = {"threshold": poll.threshold, "strict": poll.threshold_strict, "quorum": poll.quorum}
    elif poll.default_option and NOTA_LABEL in labels and method == "schulze":
        method, method_options = "debian", {"default": NOTA_LABEL, "quorum": poll.quorum}
    return {
        "poll": poll.id,
        "title": poll.title,
        "body": poll.body,
        "kind": poll.kind,
        "method": method,
        "seats": poll.seats,
        "candidates": labels,
        "withdrawn": [],
        "options": method_options,
        "tie_break_seed": poll.tie_seed,
        "eligibility": poll.eligibility,
        "electorate_hash": poll.electorate_hash,
        "opens_at": _t(poll.opens_at),
        "closes_at": _t(poll.closes_at),
        "amendment": poll.amendment_id,
    }


def tally(election: dict[str, Any], ballots: list[dict[str, Any]]):
    """Count ballots exactly as an auditor's re-count does (one code path for both)."""
    from ..tally.core import Profile, TieBreaker
    from ..tally.methods import count

    profile = Profile.build(list(election["candidates"]), [b["ranking"] for b in ballots],
                            seats=election["seats"], title=election.get("title", ""))
    options = dict(election.get("options") or {})
    if "threshold" in options:
        options["threshold"] = Fraction(options["threshold"])
    tie_breaker = TieBreaker(seed=election.get("tie_break_seed") or None)
    seats = election["seats"] if election["method"] in ("meek", "scottish", "wigm", "civs-pr") else None
    return count(profile, election["method"], seats=seats, tie_breaker=tie_breaker, **options)


def close_poll(*, session: Session, poll: Poll, now: datetime) -> Poll:
    """Close voting: forget voters, fix the ballots, count, publish."""
    from ..audit.bundle import ballots_hash, results_hash

    poll = _lock_poll(session, poll, exclusive=True)
    if poll.status != "open":
        return poll
    _forget_voters(session, poll)
    poll.status = "closed"
    poll.closed_at = now
    ballots = published_ballots(session, poll)
    poll.ballots_hash = ballots_hash(ballots)
    voters = turnout(session, poll)
    log.record(session=session, created_at=now, type="poll.closed", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "ballots": len(ballots), "voters": voters,
                        "ballots_hash": poll.ballots_hash})
    election = election_dict(session, poll)
    result = tally(election, ballots)
    data = result.to_dict()
    poll.result = data
    poll.result_hash = results_hash(data)
    log.record(session=session, created_at=now, type="poll.tallied", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "method": election["method"], "elected": list(result.elected),
                        "tied": list(result.tied), "results_hash": poll.result_hash})
    poll.status = "published"
    poll.published_at = now
    session.add(poll)
    log.record(session=session, created_at=now, type="results.published", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "results_hash": poll.result_hash})
    if poll.amendment_id is not None:
        from ..proposals import service as documents

        documents.on_referendum_published(session=session, poll=poll, now=now)
    log.make_head(session=session, reason=f"poll {poll.id} closed", now=now)
    session.add(Outbox(kind="results", poll_id=poll.id, payload={"poll": poll.id}))
    session.flush()
    return poll


# === The clock ==================================================================================


def due(session: Session, now: datetime) -> list[Poll]:
    """Polls whose status the clock has moved on."""
    polls = session.exec(select(Poll).where(Poll.status.in_(("nominations", "scheduled", "open")))).all()
    return [p for p in polls if _next_step(p, now) is not None]


def _next_step(poll: Poll, now: datetime) -> str | None:
    if poll.status == "nominations" and poll.nominations_close_at and now >= poll.nominations_close_at:
        return "close-nominations"
    if poll.status == "scheduled" and poll.opens_at and now >= poll.opens_at:
        return "open"
    if poll.status == "open" and poll.closes_at and now >= poll.closes_at:
        return "close"
    return None


def advance(*, session: Session, poll: Poll, now: datetime, snapshot: GroupSnapshot | None = None) -> str | None:
    """Take the next step the clock calls for (one step); return its name.

    The step is decided under the poll's lock, so of two clocks running at once (two requests, a
    request and ``flask polls tick``) the second sees the first one's step taken.
    """
    poll = _lock_poll(session, poll, exclusive=True)
    step = _next_step(poll, now)
    if step == "close-nominations":
        poll.status = "scheduled"
        session.add(poll)
        log.record(session=session, created_at=now, type="nominations.closed", actor=None, poll_id=poll.id,
                   payload={"poll": poll.id})
    elif step == "open":
        if rule_of(poll).groups and snapshot is None:
            return None
        open_poll(session=session, poll=poll, now=now, snapshot=snapshot)
    elif step == "close":
        close_poll(session=session, poll=poll, now=now)
    session.flush()
    return step


def needs_snapshot(poll: Poll, now: datetime) -> bool:
    """Whether the next step is an opening that needs the forum's group lists first."""
    return _next_step(poll, now) == "open" and bool(rule_of(poll).groups)
