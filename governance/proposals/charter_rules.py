"""The charter as a governed text, and its clause-by-clause classifier.

Boundary rule: pure (no Flask, no database, no other project import but ``polls.charter_schema``,
itself pure). The auditor's verifier uses it too.

The structured charter (the JSON the code reads) is the source of truth; its governed text is
``render(data)``: readable Markdown, one section per clause, ending with the structure itself as
a fenced JSON block. ``parse(text)`` reads the structure back and refuses a text that is not
exactly ``render`` of it, so the text and the structure can never disagree, and the text's
SHA-256 covers both.

``classify(old, new)`` compares the two structures clause by clause (a clause is a path such as
``bodies.sig-security.managers`` or ``documents.roadmap.revision``). A change is a **revision**
(the community's referendum at the charter's revision bar) when it

* changes or removes a clause that the *old* charter entrenches (``rules.entrenched``; the list
  itself sits under ``rules``, so it is entrenched too);
* lowers a bar (threshold, quorum, voting days, strict), lets an entrenched document be revised,
  or weakens the two-person rule, a discussion period or the open-referendum rule;
* widens what the committee may publish directly;
* changes who may vote or propose (a body's group or eligibility, a document's voters or
  proposers), or removes a body or a document rule.

Whatever the entrenched list says, the second group is always a revision. Everything else that
changes (a new SIG, a new document rule, a SIG's managers or description, a stricter bar on a
clause that is not entrenched) is **detail**.
"""

from __future__ import annotations

import json
from typing import Any

from ..polls.charter_schema import normalized, parse_threshold

FENCE_HEADING = "## Machine-readable form"
_FENCE_OPEN = "```json\n"
_FENCE_CLOSE = "\n```\n"


class CharterTextError(ValueError):
    """A charter text that is not the rendering of a charter structure."""


# === Text =======================================================================================


def canonical(data: dict[str, Any]) -> str:
    """The structure as the text carries it: sorted keys, two-space indent, UTF-8 kept."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def _bar_words(bar: dict[str, Any] | None) -> str:
    if not bar:
        return "not accepted"
    return (f"yes {'more than' if bar.get('strict') else 'at least'} {bar.get('threshold')} of the votes for or "
            f"against, at least {bar.get('quorum', 0)} ballots, {bar.get('voting_days')} days of voting")


def _groups(value: Any) -> str:
    return ", ".join(f"`{g}`" for g in value) if value else "nobody"


def render(data: dict[str, Any]) -> str:
    """The charter's governed text (Markdown) for a charter structure."""
    data = normalized(data)
    rules = data["rules"]
    lines = [f"# {data.get('name') or 'Governance charter'}", "",
             "This text is rendered from the charter's structure, given in full at the end; the platform "
             "reads that structure. Clauses marked *entrenched* change only by the community's referendum at "
             "the charter's revision bar.", "",
             "## Rules", "", "### Entrenched clauses", ""]
    lines += [f"- `{p}`" for p in rules["entrenched"]] or ["- none"]
    publication = rules["publication"]
    waiting = publication.get("waiting_days")
    how = []
    if publication.get("second_approver"):
        how.append("a second committee member approves it")
    if waiting is not None:
        how.append(f"{waiting} days pass without an objection")
    lines += ["", "### Direct publication by the committee", "",
              "Every direct publication (charter detail, document detail, scheduling a poll) is announced on the "
              f"forum before it takes effect, and takes effect when {' or '.join(how)}.", "",
              "### Deliberation", "",
              f"An amendment is discussed for at least {rules['discussion_days']['detail']} days (detail) or "
              f"{rules['discussion_days']['revision']} days (revision) before it can be put to the vote.", "",
              "### Publication during a referendum", "",
              ("A new version of a document is refused while a referendum on it is open."
               if rules["open_referendum"] == "refuse" else
               "A new version of a document voids an open referendum on it, with notice; the amendment must be "
               "put to the vote again."), "", "## Bodies", ""]
    for body in data["bodies"]:
        lines += [f"### {body.get('name')} (`{body.get('slug')}`)", ""]
        if body.get("description"):
            lines += [body["description"], ""]
        trustees = body.get("trustees") or {}
        cert = body.get("certification") or {}
        exceptions = body.get("exceptions") or {}
        lines += [
            f"- Members: {'forum group `' + body['group'] + '`' if body.get('group') else 'every forum member'}"
            f"; eligibility `{canonical(body.get('eligibility') or {}).replace(chr(10), ' ')}`",
            f"- May hold: {', '.join(body.get('kinds') or [])}",
            f"- Polls managed by: {_groups(body.get('managers'))}",
            f"- Election officers: {_groups(body.get('officers'))}",
            "- Ballot key: " + ("held by the platform" if body.get("key_mode") == "platform" else
                                f"shared among {trustees.get('count')} trustees of `{trustees.get('group')}`, "
                                f"{trustees.get('threshold')} of whom are needed to count"),
            "- Certification: " + (f"required, within {cert.get('days')} days" if cert.get("required")
                                   else "not required"),
            "- Exceptions: " + (f"allowed until {exceptions.get('deadline_days_before_opening')} days before "
                                "opening" if exceptions.get("allowed") else "not allowed"),
            "- Reminders: " + (", ".join(f"{d} days" for d in body.get("reminders_days_before_close") or [])
                               or "none") + " before the close",
            "- Seats per affiliation: " + (str(body["max_seats_per_affiliation"])
                                          if body.get("max_seats_per_affiliation") else "no cap"),
            "",
        ]
    lines += ["## Documents", ""]
    for doc in data.get("documents") or []:
        lines += [f"### {doc.get('title')} (`{doc.get('slug')}`)", "",
                  f"- Proposed by `{doc.get('proposers')}`, voted on by `{doc.get('voters')}`",
                  f"- Detail: {_bar_words(doc.get('detail'))}",
                  "- Revision: " + ("entrenched, not accepted" if doc.get("revision") is None
                                    else _bar_words(doc.get("revision"))),
                  "- The committee may publish directly: " + (" and ".join(doc.get("committee_may_publish") or [])
                                                              or "nothing"), ""]
    lines += [FENCE_HEADING, "", _FENCE_OPEN + canonical(data) + _FENCE_CLOSE]
    return "\n".join(lines)


def parse(text: str) -> dict[str, Any]:
    """The structure a charter text carries; CharterTextError unless the text is exactly its rendering."""
    if not isinstance(text, str):
        raise CharterTextError("the charter text must be text")
    marker = "\n" + FENCE_HEADING + "\n\n" + _FENCE_OPEN
    start = text.rfind(marker)
    if start < 0 or not text.endswith(_FENCE_CLOSE):
        raise CharterTextError("the charter text has no machine-readable form at its end")
    body = text[start + len(marker):-len(_FENCE_CLOSE)]
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise CharterTextError(f"the charter's machine-readable form is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CharterTextError("the charter's machine-readable form must be an object")
    if render(data) != text:
        raise CharterTextError("the charter text is not the rendering of its machine-readable form; edit the "
                               "charter with the charter editor")
    return data


# === Clauses ====================================================================================


def clauses(data: dict[str, Any]) -> dict[str, Any]:
    """Every clause of a charter by path (``rules.publication``, ``bodies.<slug>.<field>``, ...)."""
    data = normalized(data)
    out: dict[str, Any] = {"name": data.get("name")}
    for key, value in (data.get("rules") or {}).items():
        out[f"rules.{key}"] = value
    for body in data.get("bodies") or []:
        for key, value in body.items():
            if key != "slug":
                out[f"bodies.{body.get('slug')}.{key}"] = value
    for doc in data.get("documents") or []:
        for key, value in doc.items():
            if key != "slug":
                out[f"documents.{doc.get('slug')}.{key}"] = value
    return out


def matches(pattern: str, path: str) -> bool:
    """Whether an entrenched-clause pattern covers a clause path (segment prefix, ``*`` any segment).

    >>> matches("bodies.*.eligibility", "bodies.sig-x.eligibility"), matches("rules", "rules.entrenched")
    (True, True)
    >>> matches("documents.roadmap", "documents.values.detail")
    False
    """
    want, have = pattern.split("."), path.split(".")
    return len(want) <= len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=False))


def _lower_bar(old: Any, new: Any) -> str | None:
    """Why ``new`` is a lower bar than ``old`` (None when it is not lower)."""
    if old is None:
        return None if new is None else "lets a document that accepted no such change take one"
    if new is None:
        return None
    reasons = []
    a, b = parse_threshold(old.get("threshold")), parse_threshold(new.get("threshold"))
    if a is not None and b is not None and b < a:
        reasons.append(f"threshold {old.get('threshold')} → {new.get('threshold')}")
    if old.get("strict") and not new.get("strict"):
        reasons.append("strict → not strict")
    if int(new.get("quorum", 0)) < int(old.get("quorum", 0)):
        reasons.append(f"quorum {old.get('quorum', 0)} → {new.get('quorum', 0)}")
    if int(new.get("voting_days", 0)) < int(old.get("voting_days", 0)):
        reasons.append(f"voting days {old.get('voting_days')} → {new.get('voting_days')}")
    return "lowers a bar (" + ", ".join(reasons) + ")" if reasons else None


def _floor(path: str, old: Any, new: Any) -> str | None:
    """The built-in revision reason for changing clause ``path`` from ``old`` to ``new`` (None: none)."""
    parts = path.split(".")
    field = parts[-1]
    if parts[0] == "bodies" and field in ("group", "eligibility"):
        return f"changes who may vote in {parts[1]}"
    if parts[0] == "documents":
        if field in ("voters", "proposers"):
            return f"changes who {'votes on' if field == 'voters' else 'proposes'} {parts[1]}"
        if field in ("detail", "revision"):
            return _lower_bar(old, new)
        if field == "committee_may_publish" and set(new or []) - set(old or []):
            return f"widens what the committee may publish directly ({', '.join(sorted(set(new) - set(old or [])))})"
        if field == "entrenched" and old and not new:
            return f"removes the entrenchment of {parts[1]}"
    if path == "rules.publication":
        old, new = old or {}, new or {}
        if old.get("second_approver") and not new.get("second_approver"):
            return "drops the second approver of direct publications"
        was, now = old.get("waiting_days"), new.get("waiting_days")
        if now is not None and (was is None or now < was):
            return "lets direct publications take effect after a waiting period" if was is None \
                else f"shortens the waiting period ({was} → {now} days)"
    if path == "rules.discussion_days":
        shorter = [k for k in ("detail", "revision") if int((new or {}).get(k, 0)) < int((old or {}).get(k, 0))]
        if shorter:
            return f"shortens the discussion period ({', '.join(shorter)})"
    if path == "rules.open_referendum" and old != new:
        return "changes what happens to an open referendum when its document changes"
    if path == "rules.entrenched":
        lost = [p for p in old or [] if p not in (new or [])]
        if lost:
            return "removes entrenched clauses (" + ", ".join(lost) + ")"
    return None


def classify(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Compare two charters clause by clause; a dict shaped like ``blocks.Classification.to_dict()``.

    ``kind`` is ``unchanged``, ``detail`` or ``revision``; ``clauses`` lists each changed clause
    with ``path``, ``change`` (added, removed, changed), ``old``, ``new``, ``revision`` and ``why``.
    """
    old_n, new_n = normalized(old), normalized(new)
    before, after = clauses(old_n), clauses(new_n)
    entrenched = list((old_n.get("rules") or {}).get("entrenched") or [])
    old_bodies = {b.get("slug") for b in old_n.get("bodies") or []}
    new_bodies = {b.get("slug") for b in new_n.get("bodies") or []}
    old_docs = {d.get("slug") for d in old_n.get("documents") or []}
    new_docs = {d.get("slug") for d in new_n.get("documents") or []}
    found: list[dict[str, Any]] = []
    for slug in sorted(old_bodies - new_bodies, key=str):
        found.append({"path": f"bodies.{slug}", "change": "removed", "old": None, "new": None, "revision": True,
                      "why": f"removes the body {slug}: its members lose their say"})
    for slug in sorted(new_bodies - old_bodies, key=str):
        found.append({"path": f"bodies.{slug}", "change": "added", "old": None, "new": None, "revision": False,
                      "why": "adds a body"})
    for slug in sorted(old_docs - new_docs, key=str):
        found.append({"path": f"documents.{slug}", "change": "removed", "old": None, "new": None, "revision": True,
                      "why": f"removes the rule of the document {slug}"})
    for slug in sorted(new_docs - old_docs, key=str):
        found.append({"path": f"documents.{slug}", "change": "added", "old": None, "new": None, "revision": False,
                      "why": "adds a document rule"})
    gone = {f"bodies.{s}" for s in old_bodies ^ new_bodies} | {f"documents.{s}" for s in old_docs ^ new_docs}
    for path in sorted(set(before) | set(after)):
        if any(path.startswith(g + ".") for g in gone):
            continue
        a, b = before.get(path), after.get(path)
        if path in before and path in after and a == b:
            continue
        change = "added" if path not in before else "removed" if path not in after else "changed"
        why = _floor(path, a, b)
        if why is None:
            pattern = next((p for p in entrenched if matches(p, path)), None)
            if pattern is not None:
                why = f"changes an entrenched clause ({pattern})"
        found.append({"path": path, "change": change, "old": a, "new": b, "revision": why is not None,
                      "why": why or "detail: no bar, voter or entrenched clause is touched"})
    kind = "unchanged" if not found else "revision" if any(c["revision"] for c in found) else "detail"
    revisions = [c for c in found if c["revision"]]
    if kind == "unchanged":
        summary = "The charter is unchanged."
    elif kind == "detail":
        summary = (f"Detail: {len(found)} clause(s) change, none of them entrenched, no bar lowered, nobody's "
                   "vote changed.")
    else:
        summary = (f"Revision: {len(revisions)} of {len(found)} changed clause(s) need the community's referendum "
                   "at the charter's revision bar: " + "; ".join(f"{c['path']} {c['why']}" for c in revisions[:5])
                   + ("; …" if len(revisions) > 5 else "") + ".")
    return {"kind": kind, "unchanged": kind == "unchanged", "summary": summary, "classifier": "charter-clauses",
            "clauses": found, "removed": [], "changed": [], "moved": [], "inserted": []}
