"""The two-person rule and forum notice for every direct publication by the committee.

Boundary rule: a service (takes a session and ``now``, flushes, never commits), except
``run_due``, which the clock calls with engines and opens its own short transactions.

A direct publication is charter detail, document detail, or scheduling a poll (the poll's
creation for its body). It is *requested* (checked as if it took effect now; nothing changes yet),
*announced* on the forum in plain words with a link to its diff (an outbox job of kind
``notice``, delivered by the clock), and takes effect when both hold:

* the forum has been told (``announced_at``), and
* a second member approved it (another committee member; for a poll, another manager of its
  body), or the charter's ``rules.publication.waiting_days`` passed without an objection.

Any second member may object instead (the request ends, with the reason published); the
requester may withdraw it. A publication that can no longer take effect (its base was superseded,
the poll was edited, its times passed) lapses with the reason. A document publication waits while
a referendum on that document is open. Each step is an audit event (``change.*``) tagged with the
document or the poll; the effect's own event names the request (``approval``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message
from ..errors import Conflict, GovernanceError, InvalidInput, NotAllowed, NotFound
from ..models import Member, Outbox, PendingChange, Poll
from ..models.base import MAX_ID
from ..models.documents import OPEN_CHANGE_STATUSES
from . import charter as charters

MAX_REASON = 1000


# === Reading ====================================================================================


def get(session: Session, change_id: int) -> PendingChange:
    """A publication request, or NotFound."""
    change = session.get(PendingChange, change_id) if 1 <= change_id <= MAX_ID else None
    if change is None:
        raise NotFound(Message('There is no publication request %(change_id)s.', change_id=change_id))
    return change


def list_open(session: Session, *, document: str | None = None, poll_id: int | None = None) -> list[PendingChange]:
    """Requests that may still take effect, oldest first (optionally one document's or one poll's)."""
    query = select(PendingChange).where(PendingChange.status.in_(OPEN_CHANGE_STATUSES))
    if document is not None:
        query = query.where(PendingChange.document == document)
    if poll_id is not None:
        query = query.where(PendingChange.poll_id == poll_id)
    return list(session.exec(query.order_by(PendingChange.id)).all())


def list_recent(session: Session, limit: int = 50) -> list[PendingChange]:
    """The newest requests, every status."""
    return list(session.exec(select(PendingChange).order_by(PendingChange.id.desc()).limit(limit)).all())


def poll_fingerprint(session: Session, poll: Poll) -> str:
    """The SHA-256 of what a poll's scheduling fixes (text, options, rule, times): an edit changes it."""
    from . import service as polls

    data = {"title": poll.title, "description": poll.description_md, "kind": poll.kind, "method": poll.method,
            "seats": poll.seats, "body": poll.body, "eligibility": poll.eligibility, "quorum": poll.quorum,
            "threshold": poll.threshold, "strict": poll.threshold_strict, "default_option": poll.default_option,
            "options": [o.label for o in polls.options(session, poll)],
            "times": [log.format_time(t) if t else None for t in (poll.nominations_open_at, poll.nominations_close_at,
                                                                  poll.opens_at, poll.closes_at)]}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _publication_rule(charter) -> tuple[bool, int | None]:
    publication = charters.rules(charter)["publication"]
    return bool(publication.get("second_approver", True)), publication.get("waiting_days")


# === Requesting =================================================================================


def _request(session: Session, *, actor: Member, charter, kind: str, title: str, payload: dict[str, Any],
             sha256: str, classification: dict[str, Any], now: datetime, document: str | None = None,
             poll_id: int | None = None, base_number: int | None = None) -> PendingChange:
    second, waiting = _publication_rule(charter)
    change = PendingChange(kind=kind, document=document, poll_id=poll_id, base_number=base_number, title=title[:300],
                           payload=payload, sha256=sha256, classification=classification, status="pending",
                           requested_by=actor.id, waiting_days=waiting,
                           effective_after=now + timedelta(days=waiting) if waiting is not None else None,
                           created_at=now)
    _history(change, now, "requested", by=actor.username)
    session.add(change)
    session.flush()
    log.record(session=session, created_at=now, type="change.requested", actor=actor, document=document,
               poll_id=poll_id,
               payload={"change": change.id, "kind": kind, "document": document, "poll": poll_id,
                        "base": base_number, "sha256": sha256, "title": change.title,
                        "classification": {"kind": classification.get("kind"),
                                           "summary": classification.get("summary", "")},
                        "charter_version": charter.number, "second_approver": second, "waiting_days": waiting,
                        "effective_after": log.format_time(change.effective_after) if change.effective_after
                        else None})
    session.add(Outbox(kind="notice", poll_id=poll_id, payload={"change": change.id}, next_attempt_at=now))
    session.flush()
    return change


def request_document(*, session: Session, actor: Member, charter, committee_group: str, slug: str, source: Any,
                     base_number: Any, now: datetime, note: str = "") -> PendingChange:
    """The committee asks to publish document detail directly; checked now, effective later."""
    from ..proposals import service as documents

    if committee_group not in (actor.groups or []):
        raise NotAllowed(N_("Only the steering committee may publish a document version directly."))
    if slug == charters.CHARTER_SLUG:
        raise Conflict(N_("The charter changes through the charter editor, not as a document text."))
    document, base, text, result = documents.check_publication(session=session, charter=charter, slug=slug,
                                                                source=source, base_number=base_number, note=note)
    documents.refuse_if_referendum_open(session, charter, document)
    from ..proposals.render import sha256_hex

    return _request(session, actor=actor, charter=charter, kind="document", document=slug, base_number=base.number,
                    title=f"{document.title}: version {base.number + 1} (detail)",
                    payload={"source": text, "note": (note or "").strip()}, sha256=sha256_hex(text),
                    classification=result.to_dict(), now=now)


def request_charter(*, session: Session, actor: Member, charter, committee_group: str, data: Any, note: str,
                    now: datetime) -> PendingChange:
    """The committee asks to publish charter detail directly (a revision must go to a referendum)."""
    from ..proposals import charter_rules
    from ..proposals import service as documents
    from ..proposals.render import sha256_hex

    if committee_group not in (actor.groups or []):
        raise NotAllowed(N_("Only the steering committee may publish charter detail directly."))
    note = (note or "").strip()
    if not note:
        raise InvalidInput([("note", N_("say in a few words what changes; the forum notice quotes it"))])
    if len(note) > 500:
        raise InvalidInput([("note", N_("the note is longer than 500 characters"))])
    data = charters.checked(session, data)
    result = charter_rules.classify(charter.data, data)
    if result["kind"] == "unchanged":
        raise InvalidInput([("charter", N_("the charter is unchanged"))])
    rule = charters.document_rule(charter, charters.CHARTER_SLUG) or {}
    if result["kind"] not in (rule.get("committee_may_publish") or []):
        raise NotAllowed("This change is a revision of the charter: " + result["summary"] + " Propose it as an "
                         "amendment so that the community can vote on it.")
    document = charters.document(session)
    documents.refuse_if_referendum_open(session, charter, document)
    text = charter_rules.render(data)
    return _request(session, actor=actor, charter=charter, kind="charter", document=charters.CHARTER_SLUG,
                    base_number=charter.number, title=f"Charter version {charter.number + 1} (detail): {note}",
                    payload={"data": data, "note": note, "sha256": charters.sha(data)}, sha256=sha256_hex(text),
                    classification=result, now=now)


def request_schedule(*, session: Session, actor: Member, charter, poll: Poll, now: datetime) -> PendingChange:
    """A manager asks to schedule a draft poll; a second manager approves, the forum is told first."""
    from . import service as polls

    if not charters.may_manage(charter, poll.body, actor):
        raise NotAllowed(N_("You may not schedule this poll."))
    if poll.status != "draft":
        raise Conflict(N_("Only a draft can be scheduled."))
    if list_open(session, poll_id=poll.id):
        raise Conflict(N_("This poll's scheduling is already waiting for approval."))
    problems = polls.schedule_problems(session, poll, now)
    if problems:
        raise InvalidInput(problems)
    body = charters.body(charter, poll.body)
    return _request(session, actor=actor, charter=charter, kind="poll", poll_id=poll.id,
                    title=f"Schedule poll #{poll.id} of {body['name']}: {poll.title}",
                    payload={"opens_at": log.format_time(poll.opens_at), "closes_at": log.format_time(poll.closes_at),
                             "body": poll.body},
                    sha256=poll_fingerprint(session, poll), classification={"kind": "schedule", "summary": ""},
                    now=now)


# === Approving, objecting =======================================================================


def may_decide(charter, change: PendingChange, member: Member | None, committee_group: str) -> bool:
    """Whether ``member`` may approve or object: a second committee member (a second manager of a poll's body)."""
    if member is None or not getattr(member, "is_authenticated", False) or member.id == change.requested_by:
        return False
    if change.kind == "poll":
        try:
            return charters.may_manage(charter, change.payload.get("body", ""), member)
        except NotFound:
            return False
    return committee_group in (member.groups or [])


def _open(change: PendingChange) -> None:
    if change.status not in OPEN_CHANGE_STATUSES:
        raise Conflict(Message('This publication request is %(status)s; nothing more can be decided on it.', status=change.status))


def approve(*, session: Session, actor: Member, charter, change: PendingChange, committee_group: str,
            now: datetime) -> PendingChange:
    """A second member approves; the change takes effect at once if the forum has been told."""
    change = _locked(session, change)
    _open(change)
    if actor.id == change.requested_by:
        raise NotAllowed(N_("The two-person rule: a second member must approve, not the one who asked."))
    if not may_decide(charter, change, actor, committee_group):
        raise NotAllowed(N_("Only a second committee member (for a poll, a second manager of its body) may approve."))
    if change.status == "approved":
        raise Conflict(N_("This publication is approved already; it takes effect once the forum has been told."))
    change.status = "approved"
    change.approved_by = actor.id
    _history(change, now, "approved", by=actor.username)
    session.add(change)
    log.record(session=session, created_at=now, type="change.approved", actor=actor, document=change.document,
               poll_id=change.poll_id, payload={"change": change.id, "sha256": change.sha256})
    session.flush()
    try_apply(session=session, change=change, now=now)
    return change


def object_to(*, session: Session, actor: Member, charter, change: PendingChange, reason: str,
              committee_group: str, now: datetime) -> PendingChange:
    """A second member objects (the requester withdraws): the publication does not take effect."""
    change = _locked(session, change)
    _open(change)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput([("reason", N_("say why; the reason is published"))])
    if len(reason) > MAX_REASON:
        raise InvalidInput([("reason", Message('the reason is longer than %(MAX_REASON)s characters', MAX_REASON=MAX_REASON))])
    withdrawing = actor.id == change.requested_by
    if not withdrawing and not may_decide(charter, change, actor, committee_group):
        raise NotAllowed(N_("Only a second committee member (for a poll, a manager of its body) may object."))
    change.status = "withdrawn" if withdrawing else "objected"
    change.objected_by = actor.id
    change.reason = reason
    _history(change, now, change.status, by=actor.username, reason=reason)
    session.add(change)
    log.record(session=session, created_at=now, type=f"change.{change.status}", actor=actor,
               document=change.document, poll_id=change.poll_id, payload={"change": change.id, "reason": reason})
    session.flush()
    return change


# === Notice and effect ==========================================================================


def notice_post(session: Session, change_id: int, base_url: str) -> dict[str, str] | None:
    """Title and Markdown of the forum notice (None when none is owed)."""
    change = session.get(PendingChange, change_id)
    if change is None or change.announced_at is not None:
        return None
    requester = session.get(Member, change.requested_by)
    url = f"{base_url.rstrip('/')}/charter/changes/{change.id}"
    when = []
    if change.waiting_days is not None:
        when.append(f"on {change.effective_after:%d %B %Y %H:%M} UTC unless a committee member objects")
    when.insert(0, "as soon as a second " + ("manager of the body" if change.kind == "poll" else "committee member")
                + " approves it")
    what = {
        "document": f"publish a new version of **{change.document}** directly, without a vote",
        "charter": "change the **governance charter** directly, without a vote",
        "poll": "schedule a poll, fixing its text, options, electorate and times",
    }[change.kind]
    voids = []
    if change.document:
        from ..proposals import service as documents

        document = documents.get_document(session, change.document)
        if charters.rules(charters.current(session))["open_referendum"] == "void":
            voids = [f"* Taking effect **voids the open referendum** poll #{p.id} (its ballots lapse); the amendment "
                     "must then be put to the vote again on the new text."
                     for p in documents.open_referendums(session, document)]
    lines = [f"{requester.username if requester else 'A committee member'} asks to {what}.", "",
             f"* What: {change.title}",
             f"* Why the committee may do this without a vote: {change.classification.get('summary') or 'the charter lets managers schedule their body’s polls'}",
             f"* It takes effect {' or '.join(when)}; nothing changes before this notice is posted.",
             f"* SHA-256 of what will be published: `{change.sha256}`", *voids, "",
             f"Read exactly what changes (the diff), and approve or object: {url}"]
    return {"title": f"Notice: {change.title}"[:250], "raw": "\n".join(lines)}


def prepare_notice(session: Session, job: Outbox, base_url: str, category: str | None) -> dict[str, Any]:
    """The forum call for an outbox ``notice`` job."""
    post = notice_post(session, int(job.payload.get("change", 0)), base_url)
    if post is None:
        return {"call": None}
    return {"call": "create_topic", "kwargs": {"title": post["title"], "raw": post["raw"], "category": category}}


def announced(*, session: Session, change_id: int, topic_id: Any, now: datetime) -> None:
    """Record that the forum has been told; apply the change if it was approved already."""
    change = session.get(PendingChange, change_id)
    if change is None or change.announced_at is not None:
        return
    change.announced_at = now
    change.forum_topic_id = int(topic_id) if isinstance(topic_id, int) else None
    _history(change, now, "announced", topic=change.forum_topic_id)
    session.add(change)
    log.record(session=session, created_at=now, type="change.announced", actor=None, document=change.document,
               poll_id=change.poll_id, payload={"change": change.id, "topic": change.forum_topic_id})
    session.flush()
    if change.status in OPEN_CHANGE_STATUSES:
        try_apply(session=session, change=change, now=now)


def ready(change: PendingChange, now: datetime) -> bool:
    """Whether the rule is met: told, and approved or waited out without objection."""
    if change.announced_at is None:
        return False
    if change.status == "approved":
        return True
    return change.status == "pending" and change.effective_after is not None and now >= change.effective_after


def try_apply(*, session: Session, change: PendingChange, now: datetime) -> str | None:
    """Take effect if the rule is met: returns "applied", "lapsed", "waiting" or None (not ready)."""
    change = _locked(session, change)
    if change.status not in OPEN_CHANGE_STATUSES or not ready(change, now):
        return None
    approver = session.get(Member, change.approved_by) if change.approved_by else None
    requester = session.get(Member, change.requested_by)
    approval = {"change": change.id, "requested_by": getattr(requester, "username", None),
                "approved_by": getattr(approver, "username", None),
                "waited_days": change.waiting_days if approver is None else None,
                "requested_at": log.format_time(change.created_at),
                "announced_at": log.format_time(change.announced_at)}
    current = charters.current(session)
    try:
        result = _effect(session, change, current, approver, requester, approval, now)
    except _Waiting as waiting:
        if change.history[-1:] and change.history[-1].get("event") == "waiting":
            return "waiting"
        _history(change, now, "waiting", reason=str(waiting))
        session.add(change)
        session.flush()
        return "waiting"
    except GovernanceError as exc:
        change.status = "lapsed"
        change.reason = exc.message[:MAX_REASON]
        _history(change, now, "lapsed", reason=change.reason)
        session.add(change)
        log.record(session=session, created_at=now, type="change.lapsed", actor=None, document=change.document,
                   poll_id=change.poll_id, payload={"change": change.id, "reason": change.reason})
        session.flush()
        return "lapsed"
    change.status = "applied"
    change.applied_at = now
    change.result = result
    _history(change, now, "applied", **result)
    session.add(change)
    session.flush()
    return "applied"


class _Waiting(Exception):
    """The change cannot take effect yet (a referendum on its document is open)."""


def _effect(session: Session, change: PendingChange, current, approver, requester, approval, now) -> dict:
    from ..proposals import service as documents

    if change.kind == "poll":
        from . import service as polls

        poll = session.get(Poll, change.poll_id)
        if poll is None or poll.status != "draft":
            raise Conflict(N_("the poll is no longer a draft"))
        if poll_fingerprint(session, poll) != change.sha256:
            raise Conflict(N_("the poll was edited after its scheduling was asked for; ask again"))
        polls.schedule(session=session, actor=approver or requester, charter=current, poll=poll, now=now,
                       approval=approval)
        return {"poll": poll.id, "status": poll.status}
    document = documents.get_document(session, change.document)
    if documents.open_referendums(session, document):
        if charters.rules(current)["open_referendum"] == "refuse":
            raise _Waiting("a referendum on this document is open; the publication waits until it closes")
    if change.kind == "document":
        version = documents.publish_version(
            session=session, actor=approver, charter=current, committee_group="", slug=change.document,
            source=change.payload["source"], base_number=change.base_number, now=now,
            note=change.payload.get("note", ""), approval=approval, change_id=change.id,
            author_id=change.requested_by)
        return {"version": version.number}
    if current.number != change.base_number:
        raise Conflict(Message('the charter moved on to version %(number)s after this change was asked for', number=current.number))
    from ..proposals import charter_rules

    result = charter_rules.classify(current.data, change.payload["data"])
    if result["kind"] != "detail":
        raise NotAllowed(N_("this change is no longer detail of the charter in force"))
    documents.before_new_version(session, current, document, now)
    row = charters.publish(session=session, actor=None, data=change.payload["data"], note=change.payload["note"],
                           adopted_by="committee", approval=approval, change_id=change.id, classification=result)
    return {"version": row.number}


def run_due(*, engine: Engine, immediate: Engine, now: datetime) -> list[tuple[int, str]]:
    """Apply every request whose rule is met (the clock: waiting periods); return (id, outcome)."""
    with Session(engine) as reader:
        ids = [c.id for c in list_open(reader) if ready(c, now)]
    done = []
    for change_id in ids:
        with Session(immediate, expire_on_commit=False) as writer:
            change = writer.get(PendingChange, change_id)
            outcome = try_apply(session=writer, change=change, now=now) if change else None
            writer.commit()
        if outcome is not None:
            done.append((change_id, outcome))
    return done


# === Helpers ====================================================================================


def _locked(session: Session, change: PendingChange) -> PendingChange:
    query = select(PendingChange).where(PendingChange.id == change.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).one()


def _history(change: PendingChange, now: datetime, event: str, **details: Any) -> None:
    change.history = [*change.history, {"at": log.format_time(now), "event": event, **details}]
