"""The governance charter: which bodies exist, what each may decide, and who manages their polls.

Boundary rule: a service (takes a session, flushes, never commits). The charter is versioned and
append-only; the newest version is in force. Its structure and validation are pure
(``charter_schema``); its governed text and the clause-by-clause classifier are pure too
(``proposals.charter_rules``). Every charter version is also a version of the document
``charter``, so it is amended, voted on and audited like the roadmap.

Changing the charter: ``publish`` is the *effect* (a new version in force). Pages never call it
directly: charter detail goes through the two-person rule (``polls.approvals``), anything else
through an amendment and the community's referendum at the charter's revision bar
(``proposals.service``), whose adoption calls ``publish``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ..copy import N_, Message
from ..errors import InvalidInput, NotAllowed, NotFound
from ..models import CharterVersion, Document, DocumentVersion, Member, Poll
from .charter_schema import (  # noqa: F401 - re-exported for the pages and the poll service
    CHARTER_SLUG,
    DEFAULT_CHARTER,
    bar_problem,
    default_charter,
    normalized,
    parse_threshold,
    validate,
)

#: Poll statuses that are final: a charter may drop the body of such a poll.
FINAL_POLL_STATUSES = ("published", "cancelled")


def _sha(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sha(data: dict[str, Any]) -> str:
    """The SHA-256 a charter version is known by (of its compact, key-sorted JSON)."""
    return _sha(data)


def current(session: Session, *, now: datetime | None = None) -> CharterVersion:
    """The charter in force (version 1 is created from the default on first use, and logged at ``now``)."""
    row = session.exec(select(CharterVersion).order_by(CharterVersion.number.desc()).limit(1)).first()
    if row is None:
        data = default_charter()
        row = CharterVersion(number=1, data=data, sha256=_sha(data), note="initial charter",
                             **({"created_at": now} if now else {}))
        session.add(row)
        session.flush()
        _record(session, row, actor=None, adopted_by="initial", extra={}, now=now)
        _document_version(session, row, adopted_by="committee", actor=None, note="initial charter", now=now)
    return row


def versions(session: Session) -> list[CharterVersion]:
    """Every charter version, newest first."""
    current(session)
    return list(session.exec(select(CharterVersion).order_by(CharterVersion.number.desc())).all())


def get_version(session: Session, number: int) -> CharterVersion:
    """One charter version, or NotFound."""
    row = session.exec(select(CharterVersion).where(CharterVersion.number == number)).first() \
        if 1 <= number <= 2**31 - 1 else None
    if row is None:
        raise NotFound(Message('The charter has no version %(number)s.', number=number))
    return row


def document(session: Session) -> Document:
    """The charter's document, its versions mirroring every charter version (older databases caught up)."""
    latest = current(session)
    doc = session.exec(select(Document).where(Document.slug == CHARTER_SLUG)).first()
    if doc is None or doc.current_version < latest.number:
        for row in session.exec(select(CharterVersion).order_by(CharterVersion.number)).all():
            if doc is None or row.number > doc.current_version:
                _document_version(session, row, adopted_by="committee", actor=None, note=row.note)
                doc = session.exec(select(Document).where(Document.slug == CHARTER_SLUG)).first()
    return doc


def _document_version(session: Session, row: CharterVersion, *, adopted_by: str, actor: Member | None,
                      note: str, poll: Poll | None = None, amendment_id: int | None = None,
                      change_id: int | None = None, classification: dict | None = None,
                      approval: dict[str, Any] | None = None, now: datetime | None = None) -> DocumentVersion:
    """Write the charter document's version for charter version ``row`` (its governed text)."""
    from ..audit import log
    from ..proposals import charter_rules
    from ..proposals.render import render, sha256_hex

    doc = session.exec(select(Document).where(Document.slug == CHARTER_SLUG)).first()
    if doc is None:
        doc = Document(slug=CHARTER_SLUG, title="Governance charter")
        session.add(doc)
        session.flush()
    text = charter_rules.render(row.data)
    version = DocumentVersion(document_id=doc.id, number=row.number, source_md=text, html=render(text),
                              sha256=sha256_hex(text), author_id=getattr(actor, "id", None), adopted_by=adopted_by,
                              poll_id=getattr(poll, "id", None), result_hash=getattr(poll, "result_hash", "") or "",
                              amendment_id=amendment_id, note=(note or "")[:500],
                              classification=classification or {}, change_id=change_id,
                              **({"created_at": now} if now else {}))
    session.add(version)
    doc.current_version = row.number
    session.add(doc)
    session.flush()
    if adopted_by != "poll":  # an adoption's own event is written by the documents service
        log.record(session=session, created_at=now, type="document.version_published", actor=actor,
                   document=CHARTER_SLUG,
                   payload={"document": CHARTER_SLUG, "version": row.number, "sha256": version.sha256,
                            "adopted_by": adopted_by, "charter_version": row.number, "charter_sha256": row.sha256,
                            "note": version.note, **({"approval": approval} if approval else {})})
    return version


def _record(session: Session, row: CharterVersion, *, actor: Any, adopted_by: str, extra: dict[str, Any],
            now: datetime | None = None) -> None:
    from ..audit import log

    log.record(session=session, created_at=now, type="charter.changed", actor=actor, document=CHARTER_SLUG,
               payload={"version": row.number, "sha256": row.sha256, "note": row.note, "adopted_by": adopted_by,
                        **extra})


def orphan_problems(session: Session, data: dict[str, Any]) -> list[tuple[str, str]]:
    """What a new charter would orphan: the body of a poll that is not final, the rule of a document."""
    problems: list[tuple[str, str]] = []
    bodies = {b.get("slug") for b in data.get("bodies") or [] if isinstance(b, dict)}
    rules = {d.get("slug") for d in data.get("documents") or [] if isinstance(d, dict)}
    live = session.exec(select(Poll.body, Poll.id).where(Poll.status.not_in(FINAL_POLL_STATUSES))
                        .order_by(Poll.id)).all()
    for slug in sorted({b for b, _ in live} - bodies):
        ids = [str(i) for b, i in live if b == slug]
        problems.append((f"bodies.{slug}", f"the body {slug!r} still has polls that are not final (poll "
                                           f"{', '.join(ids[:5])}); it cannot be dropped until they are published "
                                           "or cancelled"))
    for slug in sorted(set(session.exec(select(Document.slug)).all()) - rules):
        problems.append((f"documents.{slug}", f"the document {slug!r} exists; its rule cannot be dropped"))
    return problems


def checked(session: Session, data: Any) -> dict[str, Any]:
    """The charter normalised, or InvalidInput listing every problem (orphans included)."""
    if not isinstance(data, dict):
        raise InvalidInput([("charter", N_("the charter must be a JSON object"))])
    data = normalized(data)
    problems = validate(data)
    if not problems:
        problems = orphan_problems(session, data)
    if problems:
        raise InvalidInput(problems)
    return data


def publish(*, session: Session, actor: Member | None, data: Any, note: str, committee_group: str = "",
            adopted_by: str = "committee", poll: Poll | None = None, amendment_id: int | None = None,
            approval: dict[str, Any] | None = None, change_id: int | None = None,
            classification: dict[str, Any] | None = None) -> CharterVersion:
    """Put a new charter version in force (the effect; see the module docstring for who calls it).

    ``adopted_by`` is ``committee`` (detail through the two-person rule, ``approval`` says how)
    or ``poll`` (a referendum, ``poll`` and ``amendment_id``). ``actor=None`` is the platform
    itself (an adoption, the clock). A member actor must be on the committee.
    """
    if actor is not None and committee_group and committee_group not in (actor.groups or []):
        raise NotAllowed(N_("Only the steering committee may change the charter."))
    data = checked(session, data)
    latest = current(session)
    document(session)  # an older database's charter document catches up first
    if _sha(data) == latest.sha256:
        raise InvalidInput([("charter", N_("the charter is unchanged"))])
    if len(note or "") > 500:
        raise InvalidInput([("note", N_("the note is longer than 500 characters"))])
    row = CharterVersion(number=latest.number + 1, data=data, sha256=_sha(data), note=(note or "")[:500],
                         author_id=getattr(actor, "id", None))
    session.add(row)
    session.flush()
    extra: dict[str, Any] = {"previous_sha256": latest.sha256}
    if approval is not None:
        extra["approval"] = approval
    if poll is not None:
        extra |= {"poll": poll.id, "result_hash": poll.result_hash, "amendment": amendment_id}
    _record(session, row, actor=actor, adopted_by=adopted_by, extra=extra)
    if adopted_by != "poll":
        _document_version(session, row, adopted_by=adopted_by, actor=actor, note=row.note, change_id=change_id,
                          classification=classification, approval=approval)
    return row


def body(charter: CharterVersion, slug: str) -> dict[str, Any]:
    """One body of the charter with every field (defaults filled in), or NotFound."""
    for item in normalized(charter.data).get("bodies", []):
        if item.get("slug") == slug:
            return item
    raise NotFound(Message('The charter has no body %(slug)s.', slug=repr(slug)))


def rules(charter: CharterVersion) -> dict[str, Any]:
    """The charter's rules (entrenched clauses, publication, discussion periods, open referendums)."""
    return normalized(charter.data)["rules"]


def document_rule(charter: CharterVersion, slug: str) -> dict[str, Any] | None:
    """The charter's rule for a document (the charter's own included), if it has one."""
    for item in normalized(charter.data).get("documents", []) or []:
        if item.get("slug") == slug:
            return item
    return None


def may_manage(charter: CharterVersion, body_slug: str, member: Member | None) -> bool:
    """Whether ``member`` may create and schedule polls of this body."""
    if member is None or not getattr(member, "is_authenticated", False):
        return False
    managers = set(body(charter, body_slug).get("managers", []))
    return bool(managers & set(member.groups or []))
