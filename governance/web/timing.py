"""The chair's controls on a poll's times: open now, close early, extend (``polls.timing``).

Views are thin: parse the request, call one service with the request's session, commit once,
redirect or render. The routes belong to the ``polls`` blueprint. A request that breaks a rule is
shown back on the page, field by field, with the rules stated beside the fields; a request that
can no longer take effect (the clock moved on, another manager decided first) is said so plainly
and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..copy import N_, Message
from ..db import get_session
from ..errors import Conflict, InvalidInput, NotAllowed
from ..models import Member
from ..polls import charter as charters
from ..polls import service, timing
from . import i18n
from .filters import display_zone
from .polls import _parse_time, bp, now

#: Fields the page shows their problems beside; any other problem is listed at the top.
FIELDS = ("reason", "closes_at", "decision_reason")
DONE = {"open_now": N_("Voting opens now: the clock freezes the electorate and announces the poll."),
        "close_early": N_("Voting closed early; the count follows as at any close."),
        "extend": N_("Voting is extended; voters see the new closing time and the reason on the poll's page.")}


def history(db, poll) -> list[dict[str, Any]]:
    """The changes that took effect, for the poll page: what changed, from when to when, and why."""
    out = []
    for change in timing.applied(db, poll):
        out.append({"kind": change.kind, "from": timing._parse(change.applied.get("from")),
                    "to": timing._parse(change.applied.get("to")), "reason": change.reason})
    return out


def show_context(db, poll, member) -> dict[str, Any]:
    """The poll page's timing facts: changes made, a request waiting, whether the reader may act."""
    return {"time_changes": history(db, poll),
            "timing_waiting": timing.waiting(db, poll, now()) if poll.status in ("scheduled", "open") else None}


def _page(db, poll, charter, *, status: int = 200, errors=None, form=None, kind: str = ""):
    field_errors: dict[str, list[str]] = {}
    for name, message in errors or []:
        field_errors.setdefault(f"{kind}-{name}" if kind else name, []).append(message)
    moment = now()
    requests = timing.for_poll(db, poll)
    names = {m.id: m.username for m in db.exec(_members([r.requested_by for r in requests]
                                                        + [r.decided_by for r in requests if r.decided_by]))}
    ctx = dict(poll=poll, body=charters.body(charter, poll.body), rules=timing.rules_text(db, poll),
               requests=requests, names=names, waiting=timing.waiting(db, poll, moment), now=moment,
               earliest=timing.earliest_close(db, poll), latest=timing.latest_close(db, poll),
               minimum=timing.minimum_period(db, poll)[1], kinds=timing.KINDS,
               errors=errors or [], field_errors=field_errors, general=[m for f, m in errors or [] if f not in FIELDS],
               zone=display_zone().key, form=form or {}, changes=history(db, poll))
    db.commit()
    return render_template("polls/timing.html", **ctx), status


def _members(ids):
    from sqlmodel import select

    return select(Member).where(Member.id.in_([i for i in ids if i] or [0]))


def _managed_poll(poll_id: int):
    db = get_session()
    poll = service.get(db, poll_id)
    charter = charters.current(db)
    if not charters.may_manage(charter, poll.body, current_user):
        raise NotAllowed(N_("Only the managers of this poll's body may change its times."))
    return db, poll, charter


@bp.route("/<int:poll_id>/timing", methods=["GET", "POST"])
@login_required
def timing_page(poll_id: int):
    """GET: the poll's times, the rules and the requests; POST: ask to open now, close early or extend."""
    db, poll, charter = _managed_poll(poll_id)
    if request.method == "GET":
        return _page(db, poll, charter)
    kind = request.form.get("kind", "")
    problems: list[tuple[str, str]] = []
    closes_at = _parse_time(request.form.get("closes_at"), "closes_at", problems) if kind == "extend" else None
    try:
        if problems:
            raise InvalidInput(problems)
        timing.request(session=db, actor=current_user, charter=charter, poll=poll, kind=kind,
                       reason=request.form.get("reason", ""), closes_at=closes_at, now=now())
    except (InvalidInput, Conflict) as exc:
        return _page_again(db, poll_id, charter, exc, kind)
    db.commit()
    flash(_("Asked to %(action)s: a second manager of the body must approve it before anything changes.",
            action=i18n.translate(timing.KINDS[kind])), "success")
    return redirect(url_for("polls.timing_page", poll_id=poll_id), 303)


@bp.post("/<int:poll_id>/timing/<int:change_id>/approve")
@login_required
def timing_approve(poll_id: int, change_id: int):
    """A second manager approves: the change takes effect at once."""
    db, poll, charter = _managed_poll(poll_id)
    change = _change(db, poll, change_id)
    try:
        timing.approve(session=db, actor=current_user, charter=charter, change=change, now=now())
    except Conflict as exc:
        db.rollback()
        flash(_("Nothing changed: %(reason)s", reason=i18n.translate(exc.message)), "error")
        return redirect(url_for("polls.timing_page", poll_id=poll_id), 303)
    db.commit()
    flash(_(DONE[change.kind]), "success")
    return redirect(url_for("polls.show", poll_id=poll_id), 303)


@bp.post("/<int:poll_id>/timing/<int:change_id>/refuse")
@login_required
def timing_refuse(poll_id: int, change_id: int):
    """A second manager refuses (or the requester withdraws), with a reason."""
    db, poll, charter = _managed_poll(poll_id)
    change = _change(db, poll, change_id)
    try:
        timing.refuse(session=db, actor=current_user, charter=charter, change=change,
                      reason=request.form.get("decision_reason", ""), now=now())
    except (InvalidInput, Conflict) as exc:
        return _page_again(db, poll_id, charter, exc, "decision")
    db.commit()
    flash(_("Request withdrawn.") if change.status == "withdrawn" else _("Request refused; nothing changed."), "info")
    return redirect(url_for("polls.timing_page", poll_id=poll_id), 303)


def _page_again(db, poll_id: int, charter, exc: InvalidInput | Conflict, kind: str):
    """The times page again after a refused step: nothing was saved, the problems beside the form."""
    db.rollback()
    reasons = exc.reasons if isinstance(exc, InvalidInput) else [("", exc.message)]
    return _page(db, service.get(db, poll_id), charter, status=400 if isinstance(exc, InvalidInput) else 409,
                 errors=reasons, form=request.form, kind=kind)


def _change(db, poll, change_id: int):
    change = timing.get(db, change_id)
    if change.poll_id != poll.id:
        from ..errors import NotFound

        raise NotFound(Message("Poll %(poll_id)s has no request %(change_id)s.", poll_id=poll.id, change_id=change_id))
    return change
