"""Polls from draft to published results: creating, scheduling, cancelling, eligibility, the clock.

Nominations are in ``polls.nominations``; opening now, closing early and extending in
``polls.timing``; what a count needs (``election_dict``, ``tally``) in ``polls.counting``.

Boundary rule: services take a session and a clock, flush and never commit; they raise domain
errors. Every state change writes its audit event in the same transaction.

Time: every function takes ``now`` (UTC-aware). A poll's status follows the clock: ``advance``
moves it along when its times have passed, on any request and from ``flask polls tick``.
Closing is also enforced inside each vote's own transaction: a ballot whose transaction runs at
or after ``closes_at`` is refused even if no request has closed the poll yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message, article
from ..errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..identity.eligibility import Eligibility, Evidence, Rule, check
from ..identity.service import member_evidence
from ..models import (
    Ballot,
    CharterVersion,
    ElectorateEntry,
    Member,
    Participation,
    Poll,
    PollOption,
)
from ..models.base import MAX_ID
from ..proposals.render import render
from . import charter as charters
from . import rules as poll_rules
from .methods import KIND_METHODS, METHOD_NAMES

MAX_OPTIONS = 100
MAX_TITLE = 200
MAX_TEXT = 20_000
NOTA_LABEL = "None of the above"
ACTIVE = ("nominations", "scheduled", "open", "closed", "certifying")


# === Reading ====================================================================================


def get(session: Session, poll_id: int) -> Poll:
    """A poll by id, or NotFound."""
    poll = session.get(Poll, poll_id) if 0 < poll_id <= MAX_ID else None
    if poll is None:
        raise NotFound(Message('There is no poll %(poll_id)s.', poll_id=poll_id))
    return poll


def options(session: Session, poll: Poll) -> list[PollOption]:
    """The poll's options in ballot-file order."""
    return list(session.exec(select(PollOption).where(PollOption.poll_id == poll.id)
                             .order_by(PollOption.position)).all())


def list_by_status(session: Session) -> dict[str, list[Poll]]:
    """Polls grouped for the index page: open, upcoming (nominations, scheduled), results, drafts.

    Test polls are in none of the public groups: they are listed apart (``test``), for their managers.
    """
    groups: dict[str, list[Poll]] = {"open": [], "upcoming": [], "results": [], "draft": [], "cancelled": [],
                                     "test": []}
    for poll in session.exec(select(Poll).order_by(Poll.closes_at.desc(), Poll.id.desc())).all():
        if poll.is_test:
            groups["test"].append(poll)
        elif poll.status == "open":
            groups["open"].append(poll)
        elif poll.status in ("nominations", "scheduled"):
            groups["upcoming"].append(poll)
        elif poll.status in ("closed", "certifying", "published"):
            groups["results"].append(poll)
        else:
            groups[poll.status].append(poll)
    return groups


def turnout(session: Session, poll: Poll) -> int:
    """How many members have voted (live while open; ballots are never shown before the close)."""
    return session.exec(select(func.count()).select_from(Participation)
                        .where(Participation.poll_id == poll.id)).one()


def ballot_count(session: Session, poll: Poll) -> int:
    """How many ballots a poll's board holds, replaced ones included (never whose)."""
    return session.exec(select(func.count()).select_from(Ballot).where(Ballot.poll_id == poll.id)).one()


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
    #: Usernames of the trustees, when the body's polls are decrypted by trustees (the charter's
    #: ``key_mode``): exactly the charter's number of them, members of its trustee group.
    trustees: list[str] = field(default_factory=list)
    #: Days before the close at which members who have not voted are reminded (None: the
    #: charter's ``reminders_days_before_close`` for the body).
    reminders: list[int] | None = None
    #: A test poll ("Test poll — not part of the public record"): fixed once it is scheduled.
    is_test: bool = False


def _threshold(text: str) -> Fraction:
    value = charters.parse_threshold(text)
    if value is None:
        raise InvalidInput([("threshold", N_("the threshold must be a fraction between 0 and 1, such as 1/2, 2/3 "
                                          "or 3/4"))])
    return value


def _validate(data: PollInput, body: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if data.kind not in KIND_METHODS:
        problems.append(("kind", N_("choose an election, a decision or a referendum")))
    elif data.kind not in body.get("kinds", []):
        problems.append(("kind", Message('the charter does not let %(value)s hold %(value2)s', value=body['name'], value2=article(data.kind))))
    elif data.method not in KIND_METHODS[data.kind]:
        allowed = ", ".join(METHOD_NAMES[m] for m in KIND_METHODS[data.kind])
        problems.append(("method", Message('%(value)s is counted with %(allowed)s', value=article(data.kind), allowed=allowed)))
    title = data.title.strip()
    if not title:
        problems.append(("title", N_("give the poll a title")))
    elif len(title) > MAX_TITLE:
        problems.append(("title", Message('the title is longer than %(MAX_TITLE)s characters', MAX_TITLE=MAX_TITLE)))
    if len(data.description) > MAX_TEXT:
        problems.append(("description", Message('the description is longer than %(MAX_TEXT)s characters', MAX_TEXT=MAX_TEXT)))
    if data.kind == "election":
        if not 1 <= data.seats <= 50:
            problems.append(("seats", N_("an election fills between 1 and 50 seats")))
        if data.options:
            problems.append(("options", N_("election candidates come from nominations, not a list of options")))
    elif data.kind == "decision":
        labels = [o.strip() for o in data.options if o.strip()]
        if len(labels) < 2:
            problems.append(("options", N_("a decision needs at least two options")))
        if len(labels) > MAX_OPTIONS:
            problems.append(("options", Message('a poll can have at most %(MAX_OPTIONS)s options', MAX_OPTIONS=MAX_OPTIONS)))
        if len({label.casefold() for label in labels}) != len(labels):
            problems.append(("options", N_("two options have the same name")))
        if any(len(label) > 200 for label in labels):
            problems.append(("options", N_("an option is longer than 200 characters")))
        if data.default_option and NOTA_LABEL.casefold() in {label.casefold() for label in labels}:
            problems.append(("options", Message('%(NOTA_LABEL)s is added for you when the default option is on', NOTA_LABEL=repr(NOTA_LABEL))))
    if data.kind == "referendum":
        try:
            _threshold(data.threshold)
        except InvalidInput as exc:
            problems += exc.reasons
    if data.quorum < 0:
        problems.append(("quorum", N_("the quorum cannot be negative")))
    if data.min_trust_level is not None and not 0 <= data.min_trust_level <= 4:
        problems.append(("min_trust_level", N_("trust levels run from 0 to 4")))
    if data.min_account_age_days is not None and not 0 <= data.min_account_age_days <= 3650:
        problems.append(("min_account_age_days", N_("the minimum account age must be 0 to 3650 days")))
    if data.reminders is not None and (problem := poll_rules.reminder_problem(data.reminders)) is not None:
        problems.append(("reminders", problem))
    return problems


def _trustees_for(session: Session, data: PollInput, body: dict[str, Any]) -> tuple[list[Member], list]:
    """The members named as trustees, and the problems with them (none for a platform-key body)."""
    if body.get("key_mode") != "trustees":
        return [], ([("trustees", f"{body['name']}'s polls use a platform-held key; they have no trustees")]
                    if [t for t in data.trustees if t.strip()] else [])
    rule = body.get("trustees") or {}
    names = [t.strip() for t in data.trustees if t.strip()]
    group, count = rule.get("group"), int(rule.get("count", 0))
    problems: list[tuple[str, str]] = []
    if len(names) != count:
        problems.append(("trustees", Message("the charter asks for %(count)s trustees from %(group)s for %(value)s's polls; name %(count2)s (you named %(value2)s)", count=count, group=group, value=body['name'], count2=count, value2=len(names))))
    if len(set(names)) != len(names):
        problems.append(("trustees", N_("a trustee is named twice")))
    found = {m.username: m for m in session.exec(select(Member).where(Member.username.in_(names))).all()} \
        if names else {}
    members = []
    for name in names:
        member = found.get(name)
        if member is None:
            problems.append(("trustees", Message('%(name)s has not logged in here yet; trustees must log in once first', name=name)))
        elif group not in (member.groups or []):
            problems.append(("trustees", Message("%(name)s is not a member of %(group)s, the charter's trustee group", name=name, group=group)))
        else:
            members.append(member)
    return members, problems


def _name_trustees(session: Session, poll: Poll, members: list[Member], body: dict[str, Any]) -> None:
    from . import trustees

    if body.get("key_mode") == "trustees":
        trustees.name(session=session, poll=poll, members=members,
                      threshold=int((body.get("trustees") or {}).get("threshold", 1)))
    else:
        poll.key_mode, poll.trustee_threshold = "platform", 1
        session.add(poll)


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
    poll.rules = poll_rules.freeze(body, kind=data.kind, reminders=data.reminders)
    poll.is_test = bool(data.is_test)


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
        raise NotAllowed(Message('Only members of %(value)s may create polls for %(value2)s.', value=', '.join(body.get('managers', [])), value2=body['name']))
    members, trustee_problems = _trustees_for(session, data, body)
    problems = _validate(data, body) + trustee_problems
    if problems:
        raise InvalidInput(problems)
    poll = Poll(body=data.body, kind=data.kind, method=data.method, title=data.title, created_by=actor.id)
    _apply(poll, data, body)
    session.add(poll)
    session.flush()
    _replace_options(session, poll, _labels_for(poll, data))
    _name_trustees(session, poll, members, body)
    log.record(session=session, type="poll.created", actor=actor, poll_id=poll.id, created_at=now,
               payload={"poll": poll.id, "body": poll.body, "kind": poll.kind, "title": poll.title,
                        **({"test": True} if poll.is_test else {})})
    return poll


def update_draft(*, session: Session, actor: Member, charter: CharterVersion, poll: Poll, data: PollInput) -> Poll:
    """Edit a draft (only drafts can be edited)."""
    if poll.status != "draft":
        raise Conflict("Only a draft can be edited; this poll is " + poll.status + ".")
    if data.body != poll.body:
        raise InvalidInput([("body", N_("a poll cannot move to another body; create a new one"))])
    body = charters.body(charter, poll.body)
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed(N_("You may not edit this poll."))
    from ..models import PendingChange

    if session.exec(select(PendingChange.id).where(PendingChange.poll_id == poll.id,
                                                   PendingChange.status.in_(("pending", "approved")))).first():
        raise Conflict(N_("This draft's scheduling is waiting for a second manager's approval, so it cannot change "
                       "now; withdraw the request first."))
    members, trustee_problems = _trustees_for(session, data, body)
    problems = _validate(data, body) + trustee_problems
    if problems:
        raise InvalidInput(problems)
    _apply(poll, data, body)
    session.add(poll)
    _replace_options(session, poll, _labels_for(poll, data))
    _name_trustees(session, poll, members, body)
    log.record(session=session, type="poll.edited", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "title": poll.title, **({"test": True} if poll.is_test else {})})
    return poll


def schedule_problems(session: Session, poll: Poll, now: datetime) -> list[tuple[str, str]]:
    """What stops a draft from being scheduled now (empty when it can be)."""
    problems: list[tuple[str, str]] = []
    if poll.opens_at is None or poll.closes_at is None:
        problems.append(("opens_at", N_("set when voting opens and closes")))
    else:
        if poll.opens_at <= now:
            problems.append(("opens_at", N_("voting must open in the future")))
        if poll.closes_at <= poll.opens_at:
            problems.append(("closes_at", N_("voting must close after it opens")))
        elif poll.closes_at - poll.opens_at < timedelta(hours=1):
            problems.append(("closes_at", N_("voting must stay open for at least an hour")))
    if poll.kind == "election":
        start, end = poll.nominations_open_at, poll.nominations_close_at
        if start is None or end is None:
            problems.append(("nominations_open_at", N_("an election needs a nomination period")))
        elif not (start < end <= (poll.opens_at or end)):
            problems.append(("nominations_close_at", N_("nominations must open, then close, no later than voting opens")))
    elif len(options(session, poll)) < 2:
        problems.append(("options", N_("the poll needs at least two options")))
    if poll.key_mode == "trustees":
        from . import trustees

        if not trustees.trustees(session, poll):
            problems.append(("trustees", N_("this poll is decrypted by trustees: name them on the draft first")))
    return problems


def schedule(*, session: Session, actor: Member, charter: CharterVersion, poll: Poll, now: datetime,
             approval: dict[str, Any] | None = None) -> Poll:
    """Fix a draft's times: it moves to nominations (elections) or scheduled, and can no longer change.

    This is the effect. Pages ask through ``polls.approvals.request_schedule`` (the two-person
    rule and the forum notice), which calls this with ``approval`` once a second manager approved
    and the forum was told; the operator's demo and the tests call it directly.
    """
    if poll.status != "draft":
        raise Conflict(N_("Only a draft can be scheduled."))
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed(N_("You may not schedule this poll."))
    problems = schedule_problems(session, poll, now)
    if problems:
        raise InvalidInput(problems)
    poll.status = "nominations" if poll.kind == "election" else "scheduled"
    # The body's rules as the charter in force says now (the poll's own reminder days kept).
    poll.rules = poll_rules.freeze(charters.body(charter, poll.body), kind=poll.kind,
                                   reminders=(poll.rules or {}).get("reminders_days_before_close"))
    session.add(poll)
    if poll.key_mode == "trustees":
        from . import trustees

        trustees.begin(session=session, poll=poll, now=now)
    payload = {"poll": poll.id, "status": poll.status, "opens_at": _t(poll.opens_at),
               "closes_at": _t(poll.closes_at), "eligibility": poll.eligibility,
               "method": poll.method, "seats": poll.seats, "rules": poll.rules}
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
    if poll.status in ("published", "cancelled", "closed", "certifying"):
        raise Conflict(f"A {poll.status} poll cannot be cancelled."
                       + (" The election officers certify or void its count." if poll.status == "certifying" else ""))
    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed(N_("You may not cancel this poll."))
    if poll.status == "open" and committee_group not in (actor.groups or []):
        raise NotAllowed(N_("Voting is open: only the steering committee may cancel this poll now, with a reason."))
    reason = reason.strip()
    if not reason:
        raise InvalidInput([("reason", N_("say why the poll is cancelled; the reason is published"))])
    if len(reason) > 1000:
        raise InvalidInput([("reason", N_("the reason is longer than 1000 characters"))])
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
    if poll.status in ("published", "cancelled", "closed", "certifying"):
        return poll
    was_open = poll.status == "open"
    poll.status = "cancelled"
    poll.cancel_reason = reason[:1000]
    session.add(poll)
    if was_open:
        from .counting import forget_secrets

        forget_secrets(session, poll, key_too=True)  # its ballots lapse: never decrypted, never counted
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
                amendment_id=amendment_id, status="scheduled", created_by=getattr(actor, "id", None),
                rules=poll_rules.freeze(charters.body(charters.current(session), body), kind="referendum"))
    if closes_at <= opens_at:
        raise InvalidInput([("closes_at", N_("voting must close after it opens"))])
    session.add(poll)
    session.flush()
    _replace_options(session, poll, ["yes", "no"])
    log.record(session=session, type="poll.created", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "body": body, "kind": "referendum", "title": poll.title,
                        "amendment": amendment_id})
    log.record(session=session, type="poll.scheduled", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "status": "scheduled", "opens_at": _t(opens_at), "closes_at": _t(closes_at),
                        "eligibility": poll.eligibility, "method": "yesno", "seats": 1, "rules": poll.rules})
    return poll


def _t(value: datetime | None) -> str | None:
    return None if value is None else log.format_time(value)


# === Nominations =================================================================================


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
        facts = Evidence.from_dict(entry.evidence)
    else:
        facts = evidence or member_evidence(member)
    verdict = check(rule, facts, opens_at=opened)
    if not verdict.ok:
        # The officers may have let the member in: then only the standing every voter needs counts.
        from . import exceptions

        if exceptions.excepted(session, poll, member):
            return exceptions.standing(facts, opened)
    return verdict


# === Locks ======================================================================================


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


# === The clock ==================================================================================


def due(session: Session, now: datetime) -> list[Poll]:
    """Polls whose status the clock has moved on, and closed polls still being counted."""
    from . import certification

    polls = session.exec(select(Poll).where(Poll.status.in_(("nominations", "scheduled", "open", "closed",
                                                               "certifying")))).all()
    return [p for p in polls if p.status == "closed" or _next_step(p, now) is not None
            or (p.status == "certifying" and certification.is_due(session, p, now))]


def _next_step(poll: Poll, now: datetime) -> str | None:
    if poll.status == "nominations" and poll.nominations_close_at and now >= poll.nominations_close_at:
        return "close-nominations"
    if poll.status == "scheduled" and poll.opens_at and now >= poll.opens_at:
        return "open"
    if poll.status == "open" and poll.closes_at and now >= poll.closes_at:
        return "close"
    return None


def advance(*, session: Session, poll: Poll, now: datetime, secret: str, snapshot=None) -> str | None:
    """Take the next step the clock calls for (one step of the schedule); return its name.

    The step is decided under the poll's lock, so of two clocks running at once (two requests, a
    request and ``flask polls tick``) the second sees the first one's step taken. Steps after the
    close (mixes, decryption, the count) are ``counting.plan``/``counting.apply``'s.
    """
    from .counting import close_poll
    from .opening import open_poll

    poll = _lock_poll(session, poll, exclusive=True)
    if poll.status == "certifying":
        from . import certification

        return certification.lapse_if_due(session=session, poll=poll, now=now)
    step = _next_step(poll, now)
    if step == "close-nominations":
        poll.status = "scheduled"
        session.add(poll)
        log.record(session=session, created_at=now, type="nominations.closed", actor=None, poll_id=poll.id,
                   payload={"poll": poll.id})
    elif step == "open":
        if rule_of(poll).groups and snapshot is None:
            return None
        before = poll.status
        poll = open_poll(session=session, poll=poll, now=now, snapshot=snapshot, secret=secret)
        if poll.status == before:
            return None  # waiting (a trustee poll whose key ceremony is not complete)
        step = "open" if poll.status == "open" else poll.status
    elif step == "close":
        close_poll(session=session, poll=poll, now=now)
    session.flush()
    return step


def needs_snapshot(poll: Poll, now: datetime) -> bool:
    """Whether the next step is an opening that needs the forum's group lists first."""
    return _next_step(poll, now) == "open" and bool(rule_of(poll).groups)
