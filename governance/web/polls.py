"""Poll pages: list, create, schedule, nominate, vote, results (the charter pages are in ``web.charter``).

Views are thin: parse the request, call one service with the request's session, commit once,
render or redirect. Domain errors are mapped to HTTP in ``web.errors``; ``InvalidInput`` from a
form is shown back on the form instead.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..audit import withheld
from ..copy import N_, Message
from ..db import get_session
from ..errors import InvalidInput, NotAllowed, NotEligible
from ..identity.eligibility import Rule
from ..models import Member
from ..polls import ballots as ballot_forms
from ..polls import chart, clock, counting, nominations, service, trustees, voting
from ..polls import charter as charters
from ..polls.methods import KIND_METHODS
from . import i18n
from .filters import display_zone, local_time, plural

bp = Blueprint("polls", __name__, url_prefix="/polls")


def now() -> datetime:
    """The current time (tests move it with ``GOVERNANCE_FAKE_NOW`` in the app config)."""
    fake = current_app.config.get("FAKE_NOW")
    return fake if fake is not None else datetime.now(UTC)


@bp.before_request
def follow_the_clock() -> None:
    """Open and close polls whose time has come, before showing anything about them.

    Only for pages (GET): a submission does not need it, because every write checks the poll's
    times itself inside its own transaction (a ballot after the close is refused there).
    """
    if request.method not in ("GET", "HEAD"):
        return
    clock.run_due(engine=current_app.extensions["governance.engine"],
                  immediate=current_app.extensions["governance.engine_immediate"],
                  forum=None, now=now(), secret=current_app.config["SECRET_KEY"],
                  work_limit=clock.REQUEST_WORK_LIMIT)


def _poll(poll_id: int):
    return service.get(get_session(), poll_id)


# === Index and detail ===========================================================================


@bp.get("/")
def index():
    """Open polls, upcoming ones, results."""
    from . import poll_lists

    db = get_session()
    groups = poll_lists.sort_for_lists(service.list_by_status(db))
    charter = charters.current(db)
    mine = _managed(charter)
    slugs = {b["slug"] for b in mine}
    groups["draft"] = [p for p in groups["draft"] if p.body in slugs]  # as show() would let them see
    groups["test"] = [p for p in groups["test"] if p.body in slugs]  # never in the public lists
    drafts_cancelled = withheld.unscheduled(db, [p.id for p in groups["cancelled"]])  # never public either
    groups["cancelled"] = [p for p in groups["cancelled"] if p.id not in drafts_cancelled or p.body in slugs]
    shown = [p for group in groups.values() for p in group]
    marks, turnouts = poll_lists.marks(db, shown, now()), poll_lists.turnouts(db, shown)
    db.commit()
    return render_template("polls/index.html", groups=groups, can_create=bool(mine), methods=i18n.method_names(),
                           marks=marks, turnouts=turnouts)


def _managed(charter) -> list[dict]:
    """The charter's bodies whose polls the current member manages."""
    return [b for b in charter.data["bodies"] if charters.may_manage(charter, b["slug"], current_user)]


@bp.get("/<int:poll_id>")
def show(poll_id: int):
    """A poll: what it decides, who may vote, its state; your eligibility and ballot status."""
    db = get_session()
    poll = _poll(poll_id)
    charter = charters.current(db)
    never_scheduled = poll.status == "draft" or (poll.status == "cancelled" and withheld.unscheduled(db, [poll.id]))
    if never_scheduled and not charters.may_manage(charter, poll.body, current_user):
        abort(404)  # a draft, or a draft cancelled before it was scheduled: the managers' working copy
    ctx = _poll_context(db, poll, charter)
    db.commit()
    return render_template("polls/show.html", **ctx)


def _poll_context(db, poll, charter) -> dict:
    body = charters.body(charter, poll.body)
    ctx = {
        "poll": poll, "body": body, "options": service.options(db, poll), "turnout": service.turnout(db, poll),
        "rule": Rule.from_dict(poll.eligibility or {}), "methods": i18n.method_names(),
        "may_manage": charters.may_manage(charter, poll.body, current_user),
        "nominations": nominations.nominations(db, poll) if poll.kind == "election" else [],
        "eligibility": None, "voted": False, "my_tracker": None, "my_nomination": None, "now": now(),
        "counting": counting.progress(db, poll) if poll.status == "closed" else None,
        "is_trustee": False, "ceremony_stage": trustees.stage(db, poll) if poll.key_mode == "trustees" else None,
    }
    from .poll_lists import Turnout

    ctx["turnout_info"] = Turnout(voters=ctx["turnout"], electorate=poll.electorate_size,
                                  quorum=poll.quorum if poll.kind == "referendum" else 0)
    if current_user.is_authenticated:
        if poll.status == "open":
            ctx["eligibility"] = service.eligibility(db, poll, current_user)
            ctx["voted"] = voting.has_voted(db, poll, current_user)
            if ctx["voted"]:
                box = voting.ballot_box(db, poll.id)
                ctx["my_tracker"] = voting.my_tracker(db, box, current_user, secret=current_app.config["SECRET_KEY"])
        elif poll.status in ("nominations", "scheduled", "draft"):
            ctx["eligibility"] = service.eligibility_now(poll, current_user, now())
        elif poll.status in ("closed", "published"):
            ctx["voted"] = voting.has_voted(db, poll, current_user)
        ctx["my_nomination"] = next((n for n, m in ctx["nominations"] if m.id == current_user.id), None)
        ctx["is_trustee"] = any(t.member_id == current_user.id for t in trustees.trustees(db, poll))
    from . import officers

    ctx.update(officers.show_context(db, poll, current_user))  # exceptions, certification, reminders
    from . import timing

    ctx.update(timing.show_context(db, poll, current_user))  # opened early, closed early, extended
    return ctx


# === Creating and managing =======================================================================


FORM_FIELDS = ("body", "kind", "method", "title", "description", "seats", "options", "quorum", "threshold",
               "min_trust_level", "min_account_age_days", "nominations_open_at", "nominations_close_at",
               "opens_at", "closes_at")


def _parse_time(value: str, field: str, problems: list) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        local = datetime.fromisoformat(value)
        if local.tzinfo is None:
            local = local.replace(tzinfo=display_zone())
        return local.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 east of UTC and the like
        problems.append((field, "enter a date and time such as 2026-12-01T18:00"))
        return None


def _parse_int(value: str, field: str, problems: list, default: int | None = 0) -> int | None:
    value = (value or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        problems.append((field, "enter a whole number"))
        return default
    if not -(2**31) <= number < 2**31:
        problems.append((field, "that number is too large"))
        return default
    return number


def _poll_input(form) -> service.PollInput:
    problems: list[tuple[str, str]] = []
    data = service.PollInput(
        body=form.get("body", ""), kind=form.get("kind", ""), method=form.get("method", ""),
        title=form.get("title", ""), description=form.get("description", ""),
        seats=_parse_int(form.get("seats"), "seats", problems, 1),
        options=[line for line in form.get("options", "").splitlines()],
        default_option=form.get("default_option") == "on",
        quorum=_parse_int(form.get("quorum"), "quorum", problems, 0),
        threshold=form.get("threshold", "1/2"),
        threshold_strict=form.get("threshold_strict") == "on",
        min_trust_level=_parse_int(form.get("min_trust_level"), "min_trust_level", problems, None),
        min_account_age_days=_parse_int(form.get("min_account_age_days"), "min_account_age_days", problems, None),
        trustees=[name for name in re.split(r"[\s,]+", form.get("trustees", "")) if name],
        nominations_open_at=_parse_time(form.get("nominations_open_at"), "nominations_open_at", problems),
        nominations_close_at=_parse_time(form.get("nominations_close_at"), "nominations_close_at", problems),
        opens_at=_parse_time(form.get("opens_at"), "opens_at", problems),
        closes_at=_parse_time(form.get("closes_at"), "closes_at", problems),
        is_test=form.get("is_test") == "on",
    )
    problems += _time_problems(data)
    if problems:
        raise InvalidInput(problems)
    return data


MIN_VOTING = 1  # hours; the same rule as ``service.schedule_problems``


def _time_problems(data: service.PollInput) -> list[tuple[str, str]]:
    """Times that can never be scheduled, told on the form at once (missing times may wait for later)."""
    problems: list[tuple[str, str]] = []
    if data.opens_at and data.closes_at:
        if data.closes_at <= data.opens_at:
            problems.append(("closes_at", N_("voting must close after it opens")))
        elif (data.closes_at - data.opens_at).total_seconds() < MIN_VOTING * 3600:
            problems.append(("closes_at", N_("voting must stay open for at least an hour")))
    if data.kind == "election":
        start, end = data.nominations_open_at, data.nominations_close_at
        if start and end and end <= start:
            problems.append(("nominations_close_at", N_("nominations must close after they open")))
        if end and data.opens_at and end > data.opens_at:
            problems.append(("nominations_close_at", N_("nominations must close no later than voting opens")))
    return problems


def _form_page(template: str, *, charter, status: int = 200, errors=None, form=None, poll=None, source=None):
    field_errors: dict[str, list[str]] = {}
    for name, message in errors or []:
        field_errors.setdefault(name, []).append(message)
    return render_template(template, bodies=_managed(charter), kind_methods=KIND_METHODS, methods=i18n.method_names(),
                           errors=errors or [], field_errors=field_errors, form=form or {}, poll=poll,
                           source=source, zone=display_zone().key), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Create a draft poll (for bodies whose polls you manage)."""
    db = get_session()
    charter = charters.current(db)
    db.commit()
    if not _managed(charter):
        raise NotAllowed(N_("Only members of a body's managing groups (the charter names them) may create polls."))
    if request.method == "GET":
        return _form_page("polls/form.html", charter=charter)
    try:
        poll = service.create(session=db, actor=current_user, charter=charter, data=_poll_input(request.form),
                              now=now())
    except InvalidInput as exc:
        db.rollback()
        return _form_page("polls/form.html", charter=charter, status=400, errors=exc.reasons, form=request.form)
    db.commit()
    flash(_("Draft saved. Check it, then schedule it; a scheduled poll can no longer change."), "success")
    return redirect(url_for("polls.show", poll_id=poll.id))


@bp.route("/<int:poll_id>/edit", methods=["GET", "POST"])
@login_required
def edit(poll_id: int):
    """Edit a draft."""
    db = get_session()
    poll = _poll(poll_id)
    charter = charters.current(db)
    if not charters.may_manage(charter, poll.body, current_user):
        raise NotAllowed(N_("You may not edit this poll."))
    if request.method == "GET":
        form = _form_of(db, poll)
        db.commit()
        return _form_page("polls/form.html", charter=charter, form=form, poll=poll)
    try:
        service.update_draft(session=db, actor=current_user, charter=charter, poll=poll, data=_poll_input(request.form))
    except InvalidInput as exc:
        db.rollback()
        return _form_page("polls/form.html", charter=charter, status=400, errors=exc.reasons, form=request.form,
                          poll=poll)
    db.commit()
    flash(_("Draft updated."), "success")
    return redirect(url_for("polls.show", poll_id=poll.id))


def _form_of(db, poll, *, times: bool = True) -> dict:
    """A poll as the form's fields (times in the reader's zone)."""
    zone = display_zone()

    def local(value):
        return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value and times else ""

    form = {
        "body": poll.body, "kind": poll.kind, "method": poll.method, "title": poll.title,
        "description": poll.description_md, "seats": poll.seats, "quorum": poll.quorum,
        "threshold": poll.threshold, "threshold_strict": "on" if poll.threshold_strict else "",
        "default_option": "on" if poll.default_option else "",
        "options": "\n".join(o.label for o in service.options(db, poll)
                             if not o.is_default and poll.kind == "decision"),
        "min_trust_level": (poll.eligibility or {}).get("min_trust_level", ""),
        "min_account_age_days": (poll.eligibility or {}).get("min_account_age_days", ""),
        "trustees": " ".join(t.username for t in trustees.trustees(db, poll)),
        "nominations_open_at": local(poll.nominations_open_at),
        "nominations_close_at": local(poll.nominations_close_at),
        "opens_at": local(poll.opens_at), "closes_at": local(poll.closes_at),
        "is_test": "on" if poll.is_test else "",
    }
    return form


@bp.get("/<int:poll_id>/clone")
@login_required
def clone(poll_id: int):
    """A new draft's form filled in from this poll (text, options, rule; not its times): saving creates it."""
    db = get_session()
    poll = _poll(poll_id)
    charter = charters.current(db)
    if not charters.may_manage(charter, poll.body, current_user):
        raise NotAllowed(N_("Only the managers of this poll's body may copy it into a new draft."))
    form = _form_of(db, poll, times=False)
    form["title"] = f"Copy of {poll.title}"[:service.MAX_TITLE]
    form["is_test"] = ""  # a rehearsal's copy is the real poll, unless ticked again
    db.commit()
    return _form_page("polls/form.html", charter=charter, form=form, source=poll)


@bp.get("/<int:poll_id>/preview")
@login_required
def preview(poll_id: int):
    """The ballot as a voter will see it, for the poll's managers before it opens (nothing can be cast)."""

    db = get_session()
    poll = _poll(poll_id)
    charter = charters.current(db)
    if not charters.may_manage(charter, poll.body, current_user):
        raise NotAllowed(N_("Only the managers of this poll's body may preview its ballot."))
    options = service.options(db, poll)
    if poll.kind == "election":
        options = [n for n in nominations.nominations(db, poll, include_withdrawn=False)]
    db.commit()
    return render_template("polls/preview.html", poll=poll, options=options, methods=i18n.method_names(),
                           unranked=i18n.unranked_meaning(poll.method), rule=Rule.from_dict(poll.eligibility or {}))


@bp.route("/<int:poll_id>/schedule", methods=["GET", "POST"])
@login_required
def schedule(poll_id: int):
    """Ask to schedule a draft: GET confirms (what is fixed, who approves, who is told), POST asks.

    The poll is scheduled once a second manager of its body approves and the forum notice is
    out (``polls.approvals``); its text, options, rule and times are fixed from then on.
    """
    from ..polls import approvals

    db = get_session()
    poll = _poll(poll_id)
    charter = charters.current(db)
    if not charters.may_manage(charter, poll.body, current_user):
        raise NotAllowed(N_("You may not schedule this poll."))
    if request.method == "GET":
        problems = service.schedule_problems(db, poll, now()) if poll.status == "draft" else []
        body = charters.body(charter, poll.body)
        db.commit()
        return render_template("charter/confirm.html", title=_('Schedule poll #%(id)s: %(title)s', id=poll.id, title=poll.title),
                               action=url_for("polls.schedule", poll_id=poll.id),
                               back=url_for("polls.show", poll_id=poll.id), button=_("Ask to schedule it"),
                               problems=problems, what=[
                                   _("The poll's text, options, electorate rule and times are fixed; voting opens %(value)s and closes %(value2)s.", value=_when(poll.opens_at), value2=_when(poll.closes_at)),
                                   _('It is scheduled when a second manager of %(value)s (%(value2)s) approves, not before.', value=body['name'], value2=', '.join(body['managers'])),
                                   _("Until then the draft cannot be edited; cancelling it ends the request.")],
                               told=[_("The forum gets a notice in plain words with a link to the poll before it "
                                     "is scheduled."), _("Each step is recorded in the public audit log.")])
    try:
        change = approvals.request_schedule(session=db, actor=current_user, charter=charter, poll=poll, now=now())
    except InvalidInput as exc:
        db.rollback()
        flash(_("Nothing was asked: %(reason)s", reason=i18n.translate(exc.message)), "error")
        return redirect(url_for("polls.schedule", poll_id=poll.id), 303)
    db.commit()
    flash(_("Scheduling asked for: a second manager must approve it, and the forum is told first."), "success")
    return redirect(url_for("charter.change", change_id=change.id))


def _when(value) -> str:
    return local_time(value)


@bp.route("/<int:poll_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(poll_id: int):
    """Cancel a poll with a published reason: GET confirms, POST does it (an open poll: the committee only)."""
    db = get_session()
    poll = _poll(poll_id)
    charter = charters.current(db)
    if request.method == "GET":
        if not charters.may_manage(charter, poll.body, current_user):
            raise NotAllowed(N_("You may not cancel this poll."))
        turnout = service.turnout(db, poll)
        db.commit()
        what = [_('Poll #%(id)s is cancelled for good; it can never open or be counted.', id=poll.id)]
        if poll.status == "open":
            what.append(_('Voting is open: the %(value)s cast so far lapse, are never counted and their links to voters are destroyed. Only the steering committee may do this.', value=plural(turnout, 'ballot')))
        return render_template("charter/confirm.html", title=_('Cancel poll #%(id)s: %(title)s', id=poll.id, title=poll.title),
                               action=url_for("polls.cancel", poll_id=poll.id),
                               back=url_for("polls.show", poll_id=poll.id), button=_("Cancel the poll"),
                               danger=True, reason=True, what=what,
                               told=[_("The reason is shown on the poll's page and recorded in the public audit log.")])
    service.cancel(session=db, actor=current_user, charter=charter, poll=poll,
                   reason=request.form.get("reason", ""), committee_group=current_app.config["COMMITTEE_GROUP"])
    db.commit()
    flash(_("Poll cancelled."), "info")
    return redirect(url_for("polls.show", poll_id=poll.id))


# === Nominations ================================================================================


@bp.post("/<int:poll_id>/nominations")
@login_required
def nominate(poll_id: int):
    """Nominate yourself (accepted at once) or another member (they must accept)."""
    db = get_session()
    poll = _poll(poll_id)
    username = request.form.get("username", "").strip() or current_user.username
    from sqlmodel import select

    try:
        nominee = db.exec(select(Member).where(Member.username == username)).first()
        if nominee is None:
            raise InvalidInput([("username", Message('%(username)s has not logged in here yet; they must log in once first',
                                                        username=username))])
        nominations.nominate(session=db, actor=current_user, poll=poll, nominee=nominee,
                             statement=request.form.get("statement", ""),
                             conflicts=request.form.get("conflicts", ""), now=now(),
                             affiliation=_affiliation(request.form))
    except (InvalidInput, NotEligible) as exc:
        return _nomination_form_again(poll_id, "nom", exc)
    db.commit()
    flash(_("Nomination recorded.") if nominee.id == current_user.id else
          _("%(member)s is nominated; they must accept before nominations close.", member=nominee.username),
          "success")
    return redirect(url_for("polls.show", poll_id=poll.id))


@bp.post("/<int:poll_id>/nominations/accept")
@login_required
def accept(poll_id: int):
    """Accept your nomination, with your statement and conflict-of-interest declaration."""
    db = get_session()
    try:
        nominations.accept_nomination(session=db, actor=current_user, poll=_poll(poll_id),
                                      statement=request.form.get("statement", ""),
                                      conflicts=request.form.get("conflicts", ""), now=now(),
                                      affiliation=_affiliation(request.form))
    except InvalidInput as exc:
        return _nomination_form_again(poll_id, "acc", exc)
    db.commit()
    flash(_("You are standing in this election."), "success")
    return redirect(url_for("polls.show", poll_id=poll_id))


def _nomination_form_again(poll_id: int, which: str, exc) -> tuple[str, int]:
    """The poll page again with the nomination form as submitted and each problem beside its field."""
    db = get_session()
    db.rollback()
    if isinstance(exc, InvalidInput):
        problems = exc.reasons
    else:  # NotEligible: the nominee cannot stand
        problems = [("username", i18n.translate(exc.message) + " " + "; ".join(i18n.translate(r) for r in exc.reasons))]
    field_errors: dict[str, list[str]] = {}
    for name, message in problems:
        field_errors.setdefault(name or "username", []).append(message)
    poll = _poll(poll_id)
    ctx = _poll_context(db, poll, charters.current(db))
    db.commit()
    ctx["nomination_form"] = {"which": which, "values": request.form, "errors": field_errors}
    return render_template("polls/show.html", **ctx), 400


def _affiliation(form) -> str | None:
    """The declared affiliation: the text, "" when the candidate ticked "none", None when neither."""
    text = form.get("affiliation", "").strip()
    if text:
        return text
    return "" if form.get("no_affiliation") == "on" else None


@bp.post("/<int:poll_id>/nominations/withdraw")
@login_required
def withdraw(poll_id: int):
    """Withdraw your candidacy (until voting opens)."""
    db = get_session()
    nominations.withdraw_nomination(session=db, actor=current_user, poll=_poll(poll_id), now=now())
    db.commit()
    flash(_("You have withdrawn."), "info")
    return redirect(url_for("polls.show", poll_id=poll_id))


# === Results ====================================================================================


def _published(poll_id: int):
    db = get_session()
    poll = _poll(poll_id)
    if poll.status != "published" or not poll.result:
        from ..errors import Conflict

        raise Conflict(N_("Results are published when the poll closes. Until then only turnout is shown."))
    return db, poll


@bp.get("/<int:poll_id>/results")
def results(poll_id: int):
    """Winners, every round, the flow of votes, the pairwise matrix, turnout, downloads."""
    db, poll = _published(poll_id)
    result = poll.result
    svg = chart.flow_svg(result) if result.get("rounds") and poll.kind != "referendum" else ""
    voters = service.turnout(db, poll)
    ballots_count, invalid = counting.published_counts(db, poll)
    display = {o.label: f"{o.description} (@{o.label})" for o in service.options(db, poll)
               if poll.kind == "election" and o.description and o.description != o.label}
    db.commit()
    from . import explain, officers

    extras = officers.results_context(db, poll)  # the certification, declared affiliations
    db.commit()
    candidates = result.get("candidates", [])
    pairwise = (result.get("details") or {}).get("pairwise")
    if not pairwise and poll.kind == "election" and candidates:
        pairwise = explain.pairwise_of(candidates, [d["ranking"] for d in counting.counted_ballots(db, poll)])
    return render_template("polls/results.html", poll=poll, result=result, chart_svg=svg, voters=voters,
                           ballots_count=ballots_count, invalid=invalid, methods=i18n.method_names(),
                           candidates=candidates, display=display, pairwise=pairwise,
                           story=explain.explain(result, kind=poll.kind, method=poll.method, display=display,
                                                 bar={"threshold": poll.threshold, "quorum": poll.quorum,
                                                      "strict": poll.threshold_strict}),
                           rounds=explain.distinct_rounds(result.get("rounds") or []), **extras)


DOWNLOADS = {"json": "application/json", "csv": "text/csv", "txt": "text/plain", "blt": "text/plain",
             "abif": "text/plain", "toi": "text/plain"}


@bp.get("/<int:poll_id>/results.<fmt>")
def download(poll_id: int, fmt: str):
    """Results (JSON, CSV, text) and ballots (BLT, ABIF, PrefLib TOI) for independent re-counts."""
    if fmt not in DOWNLOADS:
        abort(404)
    db, poll = _published(poll_id)
    from ..tally import blt, formats, report
    from ..tally.core import Profile, Result

    ballots = counting.counted_ballots(db, poll)
    election = counting.election_dict(db, poll)
    db.commit()
    if fmt in ("json", "csv", "txt"):
        recount = counting.tally(election, ballots)
        body = {"json": lambda: json.dumps(poll.result, indent=2, sort_keys=True),
                "csv": lambda: report.to_csv(recount),
                "txt": lambda: report.to_text(recount, title=poll.title)}[fmt]()
        assert isinstance(recount, Result)
    else:
        profile = Profile.build(election["candidates"], [b["ranking"] for b in ballots], seats=election["seats"],
                                title=poll.title)
        body = {"blt": lambda: blt.write_blt(profile), "abif": lambda: formats.write_abif(profile),
                "toi": lambda: formats.write_preflib(profile, kind="toi")}[fmt]()
    name = f"poll-{poll.id}-{'results' if fmt in ('json', 'csv', 'txt') else 'ballots'}.{fmt}"
    return Response(body, mimetype=DOWNLOADS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/<int:poll_id>/ballots")
def ballots(poll_id: int):
    """The published ballot list of a closed poll, by tracker; look up your own."""
    db, poll = _published(poll_id)
    rows = counting.published_ballots(db, poll)
    db.commit()
    if not poll.fingerprint:  # counted before ballots were encrypted: plaintext ballots with trackers
        query = ballot_forms.normalise_tracker(request.args.get("tracker", ""))
        if request.args.get("tracker") and len(query) < 8:
            raise InvalidInput([("tracker", N_("a tracker has 16 letters and digits (0-9, a-f); dashes are optional"))])
        found = next((r for r in rows if r["tracker"] == query), None) if query else None
        return render_template("polls/legacy_ballots.html", poll=poll, rows=rows,
                               query=request.args.get("tracker", ""), found=found, searched=bool(query),
                               format_tracker=ballot_forms.format_tracker)
    return render_template("polls/ballots.html", poll=poll, rows=rows)
