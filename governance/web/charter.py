"""Charter pages: the charter in force, its editor (a form, a diff, then a choice), its raw export,
and the publication requests of the two-person rule with their confirmation pages.

Views are thin: parse the form, call one service with the request's session, commit once, render
or redirect. Every irreversible step has a confirmation page: GET shows what will happen and who
will be told, POST (with CSRF) does it. The raw JSON is only an export.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlmodel import select

from ..db import get_session
from ..errors import Conflict, InvalidInput, NotAllowed
from ..identity.roles import is_committee
from ..models import Member, Poll
from ..polls import approvals
from ..polls import charter as charters
from ..polls.methods import KIND_METHODS
from ..proposals import charter_rules
from ..proposals import service as documents
from ..proposals.diff import diff_html
from . import i18n

bp = Blueprint("charter", __name__, url_prefix="/charter")

MAX_LIST_TEXT = 2000


def _now() -> datetime:
    fake = current_app.config.get("FAKE_NOW")
    return fake if fake is not None else datetime.now(UTC)


def _committee_group() -> str:
    return current_app.config["COMMITTEE_GROUP"]


@bp.before_request
def follow_the_clock() -> None:
    """Requests whose waiting period has passed take effect before anything is shown."""
    if request.method in ("GET", "HEAD"):
        approvals.run_due(engine=current_app.extensions["governance.engine"],
                          immediate=current_app.extensions["governance.engine_immediate"], now=_now())


def readable(text: str) -> str:
    """The charter text without its machine-readable form (for diffs people read)."""
    cut = text.rfind("\n" + charter_rules.FENCE_HEADING + "\n")
    return text[:cut + 1] if cut >= 0 else text


_SUMMARY = re.compile(r'<p class="diff-summary[^"]*">.*?</p>', re.S)


def charter_diff(old_text: str, new_text: str) -> str:
    """The block diff of two charter texts' readable parts, without the block classifier's verdict:
    the charter is classified clause by clause (``charter_rules.classify``), shown next to it."""
    return _SUMMARY.sub("", diff_html(readable(old_text), readable(new_text), context=1), count=1)


# === The charter in force =======================================================================


@bp.get("/", endpoint="show")
def show():
    """The governance charter in force, its history and the requests waiting to take effect."""
    db = get_session()
    versions = charters.versions(db)
    document = charters.document(db)
    version = documents.current_version(db, document)
    pending = _public(db, approvals.list_open(db))
    amendments = documents.list_amendments(db, document, statuses=("draft", "discussion", "voting"))
    written = {d.slug for d in documents.list_documents(db) if d.current_version}
    db.commit()
    data = charters.normalized(versions[0].data)
    return render_template("charter/show.html", charter=versions[0], data=data, versions=versions,
                           version=version, document=document, pending=pending, amendments=amendments,
                           written=written | {charters.CHARTER_SLUG},
                           can_edit=current_user.is_authenticated,
                           committee=is_committee(current_user, current_app.config))


@bp.get("/charter.json", endpoint="export")
def export():
    """The charter in force as JSON (``?version=N`` for an older one): for reading, not for editing."""
    db = get_session()
    number = request.args.get("version", "")
    row = charters.get_version(db, int(number)) if number.isascii() and number.isdigit() and len(number) < 10 \
        else charters.current(db)
    db.commit()
    body = json.dumps(charters.normalized(row.data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'inline; filename="charter-v{row.number}.json"'})


# === The editor =================================================================================


def _split(value: str | None, field: str, problems: list) -> list[str]:
    value = (value or "").strip()
    if len(value) > MAX_LIST_TEXT:
        problems.append((field, "this list is too long"))
        return []
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


def _int(value: str | None, field: str, problems: list, *, empty: Any = None) -> Any:
    value = (value or "").strip()
    if not value:
        return empty
    if not (value.isascii() and value.lstrip("-").isdigit()) or len(value) > 9:
        problems.append((field, "enter a whole number"))
        return empty
    return int(value)


def _bar(form, prefix: str, field: str, problems: list) -> dict[str, Any]:
    return {"threshold": (form.get(f"{prefix}-threshold") or "").strip(),
            "strict": form.get(f"{prefix}-strict") == "on",
            "quorum": _int(form.get(f"{prefix}-quorum"), field, problems, empty=0),
            "voting_days": _int(form.get(f"{prefix}-voting_days"), field, problems)}


def data_from_form(form, base: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The charter the editor's form describes, and the problems of parsing it (numbers, lists)."""
    problems: list[tuple[str, str]] = []
    data = charters.normalized(base)
    data["name"] = (form.get("name") or "").strip()
    rules = data["rules"]
    rules["entrenched"] = [line.strip() for line in (form.get("rules-entrenched") or "").splitlines()
                           if line.strip()][:200]
    rules["publication"] = {"second_approver": form.get("rules-second_approver") == "on",
                            "waiting_days": _int(form.get("rules-waiting_days"), "rules.publication", problems)}
    rules["discussion_days"] = {k: _int(form.get(f"rules-discussion-{k}"), "rules.discussion_days", problems,
                                        empty=0) for k in ("detail", "revision")}
    rules["open_referendum"] = form.get("rules-open_referendum", "")
    bodies = []
    old_bodies = {b["slug"]: b for b in data["bodies"]}
    count = _int(form.get("body-count"), "bodies", problems, empty=0) or 0
    for i in list(range(min(max(count, 0), 200))) + ["new"]:
        prefix = f"body-{i}"
        slug = (form.get(f"{prefix}-slug") or "").strip()
        if i == "new" and not slug:
            continue
        if form.get(f"{prefix}-remove") == "on":
            continue
        where = f"bodies.{slug or i}"
        body = dict(old_bodies.get(slug) or {})
        body.update({
            "slug": slug, "name": (form.get(f"{prefix}-name") or "").strip(),
            "description": (form.get(f"{prefix}-description") or "").strip(),
            "group": (form.get(f"{prefix}-group") or "").strip() or None,
            "kinds": [k for k in KIND_METHODS if form.get(f"{prefix}-kind-{k}") == "on"],
            "managers": _split(form.get(f"{prefix}-managers"), f"{where}.managers", problems),
            "officers": _split(form.get(f"{prefix}-officers"), f"{where}.officers", problems),
            "key_mode": form.get(f"{prefix}-key_mode", ""),
            "certification": {"required": form.get(f"{prefix}-certification-required") == "on",
                              "days": _int(form.get(f"{prefix}-certification-days"), f"{where}.certification",
                                           problems, empty=0)},
            "exceptions": {"allowed": form.get(f"{prefix}-exceptions-allowed") == "on",
                           "deadline_days_before_opening": _int(form.get(f"{prefix}-exceptions-deadline"),
                                                                f"{where}.exceptions", problems, empty=0)},
            "max_seats_per_affiliation": _int(form.get(f"{prefix}-max_seats"), f"{where}.max_seats_per_affiliation",
                                              problems),
        })
        reminders = _split(form.get(f"{prefix}-reminders"), f"{where}.reminders_days_before_close", problems)
        body["reminders_days_before_close"] = [_int(r, f"{where}.reminders_days_before_close", problems, empty=0)
                                               for r in reminders]
        eligibility = dict(body.get("eligibility") or {})
        for key in ("min_trust_level", "min_account_age_days"):
            value = _int(form.get(f"{prefix}-{key}"), f"{where}.eligibility", problems)
            if value is None:
                eligibility.pop(key, None)
            else:
                eligibility[key] = value
        body["eligibility"] = eligibility
        if body["key_mode"] == "trustees":
            body["trustees"] = {"group": (form.get(f"{prefix}-trustees-group") or "").strip(),
                                "count": _int(form.get(f"{prefix}-trustees-count"), f"{where}.trustees", problems),
                                "threshold": _int(form.get(f"{prefix}-trustees-threshold"), f"{where}.trustees",
                                                  problems)}
        else:
            body["trustees"] = None
        bodies.append(body)
    data["bodies"] = bodies
    for i, doc in enumerate(data["documents"]):
        prefix = f"doc-{i}"
        if form.get(f"{prefix}-slug") != doc["slug"]:
            continue  # a document rule the form did not show stays as it is
        where = f"documents.{doc['slug']}"
        doc["title"] = (form.get(f"{prefix}-title") or "").strip()
        doc["proposers"] = form.get(f"{prefix}-proposers", "")
        doc["voters"] = form.get(f"{prefix}-voters", "")
        doc["detail"] = _bar(form, f"{prefix}-detail", f"{where}.detail", problems)
        if form.get(f"{prefix}-no_revision") == "on":
            doc["revision"] = None
        else:
            doc["revision"] = _bar(form, f"{prefix}-revision", f"{where}.revision", problems)
        doc["entrenched"] = form.get(f"{prefix}-entrenched") == "on"
        doc["committee_may_publish"] = [k for k in ("detail", "revision") if form.get(f"{prefix}-publish-{k}") == "on"]
    return data, problems


def _editor(data: dict[str, Any], *, errors=(), preview=None, status: int = 200, form=None):
    db = get_session()
    current = charters.current(db)
    errors = list(errors)
    by_field: dict[str, list[str]] = {}
    for field, message in errors:
        by_field.setdefault(field, []).append(message)
    verdict = documents.may_propose(current, charters.CHARTER_SLUG, current_user, _now())
    db.commit()
    return render_template("charter/edit.html", data=charters.normalized(data), charter=current, errors=errors,
                           field_errors=by_field, preview=preview, kinds=list(KIND_METHODS), form=form or {},
                           committee=is_committee(current_user, current_app.config), verdict=verdict), status


@bp.get("/edit", endpoint="edit")
@login_required
def edit():
    """The charter editor, filled with the charter in force."""
    db = get_session()
    current = charters.current(db)
    db.commit()
    return _editor(current.data)


@bp.post("/edit", endpoint="submit")
@login_required
def submit():
    """``action=preview``: the diff and the classification (nothing stored); then ``amend`` or ``request``."""
    db = get_session()
    current = charters.current(db)
    form = request.form
    data, problems = data_from_form(form, current.data)
    problems += charters.validate(data)
    if not problems:
        problems += charters.orphan_problems(db, data)
    if problems:
        db.rollback()
        return _editor(data, errors=problems, status=400, form=form)
    result = charter_rules.classify(current.data, data)
    if result["kind"] == "unchanged":
        db.rollback()
        return _editor(data, errors=[("charter", "the charter is unchanged: nothing to submit")], status=400,
                       form=form)
    action = form.get("action", "preview")
    now = _now()
    try:
        if action == "amend":
            document = charters.document(db)
            amendment = documents.propose(
                session=db, actor=current_user, charter=current, slug=charters.CHARTER_SLUG,
                base_number=document.current_version, title=form.get("title", ""),
                rationale=form.get("note", ""), source=charter_rules.render(data), now=now)
            db.commit()
            flash(_("Charter amendment #%(id)s saved as a draft (%(kind)s). Open it for discussion when it is "
                    "ready.", id=amendment.id, kind=i18n.word(amendment.kind)), "success")
            return redirect(url_for("documents.amendment", slug=charters.CHARTER_SLUG, amendment_id=amendment.id))
        if action == "request":
            change = approvals.request_charter(session=db, actor=current_user, charter=current,
                                               committee_group=_committee_group(), data=data,
                                               note=form.get("note", ""), now=now)
            db.commit()
            flash(_("Your request is recorded. It takes effect once the forum has been told and a second committee "
                    "member approves it (or the waiting period passes without an objection).")
                  if change.waiting_days is not None else
                  _("Your request is recorded. It takes effect once the forum has been told and a second committee "
                    "member approves it."), "success")
            return redirect(url_for("charter.change", change_id=change.id))
    except (InvalidInput, Conflict, NotAllowed) as exc:
        db.rollback()
        reasons = exc.reasons if isinstance(exc, InvalidInput) else [("charter", exc.message)]
        return _editor(data, errors=reasons, status=exc.status, form=form)
    preview = {"result": result, "diff": charter_diff(charter_rules.render(current.data), charter_rules.render(data)),
               "bar": (charters.document_rule(current, charters.CHARTER_SLUG) or {}).get(result["kind"]),
               "may_publish": result["kind"] in ((charters.document_rule(current, charters.CHARTER_SLUG) or {})
                                                 .get("committee_may_publish") or []),
               "rules": charters.rules(current)}
    db.rollback()
    return _editor(data, preview=preview, form=form)


# === Publication requests =======================================================================


def _change_context(db, change):
    current = charters.current(db)
    people = {i: db.get(Member, i) for i in (change.requested_by, change.approved_by, change.objected_by) if i}
    diff = None
    if change.kind == "document" and change.base_number:
        document = documents.get_document(db, change.document)
        base = documents.get_version(db, document, change.base_number)
        diff = diff_html(base.source_md, change.payload.get("source", ""), context=2)
    elif change.kind == "charter" and change.base_number:
        base = charters.get_version(db, change.base_number)
        diff = charter_diff(charter_rules.render(base.data), charter_rules.render(change.payload.get("data", {})))
    poll = db.get(Poll, change.poll_id) if change.poll_id else None
    return {"change": change, "people": people, "diff": diff, "poll": poll,
            "may_decide": approvals.may_decide(current, change, current_user, _committee_group()),
            "mine": current_user.is_authenticated and current_user.id == change.requested_by,
            "forum_url": current_app.config["DISCOURSE_URL"].rstrip("/")}


def _public(db, changes: list) -> list:
    """The requests the public lists show: a test poll's scheduling is no part of the public record."""
    from ..models import Poll

    ids = {c.poll_id for c in changes if c.poll_id is not None}
    tests = set(db.exec(select(Poll.id).where(Poll.id.in_(ids), Poll.is_test)).all()) if ids else set()
    return [c for c in changes if c.poll_id not in tests]


@bp.get("/changes/", endpoint="changes")
def changes():
    """Every recent request of the two-person rule."""
    db = get_session()
    rows = _public(db, approvals.list_recent(db))
    people = {m.id: m for m in db.exec(select(Member).where(Member.id.in_([c.requested_by for c in rows] or [0])))}
    db.commit()
    return render_template("charter/changes.html", changes=rows, people=people)


@bp.get("/changes/<int:change_id>", endpoint="change")
def change(change_id: int):
    """One request: what it publishes (the diff), who asked, who approved or objected, the notice."""
    db = get_session()
    item = approvals.get(db, change_id)
    ctx = _change_context(db, item)
    db.commit()
    return render_template("charter/change.html", **ctx)


@bp.route("/changes/<int:change_id>/approve", methods=["GET", "POST"], endpoint="approve")
@login_required
def approve(change_id: int):
    """Approve a request as the second member: GET confirms, POST does it."""
    db = get_session()
    item = approvals.get(db, change_id)
    if request.method == "GET":
        ctx = _change_context(db, item)
        db.commit()
        return render_template("charter/confirm_change.html", action="approve", **ctx)
    try:
        approvals.approve(session=db, actor=current_user, charter=charters.current(db), change=item,
                          committee_group=_committee_group(), now=_now())
    except (Conflict, NotAllowed) as exc:
        db.rollback()
        flash(i18n.translate(exc.message), "error")
        return redirect(url_for("charter.change", change_id=change_id), 303)
    db.commit()
    flash(_("Approved. It has taken effect.") if item.status == "applied" else
          _("Approved. It takes effect once the forum notice is posted."), "success")
    return redirect(url_for("charter.change", change_id=change_id))


@bp.route("/changes/<int:change_id>/object", methods=["GET", "POST"], endpoint="object")
@login_required
def object_(change_id: int):
    """Object to a request (or withdraw your own), with a published reason: GET confirms, POST does it."""
    db = get_session()
    item = approvals.get(db, change_id)
    if request.method == "GET":
        ctx = _change_context(db, item)
        db.commit()
        return render_template("charter/confirm_change.html", action="object", **ctx)
    try:
        approvals.object_to(session=db, actor=current_user, charter=charters.current(db), change=item,
                            reason=request.form.get("reason", ""), committee_group=_committee_group(), now=_now())
    except (Conflict, NotAllowed, InvalidInput) as exc:
        db.rollback()
        flash(i18n.translate(exc.message), "error")
        return redirect(url_for("charter.object", change_id=change_id), 303)
    db.commit()
    flash(_("The request is %(status)s; it will not take effect.", status=i18n.word(item.status)), "info")
    return redirect(url_for("charter.change", change_id=change_id))
