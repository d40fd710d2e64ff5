"""Voting pages: the ballot (encrypted in the browser, or on arrival), its review, the receipt, the board.

Views are thin: parse the request, call the voting service with the request's session, commit
once, redirect or render. The routes belong to the ``polls`` blueprint (``polls.ballot``,
``polls.cast``, ``polls.receipt``, ``polls.board`` ...).

A ballot is checked (its proof against the poll's election parameters and the voter's
credential) before the write transaction opens; the service re-checks the poll's state under
its lock. A cast ballot answers with a redirect to its receipt (POST-redirect-GET), so reloading
the receipt never casts again; a resubmitted form carries the same ballot (same tracker), which
is recorded once.
"""

from __future__ import annotations

import json
import secrets

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import crypto
from ..audit import export
from ..copy import N_
from ..db import begin_writing, get_session, reads_first
from ..errors import InvalidInput, NotEligible, NotFound
from ..identity import freshness
from ..polls import ballots as ballot_forms
from ..polls import nominations, service, voting
from ..polls.keys import vote_limit_key
from ..polls.methods import EQUAL_RANKS
from . import i18n
from .auth import forum as page_forum
from .polls import bp, now
from .ratelimit import limited, spend


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _vote_key() -> str:
    """The voting limit's key: per poll, a keyed hash of the member (deleted at the close)."""
    poll_id = request.view_args.get("poll_id", 0)
    return vote_limit_key(_secret(), poll_id, getattr(current_user, "id", 0) or 0)


def _ballot_page(db, box, *, status: int = 200, errors=None, submitted=None):
    poll = box.poll
    options = service.options(db, poll)
    refs = [ballot_forms.OptionRef(o.id, o.label) for o in options]
    ordered = ballot_forms.voter_order(refs, key=_secret().encode(), voter=f"{poll.id}:{current_user.id}")
    by_id = {o.id: o for o in options}
    ranks: dict[int, int] = {}
    choice = None
    if submitted is not None:
        for o in options:
            raw = submitted.get(f"rank-{o.id}", "")
            if ballot_forms.is_small_number(raw):
                ranks[o.id] = int(raw)
        choice = submitted.get("choice")
    statements = {}
    if poll.kind == "election":
        statements = {m.id: n for n, m in nominations.nominations(db, poll, include_withdrawn=False)}
    credential = voting.credential(box, current_user, secret=_secret())
    return render_template(
        "polls/ballot.html", poll=poll, options=[by_id[r.id] for r in ordered], ranks=ranks, choice=choice,
        errors=errors or [], unranked_meaning=i18n.unranked_meaning(poll.method),
        equal_ranks=poll.method in EQUAL_RANKS, statements=statements,
        current_tracker=voting.my_tracker(db, box, current_user, secret=_secret()),
        params_json=json.dumps(box.params.to_dict(), sort_keys=True, separators=(",", ":")),
        credential=credential, form_nonce=secrets.token_hex(16), methods=i18n.method_names(),
        format_tracker=ballot_forms.format_tracker), status


@bp.get("/<int:poll_id>/ballot")
@login_required
def ballot(poll_id: int):
    """The ballot: rank by drag and drop, by keyboard, or by numbers without JavaScript."""
    db = get_session()
    box = voting.ballot_box(db, poll_id)
    if box.poll.status != "open" or box.params is None:
        flash(_("Voting is not open for this poll."), "info")
        return redirect(url_for("polls.show", poll_id=poll_id))
    verdict = service.eligibility(db, box.poll, current_user)
    if not verdict.ok:
        raise NotEligible(N_("You may not vote in this poll."), list(verdict.reasons))
    page = _ballot_page(db, box)
    db.commit()
    return page


def _submitted(box):
    """What the request carries: (encrypted ballot or None, ranking or None, wants receipt, confirmed).

    An encrypted ballot comes as JSON ``{"ballot": {...}}`` or as the form field ``ballot``
    (what the ballot page's script fills in); ranks come as JSON ``{"ranking": ...}`` /
    ``{"choice": ...}`` or as the plain form's ``rank-<option>`` / ``choice`` fields.
    """
    poll = box.poll
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InvalidInput([("ballot", N_("the request must be a JSON object"))])
        wants = data.get("receipt") is True
        if "ballot" in data:
            return data["ballot"], None, wants, True
        return None, ballot_forms.parse_json(method=poll.method, options=box.options, data=data), wants, True
    form = request.form
    wants = form.get("receipt") == "on"
    if form.get("ballot"):
        try:
            encrypted = json.loads(form["ballot"])
        except (ValueError, RecursionError):
            raise InvalidInput([("ballot", N_("the encrypted ballot is not valid JSON; nothing was recorded"))]) from None
        return encrypted, None, wants, True
    ranking = ballot_forms.parse_form(method=poll.method, options=box.options, form=form.to_dict(flat=False))
    return None, ranking, wants, form.get("confirm") == "yes"


@bp.post("/<int:poll_id>/ballot")
@reads_first
@limited("vote", in_transaction=True, key=_vote_key)
@login_required
def cast(poll_id: int):
    """Check and record the ballot (replacing an earlier one), then show its receipt.

    The plain form first shows a review of the ranking (nothing is recorded until the voter
    confirms); the page's script reviews before it encrypts, and the JSON API casts in one step.
    """
    db = get_session()
    box = voting.ballot_box(db, poll_id)
    poll = box.poll
    if request.form.get("poll") not in (None, str(poll.id)):
        raise InvalidInput([("poll", N_("this ballot was filled in for another poll; nothing was recorded"))])
    if poll.status != "open" or box.params is None:
        from ..errors import VotingClosed

        raise VotingClosed("Voting is not open for this poll." if poll.status != "closed" else "Voting has closed.")
    credential = voting.credential(box, current_user, secret=_secret())
    try:
        encrypted, ranking, wants_receipt, confirmed = _submitted(box)
        if encrypted is None and not confirmed:
            db.rollback()
            return _review_page(db, box, ranking)
        if encrypted is None:
            encrypted = voting.encrypt_on_arrival(box, ranking, credential, secret=_secret(),
                                                  form_nonce=request.form.get("nonce", "")[:64])
        tracker = voting.check(box, encrypted, credential)
        # Eligible as of the opening and still now, on a forum record at most 15 minutes old: the
        # forum is read (if need be) before the write transaction, so no write lock waits on it.
        member = current_user._get_current_object()
        try:
            fetched = freshness.fetch_if_stale(member, forum=page_forum(), now=now())
        except NotFound:
            begin_writing(db)
            error = freshness.account_gone(db, member, now=now())
            db.commit()
            raise error from None
        begin_writing(db)
        evidence = freshness.apply(db, member, fetched, now=now(), opened_at=poll.opens_at)
        spend(db)
        receipt = voting.cast(session=db, box=box, member=member, ballot=encrypted,
                              tracker=tracker, credential_value=credential, now=now(), send_receipt=wants_receipt,
                              evidence=evidence)
    except InvalidInput as exc:
        db.rollback()
        if request.is_json:
            raise
        return _ballot_page(db, box, status=400, errors=exc.reasons, submitted=request.form)
    db.commit()
    if request.is_json:
        return {"tracker": receipt.tracker, "replaced": receipt.replaced, "already": receipt.already,
                "seq": receipt.seq, "entry_hash": receipt.entry_hash, "signature": receipt.signature}, 201
    if receipt.already:
        flash(_("This ballot was already recorded; nothing changed."), "info")
    elif receipt.replaced:
        flash(_("Your new ballot replaces your earlier one."), "success")
    return redirect(url_for("polls.receipt", poll_id=poll.id, tracker=receipt.tracker), code=303)


def _review_page(db, box, ranking):
    """The plain form's review step: the ranking as understood, to confirm or change."""
    poll = box.poll
    options = service.options(db, poll)
    ranked = {label for group in ranking for label in group}
    return render_template("polls/review.html", poll=poll, ranking=ranking,
                           unranked=[o.label for o in options if o.label not in ranked],
                           fields=[(k, v) for k, v in request.form.items(multi=True)
                                   if k.startswith("rank-") or k in ("choice", "receipt", "nonce", "poll")],
                           methods=i18n.method_names())


# === Receipts and the bulletin board ============================================================


def _board_poll(poll_id: int):
    db = get_session()
    poll = service.get(db, poll_id)
    if poll.status in ("draft", "nominations", "scheduled") or not poll.fingerprint:
        abort(404)
    return db, poll


@bp.get("/<int:poll_id>/receipt/<tracker>")
def receipt(poll_id: int, tracker: str):
    """A ballot's receipt: its tracker and the signed log entry that recorded it (public data)."""
    db, poll = _board_poll(poll_id)
    found = voting.board_entry(db, poll, ballot_forms.normalise_tracker(tracker))
    if found is None:
        abort(404)
    entry = export.get_entry(db, found.seq)
    db.commit()
    return render_template("polls/receipt.html", poll=poll, ballot=found, entry=entry,
                           tracker=ballot_forms.format_tracker(found.tracker[:16]))


@bp.get("/<int:poll_id>/receipt/<tracker>.json")
def receipt_json(poll_id: int, tracker: str):
    """The receipt as a file, for ``governance-audit verify BUNDLE --receipt FILE``."""
    db, poll = _board_poll(poll_id)
    found = voting.board_entry(db, poll, ballot_forms.normalise_tracker(tracker))
    if found is None:
        abort(404)
    entry = export.get_entry(db, found.seq)
    db.commit()
    body = {"format": "governance-receipt", "version": 1, "poll": poll.id, "fingerprint": poll.fingerprint,
            "tracker": found.tracker, "seq": entry.seq, "entry_hash": entry.hash, "signature": entry.signature or None}
    return Response(json.dumps(body, indent=2, sort_keys=True) + "\n", mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="poll-{poll.id}-receipt-{found.tracker[:16]}.json"'})


@bp.get("/<int:poll_id>/board")
def board(poll_id: int):
    """The bulletin board: every accepted encrypted ballot, in the order the log recorded them."""
    db, poll = _board_poll(poll_id)
    rows = voting.board(db, poll)
    query = ballot_forms.normalise_tracker(request.args.get("tracker", ""))
    found = voting.board_entry(db, poll, query) if query else None
    db.commit()
    return render_template("polls/board.html", poll=poll, rows=rows, query=request.args.get("tracker", ""),
                           found=found, searched=bool(query), format_tracker=ballot_forms.format_tracker)


@bp.get("/<int:poll_id>/board.jsonl")
def board_jsonl(poll_id: int):
    """The bulletin board as JSON lines: seq, tracker, credential, the encrypted ballot, replaced or not."""
    db, poll = _board_poll(poll_id)
    rows = voting.board(db, poll)
    db.commit()
    lines = "".join(json.dumps({"seq": b.seq, "tracker": b.tracker, "credential": b.credential,
                                "superseded": b.superseded, "ballot": b.content},
                               sort_keys=True, separators=(",", ":")) + "\n" for b in rows)
    return Response(lines, mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="poll-{poll.id}-board.jsonl"'})


@bp.get("/<int:poll_id>/election.json")
def election_params(poll_id: int):
    """The poll's election parameters (what every ballot is encrypted under), frozen at opening."""
    db, poll = _board_poll(poll_id)
    db.commit()
    params = crypto.ElectionParams.from_dict(poll.election_params)
    body = {"parameters": params.to_dict(), "fingerprint": params.fingerprint()}
    return Response(json.dumps(body, indent=2, sort_keys=True) + "\n", mimetype="application/json")
