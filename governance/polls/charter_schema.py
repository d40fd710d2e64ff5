"""The charter's structure: the default charter, the defaults of every field, and validation.

Boundary rule: pure (no Flask, no database). ``charter.py`` stores versions; this module says
what a usable charter is. ``validate`` returns ``(field, message)`` pairs where ``field`` names
the place in the charter (``bodies.sig-security.trustees``), so the editor can show each message
next to its input. docs/roadmap.md ("The charter is a governed document") describes the fields.
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from typing import Any

from ..identity.eligibility import Rule
from .methods import KIND_METHODS

#: The charter's own document slug (its governed text is a document like the roadmap).
CHARTER_SLUG = "charter"
#: Bodies whose ballots are protected by trustees' key shares unless the charter says otherwise.
TRUSTEE_BODIES = ("community", "steering-committee")
KEY_MODES = ("platform", "trustees")
OPEN_REFERENDUM_POLICIES = ("refuse", "void")

# Sane lengths (documented in docs/roadmap.md); anything longer is refused with a message.
MAX_SLUG = 40
MAX_NAME = 100
MAX_GROUP = 60
MAX_DESCRIPTION = 1000
MAX_TITLE = 200
MAX_LIST = 20
MAX_BODIES = 100
MAX_DOCUMENTS = 50
MAX_ENTRENCHED = 100
MAX_PATTERN = 200
MAX_TRUSTEES = 10
MAX_DAYS = 365

SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
GROUP_RE = re.compile(r"[A-Za-z0-9_.-]+")
PATTERN_RE = re.compile(r"[a-z0-9*_-]+(?:\.[a-z0-9*_-]+)*")
_THRESHOLD_RE = re.compile(r"\d{1,4}(?:/\d{1,4}|\.\d{1,4})?")


def _sig(slug: str, name: str, description: str) -> dict[str, Any]:
    return {"slug": slug, "name": name, "group": slug, "kinds": ["decision"],
            "managers": [f"{slug}-chairs", "steering-committee"], "eligibility": {},
            "description": description}


DEFAULT_CHARTER: dict[str, Any] = {
    "name": "Community governance charter",
    "rules": {
        # Clauses that only the community's referendum at the charter's revision bar may change.
        # A pattern names a clause path (``bodies.*.eligibility``) or a whole section (``rules``);
        # ``rules`` covers this list itself, so the list is entrenched too.
        "entrenched": ["rules", "documents", "bodies.community", "bodies.*.group", "bodies.*.eligibility",
                       "bodies.*.kinds"],
        # Two-person rule for every direct publication by the committee (charter detail, document
        # detail, scheduling a poll): a second member approves, or (when waiting_days is a number)
        # the change takes effect after that many days without an objection. Either way the forum
        # is told first.
        "publication": {"second_approver": True, "waiting_days": None},
        # Minimum days an amendment is open for discussion before it can be put to the vote.
        "discussion_days": {"detail": 3, "revision": 14},
        # A publication while a referendum on the same document is open: refused (it waits), or
        # the referendum is voided with notice and must be put to the vote again.
        "open_referendum": "refuse",
    },
    "bodies": [
        {"slug": "community", "name": "The whole community", "group": None,
         "kinds": ["election", "decision", "referendum"], "managers": ["steering-committee"],
         "eligibility": {"min_trust_level": 1, "min_account_age_days": 0},
         "description": "Every forum member in good standing whose account predates the poll."},
        {"slug": "steering-committee", "name": "Steering committee", "group": "steering-committee",
         "kinds": ["decision", "referendum"], "managers": ["steering-committee"], "eligibility": {},
         "description": "Decisions the committee takes as a body."},
        _sig("sig-security", "Security SIG", "Decisions of the security special interest group."),
        _sig("sig-documentation", "Documentation SIG", "Decisions of the documentation special interest group."),
        _sig("sig-infrastructure", "Infrastructure SIG",
             "Decisions of the infrastructure special interest group."),
    ],
    "documents": [
        {"slug": CHARTER_SLUG, "title": "Governance charter", "proposers": "community", "voters": "community",
         "detail": {"threshold": "1/2", "strict": True, "quorum": 10, "voting_days": 7},
         "revision": {"threshold": "3/4", "strict": False, "quorum": 25, "voting_days": 21},
         "committee_may_publish": ["detail"], "entrenched": False},
        {"slug": "roadmap", "title": "Roadmap", "proposers": "community", "voters": "community",
         "detail": {"threshold": "1/2", "strict": True, "quorum": 5, "voting_days": 7},
         "revision": {"threshold": "2/3", "strict": False, "quorum": 10, "voting_days": 14},
         "committee_may_publish": ["detail"], "entrenched": False},
        {"slug": "values", "title": "Values", "proposers": "community", "voters": "community",
         "detail": {"threshold": "2/3", "strict": False, "quorum": 10, "voting_days": 14},
         "revision": None, "committee_may_publish": [], "entrenched": True},
    ],
}

DEFAULT_RULES = DEFAULT_CHARTER["rules"]
#: The charter's own rule, used when an older stored charter has none.
DEFAULT_CHARTER_RULE = DEFAULT_CHARTER["documents"][0]


def body_defaults(slug: str) -> dict[str, Any]:
    """The defaults of a body's newer fields (key mode, trustees, officers, ...)."""
    trustees = slug in TRUSTEE_BODIES
    return {
        "key_mode": "trustees" if trustees else "platform",
        "trustees": {"group": "steering-committee", "count": 3, "threshold": 2} if trustees else None,
        "officers": ["steering-committee"],
        "certification": {"required": False, "days": 3},
        "exceptions": {"allowed": True, "deadline_days_before_opening": 3},
        "reminders_days_before_close": [3, 1],
        "max_seats_per_affiliation": None,
    }


for _body in DEFAULT_CHARTER["bodies"]:
    _body.update({k: v for k, v in body_defaults(_body["slug"]).items() if k not in _body})


def normalized(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with every missing field filled with its default (older charters read fine)."""
    out = copy.deepcopy(data)
    if isinstance(out.get("bodies"), list):
        for body in out["bodies"]:
            if isinstance(body, dict):
                for key, value in body_defaults(str(body.get("slug", ""))).items():
                    body.setdefault(key, copy.deepcopy(value))
                if body.get("key_mode") == "trustees" and body.get("trustees") is None:
                    body["trustees"] = {"group": "steering-committee", "count": 3, "threshold": 2}
    rules = out.setdefault("rules", {}) if isinstance(out, dict) else {}
    if isinstance(rules, dict):
        for key, value in DEFAULT_RULES.items():
            rules.setdefault(key, copy.deepcopy(value))
    docs = out.get("documents")
    if isinstance(docs, list) and not any(isinstance(d, dict) and d.get("slug") == CHARTER_SLUG for d in docs):
        docs.insert(0, copy.deepcopy(DEFAULT_CHARTER_RULE))
    return out


def default_charter() -> dict[str, Any]:
    """A fresh copy of the default charter."""
    return copy.deepcopy(DEFAULT_CHARTER)


# === Validation =================================================================================


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


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def bar_problem(bar: Any) -> str | None:
    """What is wrong with a bar (threshold, strict, quorum, voting_days); None when it is usable."""
    if not isinstance(bar, dict):
        return "must be an object with threshold, strict, quorum and voting_days"
    if parse_threshold(bar.get("threshold")) is None:
        return "threshold must be a fraction between 0 and 1, such as 1/2 or 2/3"
    if not _whole(bar.get("quorum", 0), 0, 2**31 - 1):
        return "quorum must be a whole number of ballots, 0 or more"
    if not _whole(bar.get("voting_days"), 1, MAX_DAYS):
        return f"voting_days must be a whole number of days from 1 to {MAX_DAYS}"
    if not isinstance(bar.get("strict", False), bool):
        return "strict must be true or false"
    return None


def _groups_problem(value: Any, what: str, *, allow_empty: bool = False) -> str | None:
    if not isinstance(value, list) or (not value and not allow_empty):
        return f"{what} must be a list of forum groups" + ("" if allow_empty else " (at least one)")
    if len(value) > MAX_LIST:
        return f"{what} may name at most {MAX_LIST} groups"
    for group in value:
        if not isinstance(group, str) or not GROUP_RE.fullmatch(group) or len(group) > MAX_GROUP:
            return f"{what}: {str(group)[:80]!r} is not a forum group name (letters, digits, - _ ., " \
                   f"at most {MAX_GROUP} characters)"
    if len(set(value)) != len(value):
        return f"{what} names a group twice"
    return None


def _text_problem(value: Any, what: str, limit: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        return f"{what} is required"
    if len(value) > limit:
        return f"{what} is longer than {limit} characters"
    if any(ord(c) < 32 and c not in "\t\n\r" or 0x7f <= ord(c) < 0xa0 for c in value):
        return f"{what} contains control characters"
    return None


def _body_problems(body: dict[str, Any], where: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []

    def add(field: str, message: str) -> None:
        problems.append((f"{where}.{field}", message))

    if (p := _text_problem(body.get("name"), "the name", MAX_NAME)) is not None:
        add("name", p)
    if (p := _text_problem(body.get("description", ""), "the description", MAX_DESCRIPTION,
                           required=False)) is not None:
        add("description", p)
    group = body.get("group")
    if group is not None and (not isinstance(group, str) or not GROUP_RE.fullmatch(group) or len(group) > MAX_GROUP):
        add("group", f"the forum group must be a group name of at most {MAX_GROUP} characters, or empty for "
                     "everyone")
    kinds = body.get("kinds", [])
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds) \
            or not set(kinds) <= set(KIND_METHODS) or len(set(kinds)) != len(kinds):
        add("kinds", f"choose at least one of {', '.join(KIND_METHODS)} (each once)")
    for field in ("managers", "officers"):
        if (p := _groups_problem(body.get(field), field)) is not None:
            add(field, p)
    try:
        Rule.from_dict(dict(body.get("eligibility") or {}))
    except (TypeError, ValueError) as exc:
        add("eligibility", f"eligibility is not a usable rule ({exc})")
    mode = body.get("key_mode")
    if mode not in KEY_MODES:
        add("key_mode", "the key mode must be platform or trustees")
    trustees = body.get("trustees")
    if mode == "trustees":
        if not isinstance(trustees, dict):
            add("trustees", "trustees need a forum group, a count and a threshold")
        else:
            if (p := _groups_problem([trustees.get("group")], "the trustees' group")) is not None:
                add("trustees", p)
            n, t = trustees.get("count"), trustees.get("threshold")
            if not (_whole(n, 1, MAX_TRUSTEES) and _whole(t, 1, MAX_TRUSTEES) and t <= n):
                add("trustees", f"trustees need 1 ≤ threshold ≤ count ≤ {MAX_TRUSTEES} (whole numbers)")
    elif trustees is not None:
        add("trustees", "trustees are set only when the key mode is trustees")
    cert = body.get("certification")
    if not isinstance(cert, dict) or not isinstance(cert.get("required"), bool) \
            or not _whole(cert.get("days"), 0, MAX_DAYS):
        add("certification", f"certification needs required (true or false) and days (0 to {MAX_DAYS})")
    exc_rule = body.get("exceptions")
    if not isinstance(exc_rule, dict) or not isinstance(exc_rule.get("allowed"), bool) \
            or not _whole(exc_rule.get("deadline_days_before_opening"), 0, MAX_DAYS):
        add("exceptions", f"exceptions need allowed (true or false) and deadline_days_before_opening "
                          f"(0 to {MAX_DAYS})")
    reminders = body.get("reminders_days_before_close")
    if not isinstance(reminders, list) or len(reminders) > 10 or not all(_whole(d, 0, MAX_DAYS) for d in reminders) \
            or len(set(reminders)) != len(reminders):
        add("reminders_days_before_close", f"reminders are a list of at most 10 different whole days "
                                           f"(0 to {MAX_DAYS}) before the close")
    cap = body.get("max_seats_per_affiliation")
    if cap is not None:
        if not _whole(cap, 1, 50):
            add("max_seats_per_affiliation", "the cap on seats per affiliation is a whole number from 1 to 50, "
                                             "or empty for no cap")
        elif "election" not in (kinds if isinstance(kinds, list) else []):
            add("max_seats_per_affiliation", "only a body that holds elections can cap seats per affiliation")
    return problems


def _rules_problems(rules: Any) -> list[tuple[str, str]]:
    if not isinstance(rules, dict):
        return [("rules", "the charter needs its rules (entrenched clauses, publication, discussion)")]
    problems: list[tuple[str, str]] = []
    entrenched = rules.get("entrenched")
    if not isinstance(entrenched, list) or len(entrenched) > MAX_ENTRENCHED or not all(
            isinstance(p, str) and len(p) <= MAX_PATTERN and PATTERN_RE.fullmatch(p) for p in entrenched):
        problems.append(("rules.entrenched", f"entrenched clauses are a list of at most {MAX_ENTRENCHED} clause "
                                             "paths such as rules, documents or bodies.*.eligibility"))
    elif not any(p in ("rules", "rules.entrenched") for p in entrenched):
        problems.append(("rules.entrenched", "the list of entrenched clauses must itself be entrenched "
                                             "(keep rules or rules.entrenched in it)"))
    publication = rules.get("publication")
    if not isinstance(publication, dict) or not isinstance(publication.get("second_approver"), bool):
        problems.append(("rules.publication", "the publication rule needs second_approver (true or false)"))
    else:
        days = publication.get("waiting_days")
        if days is not None and not _whole(days, 1, MAX_DAYS):
            problems.append(("rules.publication", f"waiting_days must be empty or 1 to {MAX_DAYS} days"))
        if not publication["second_approver"] and days is None:
            problems.append(("rules.publication", "a direct publication needs a second approver or a waiting "
                                                  "period without objection"))
    discussion = rules.get("discussion_days")
    if not isinstance(discussion, dict) or not all(_whole(discussion.get(k), 0, MAX_DAYS)
                                                   for k in ("detail", "revision")):
        problems.append(("rules.discussion_days", f"discussion days for detail and revision are 0 to {MAX_DAYS}"))
    if rules.get("open_referendum") not in OPEN_REFERENDUM_POLICIES:
        problems.append(("rules.open_referendum", "a publication during an open referendum is refused or "
                                                  "voids the referendum (refuse or void)"))
    return problems


def validate(data: Any) -> list[tuple[str, str]]:
    """Plain-language problems with a charter (empty when it is usable), each with its field path."""
    if not isinstance(data, dict):
        return [("charter", "the charter must be a JSON object")]
    problems: list[tuple[str, str]] = []
    if (p := _text_problem(data.get("name", ""), "the charter's name", MAX_TITLE)) is not None:
        problems.append(("name", p))
    problems += _rules_problems(data.get("rules"))
    bodies = data.get("bodies")
    if not isinstance(bodies, list) or not bodies:
        problems.append(("bodies", "the charter must name at least one body"))
        bodies = []
    elif len(bodies) > MAX_BODIES:
        problems.append(("bodies", f"the charter may name at most {MAX_BODIES} bodies"))
        bodies = []
    slugs: set[str] = set()
    for i, body in enumerate(bodies, start=1):
        if not isinstance(body, dict):
            problems.append(("bodies", f"body {i} must be an object"))
            continue
        slug = body.get("slug")
        if not isinstance(slug, str) or len(slug) > MAX_SLUG or not SLUG_RE.fullmatch(slug):
            problems.append((f"bodies.{i}.slug", f"body {i} needs a slug of lower-case letters, digits and single "
                                                 f"dashes, at most {MAX_SLUG} characters"))
            continue
        if slug in slugs:
            problems.append((f"bodies.{slug}.slug", f"body slug {slug!r} appears twice"))
        slugs.add(slug)
        problems += _body_problems(body, f"bodies.{slug}")
    if "community" not in slugs and bodies:
        problems.append(("bodies", "the charter must keep the body 'community' (it votes on the charter)"))
    documents = data.get("documents")
    if not isinstance(documents, list) or len(documents) > MAX_DOCUMENTS:
        problems.append(("documents", f"the charter needs a list of at most {MAX_DOCUMENTS} document rules"))
        documents = []
    seen: set[str] = set()
    for i, doc in enumerate(documents, start=1):
        if not isinstance(doc, dict) or not isinstance(doc.get("slug"), str) or len(doc["slug"]) > MAX_SLUG \
                or not SLUG_RE.fullmatch(doc["slug"]):
            problems.append((f"documents.{i}.slug", f"document rule {i} needs a slug of lower-case letters, digits "
                                                    f"and single dashes, at most {MAX_SLUG} characters"))
            continue
        slug = doc["slug"]
        where = f"documents.{slug}"
        if slug in seen:
            problems.append((f"{where}.slug", f"document slug {slug!r} appears twice"))
        seen.add(slug)
        if (p := _text_problem(doc.get("title"), "the title", MAX_TITLE)) is not None:
            problems.append((f"{where}.title", p))
        for key in ("proposers", "voters"):
            if doc.get(key) not in slugs:
                problems.append((f"{where}.{key}", f"{key} must name a body of this charter"))
        for kind in ("detail", "revision"):
            if doc.get(kind) is None and kind == "revision":
                continue  # no revisions accepted
            if (problem := bar_problem(doc.get(kind))) is not None:
                problems.append((f"{where}.{kind}", f"the {kind} bar's {problem}"))
        allowed = doc.get("committee_may_publish", [])
        if not isinstance(allowed, list) or not set(allowed) <= {"detail", "revision"} \
                or len(set(allowed)) != len(allowed):
            problems.append((f"{where}.committee_may_publish", "the committee may publish detail, revision, both "
                                                               "or nothing"))
        elif doc.get("revision") is None and "revision" in allowed:
            problems.append((f"{where}.committee_may_publish", "an entrenched document takes no revision, so the "
                                                               "committee cannot publish one"))
        if not isinstance(doc.get("entrenched", False), bool):
            problems.append((f"{where}.entrenched", "entrenched must be true or false"))
        elif doc.get("entrenched") and doc.get("revision") is not None:
            problems.append((f"{where}.revision", "an entrenched document accepts no revision: leave its revision "
                                                  "bar empty"))
    if documents and CHARTER_SLUG not in seen:
        problems.append(("documents", "the charter must keep its own rule (document 'charter')"))
    charter_rule = next((d for d in documents if isinstance(d, dict) and d.get("slug") == CHARTER_SLUG), None)
    if charter_rule is not None:
        if charter_rule.get("voters") != "community" or charter_rule.get("proposers") != "community":
            problems.append(("documents.charter.voters", "the charter is proposed and voted on by the community"))
        if charter_rule.get("revision") is None:
            problems.append(("documents.charter.revision", "the charter needs a revision bar (its entrenched "
                                                           "clauses change only by referendum at that bar)"))
        if "revision" in (charter_rule.get("committee_may_publish") or []):
            problems.append(("documents.charter.committee_may_publish", "the committee may never publish a "
                                                                        "revision of the charter directly"))
    return problems
