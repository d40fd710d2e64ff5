"""Direct publication of document versions: the checks, the effect, and the frozen referendum text.

Boundary rule: a service (takes a session and ``now``, flushes, never commits). Split from
``service.py`` along the publication seam; ``service`` re-exports these names. A later version
comes only through the two-person rule (``polls.approvals``), which passes ``approval``; the first
version is an import from the operator's command line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ..audit import log
from ..copy import N_, Message, plural
from ..errors import Conflict, InvalidInput, NotAllowed
from ..models import Amendment, CharterVersion, Document, DocumentVersion, Member, Outbox, Poll
from ..polls import charter as charters
from .blocks import Classification
from .render import render, sha256_hex


def check_publication(*, session: Session, charter: CharterVersion, slug: str, source: Any, base_number: Any,
                      note: str = "") -> tuple[Document, DocumentVersion, str, Classification]:
    """A committee publication's checks, storing nothing: (document, base, text, classification).

    Refused: unusable text or note, a stale base, an unchanged text, a revision of an entrenched
    document, and any kind the charter does not let the committee publish.
    """
    rule = core.rule_for(charter, slug)
    source = core._checked_source(source)
    if len(note or "") > core.MAX_NOTE:
        raise InvalidInput([("note", Message('the note is longer than %(MAX_NOTE)s characters', MAX_NOTE=core.MAX_NOTE))])
    document = core.get_document(session, slug)
    if base_number is None:
        raise InvalidInput([("base", N_("name the version you are replacing"))])
    base = core._base(session, document, base_number)
    result = core._classify(base.source_md, source)
    if result.kind == "unchanged":
        raise InvalidInput([("source", Message('The text is unchanged: it has the same blocks as version %(number)s. Nothing was published.', number=base.number))])
    if result.kind == "revision" and rule.get("revision") is None:
        raise NotAllowed(Message('%(title)s is entrenched: it accepts no revision, only added detail.', title=document.title))
    allowed = rule.get("committee_may_publish") or []
    if result.kind not in allowed:
        raise NotAllowed(Message('The charter does not let the committee publish a %(kind)s of %(title)s directly; propose it as an amendment so that %(value)s can vote on it.', kind=result.kind, title=document.title, value=rule['voters']))
    return document, base, source, result


def open_referendums(session: Session, document: Document) -> list[Poll]:
    """Referendums on amendments of this document that are scheduled or open (their text is frozen)."""
    ids = [a.poll_id for a in core.list_amendments(session, document, statuses=("voting",)) if a.poll_id]
    if not ids:
        return []
    return list(session.exec(select(Poll).where(Poll.id.in_(ids), Poll.status.in_(core.VOTING_STATUSES))
                             .order_by(Poll.id)).all())


def refuse_if_referendum_open(session: Session, charter: CharterVersion, document: Document) -> None:
    """Conflict when a referendum on the document is open and the charter says publications wait."""
    if charters.rules(charter)["open_referendum"] != "refuse":
        return
    for poll in open_referendums(session, document):
        raise Conflict(Message('A referendum on %(title)s is %(status)s (poll #%(id)s, closing %(value)s): its base text is frozen while the vote runs, so no new version can be published until it closes. Nothing was published.', title=document.title, status=poll.status, id=poll.id, value=log.format_time(poll.closes_at)))


def before_new_version(session: Session, charter: CharterVersion, document: Document, now: datetime) -> None:
    """What an open referendum requires before a new version: refuse, or void it with notice (charter)."""
    refuse_if_referendum_open(session, charter, document)
    for poll in open_referendums(session, document):
        amendment = session.get(Amendment, poll.amendment_id)
        reason = (f"The referendum on amendment #{amendment.id} to {document.title} is voided: the committee "
                  "published a new version while it was open, which the charter allows. Ballots already cast "
                  "lapse; the amendment must be put to the vote again on the new text.")
        core._void_poll(session, amendment, reason)
        core._set_status(session, amendment, document, "discussion", event="vote_voided", actor=None, now=now,
                    poll=poll.id, reason=reason)
        amendment.poll_id = None
        session.add(amendment)
        session.flush()


def publish_version(*, session: Session, actor: Member | None, charter: CharterVersion, committee_group: str,
                    slug: str, source: Any, base_number: int | None, now: datetime, note: str = "",
                    title: str | None = None, approval: dict[str, Any] | None = None,
                    change_id: int | None = None, author_id: int | None = None) -> DocumentVersion:
    """A committee publication takes effect (the first version, or detail through the two-person rule).

    The first version of a document (an import) needs only the operator. Later versions are
    classified against the current one (``check_publication``) and come through
    ``polls.approvals``, which passes ``approval`` (who asked, who approved or how long it
    waited, when the forum was told); pages never call this directly. ``actor=None`` is the
    operator's command line or the clock; a member actor must be on the committee.
    """
    if actor is not None and committee_group and committee_group not in (actor.groups or []):
        raise NotAllowed(N_("Only the steering committee may publish a document version directly."))
    if slug == charters.CHARTER_SLUG:
        raise Conflict(N_("The charter's versions are published through the charter, not as a document text."))
    rule = core.rule_for(charter, slug)
    document = session.exec(select(Document).where(Document.slug == slug)).first()
    if document is None or not document.current_version:
        source = core._checked_source(source)
        if len(note) > core.MAX_NOTE:
            raise InvalidInput([("note", Message('the note is longer than %(MAX_NOTE)s characters', MAX_NOTE=core.MAX_NOTE))])
        if document is None:
            document = Document(slug=slug, title=(title or rule.get("title") or slug)[:core.MAX_TITLE])
            session.add(document)
            session.flush()
    document = core._lock_document(session, document)
    previous = core.current_version(session, document)
    classification: dict[str, Any] = {}
    result = None
    if previous is not None:
        if approval is None:
            raise NotAllowed(N_("A new version of a document needs a second committee member's approval (or the "
                             "charter's waiting period) and a forum notice first."))
        document, _base_version, source, result = check_publication(
            session=session, charter=charter, slug=slug, source=source, base_number=base_number, note=note)
        before_new_version(session, charter, document, now)
        classification = result.to_dict()
    version = DocumentVersion(document_id=document.id, number=document.current_version + 1, source_md=source,
                              html=render(source), sha256=sha256_hex(source),
                              author_id=author_id if author_id is not None else getattr(actor, "id", None),
                              adopted_by="committee", note=note.strip(), classification=classification,
                              change_id=change_id, created_at=now)
    session.add(version)
    document.current_version = version.number
    session.add(document)
    session.flush()
    payload = {"document": slug, "version": version.number, "sha256": version.sha256, "adopted_by": "committee",
               "note": version.note, "charter_version": charter.number, "charter_sha256": charter.sha256}
    if result is not None:
        payload["classification"] = core._summary_payload(result)
    if approval is not None:
        payload["approval"] = approval
    log.record(session=session, created_at=now, type="document.version_published", actor=actor, document=slug,
               payload=payload)
    if previous is not None:
        core._after_new_version(session=session, document=document, old=previous, new=version, now=now,
                           adopted_id=None)
    # Every publication gets a signed tree head, posted to the forum as an independent copy.
    head = log.make_head(session=session, reason=f"document {slug} version {version.number} published", now=now)
    session.add(Outbox(kind="head", payload={"head": head.id, "document": slug, "version": version.number}))
    session.flush()
    return version


def import_document(*, session: Session, charter: CharterVersion, slug: str, source: Any, now: datetime,
                    note: str = "initial version", title: str | None = None) -> DocumentVersion:
    """Load a document's first version from the operator's command line (committee's publication)."""
    document = session.exec(select(Document).where(Document.slug == slug)).first()
    if document is not None and document.current_version:
        raise Conflict(Message('%(title)s already has %(value)s; publish or amend instead of importing.', title=document.title, value=plural(document.current_version, 'version')))
    return publish_version(session=session, actor=None, charter=charter, committee_group="", slug=slug,
                           source=source, base_number=None, now=now, note=note, title=title)


# Imported last: ``service`` re-exports this module's names from its own last line, so whichever of
# the two is imported first, both are complete before either is used.
from . import service as core  # noqa: E402
