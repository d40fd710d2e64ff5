"""Pages of the documents area: current text, permanent versions, history, diffs, amendments.

Views are thin: parse the form, call one service with the request's session, commit once, then
render or redirect. Bad input re-renders the form with the reasons (nothing was stored). Only
stored rendered HTML and ``diff_html`` output are marked safe in the templates.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..copy import N_, Message, plural
from ..db import get_session
from ..errors import Conflict, GovernanceError, InvalidInput, NotAllowed
from ..identity.roles import is_committee
from ..models import Amendment, Member, Poll
from ..polls import approvals
from ..polls import charter as charters
from ..proposals import service
from ..proposals.diff import diff_html
from . import i18n

bp = Blueprint("documents", __name__, url_prefix="/documents")
log = logging.getLogger(__name__)

#: How a changed or moved block changed, in plain words (keys from ``blocks.classify``).
HOW_WORDS = {
    "reworded": "its words change",
    "extended": "text is added to the end of it",
    "relinked": "a link in it points somewhere else",
    "renumbered": "its number in the list changes",
    "restyled": "its heading level, code language or table alignment changes",
    "reordered": "it moves to another place in the text",
    "regrouped": "it stays in order but now sits under other headings",
}
KIND_WORDS = {
    "heading": "heading", "paragraph": "paragraph", "list_item": "list item", "table": "table",
    "code": "code block", "blockquote": "quote", "thematic_break": "divider",
    "html": "raw HTML (shown as text)", "reference": "link definition", "footnote": "footnote",
}
STATUS_WORDS = {
    "draft": "Draft: not yet open for discussion.",
    "discussion": "Open for discussion on the forum.",
    "voting": "Put to a referendum.",
    "adopted": "Adopted: it is part of the document.",
    "rejected": "Rejected by the referendum.",
    "conflicted": "Conflicted: the document changed under it, so it can no longer be voted on.",
    "withdrawn": "Withdrawn by its proposer.",
}


def _now() -> datetime:
    """The current time (tests move it with ``FAKE_NOW`` in the app config, as the poll pages do)."""
    fake = current_app.config.get("FAKE_NOW")
    return fake if fake is not None else datetime.now(UTC)


def _committee() -> bool:
    return is_committee(current_user, current_app.config)


def _number(value: str | None, what: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise InvalidInput([(what, Message('%(what)s must be a version number', what=repr(what)))]) from None


@bp.before_request
def follow_the_clock() -> None:
    """Open and close due polls first, so an amendment's vote and outcome are shown as they stand."""
    from ..polls import clock

    clock.run_due(engine=current_app.extensions["governance.engine"],
                  immediate=current_app.extensions["governance.engine_immediate"],
                  forum=None, now=_now(), secret=current_app.config["SECRET_KEY"],
                  work_limit=clock.REQUEST_WORK_LIMIT)
    if request.method in ("GET", "HEAD"):  # publications whose waiting period has passed
        approvals.run_due(engine=current_app.extensions["governance.engine"],
                          immediate=current_app.extensions["governance.engine_immediate"], now=_now())


@bp.context_processor
def _words():
    """Plain words for the templates of this area, and whether the reader is on the committee."""
    return {"how_words": HOW_WORDS, "kind_words": KIND_WORDS, "status_words": STATUS_WORDS,
            "documents_committee": _committee()}


# === Reading ====================================================================================


@bp.get("/")
def index():
    """Every governed document with its current version and open amendments."""
    session = get_session()
    rows = []
    for document in service.list_documents(session):
        pending = service.list_amendments(session, document, statuses=("draft", "discussion", "voting"))
        rows.append((document, service.current_version(session, document), pending))
    return render_template("documents/index.html", rows=rows)


@bp.get("/<slug>")
def show(slug: str):
    """The document as it stands (its current version)."""
    session = get_session()
    document = service.get_document(session, slug)
    version = service.current_version(session, document)
    current = charters.current(session)
    rule = charters.document_rule(current, slug)
    amendments = service.list_amendments(session, document)
    return render_template("documents/show.html", document=document, version=version, rule=rule,
                           amendments=amendments,
                           authors=_authors(session, [version.author_id] if version else []))


@bp.get("/<slug>/v<int:number>")
def version(slug: str, number: int):
    """One version at its permanent address, with what it superseded shown struck through."""
    session = get_session()
    document = service.get_document(session, slug)
    shown = service.get_version(session, document, number)
    previous = service.get_version(session, document, number - 1) if number > 1 else None
    changes = None
    if previous is not None:
        changes = _amendment_diff(slug, previous.source_md, shown.source_md) if slug == charters.CHARTER_SLUG \
            else diff_html(previous.source_md, shown.source_md, context=2)
    poll = session.get(Poll, shown.poll_id) if shown.poll_id else None
    amendment = session.get(Amendment, shown.amendment_id) if shown.amendment_id else None
    return render_template("documents/version.html", document=document, version=shown, previous=previous,
                           changes=changes, poll=poll, amendment=amendment,
                           authors=_authors(session, [shown.author_id]))


@bp.get("/<slug>/history")
def history(slug: str):
    """Every version, newest first, with how each changed the one before, and every amendment."""
    session = get_session()
    document = service.get_document(session, slug)
    versions = service.list_versions(session, document)
    amendments = service.list_amendments(session, document)
    return render_template("documents/history.html", document=document, versions=versions,
                           amendments=amendments, authors=_authors(session, [v.author_id for v in versions]))


@bp.get("/<slug>/diff")
def diff(slug: str):
    """The block-by-block diff between any two versions (``?from=a&to=b``)."""
    session = get_session()
    document = service.get_document(session, slug)
    if not document.current_version:
        raise Conflict(Message('%(title)s has no version yet.', title=document.title))
    default_to = document.current_version
    to = _number(request.args.get("to") or str(default_to), "to")
    start = _number(request.args.get("from") or str(max(1, to - 1)), "from")
    old = service.get_version(session, document, start)
    new = service.get_version(session, document, to)
    full = request.args.get("full") == "1"
    if slug == charters.CHARTER_SLUG and not full:
        from .charter import charter_diff

        changes = charter_diff(old.source_md, new.source_md)  # its readable text, changes in context
    else:
        changes = diff_html(old.source_md, new.source_md, context=None if full else 2)
    return render_template("documents/diff.html", document=document, old=old, new=new, changes=changes,
                           numbers=range(document.current_version, 0, -1), full=full)


def _authors(session, ids) -> dict[int, Member]:
    return {i: session.get(Member, i) for i in ids if i is not None}


# === Amendments =================================================================================


def _insertions(form) -> list[tuple[int, str]]:
    """The insert-after slots the proposer filled (``insert-<k>``)."""
    pieces = []
    for name, value in form.items():
        if name.startswith("insert-") and value.strip():
            try:
                k = int(name.removeprefix("insert-"))
            except ValueError:
                raise InvalidInput([("insertions", Message('unknown insertion slot %(name)s', name=repr(name)))]) from None
            pieces.append((k, value))
    return sorted(pieces, key=lambda piece: piece[0])


def _form_page(document, *, errors=None, status=200, preview=None):
    """The propose form, filled from the request when re-shown."""
    session = get_session()
    base = service.current_version(session, document)
    if base is None:
        raise Conflict(Message('%(title)s has no version yet; nothing can be amended.', title=document.title))
    current = charters.current(session)
    rule = service.rule_for(current, document.slug)
    verdict = service.may_propose(current, document.slug, current_user, _now())
    form = request.form if request.method == "POST" else {}
    return render_template("documents/propose.html", document=document, base=base, rule=rule,
                           blocks=service.blocks_of(base), verdict=verdict, form=form, errors=errors or [],
                           preview=preview, mode=form.get("mode", "insert")), status


@bp.get("/<slug>/amendments/new")
@login_required
def new_amendment(slug: str):
    """The form: edit the full text, or insert new blocks after chosen ones (the charter: its editor)."""
    if slug == charters.CHARTER_SLUG:
        return redirect(url_for("charter.edit"))
    document = service.get_document(get_session(), slug)
    return _form_page(document)


@bp.post("/<slug>/amendments")
@login_required
def propose(slug: str):
    """Store the amendment (the server classifies it), or show why not; ``preview`` stores nothing."""
    session = get_session()
    document = service.get_document(session, slug)
    form = request.form
    mode = form.get("mode", "insert")
    source = form.get("source", "") if mode == "text" else None
    insertions = None
    try:
        if mode == "insert":
            insertions = _insertions(form)
        elif mode != "text":
            raise InvalidInput([("mode", N_("choose full text or inserted blocks"))])
        if form.get("action") == "preview":
            base, text, result = service.amended_text(session, document, form.get("base"), source=source,
                                                      insertions=insertions)
            preview = {"result": result.to_dict(), "diff": diff_html(base.source_md, text, context=2)}
            return _form_page(document, preview=preview)
        supersedes = (form.get("supersedes") or "").strip()
        if supersedes and not (supersedes.isascii() and supersedes.isdigit() and len(supersedes) <= 100):
            raise InvalidInput([("supersedes", N_("name the amendment it replaces by its number"))])
        amendment = service.propose(
            session=session, actor=current_user, charter=charters.current(session), slug=slug,
            base_number=form.get("base"), title=form.get("title", ""), rationale=form.get("rationale", ""),
            source=source, insertions=insertions, now=_now(),
            supersedes_id=int(supersedes) if supersedes else None)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        reasons = exc.reasons if isinstance(exc, InvalidInput) else [("base", exc.message)]
        return _form_page(document, errors=reasons, status=exc.status)
    session.commit()
    flash(_("Amendment #%(id)s saved as a draft (%(kind)s).", id=amendment.id, kind=i18n.word(amendment.kind)),
          "success")
    return redirect(url_for("documents.amendment", slug=slug, amendment_id=amendment.id))


@bp.get("/<slug>/amendments/<int:amendment_id>")
def amendment(slug: str, amendment_id: int):
    """An amendment: its classification in plain words, the blocks it touches, its diff and its vote."""
    session = get_session()
    document = service.get_document(session, slug)
    item = service.get_amendment(session, document, amendment_id)
    base = service.get_version(session, document, item.base_number)
    poll = session.get(Poll, item.poll_id) if item.poll_id else None
    current = charters.current(session)
    rule = charters.document_rule(current, slug) or {}
    steer = bool(rule) and charters.may_manage(current, rule["voters"], current_user)
    return render_template(
        "documents/amendment.html", document=document, amendment=item, base=base, poll=poll, rule=rule,
        terms=service.bar(rule, item.kind) if rule else None, changes=_amendment_diff(slug, base.source_md, item.source_md),
        proposer=session.get(Member, item.proposer_id), steer=steer,
        mine=current_user.is_authenticated and current_user.id == item.proposer_id,
        superseded_by=service.superseded_by(session, item),
        supersedes=session.get(Amendment, item.supersedes_id) if item.supersedes_id else None,
        forum_url=current_app.config["DISCOURSE_URL"].rstrip("/"))


def _amendment_diff(slug: str, old: str, new: str) -> str:
    """The diff people read: for the charter, its readable text (the structure is compared clause by clause)."""
    if slug == charters.CHARTER_SLUG:
        from .charter import charter_diff

        return charter_diff(old, new)
    return diff_html(old, new, context=2)  # unchanged runs collapse, as in the proposal preview


def _amendment_action(slug: str, amendment_id: int, action, done: str):
    session = get_session()
    document = service.get_document(session, slug)
    item = service.get_amendment(session, document, amendment_id)
    try:
        action(session, item)
    except (InvalidInput, Conflict, NotAllowed) as exc:
        session.rollback()
        flash(i18n.translate(exc.message), "error")
        return redirect(url_for("documents.amendment", slug=slug, amendment_id=amendment_id)), 303
    session.commit()
    flash(i18n.translate(done), "success")
    return None


def _confirm(slug: str, amendment_id: int, step: str):
    """The confirmation page of an amendment's irreversible step: what happens, who is told."""
    session = get_session()
    document = service.get_document(session, slug)
    item = service.get_amendment(session, document, amendment_id)
    current = charters.current(session)
    rule = charters.document_rule(current, slug) or {}
    terms = service.bar(rule, item.kind) if rule else None
    days = charters.rules(current)["discussion_days"].get(item.kind, 0)
    back = url_for("documents.amendment", slug=slug, amendment_id=amendment_id)
    what, told, button, problems = [], [], "", []
    if step == "discussion":
        button = "Open it for discussion"
        what = [f"Amendment #{item.id} ({item.kind}) is opened for discussion and can no longer be edited.",
                f"It can be put to the vote after at least {plural(days, 'day')} of discussion (the charter's minimum for a "
                f"{item.kind})."]
        told = ["A forum topic is posted with its classification, both SHA-256 hashes and a link to the diff."]
    elif step == "vote":
        button = "Put it to the vote"
        opened = item.topic_requested_at
        if opened is not None and _now() < opened + timedelta(days=days):
            problems.append(f"The discussion period runs until {(opened + timedelta(days=days)):%d %B %Y %H:%M} "
                            "UTC; it cannot be put to the vote before.")
        what = [f"A referendum of {rule.get('voters')} opens now on the text with SHA-256 {item.sha256}, against "
                f"version {item.base_number} (SHA-256 {item.base_sha256}); both are frozen while the vote runs.",
                (f"It passes with yes {'more than' if terms.get('strict') else 'at least'} {terms['threshold']} of "
                 f"the votes for or against, at least {terms['quorum']} ballots, after {plural(terms['voting_days'], 'day')}."
                 if terms else "This kind of change is not accepted."),
                f"While it runs, no new version of {document.title} is published"
                + (" (a publication waits)." if charters.rules(current)["open_referendum"] == "refuse"
                   else " unless the committee voids this vote with notice.")]
        told = ["The forum gets the poll's announcement when voting opens; each step is in the audit log."]
    elif step == "withdraw":
        button = "Withdraw the amendment"
        what = [f"Amendment #{item.id} is withdrawn for good."]
        if item.poll_id:
            what.append("Its referendum is cancelled; ballots already cast lapse and are never counted.")
        told = ["The amendment page and the public audit log say so."]
    session.commit()
    return render_template("charter/confirm.html", title=f"{button}: amendment #{item.id} to {document.title}",
                           action=request.path, back=back, button=button, what=what, told=told,
                           problems=problems, danger=step == "withdraw")


@bp.route("/<slug>/amendments/<int:amendment_id>/discussion", methods=["GET", "POST"])
@login_required
def open_discussion(slug: str, amendment_id: int):
    """Open the draft for discussion (GET confirms); the forum topic is posted now or retried later."""
    if request.method == "GET":
        return _confirm(slug, amendment_id, "discussion")
    refused = _amendment_action(slug, amendment_id, lambda session, item: service.open_discussion(
        session=session, actor=current_user, charter=charters.current(session), amendment=item, now=_now()),
        "The amendment is open for discussion; its forum topic is being posted.")
    if refused:
        return refused
    _post_topic(amendment_id)
    return redirect(url_for("documents.amendment", slug=slug, amendment_id=amendment_id))


def _post_topic(amendment_id: int) -> None:
    """Try to post the discussion topic at once (after the commit); ``flask documents topics`` retries."""
    from ..db import engine
    from ..identity.forum import Forum

    app = current_app
    try:
        service.deliver_topics(engine=engine(), immediate=app.extensions["governance.engine_immediate"],
                               forum=Forum.from_config(app.config, max_wait=2.0, timeout=3.0),
                               base_url=app.config["BASE_URL"],
                               category=app.config.get("DISCOURSE_ANNOUNCE_CATEGORY"), now=_now(),
                               amendment_id=amendment_id)
    except GovernanceError as exc:  # recorded on the amendment; retried later
        log.warning("amendment %s: topic not posted yet: %s", amendment_id, exc.message)


@bp.post("/<slug>/amendments/<int:amendment_id>/topic")
@login_required
def link_topic(slug: str, amendment_id: int):
    """The committee links an existing forum topic."""
    return _amendment_action(slug, amendment_id, lambda session, item: service.link_topic(
        session=session, actor=current_user, charter=charters.current(session), amendment=item,
        topic_id=request.form.get("topic_id"), now=_now()), "The discussion topic is linked.") \
        or redirect(url_for("documents.amendment", slug=slug, amendment_id=amendment_id))


@bp.route("/<slug>/amendments/<int:amendment_id>/vote", methods=["GET", "POST"])
@login_required
def start_voting(slug: str, amendment_id: int):
    """Put the amendment to a referendum (GET confirms; the bar of its kind comes from the charter)."""
    if request.method == "GET":
        return _confirm(slug, amendment_id, "vote")
    return _amendment_action(slug, amendment_id, lambda session, item: service.start_voting(
        session=session, actor=current_user, charter=charters.current(session), amendment=item, now=_now()),
        "The referendum is scheduled; voting opens shortly.") \
        or redirect(url_for("documents.amendment", slug=slug, amendment_id=amendment_id))


@bp.route("/<slug>/amendments/<int:amendment_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw(slug: str, amendment_id: int):
    """The proposer withdraws the amendment (GET confirms)."""
    if request.method == "GET":
        return _confirm(slug, amendment_id, "withdraw")
    return _amendment_action(slug, amendment_id, lambda session, item: service.withdraw(
        session=session, actor=current_user, amendment=item, now=_now()), "The amendment is withdrawn.") \
        or redirect(url_for("documents.amendment", slug=slug, amendment_id=amendment_id))


# === Committee publication ======================================================================


def _publish_page(document, *, errors=None, status=200, preview=None):
    session = get_session()
    base = service.current_version(session, document)
    rule = charters.document_rule(charters.current(session), document.slug) or {}
    form = request.form if request.method == "POST" else {}
    return render_template("documents/publish.html", document=document, base=base, rule=rule, form=form,
                           errors=errors or [], preview=preview), status


@bp.route("/<slug>/publish", methods=["GET", "POST"])
@login_required
def publish(slug: str):
    """The committee asks to publish a version directly, where the charter allows it.

    ``action=preview`` shows the classification, the diff and what will happen (the
    confirmation); ``action=request`` records the request: a second committee member approves it
    (or the charter's waiting period passes) and the forum is told before it takes effect.
    """
    if not _committee():
        abort(403, _("Only the steering committee may publish a document version directly."))
    session = get_session()
    document = service.get_document(session, slug)
    if slug == charters.CHARTER_SLUG:
        return redirect(url_for("charter.edit"))
    if request.method == "GET":
        return _publish_page(document)
    form = request.form
    current = charters.current(session)
    try:
        if form.get("action") != "request":
            _document, base, text, result = service.check_publication(
                session=session, charter=current, slug=slug, source=form.get("source", ""),
                base_number=form.get("base"), note=form.get("note", ""))
            service.refuse_if_referendum_open(session, current, document)
            publication = charters.rules(current)["publication"]
            return _publish_page(document, preview={"result": result.to_dict(), "publication": publication,
                                                    "diff": diff_html(base.source_md, text, context=2)})
        change = approvals.request_document(
            session=session, actor=current_user, charter=current, committee_group=current_app.config["COMMITTEE_GROUP"],
            slug=slug, source=form.get("source", ""), base_number=form.get("base"), note=form.get("note", ""),
            now=_now())
    except (InvalidInput, Conflict, NotAllowed) as exc:
        session.rollback()
        reasons = exc.reasons if isinstance(exc, InvalidInput) else [("source", exc.message)]
        return _publish_page(document, errors=reasons, status=exc.status)
    session.commit()
    flash(_("Publication of %(title)s asked for: it takes effect once the forum has been told and a second "
            "committee member approves it.", title=document.title), "success")
    return redirect(url_for("charter.change", change_id=change.id))
