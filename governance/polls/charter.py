"""The governance charter: which bodies exist, what each may decide, and who manages their polls.

Boundary rule: a service (takes a session, flushes, never commits). The charter is versioned and
append-only; the newest version is in force. Validation is pure (``validate``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from fractions import Fraction
from typing import Any

from sqlmodel import Session, select

from ..errors import InvalidInput, NotAllowed, NotFound
from ..identity.eligibility import Rule
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


_THRESHOLD_RE = re.compile(r"\d{1,4}(?:/\d{1,4}|\.\d{1,4})?")


def parse_threshold(text: Any) -> Fraction | None:
    """A threshold such as "1/2", "2/3" or "0.75", strictly between 0 and 1; None if it is not one.

    Only small fractions and decimals: ``Fraction()`` itself would take "1e-5000" (and spend
    seconds on longer exponents).

    >>> parse_threshold("2/3"), parse_threshold("1e-5000"), parse_threshold("3/2")
    (Fraction(2, 3), None, None)
    """
    if not isinstance(text, str) or not _THRESHOLD_RE.fullmatch(text.strip()):
        return None
    try:
        value = Fraction(text.strip())
    except ZeroDivisionError:
        return None
    return value if 0 < value < 1 else None


def _bar_problem(bar: Any) -> str | None:
    """What is wrong with a document's bar for one kind of amendment (None: it is usable)."""
    if not isinstance(bar, dict):
        return "must be an object with threshold, strict, quorum and voting_days"
    if parse_threshold(bar.get("threshold")) is None:
        return "threshold must be a fraction between 0 and 1, such as 1/2 or 2/3"
    quorum, days = bar.get("quorum", 0), bar.get("voting_days")
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not 0 <= quorum < 2**31:
        return "quorum must be a whole number of ballots, 0 or more"
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
        return "voting_days must be a whole number of days from 1 to 365"
    if not isinstance(bar.get("strict", False), bool):
        return "strict must be true or false"
    return None


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
        try:
            Rule.from_dict(dict(body.get("eligibility") or {}))
        except (TypeError, ValueError) as exc:
            problems.append(("bodies", f"body {slug!r}: eligibility is not a usable rule ({exc})"))
    for doc in data.get("documents", []) or []:
        if not isinstance(doc, dict) or not doc.get("slug"):
            problems.append(("documents", "each document rule needs a slug"))
            continue
        for key in ("proposers", "voters"):
            if doc.get(key) not in slugs:
                problems.append(("documents", f"document {doc['slug']!r}: {key} must name a body"))
        for kind in ("detail", "revision"):
            if doc.get(kind) is None and kind == "revision":
                continue  # no revisions accepted
            if (problem := _bar_problem(doc.get(kind))) is not None:
                problems.append(("documents", f"document {doc['slug']!r}: the {kind} bar's {problem}"))
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
