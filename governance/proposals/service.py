"""Documents, their immutable versions, and amendments from proposal to adoption.

Boundary rule: a service (takes a session and ``now``, flushes, never commits; raises domain
errors). Every state change writes its audit event, tagged with the document's slug, in the same
transaction. The pure building blocks (rendering, classification, rebase, diff) live in
``render.py``, ``blocks.py`` and ``diff.py``; this module stores what they decide. Direct
publication (the checks, the effect, the frozen referendum text) is in ``publication.py``,
re-exported here.

Lifecycle of an amendment::

    draft -> discussion -> voting -> adopted | rejected
      (any pending state) -> withdrawn (by its proposer) | conflicted (the text moved on)

* The server classifies every amendment against its base version (detail or revision). The
  charter's rule for the document sets who proposes, who votes and the bar of each kind; an
  entrenched document (``revision`` is None) accepts no revision at all.
* Discussion: ``open_discussion`` records that a forum topic is wanted (``topic_requested_at``);
  ``deliver_topics`` queues it as a forum outbox job and posts it, outside any write transaction,
  once across every clock and host, retrying on failure. The committee may also link an
  existing topic (``link_topic``).
* Voting: ``start_voting`` creates a referendum through the polls service with the bar of the
  amendment's kind; the poll's description names the base version's and the amendment's SHA-256.
* When a referendum's results are published, ``on_referendum_published`` adopts (a new version is
  written, linked to the poll and its result hash) or rejects. After any new version, every other
  pending amendment is rebased when its insertions still apply unchanged; otherwise it is
  conflicted and its referendum voided (the ballots lapse; the poll's cancel reason and the
  amendment page say so). A rebased amendment keeps its referendum: it inserts exactly the same
  blocks under the same headings, which is what the voters are deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message, plural
from ..errors import Conflict, InvalidInput, NotAllowed, NotEligible, NotFound
from ..identity.eligibility import Eligibility, Rule, check
from ..identity.service import member_evidence
from ..models import Amendment, CharterVersion, Document, DocumentVersion, Member, Poll
from ..models.base import MAX_ID
from ..models.documents import PENDING_STATUSES
from ..polls import charter as charters
from ..polls import service as polls
from . import charter_rules
from .blocks import Classification, DocumentError, classify, insert_blocks, parse_blocks, rebase
from .render import render, sha256_hex, validate_source

MAX_TITLE = 200
MAX_RATIONALE = 20_000
MAX_INSERTIONS = 50
MAX_NOTE = 500
#: A referendum's text is frozen from its scheduling to its count ("closed": voting is over and the
#: ballots are being mixed and decrypted).
VOTING_STATUSES = ("scheduled", "open", "closed")
#: Largest id or number the database columns hold (32-bit integers on PostgreSQL).


# === Reading ====================================================================================


def list_documents(session: Session) -> list[Document]:
    """Every document, by title."""
    return list(session.exec(select(Document).order_by(Document.title)).all())


def get_document(session: Session, slug: str) -> Document:
    """A document by slug, or NotFound."""
    document = session.exec(select(Document).where(Document.slug == slug)).first()
    if document is None:
        raise NotFound(Message('There is no document %(slug)s.', slug=repr(slug)))
    return document


def get_version(session: Session, document: Document, number: int) -> DocumentVersion:
    """One version of a document, or NotFound."""
    if not 1 <= number <= MAX_ID:
        raise NotFound(Message('%(title)s has no version %(number)s.', title=document.title, number=number))
    version = session.exec(select(DocumentVersion).where(DocumentVersion.document_id == document.id,
                                                         DocumentVersion.number == number)).first()
    if version is None:
        raise NotFound(Message('%(title)s has no version %(number)s.', title=document.title, number=number))
    return version


def current_version(session: Session, document: Document) -> DocumentVersion | None:
    """The version in force, or None before the first one."""
    if not document.current_version:
        return None
    return get_version(session, document, document.current_version)


def list_versions(session: Session, document: Document) -> list[DocumentVersion]:
    """Every version, newest first."""
    return list(session.exec(select(DocumentVersion).where(DocumentVersion.document_id == document.id)
                             .order_by(DocumentVersion.number.desc())).all())


def get_amendment(session: Session, document: Document, amendment_id: int) -> Amendment:
    """An amendment of this document, or NotFound."""
    amendment = session.get(Amendment, amendment_id) if 1 <= amendment_id <= MAX_ID else None
    if amendment is None or amendment.document_id != document.id:
        raise NotFound(Message('%(title)s has no amendment %(amendment_id)s.', title=document.title, amendment_id=amendment_id))
    return amendment


def list_amendments(session: Session, document: Document, *,
                    statuses: tuple[str, ...] | None = None) -> list[Amendment]:
    """The document's amendments, newest first (optionally only some statuses)."""
    query = select(Amendment).where(Amendment.document_id == document.id)
    if statuses is not None:
        query = query.where(Amendment.status.in_(statuses))
    return list(session.exec(query.order_by(Amendment.id.desc())).all())


def superseded_by(session: Session, amendment: Amendment) -> list[Amendment]:
    """Amendments proposed to replace this one."""
    return list(session.exec(select(Amendment).where(Amendment.supersedes_id == amendment.id)
                             .order_by(Amendment.id)).all())


def rule_for(charter: CharterVersion, slug: str) -> dict[str, Any]:
    """The charter's rule for a document, or NotFound (a document without a rule cannot change)."""
    rule = charters.document_rule(charter, slug)
    if rule is None:
        raise NotFound(Message('The charter has no rule for the document %(slug)s.', slug=repr(slug)))
    return rule


def body_rule(charter: CharterVersion, body_slug: str) -> Rule:
    """The eligibility rule of a body of the charter (its forum group, if any, included)."""
    body = charters.body(charter, body_slug)
    rule = dict(body.get("eligibility") or {})
    if body.get("group"):
        rule["groups"] = [body["group"]]
    return Rule.from_dict(rule)


def may_propose(charter: CharterVersion, slug: str, member: Member | None, now: datetime) -> Eligibility:
    """Whether ``member`` may propose amendments to this document now, with reasons if not."""
    if member is None or not getattr(member, "is_authenticated", False):
        return Eligibility(False, ("log in with your forum account to propose an amendment",))
    rule = rule_for(charter, slug)
    return check(body_rule(charter, rule["proposers"]), member_evidence(member), opens_at=now)


def bar(rule: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The charter's bar for an amendment of ``kind`` (None: this kind is not accepted)."""
    return rule.get(kind) if kind in ("detail", "revision") else None


def blocks_of(version: DocumentVersion) -> list[dict[str, Any]]:
    """The version's top-level blocks (for the insert-after form)."""
    return [b.to_dict() | {"label": b.label} for b in parse_blocks(version.source_md)]


# === Helpers ====================================================================================


def _lock_document(session: Session, document: Document) -> Document:
    """Re-read the document under its row lock, so two new versions cannot take the same number.

    (SQLite write transactions are exclusive already: they begin with BEGIN IMMEDIATE.)
    """
    query = select(Document).where(Document.id == document.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).one()


def _checked_source(source: Any, field: str = "source") -> str:
    """The source as text, or InvalidInput listing every problem (nothing is stored)."""
    if not isinstance(source, str):
        raise InvalidInput([(field, N_("send the text of the document"))])
    problems = validate_source(source)
    if problems:
        raise InvalidInput([(field, p) for p in problems])
    return source


def _classify(old: str, new: str, field: str = "source") -> Classification:
    try:
        return classify(old, new)
    except DocumentError as exc:
        raise InvalidInput([(field, p) for p in exc.problems]) from None


def _base(session: Session, document: Document, base_number: Any) -> DocumentVersion:
    """The named base version, refused unless it is the current one."""
    try:
        number = int(base_number)
    except (TypeError, ValueError):
        raise InvalidInput([("base", N_("name the version you are amending (a number)"))]) from None
    if number < 1 or number > document.current_version:
        raise InvalidInput([("base", Message('%(title)s has no version %(number)s; the current version is %(current_version)s.', title=document.title, number=number, current_version=document.current_version))])
    if number != document.current_version:
        raise Conflict(Message('Version %(number)s of %(title)s has been superseded: the current version is %(current_version)s. Nothing was saved; start again from the current text.', number=number, title=document.title, current_version=document.current_version))
    return get_version(session, document, number)


def _history(amendment: Amendment, now: datetime, event: str, **details: Any) -> None:
    entry = {"at": log.format_time(now), "event": event, **details}
    amendment.history = [*amendment.history, entry]


def _set_status(session: Session, amendment: Amendment, document: Document, status: str, *,
                event: str, actor: Any, now: datetime, **details: Any) -> None:
    """Move an amendment to ``status``, in its history and in the audit log."""
    previous = amendment.status
    amendment.status = status
    _history(amendment, now, event, status=status, previous=previous, **details)
    session.add(amendment)
    log.record(session=session, created_at=now, type=f"amendment.{event}", actor=actor, document=document.slug,
               poll_id=amendment.poll_id,
               payload={"document": document.slug, "amendment": amendment.id, "from": previous,
                        "to": status, **details})


def _summary_payload(result: Classification) -> dict[str, Any]:
    """What the audit log keeps of a classification: the verdict and the blocks it names."""
    data = result.to_dict()
    return {
        "kind": data["kind"],
        "removed": [_where(b) for b in data["removed"]],
        "changed": [dict(_where(c["old"]), how=c["how"]) for c in data["changed"]],
        "moved": [dict(_where(m["old"]), how=m["how"]) for m in data["moved"]],
        "inserted": [_where(b) for b in data["inserted"]],
    }


def _where(block: dict[str, Any]) -> dict[str, Any]:
    return {"kind": block["kind"], "lines": [block["start_line"], block["end_line"]],
            "text": block["text"][:200]}


# === Publishing versions ========================================================================


# === Proposing ==================================================================================


def propose(*, session: Session, actor: Member, charter: CharterVersion, slug: str, base_number: Any,
            title: str, rationale: str = "", source: str | None = None,
            insertions: list[tuple[int, str]] | None = None, supersedes_id: int | None = None,
            now: datetime) -> Amendment:
    """Propose an amendment against the current version: a full text, or blocks inserted after chosen ones.

    The server classifies it. Refused, with nothing stored: an ineligible proposer, an unknown or
    superseded base, an empty, unchanged or unusable text, and a revision of an entrenched document.
    """
    rule = rule_for(charter, slug)
    verdict = may_propose(charter, slug, actor, now)
    if not verdict.ok:
        raise NotEligible(N_("You may not propose amendments to this document."), list(verdict.reasons))
    document = get_document(session, slug)
    problems: list[tuple[str, str]] = []
    title = (title or "").strip()
    if not title:
        problems.append(("title", N_("give the amendment a short title")))
    elif len(title) > MAX_TITLE:
        problems.append(("title", Message('the title is longer than %(MAX_TITLE)s characters', MAX_TITLE=MAX_TITLE)))
    rationale = rationale or ""
    if len(rationale) > MAX_RATIONALE:
        problems.append(("rationale", Message('the rationale is longer than %(MAX_RATIONALE)s characters', MAX_RATIONALE=format(MAX_RATIONALE, ','))))
    elif rationale.strip():
        problems += [("rationale", p) for p in validate_source(rationale)]
    if (source is None) == (insertions is None):
        problems.append(("source", N_("send either the full amended text or the blocks to insert")))
    if problems:
        raise InvalidInput(problems)
    base, source, result = amended_text(session, document, base_number, source=source, insertions=insertions)
    if bar(rule, result.kind) is None:
        raise InvalidInput([("source", f"{document.title} is entrenched: it accepts no revision, only added "
                                       "detail. " + result.summary)])
    if supersedes_id is not None:
        old = session.get(Amendment, supersedes_id) if 1 <= supersedes_id <= MAX_ID else None
        if old is None or old.document_id != document.id:
            raise InvalidInput([("supersedes", Message('there is no amendment %(supersedes_id)s of %(title)s', supersedes_id=supersedes_id, title=document.title))])
    digest = sha256_hex(source)
    amendment = Amendment(document_id=document.id, base_number=base.number, base_sha256=base.sha256,
                          proposer_id=actor.id, title=title, rationale_md=rationale,
                          rationale_html=render(rationale) if rationale.strip() else "",
                          source_md=source, sha256=digest, kind=result.kind, classification=result.to_dict(),
                          status="draft", original_base_number=base.number, original_sha256=digest,
                          supersedes_id=supersedes_id, created_at=now)
    _history(amendment, now, "proposed", status="draft", base=base.number, sha256=digest)
    session.add(amendment)
    session.flush()
    log.record(session=session, created_at=now, type="amendment.proposed", actor=actor, document=slug,
               payload={"document": slug, "amendment": amendment.id, "title": title, "base": base.number,
                        "base_sha256": base.sha256, "sha256": digest, "supersedes": supersedes_id})
    log.record(session=session, created_at=now, type="amendment.classified", actor=None, document=slug,
               payload={"document": slug, "amendment": amendment.id, "base": base.number,
                        "classification": _summary_payload(result)})
    return amendment


def amended_text(session: Session, document: Document, base_number: Any, *, source: str | None = None,
                 insertions: list[tuple[int, str]] | None = None) -> tuple[DocumentVersion, str, Classification]:
    """The base version, the amended text and its classification, checked; nothing is stored.

    Raises InvalidInput for an unusable text or insertion and for an unchanged text, and Conflict
    for a superseded base. Used by ``propose`` and by the pages' "preview" buttons.
    """
    base = _base(session, document, base_number)
    if document.slug == charters.CHARTER_SLUG:
        return (base, *_charter_text(session, base, source, insertions))
    problems: list[tuple[str, str]] = []
    if insertions is not None:
        insertions = [(k, t) for k, t in insertions if t.strip()]
        if not insertions:
            raise InvalidInput([("insertions", N_("write at least one block to insert (or choose to edit the "
                                               "full text)"))])
        if len(insertions) > MAX_INSERTIONS:
            raise InvalidInput([("insertions", Message('insert at most %(MAX_INSERTIONS)s pieces at once', MAX_INSERTIONS=MAX_INSERTIONS))])
        for _k, text in insertions:
            problems += [("insertions", p) for p in validate_source(text)]
        if problems:
            raise InvalidInput(problems)
        try:
            source = insert_blocks(base.source_md, insertions)
        except DocumentError as exc:
            raise InvalidInput([("insertions", p) for p in exc.problems]) from None
    source = _checked_source(source)
    result = _classify(base.source_md, source)
    if result.kind == "unchanged":
        raise InvalidInput([("source", Message('The amendment changes nothing: it has the same blocks as version %(number)s.', number=base.number))])
    return base, source, result


class CharterClassification:
    """The clause-by-clause classification of a charter amendment, shaped like ``Classification``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.kind = data["kind"]
        self.summary = data["summary"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready report (``charter_rules.classify``)."""
        return self.data


def _charter_text(session: Session, base: DocumentVersion, source: Any,
                  insertions: Any) -> tuple[str, CharterClassification]:
    """A charter amendment: the text must be the rendering of a usable charter (the editor makes it)."""
    if insertions is not None or not isinstance(source, str):
        raise InvalidInput([("source", N_("amend the charter with the charter editor (/charter/edit)"))])
    try:
        data = charter_rules.parse(source)
    except charter_rules.CharterTextError as exc:
        raise InvalidInput([("source", str(exc))]) from None
    data = charters.checked(session, data)
    result = CharterClassification(charter_rules.classify(charter_rules.parse(base.source_md), data))
    if result.kind == "unchanged":
        raise InvalidInput([("charter", Message('The amendment changes nothing: it is charter version %(number)s.', number=base.number))])
    return charter_rules.render(data), result


def withdraw(*, session: Session, actor: Member, amendment: Amendment, now: datetime) -> Amendment:
    """The proposer withdraws a pending amendment (its referendum, if any, is voided)."""
    document = session.get(Document, amendment.document_id)
    if actor.id != amendment.proposer_id:
        raise NotAllowed(N_("Only the proposer may withdraw an amendment."))
    if amendment.status not in PENDING_STATUSES:
        raise Conflict(Message('A %(status)s amendment cannot be withdrawn.', status=amendment.status))
    _void_poll(session, amendment, "The proposer withdrew the amendment; ballots already cast lapse.")
    _set_status(session, amendment, document, "withdrawn", event="withdrawn", actor=actor, now=now)
    session.flush()
    return amendment


# === Discussion =================================================================================


def _may_steer(charter: CharterVersion, rule: dict[str, Any], actor: Member | None) -> bool:
    """Managers of the voting body (the committee, by default) run the amendment's referendum."""
    return charters.may_manage(charter, rule["voters"], actor)


def open_discussion(*, session: Session, actor: Member, charter: CharterVersion, amendment: Amendment,
                    now: datetime) -> Amendment:
    """Open a draft for discussion: a forum topic is requested (``deliver_topics`` posts it)."""
    document = session.get(Document, amendment.document_id)
    rule = rule_for(charter, document.slug)
    if actor.id != amendment.proposer_id and not _may_steer(charter, rule, actor):
        raise NotAllowed(N_("Only the proposer or the committee may open the discussion."))
    if amendment.status != "draft":
        raise Conflict(Message('Only a draft can be opened for discussion; this amendment is %(status)s.', status=amendment.status))
    amendment.topic_requested_at = now
    _set_status(session, amendment, document, "discussion", event="discussion_opened", actor=actor, now=now)
    session.flush()
    return amendment


def link_topic(*, session: Session, actor: Member, charter: CharterVersion, amendment: Amendment,
               topic_id: Any, now: datetime) -> Amendment:
    """The committee links an existing forum topic as the amendment's discussion."""
    document = session.get(Document, amendment.document_id)
    if not _may_steer(charter, rule_for(charter, document.slug), actor):
        raise NotAllowed(N_("Only the committee may link a discussion topic."))
    try:
        number = int(topic_id)
    except (TypeError, ValueError):
        raise InvalidInput([("topic_id", N_("give the forum topic's number"))]) from None
    if not 1 <= number <= MAX_ID:
        raise InvalidInput([("topic_id", N_("give the forum topic's number"))])
    amendment.forum_topic_id = number
    amendment.topic_error = ""
    _history(amendment, now, "topic_linked", topic=number)
    session.add(amendment)
    log.record(session=session, created_at=now, type="amendment.topic_linked", actor=actor, document=document.slug,
               payload={"document": document.slug, "amendment": amendment.id, "topic": number})
    session.flush()
    return amendment


def topics_wanted(session: Session) -> list[int]:
    """Amendments whose discussion topic has been requested and not yet posted."""
    return list(session.exec(select(Amendment.id).where(Amendment.topic_requested_at.is_not(None),
                                                        Amendment.forum_topic_id.is_(None))
                             .order_by(Amendment.id)).all())


def topic_post(session: Session, amendment_id: int, base_url: str) -> dict[str, str] | None:
    """Title and Markdown of an amendment's discussion topic (None when none is owed)."""
    amendment = session.get(Amendment, amendment_id)
    if amendment is None or amendment.forum_topic_id is not None or amendment.topic_requested_at is None:
        return None
    document = session.get(Document, amendment.document_id)
    url = f"{base_url.rstrip('/')}/documents/{document.slug}/amendments/{amendment.id}"
    result = amendment.classification or {}
    lines = [f"Amendment #{amendment.id} to **{document.title}**: {amendment.title}", "",
             f"* Against version {amendment.base_number} (SHA-256 `{amendment.base_sha256}`)",
             f"* Classified by the platform as **{amendment.kind}**: {result.get('summary', '')}",
             f"* Amended text SHA-256: `{amendment.sha256}`", "",
             f"Read the amendment and its diff: {url}"]
    return {"title": f"Amendment: {document.title}: {amendment.title}"[:250], "raw": "\n".join(lines)}


def topic_posted(*, session: Session, amendment_id: int, now: datetime, topic_id: int | None = None,
                 error: str | None = None) -> None:
    """Record a discussion topic's delivery, or the error to retry after."""
    amendment = session.get(Amendment, amendment_id)
    if amendment is None or amendment.forum_topic_id is not None:
        return
    if topic_id is None:
        amendment.topic_error = (error or "the forum gave no topic id")[:500]
        session.add(amendment)
        session.flush()
        return
    document = session.get(Document, amendment.document_id)
    amendment.forum_topic_id = int(topic_id)
    amendment.topic_error = ""
    _history(amendment, now, "topic_posted", topic=int(topic_id))
    session.add(amendment)
    log.record(session=session, created_at=now, type="amendment.topic_posted", actor=None, document=document.slug,
               payload={"document": document.slug, "amendment": amendment.id, "topic": int(topic_id)})
    session.flush()


def queue_topics(session: Session, now: datetime) -> list[int]:
    """Queue an outbox job for each amendment whose requested topic has none yet; return their ids.

    The wanted amendments' rows are locked first (PostgreSQL; SQLite's writer lock serialises
    the whole transaction), so two clocks running at once queue one job per amendment, and the
    outbox's ``claim`` then hands each job to one of them.
    """
    from ..models import Outbox
    from ..polls.outbox import AMENDMENT_TOPIC

    wanted = topics_wanted(session)
    if not wanted:
        return []
    session.exec(select(Amendment.id).where(Amendment.id.in_(wanted)).with_for_update()).all()
    queued = {job.payload.get("amendment") for job in session.exec(select(Outbox).where(Outbox.kind == AMENDMENT_TOPIC))}
    added = [i for i in wanted if i not in queued]
    for amendment_id in added:
        session.add(Outbox(kind=AMENDMENT_TOPIC, payload={"amendment": amendment_id}, next_attempt_at=now, created_at=now))
    session.flush()
    return added


def deliver_topics(*, engine: Any, immediate: Any, forum: Any, base_url: str, category: str | None,
                   now: datetime, amendment_id: int | None = None) -> tuple[int, int]:
    """Post owed discussion topics through the forum outbox; return (posted, failed).

    Each topic is an outbox job (``queue_topics``), claimed by one process at a time, so two
    clocks or hosts never post the same amendment's topic twice. No transaction is open during a
    forum call. ``amendment_id`` (the one whose discussion just opened) is among those delivered.
    """
    from ..polls import clock
    from ..polls.outbox import AMENDMENT_TOPIC

    with Session(immediate, expire_on_commit=False) as writer:
        queue_topics(writer, now)
        writer.commit()
    return clock.deliver_outbox(engine=engine, immediate=immediate, forum=forum, now=now, base_url=base_url,
                                category=category, kind=AMENDMENT_TOPIC)


# === Voting =====================================================================================


def _lapse_notice(amendment: Amendment, document: Document, why: str) -> str:
    return (f"Amendment #{amendment.id} to {document.title} {why}. Ballots already cast in this referendum "
            "lapse and will not be counted.")


def start_voting(*, session: Session, actor: Member, charter: CharterVersion, amendment: Amendment,
                 now: datetime, opens_at: datetime | None = None) -> Poll:
    """Create the amendment's referendum with the charter's bar for its kind (refused when stale)."""
    document = session.get(Document, amendment.document_id)
    rule = rule_for(charter, document.slug)
    if not _may_steer(charter, rule, actor):
        raise NotAllowed(Message('Only the managers of %(value)s may put an amendment to the vote.', value=rule['voters']))
    if amendment.status == "conflicted":
        raise Conflict(N_("This amendment conflicts with the current text and cannot be voted on; its proposer "
                       "can propose it again against the current version."))
    if amendment.status != "discussion":
        raise Conflict(Message('Only an amendment open for discussion can be put to the vote; this one is %(status)s.', status=amendment.status))
    base = current_version(session, document)
    if base is None or amendment.base_number != base.number or amendment.base_sha256 != base.sha256:
        raise Conflict(Message('This amendment is based on version %(base_number)s, but the current version is %(current_version)s; it cannot be voted on.', base_number=amendment.base_number, current_version=document.current_version))
    terms = bar(rule, amendment.kind)
    if terms is None:
        raise Conflict(Message('%(title)s accepts no %(kind)s.', title=document.title, kind=amendment.kind))
    days = int(charters.rules(charter)["discussion_days"].get(amendment.kind, 0))
    opened = amendment.topic_requested_at
    if opened is None or now < opened + timedelta(days=days):
        until = log.format_time(opened + timedelta(days=days)) if opened else "—"
        raise Conflict(Message('The charter asks for at least %(value)s of discussion before a %(kind)s is put to the vote; this amendment can be put to the vote from %(until)s.', value=plural(days, 'day'), kind=amendment.kind, until=until))
    for other in open_referendums(session, document):
        raise Conflict(Message('Another referendum on %(title)s is %(status)s (poll #%(id)s); one referendum runs at a time on a document, so that the text each one decides on stays fixed. Put this one to the vote after it closes.', title=document.title, status=other.status, id=other.id))
    opens_at = opens_at or now
    if opens_at < now:
        raise InvalidInput([("opens_at", N_("voting cannot open in the past"))])
    closes_at = opens_at + timedelta(days=int(terms["voting_days"]))
    description = "\n".join([
        f"Referendum on amendment #{amendment.id} to **{document.title}**: {amendment.title}.",
        "",
        f"* Kind: **{amendment.kind}** ({amendment.classification.get('summary', '')})",
        f"* Bar: yes needs {'more than' if terms.get('strict') else 'at least'} {terms['threshold']} of the "
        f"votes for or against, with at least {terms['quorum']} ballots cast (abstentions count for the quorum).",
        f"* Base: version {base.number}, SHA-256 `{base.sha256}`",
        f"* Amended text: SHA-256 `{amendment.sha256}`",
        "",
        f"[Read amendment #{amendment.id}, its classification and its diff]"
        f"(/documents/{document.slug}/amendments/{amendment.id})",
    ])
    poll = polls.create_referendum(
        session=session, actor=actor, body=rule["voters"],
        title=f"Amendment #{amendment.id} to {document.title}: {amendment.title}",
        description=description, threshold=str(terms["threshold"]), strict=bool(terms.get("strict")),
        quorum=int(terms.get("quorum", 0)), opens_at=opens_at, closes_at=closes_at,
        amendment_id=amendment.id, eligibility=body_rule(charter, rule["voters"]).to_dict())
    amendment.poll_id = poll.id
    _set_status(session, amendment, document, "voting", event="voting_started", actor=actor, now=now,
                poll=poll.id, base=base.number, base_sha256=base.sha256, sha256=amendment.sha256,
                threshold=str(terms["threshold"]), strict=bool(terms.get("strict")),
                quorum=int(terms.get("quorum", 0)), voting_days=int(terms["voting_days"]), kind=amendment.kind,
                charter_version=charter.number, charter_sha256=charter.sha256,
                discussion_opened=log.format_time(opened))
    session.flush()
    return poll


def _void_poll(session: Session, amendment: Amendment, reason: str) -> None:
    """Void the amendment's referendum if it is still to come or open.

    On PostgreSQL the poll's row lock is waited for briefly only (shorter than the deadlock
    check): a referendum that another transaction is closing right now holds that lock while it
    waits for this document's, so waiting would deadlock. Such a poll is left to its own close,
    which then finds the amendment conflicted and adopts nothing.
    """
    if amendment.poll_id is None:
        return
    query = select(Poll).where(Poll.id == amendment.poll_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        previous = session.execute(text("SHOW lock_timeout")).scalar_one()
        try:
            with session.begin_nested():
                session.execute(text("SET LOCAL lock_timeout = '500ms'"))
                poll = session.exec(query.with_for_update()).first()
                session.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": previous})
        except OperationalError:
            return  # rolled back to the savepoint, lock_timeout included
    else:
        poll = session.exec(query).first()
    if poll is not None and poll.status in (*VOTING_STATUSES, "nominations", "draft"):
        polls.void(session=session, poll=poll, reason=reason)


# === Adoption and rebasing ======================================================================


@dataclass(frozen=True)
class Outcome:
    """What a referendum's publication did to its amendment and to the other pending ones."""

    amendment: int
    adopted: bool
    version: int | None
    rebased: tuple[int, ...] = ()
    conflicted: tuple[int, ...] = ()


def on_referendum_published(*, session: Session, poll: Poll, now: datetime) -> Outcome | None:
    """Adopt or reject the amendment a referendum decided (called by the polls service at close)."""
    amendment = session.get(Amendment, poll.amendment_id) if poll.amendment_id is not None else None
    if amendment is None or amendment.poll_id != poll.id:
        return None  # a foreign poll decides nothing
    # Take the document's lock first, then re-read the amendment: another referendum of the same
    # document may have been adopted meanwhile and rebased or conflicted this one.
    document = _lock_document(session, session.get(Document, amendment.document_id))
    amendment = session.exec(select(Amendment).where(Amendment.id == amendment.id)
                             .execution_options(populate_existing=True)).one()
    if amendment.status != "voting":
        if amendment.status == "conflicted":
            _history(amendment, now, "result_void", poll=poll.id,
                     reason="the document changed while this referendum was closing; its result has no effect")
            session.add(amendment)
            session.flush()
        return None
    result = poll.result or {}
    details = result.get("details") or {}
    figures = {k: details.get(k) for k in ("yes", "no", "abstain", "participation", "quorum_met", "reason")}
    passed = list(result.get("elected") or []) == ["yes"]
    if not passed:
        _set_status(session, amendment, document, "rejected", event="rejected", actor=None, now=now,
                    poll=poll.id, result_hash=poll.result_hash, **figures)
        session.flush()
        return Outcome(amendment.id, False, None)
    base = current_version(session, document)
    if base is None or base.number != amendment.base_number or base.sha256 != amendment.base_sha256:
        # Cannot happen while every new version rebases or conflicts the pending amendments; if it
        # does, adopting would overwrite text the voters never saw, so refuse loudly instead.
        _set_status(session, amendment, document, "conflicted", event="conflicted", actor=None, now=now,
                    poll=poll.id, reason="the base changed before the result was published")
        session.flush()
        return Outcome(amendment.id, False, None, conflicted=(amendment.id,))
    charter_data = None
    if document.slug == charters.CHARTER_SLUG:
        try:
            charter_data = charters.checked(session, charter_rules.parse(amendment.source_md))
        except (InvalidInput, charter_rules.CharterTextError) as exc:
            why = exc.message if isinstance(exc, InvalidInput) else str(exc)
            _set_status(session, amendment, document, "conflicted", event="conflicted", actor=None, now=now,
                        poll=poll.id, reason=f"the charter it adopts can no longer be put in force: {why}")
            session.flush()
            return Outcome(amendment.id, False, None, conflicted=(amendment.id,))
    version = DocumentVersion(document_id=document.id, number=base.number + 1, source_md=amendment.source_md,
                              html=render(amendment.source_md), sha256=sha256_hex(amendment.source_md),
                              author_id=amendment.proposer_id, adopted_by="poll", poll_id=poll.id,
                              result_hash=poll.result_hash, amendment_id=amendment.id,
                              note=f"Amendment #{amendment.id}: {amendment.title}"[:MAX_NOTE],
                              classification=amendment.classification, created_at=now)
    session.add(version)
    document.current_version = version.number
    session.add(document)
    amendment.adopted_version = version.number
    session.flush()
    _set_status(session, amendment, document, "adopted", event="adopted", actor=None, now=now, poll=poll.id,
                version=version.number, result_hash=poll.result_hash, **figures)
    log.record(session=session, created_at=now, type="document.version_published", actor=None, document=document.slug,
               poll_id=poll.id,
               payload={"document": document.slug, "version": version.number, "sha256": version.sha256,
                        "adopted_by": "poll", "poll": poll.id, "result_hash": poll.result_hash,
                        "amendment": amendment.id, "kind": amendment.kind})
    if charter_data is not None:
        charters.publish(session=session, actor=None, data=charter_data, adopted_by="poll", poll=poll,
                         amendment_id=amendment.id, note=f"Amendment #{amendment.id}: {amendment.title}"[:MAX_NOTE],
                         classification=amendment.classification)
    rebased, conflicted = _after_new_version(session=session, document=document, old=base, new=version,
                                             now=now, adopted_id=amendment.id)
    session.flush()
    return Outcome(amendment.id, True, version.number, tuple(rebased), tuple(conflicted))


def _after_new_version(*, session: Session, document: Document, old: DocumentVersion, new: DocumentVersion,
                       now: datetime, adopted_id: int | None) -> tuple[list[int], list[int]]:
    """Rebase every other pending amendment onto ``new``, or mark it conflicted (its votes lapse)."""
    rebased: list[int] = []
    conflicted: list[int] = []
    versions: dict[int, str] = {old.number: old.source_md, new.number: new.source_md}
    for amendment in list_amendments(session, document, statuses=PENDING_STATUSES):
        if amendment.id == adopted_id or amendment.base_number == new.number:
            continue
        if amendment.base_number not in versions:
            versions[amendment.base_number] = get_version(session, document, amendment.base_number).source_md
        text = None
        if amendment.status == "voting":
            # Never re-applied silently: the voters decide on the text frozen when the vote opened.
            # (Publications wait while a referendum is open, so only an unforeseen path gets here.)
            pass
        elif amendment.kind == "detail" and document.slug != charters.CHARTER_SLUG:
            text = rebase(versions[amendment.base_number], new.source_md, amendment.source_md)
        if text is not None:
            result = classify(new.source_md, text)
            previous = {"base": amendment.base_number, "sha256": amendment.sha256}
            amendment.base_number, amendment.base_sha256 = new.number, new.sha256
            amendment.source_md, amendment.sha256 = text, sha256_hex(text)
            amendment.classification = result.to_dict()
            amendment.kind = result.kind
            _history(amendment, now, "rebased", from_base=previous["base"], to_base=new.number,
                     sha256=amendment.sha256, previous_sha256=previous["sha256"])
            session.add(amendment)
            log.record(session=session, created_at=now, type="amendment.rebased", actor=None, document=document.slug,
                       poll_id=amendment.poll_id,
                       payload={"document": document.slug, "amendment": amendment.id,
                                "from_version": previous["base"], "to_version": new.number,
                                "previous_sha256": previous["sha256"], "sha256": amendment.sha256,
                                "base_sha256": new.sha256, "poll": amendment.poll_id,
                                "classification": _summary_payload(result)})
            rebased.append(amendment.id)
            continue
        why = (f"was written against version {amendment.base_number}, and version {new.number} changed the "
               "text it depends on, so it can no longer be voted on")
        _void_poll(session, amendment, _lapse_notice(amendment, document, why))
        _set_status(session, amendment, document, "conflicted", event="conflicted", actor=None, now=now,
                    base=amendment.base_number, current=new.number, poll=amendment.poll_id,
                    reason=("a revision cannot be re-applied to a newer text" if amendment.kind != "detail"
                            else "its insertions no longer apply unchanged to the newer text"))
        conflicted.append(amendment.id)
    session.flush()
    return rebased, conflicted


# The publication seam (check_publication ... import_document) lives in publication.py.
from .publication import (  # noqa: E402, F401 - re-exported
    before_new_version,
    check_publication,
    import_document,
    open_referendums,
    publish_version,
    refuse_if_referendum_open,
)

