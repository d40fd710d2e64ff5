"""The governance charter: which bodies exist, what each may decide, and who manages their polls.

Boundary rule: a service (takes a session, flushes, never commits). The charter is versioned and
append-only; the newest version is in force. Validation is pure (``validate``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from sqlmodel import Session, select

from ..errors import InvalidInput, NotAllowed, NotFound
from ..models import CharterVersion, Member
from .methods import KIND_METHODS

DEFAULT_CHARTER: dict[str, Any] = {
    "name": "Community governance charter",
    "bodies": [
        {
            "slug": "community",
            "name": "The whole community",
            "group": None,
            "kinds": ["election", "decision", "referendum"],
            "managers": ["steering-committee"],
            "eligibility": {"min_trust_level": 1, "min_account_age_days": 0},
            "description": "Every forum member in good standing whose account predates the poll.",
        },
        {
            "slug": "steering-committee",
            "name": "Steering committee",
            "group": "steering-committee",
            "kinds": ["decision", "referendum"],
            "managers": ["steering-committee"],
            "eligibility": {},
            "description": "Decisions the committee takes as a body.",
        },
        {
            "slug": "sig-security",
            "name": "Security SIG",
            "group": "sig-security",
            "kinds": ["decision"],
            "managers": ["sig-security", "steering-committee"],
            "eligibility": {},
            "description": "Decisions of the security special interest group.",
        },
        {
            "slug": "sig-documentation",
            "name": "Documentation SIG",
            "group": "sig-documentation",
            "kinds": ["decision"],
            "managers": ["sig-documentation", "steering-committee"],
            "eligibility": {},
            "description": "Decisions of the documentation special interest group.",
        },
        {
            "slug": "sig-infrastructure",
            "name": "Infrastructure SIG",
            "group": "sig-infrastructure",
            "kinds": ["decision"],
            "managers": ["sig-infrastructure", "steering-committee"],
            "eligibility": {},
            "description": "Decisions of the infrastructure special interest group.",
        },
    ],
    "documents": [
        {
            "slug": "roadmap",
            "title": "Roadmap",
            "proposers": "community",
            "voters": "community",
            "detail": {"threshold": "1/2", "strict": True, "quorum": 5, "voting_days": 7},
            "revision": {"threshold": "2/3", "strict": False, "quorum": 10, "voting_days": 14},
            "committee_may_publish": ["detail"],
            "entrenched": False,
        },
        {
            "slug": "values",
            "title": "Values",
            "proposers": "community",
            "voters": "community",
            "detail": {"threshold": "2/3", "strict": False, "quorum": 10, "voting_days": 14},
            "revision": None,
            "committee_may_publish": [],
            "entrenched": True,
        },
    ],
}


def _sha(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validate(data: Any) -> list[tuple[str, str]]:
    """Plain-language problems with a charter document (empty when it is usable)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        return [("charter", "the charter must be a JSON object")]
    bodies = data.get("bodies")
    if not isinstance(bodies, list) or not bodies:
        problems.append(("bodies", "the charter must name at least one body"))
        bodies = []
    slugs = set()
    for i, body in enumerate(bodies, start=1):
        if not isinstance(body, dict):
            problems.append(("bodies", f"body {i} must be an object"))
            continue
        slug = body.get("slug")
        if not isinstance(slug, str) or not slug or not slug.replace("-", "").isalnum():
            problems.append(("bodies", f"body {i} needs a slug of letters, digits and dashes"))
        elif slug in slugs:
            problems.append(("bodies", f"body slug {slug!r} appears twice"))
        slugs.add(slug)
        kinds = body.get("kinds", [])
        if not isinstance(kinds, list) or not set(kinds) <= set(KIND_METHODS):
            problems.append(("bodies", f"body {slug!r}: kinds must be among {', '.join(KIND_METHODS)}"))
        if not isinstance(body.get("managers", []), list):
            problems.append(("bodies", f"body {slug!r}: managers must be a list of forum groups"))
    for doc in data.get("documents", []) or []:
        if not isinstance(doc, dict) or not doc.get("slug"):
            problems.append(("documents", "each document rule needs a slug"))
            continue
        for key in ("proposers", "voters"):
            if doc.get(key) not in slugs:
                problems.append(("documents", f"document {doc['slug']!r}: {key} must name a body"))
    return problems


def current(session: Session) -> CharterVersion:
    """The charter in force (version 1 is created from the default on first use)."""
    row = session.exec(select(CharterVersion).order_by(CharterVersion.number.desc()).limit(1)).first()
    if row is None:
        data = copy.deepcopy(DEFAULT_CHARTER)
        row = CharterVersion(number=1, data=data, sha256=_sha(data), note="initial charter")
        session.add(row)
        session.flush()
    return row


def versions(session: Session) -> list[CharterVersion]:
    """Every charter version, newest first."""
    current(session)
    return list(session.exec(select(CharterVersion).order_by(CharterVersion.number.desc())).all())


def publish(*, session: Session, actor: Member, data: Any, note: str, committee_group: str) -> CharterVersion:
    """Append a new charter version (committee only); an identical text is not a new version."""
    from ..audit import log

    if committee_group not in (actor.groups or []):
        raise NotAllowed("Only the steering committee may change the charter.")
    problems = validate(data)
    if problems:
        raise InvalidInput(problems)
    latest = current(session)
    if _sha(data) == latest.sha256:
        raise InvalidInput([("charter", "the charter is unchanged")])
    row = CharterVersion(number=latest.number + 1, data=data, sha256=_sha(data), note=note[:500],
                         author_id=actor.id)
    session.add(row)
    session.flush()
    log.record(session=session, type="charter.changed", actor=actor,
               payload={"version": row.number, "sha256": row.sha256, "note": row.note})
    return row


def body(charter: CharterVersion, slug: str) -> dict[str, Any]:
    """One body of the charter, or NotFound."""
    for item in charter.data.get("bodies", []):
        if item.get("slug") == slug:
            return item
    raise NotFound(f"The charter has no body {slug!r}.")


def document_rule(charter: CharterVersion, slug: str) -> dict[str, Any] | None:
    """The charter's rule for a document, if it has one."""
    for item in charter.data.get("documents", []) or []:
        if item.get("slug") == slug:
            return item
    return None


def may_manage(charter: CharterVersion, body_slug: str, member: Member | None) -> bool:
    """Whether ``member`` may create and schedule polls of this body."""
    if member is None or not getattr(member, "is_authenticated", False):
        return False
    managers = set(body(charter, body_slug).get("managers", []))
    return bool(managers & set(member.groups or []))
