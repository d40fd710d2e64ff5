"""Pages of the audit area: the event log, one entry, the tree head, bundles and tracker look-up.

Everything here is public and read-only. Ballot entries never name a voter (the log stores none),
and no page puts a username next to a tracker: the tracker page shows a ballot, never who cast it.
The entries of a poll never scheduled (a draft) show without their payload (``audit.withheld``).
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from ..audit import export, log, withheld
from ..copy import N_, Message
from ..db import get_session
from ..errors import InvalidInput, NotFound
from ..models.base import MAX_ID

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50
#: Largest id or sequence number a query may name (the columns are 32-bit on PostgreSQL).
_NUMBER = re.compile(r"[0-9]{1,10}")
_TRACKER = re.compile(r"[0-9a-f]{8,128}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


def _number(name: str, *, required: bool = False) -> int | None:
    """A positive whole number from the query string, or InvalidInput (400) saying what is wrong."""
    raw = request.args.get(name, "").strip()
    if not raw:
        if required:
            raise InvalidInput([(name, Message('give a %(name)s number', name=name))])
        return None
    if not _NUMBER.fullmatch(raw) or not 0 < int(raw) <= MAX_ID:
        raise InvalidInput([(name, Message('%(name)s must be a positive whole number', name=name))])
    return int(raw)


def _in_range(value: int, what: str) -> int:
    if value > MAX_ID:
        raise NotFound(Message('There is no %(what)s %(value)s.', what=what, value=value))
    return value


@bp.get("/")
def index():
    """The event log, newest first, a page at a time; ``?poll=ID`` or ``?document=SLUG`` narrows it."""
    poll_id = _number("poll")
    document = request.args.get("document", "").strip() or None
    if document is not None and not _SLUG.fullmatch(document):
        raise InvalidInput([("document", N_("a document is named by its short name, such as roadmap"))])
    page = export.list_entries(get_session(), poll_id=poll_id, document=document, page=_number("page") or 1,
                               per_page=PER_PAGE)
    head = export.latest_head(get_session())
    return render_template("audit/index.html", page=page, poll_id=poll_id, document=document, head=head)


@bp.get("/entries/<int:seq>")
def entry(seq: int):
    """One entry: its canonical JSON, hash, link to the one before, inclusion proof against the head."""
    session = get_session()
    row = export.get_entry(session, _in_range(seq, "entry"))
    head = export.latest_head(session)
    hidden = withheld.is_withheld(session, row)  # a draft poll's: where it is in the chain, not what it says
    return render_template("audit/entry.html", entry=row, withheld=hidden, withheld_message=withheld.MESSAGE,
                           canonical=withheld.public_json(row) if hidden else export.entry_json(row),
                           proof=export.inclusion(session, row, head), head=head)


@bp.get("/head")
def head():
    """The latest signed tree head, its signature and the public key that checks it."""
    session = get_session()
    data = export.published_head(session)
    size, root = log.current_root(session)
    text = json.dumps(data, indent=2, sort_keys=True) if data else ""
    return render_template("audit/head.html", head=data, head_text=text, key=export.public_key(), log_size=size,
                           log_root=root)


@bp.get("/head.json")
def head_json():
    """The latest tree head as JSON (404 before the first head)."""
    data = export.published_head(get_session())
    if data is None:
        return jsonify(error={"status": 404, "message": "No tree head has been made yet."}), 404
    return jsonify(data)


@bp.get("/polls/<int:poll_id>/bundle.zip")
def bundle(poll_id: int):
    """Download the audit bundle of a closed poll."""
    data = export.poll_bundle(get_session(), _in_range(poll_id, "poll"))
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename={export.bundle_filename(poll_id)}",
        "Cache-Control": "no-cache",
    })


@bp.get("/documents/<slug>/bundle.zip")
def document_bundle(slug: str):
    """Download the audit bundle of a governed document."""
    if len(slug) > 100:
        raise NotFound(Message('There is no document %(value)s.', value=repr(slug[:100])))
    data = export.document_bundle(get_session(), slug)
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename={export.document_filename(slug)}",
        "Cache-Control": "no-cache",
    })


@bp.get("/tracker")
def tracker():
    """Look a tracker up in a closed poll's published ballots."""
    if not request.args.get("poll") and not request.args.get("tracker"):
        return render_template("audit/tracker.html", lookup=None, poll_value="", tracker_value="")
    problems: list[tuple[str, str]] = []
    poll_id = None
    try:
        poll_id = _number("poll", required=True)
    except InvalidInput as exc:
        problems += exc.reasons
    # As the receipt shows it (groups of four joined by dashes) or typed without them.
    code = "".join(request.args.get("tracker", "").split()).replace("-", "").lower()
    if not _TRACKER.fullmatch(code):
        problems.append(("tracker", N_("a tracker is 8 to 128 letters a-f and digits, as your receipt shows it")))
    if problems:
        raise InvalidInput(problems)
    lookup = export.find_tracker(get_session(), poll_id, code)
    if lookup.state == "board":  # encrypted ballots: trackers are on the poll's bulletin board
        return redirect(url_for("polls.board", poll_id=poll_id, tracker=code))
    status = 404 if lookup.state == "not-found" else 200
    return render_template("audit/tracker.html", lookup=lookup, poll_value=str(poll_id),
                           tracker_value=code), status
