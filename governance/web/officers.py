"""Election officers' pages and what members see of them: eligibility exceptions, certification of
a count, reminders (the member's opt-out, the "closes in" notice).

Views are thin: parse the request, call one service (``polls.exceptions``, ``polls.certification``,
``polls.reminders``) with the request's session, commit once, redirect or render. The routes
belong to the ``polls`` blueprint. Every irreversible step (a decision on a request, certifying,
voiding) has a confirmation page; every form carries a CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..db import get_session
from ..errors import InvalidInput, NotAllowed
from ..identity.eligibility import Eligibility
from ..models import PollOption
from ..polls import certification, exceptions, reminders, service
from ..polls import charter as charters
from ..polls import rules as poll_rules
from . import i18n
from .polls import bp, now


@bp.app_template_global("closes_in")
def closes_in(closes_at) -> str:
    """"2 days 4 hours" until ``closes_at`` on the app's clock ("" once it has passed), in the
    page's language."""
    text = reminders.closes_in(closes_at, now())
    if not text or i18n.current_language() == "en":
        return text
    from flask_babel import gettext

    from .filters import plural

    left = int((closes_at - now()).total_seconds())
    days, rest = divmod(left, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return plural(days, "day") + (f" {plural(hours, 'hour')}" if hours else "")
    if hours:
        return plural(hours, "hour") + (f" {plural(minutes, 'minute')}" if minutes else "")
    return plural(minutes, "minute") if minutes else gettext("less than a minute")


def _visible_poll(poll_id: int):
    db = get_session()
    poll = service.get(db, poll_id)
    if poll.status == "draft":
        abort(404)
    return db, poll


# === What the poll page shows ===================================================================


def show_context(db, poll, member) -> dict[str, Any]:
    """The poll page's officer-related facts: the member's request, officers' links, certification."""
    moment = now()
    ctx: dict[str, Any] = {
        "rules": poll.rules or {}, "officer": exceptions.is_officer(poll, member),
        "my_exception": None, "may_ask_exception": False, "exception_deadline": exceptions.deadline(poll),
        "exceptions_count": 0, "certification": None, "may_certify": False, "wants_reminders": None,
    }
    requests = exceptions.for_poll(db, poll) if poll.status != "draft" else []
    ctx["exceptions_count"] = sum(1 for r in requests if r.status == "accepted")
    ctx["pending_exceptions"] = sum(1 for r in requests if r.status == "pending")
    if member is not None and member.is_authenticated:
        mine = next((r for r in requests if r.member_id == member.id), None)
        ctx["my_exception"] = mine
        ctx["may_ask_exception"] = exceptions.may_ask(poll, moment)
        ctx["wants_reminders"] = not reminders.opted_out(db, member)
        if mine is not None and mine.status == "accepted" and poll.status in exceptions.OPEN_FOR_REQUESTS:
            # What the page says before the opening: the officers let the member in.
            from ..identity.service import member_evidence

            ctx["eligibility"] = exceptions.standing(member_evidence(member), poll.opens_at) \
                if poll.opens_at else Eligibility(True)
    if poll.status in ("certifying", "cancelled", "published"):
        ctx["certification"] = certification.pending(db, poll)
        ctx["may_certify"] = poll.status == "certifying" and certification.may_see(db, poll, member)
    return ctx


def results_context(db, poll) -> dict[str, Any]:
    """The results page's extras: the certification, and each candidate's declared affiliation."""
    from sqlmodel import select

    declared = {label: affiliation for label, affiliation in db.exec(
        select(PollOption.label, PollOption.affiliation).where(PollOption.poll_id == poll.id)).all() if affiliation}
    return {"certification": certification.pending(db, poll), "declared": declared,
            "cap": poll_rules.cap(poll.rules or {})}


# === Eligibility exceptions =====================================================================


@bp.get("/<int:poll_id>/exceptions")
def exceptions_page(poll_id: int):
    """Every request for an exception with its decision (public, as in the audit log); officers decide here."""
    db, poll = _visible_poll(poll_id)
    rows = exceptions.for_poll(db, poll)
    ctx = show_context(db, poll, current_user)
    body = charters.body(charters.current(db), poll.body)
    db.commit()
    return render_template("polls/exceptions.html", poll=poll, rows=rows, body=body, **ctx,
                           decidable=poll.status in exceptions.OPEN_FOR_REQUESTS and poll.opens_at is not None
                           and now() < poll.opens_at)


@bp.post("/<int:poll_id>/exceptions")
@login_required
def ask_exception(poll_id: int):
    """Ask the election officers for an exception, with a reason."""
    db, poll = _visible_poll(poll_id)
    try:
        exceptions.request(session=db, poll=poll, member=current_user, reason=request.form.get("reason", ""),
                           now=now())
    except InvalidInput as exc:
        db.rollback()
        flash(_("Nothing was sent: %(reason)s", reason=i18n.translate(exc.message)), "error")
        return redirect(url_for("polls.show", poll_id=poll.id) + "#h-exception", 303)
    db.commit()
    flash(_("Your request is with the election officers; you will be told their decision by forum message."),
          "success")
    return redirect(url_for("polls.show", poll_id=poll.id), 303)


@bp.post("/<int:poll_id>/exceptions/withdraw")
@login_required
def withdraw_exception(poll_id: int):
    """Withdraw your pending request."""
    db, poll = _visible_poll(poll_id)
    exceptions.withdraw(session=db, poll=poll, member=current_user, now=now())
    db.commit()
    flash(_("Your request is withdrawn."), "info")
    return redirect(url_for("polls.show", poll_id=poll.id), 303)


@bp.route("/<int:poll_id>/exceptions/<int:exception_id>/<any(accept, refuse):decision>", methods=["GET", "POST"])
@login_required
def decide_exception(poll_id: int, exception_id: int, decision: str):
    """An election officer accepts or refuses a request: GET confirms, POST decides (with a reason)."""
    db, poll = _visible_poll(poll_id)
    row = exceptions.get(db, poll, exception_id)
    if not exceptions.is_officer(poll, current_user):
        raise NotAllowed(_("Only this poll's election officers decide exceptions."))
    accept = decision == "accept"
    if request.method == "GET":
        problems = []
        if row.status != "pending":
            problems.append(_("this request is %(status)s already", status=i18n.word(row.status)))
        if row.member_id == current_user.id:
            problems.append(_("you cannot decide your own request; another election officer must"))
        db.commit()
        rule = "; ".join(i18n.translate(r) for r in row.rule_reasons)
        what = ([_("%(member)s may vote in poll #%(poll)s although its rule leaves them out (%(rule)s). The standing "
                   "every voter needs still applies.", member=row.username, poll=poll.id, rule=rule)]
                if accept else [_("%(member)s may not vote in poll #%(poll)s; the request is closed.",
                                  member=row.username, poll=poll.id)])
        return render_template(
            "charter/confirm.html",
            title=(_("Accept %(member)s's request", member=row.username) if accept else
                   _("Refuse %(member)s's request", member=row.username)),
            action=url_for("polls.decide_exception", poll_id=poll.id, exception_id=row.id, decision=decision),
            back=url_for("polls.exceptions_page", poll_id=poll.id), button=_("Accept") if accept else _("Refuse"),
            danger=not accept, reason=True, problems=problems,
            what=[*what, _("Their reason: %(reason)s", reason=row.reason)],
            told=[_("%(member)s is told by forum message, with your reason.", member=row.username),
                  _("The request, your decision and your reason are in the public audit log and the poll's "
                    "audit bundle.")])
    try:
        exceptions.decide(session=db, poll=poll, officer=current_user, exception_id=row.id, accept=accept,
                          reason=request.form.get("reason", ""), now=now())
    except InvalidInput as exc:
        db.rollback()
        flash(_("Nothing was decided: %(reason)s", reason=i18n.translate(exc.message)), "error")
        return redirect(url_for("polls.decide_exception", poll_id=poll.id, exception_id=exception_id,
                                decision=decision), 303)
    db.commit()
    flash(_("%(member)s's request is accepted; they will be told.", member=row.username) if accept else
          _("%(member)s's request is refused; they will be told.", member=row.username), "success")
    return redirect(url_for("polls.exceptions_page", poll_id=poll.id), 303)


# === Certification ==============================================================================


@bp.get("/<int:poll_id>/certify")
@login_required
def certify_page(poll_id: int):
    """The count waiting for certification, shown only to the poll's election officers."""
    db, poll = _visible_poll(poll_id)
    result = certification.held_result(db, poll, current_user)
    row = certification.pending(db, poll)
    ballots = len(service_ballots(db, poll))
    db.commit()
    return render_template("polls/certify.html", poll=poll, result=result, row=row, ballots=ballots,
                           methods=i18n.method_names(), candidates=result.get("candidates", []))


def service_ballots(db, poll) -> list:
    """The decoded ballots of a count waiting for certification (for its officers' page)."""
    from ..polls import counting

    return counting.decoded_ballots(db, poll)


@bp.route("/<int:poll_id>/certify/confirm", methods=["GET", "POST"])
@login_required
def certify(poll_id: int):
    """Certify the count: GET confirms, POST publishes it with the certification."""
    db, poll = _visible_poll(poll_id)
    certification.held_result(db, poll, current_user)  # an officer, and a count waiting
    if request.method == "GET":
        db.commit()
        return render_template(
            "charter/confirm.html", title=f"Certify the count of poll #{poll.id}: {poll.title}",
            action=url_for("polls.certify", poll_id=poll.id), back=url_for("polls.certify_page", poll_id=poll.id),
            button="Certify and publish", problems=[],
            what=["The result, the decrypted ballots and the audit bundle are published at once, with your "
                  "certification.", "It cannot be withdrawn."],
            told=["The forum topic of the poll gets the results post, naming you as the certifying officer.",
                  "Your certification is in the public audit log; the verifier checks it."])
    certification.certify(session=db, poll=poll, officer=current_user, now=now())
    db.commit()
    flash(_("The count is certified and published."), "success")
    return redirect(url_for("polls.results", poll_id=poll.id), 303)


@bp.route("/<int:poll_id>/void", methods=["GET", "POST"])
@login_required
def void_count(poll_id: int):
    """Void the count with a stated reason: GET confirms, POST cancels the poll unpublished."""
    db, poll = _visible_poll(poll_id)
    certification.held_result(db, poll, current_user)
    if request.method == "GET":
        db.commit()
        return render_template(
            "charter/confirm.html", title=f"Void the count of poll #{poll.id}: {poll.title}",
            action=url_for("polls.void_count", poll_id=poll.id), back=url_for("polls.certify_page", poll_id=poll.id),
            button="Void the count", danger=True, reason=True, problems=[],
            what=["The poll is cancelled: its result and decrypted ballots are deleted unpublished.",
                  "It cannot be undone; a new poll would have to be held."],
            told=["Your reason is posted in the poll's forum topic and shown on its page.",
                  "The voiding is in the public audit log."])
    try:
        certification.void(session=db, poll=poll, officer=current_user, reason=request.form.get("reason", ""),
                           now=now())
    except InvalidInput as exc:
        db.rollback()
        flash(_("Nothing was voided: %(reason)s", reason=i18n.translate(exc.message)), "error")
        return redirect(url_for("polls.void_count", poll_id=poll.id), 303)
    db.commit()
    flash(_("The count is voided; the poll is cancelled."), "info")
    return redirect(url_for("polls.show", poll_id=poll.id), 303)


# === Reminders ==================================================================================


@bp.route("/reminders", methods=["GET", "POST"])
@login_required
def reminder_settings():
    """Your reminders: on (a forum message before a poll you have not voted in closes) or off."""
    db = get_session()
    if request.method == "POST":
        choice = request.form.get("reminders")
        if choice not in ("on", "off"):
            raise InvalidInput([("reminders", _("choose on or off"))])
        reminders.set_reminders(session=db, member=current_user, wanted=choice == "on")
        db.commit()
        flash(_("Reminders are on.") if choice == "on" else _("Reminders are off: you will get none."), "success")
        return redirect(url_for("polls.reminder_settings"), 303)
    wanted = not reminders.opted_out(db, current_user)
    db.commit()
    return render_template("polls/reminders.html", wanted=wanted)
