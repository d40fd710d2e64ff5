"""Log in with the forum account (DiscourseConnect) and log out."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user

from ..db import get_session, write_session
from ..errors import ForumUnavailable, NotAllowed, NotFound
from ..identity import discourse, service, sessions, webhooks
from ..identity.budget import Budget
from ..identity.forum import Forum
from ..identity.redirects import safe_next
from ..models.base import utcnow
from . import csrf, i18n
from .ratelimit import login_address_ceiling, login_failed, login_per_account, login_per_browser

bp = Blueprint("auth", __name__, url_prefix="/auth")

BROWSER_KEY = "login_browser"


@bp.before_request
def only_top_level_navigation():
    """Refuse login steps loaded as images, scripts or frames (e.g. an image in a document).

    Browsers say what a request is for in Sec-Fetch-Dest; a login is only ever a page the member
    navigates to. Without this, ``![](/auth/login)`` in a roadmap would make every reader's
    browser start a login and spend their login rate limit.
    """
    dest = request.headers.get("Sec-Fetch-Dest")
    if dest is not None and dest not in ("document", "empty"):
        abort(400, description=_("Log in by following a link, not from an embedded resource."))


def return_url() -> str:
    """The fixed DiscourseConnect return URL, from the configured public base URL."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for("auth.sso")


#: A page waits on the forum's API at most this long: 1 s to connect, 2 s for the answer, and no
#: sleeping through a 429 back-off (``GOVERNANCE_FORUM_CONNECT_TIMEOUT``, ``..._READ_TIMEOUT``).
PAGE_TIMEOUT = (1.0, 2.0)


def forum() -> Forum:
    """The forum API adapter for a page: bounded waits, within the shared API budget."""
    config = current_app.config
    budget = Budget(current_app.extensions["governance.engine_counters"],
                    limit_per_minute=int(config.get("DISCOURSE_API_LIMIT", 60)))
    timeout = (float(config.get("FORUM_CONNECT_TIMEOUT", PAGE_TIMEOUT[0])),
               float(config.get("FORUM_READ_TIMEOUT", PAGE_TIMEOUT[1])))
    return Forum.from_config(config, max_wait=0.0, timeout=timeout, budget=budget)


@bp.get("/login")
@login_address_ceiling
def login():
    """Start a DiscourseConnect login and send the browser to the forum."""
    next_path = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path)
    browser = session.get(BROWSER_KEY)
    if not browser:
        browser = session[BROWSER_KEY] = secrets.token_urlsafe(24)
    login_per_browser(browser)
    db = get_session()
    nonce = service.begin_login(session=db, browser_token=browser, next_path=next_path)
    db.commit()
    params = discourse.request_params(current_app.config["DISCOURSE_CONNECT_SECRET"], nonce=nonce,
                                      return_sso_url=return_url())
    forum_url = current_app.config["DISCOURSE_URL"].rstrip("/")
    return redirect(f"{forum_url}/session/sso_provider?{urlencode(params)}")


@bp.get("/sso")
@login_address_ceiling
def sso():
    """The DiscourseConnect return URL: verify, consume the nonce, log in.

    Once the forum's signed answer checks out (signature, and a live nonce of this browser), the
    login counts against that forum account's limit, not the address's, which a whole room may
    share; an answer that fails the check counts against the address's failure limit.
    """
    secret = current_app.config["DISCOURSE_CONNECT_SECRET"]
    account = service.answer_account(session=get_session(), secret=secret, sso=request.args.get("sso"),
                                     sig=request.args.get("sig"), browser_token=session.get(BROWSER_KEY))
    if account is None:
        login_failed()  # complete_login below refuses it with the reason
    else:
        login_per_account(account)
    first_login = account is not None and not service.is_known(get_session(), account)
    # The writes take the write lock when they start (BEGIN IMMEDIATE on SQLite), so of two
    # callbacks racing with one nonce the second waits, finds it spent and gets a 400, not a 500.
    with write_session() as db:
        member, next_path = service.complete_login(
            session=db, forum=forum(), secret=secret,
            sso=request.args.get("sso"), sig=request.args.get("sig"),
            browser_token=session.get(BROWSER_KEY), return_url=return_url())
        if not member.is_active:
            # Flask-Login refuses inactive members: say so rather than welcome them and not log
            # them in, and end any session they still hold (the forum's verdict is news to us).
            sessions.revoke_all(session=db, member=member)
            db.commit()
            raise NotAllowed("Your forum account is suspended or not activated, so you cannot log in here.")
        lifetime = timedelta(hours=int(current_app.config["SESSION_LIFETIME_HOURS"]))
        sessions.start(session=db, member=member, lifetime=lifetime)
        db.commit()
    # A fresh session after login: nothing from before carries over but the language chosen.
    i18n.keep_choice_across(session.clear)
    session.permanent = True
    login_user(member)
    if first_login and member.stale_since is None and (language := forum_language(member.username)) is not None:
        session[i18n.FORUM] = language
        refresh()  # this request's language was chosen before the session knew it
    flash(_("Welcome, %(name)s.", name=member.name or member.username), "success")
    return redirect(safe_next(next_path))


def forum_language(username: str) -> str | None:
    """The shipped language of the member's forum locale, or None (site default, or the forum
    could not say within a second: the login goes on, in the browser's language).

    Asked at a member's first login here only (the login that reads their record from the API
    anyway), and not when the forum already failed that login: a known member logs in without any
    API call, so that logins never spend the forum API budget that ballots' freshness checks need.
    Discourse's signed login answer does not carry the locale, and it is not stored here."""
    config = current_app.config
    budget = Budget(current_app.extensions["governance.engine_counters"],
                    limit_per_minute=int(config.get("DISCOURSE_API_LIMIT", 60)))
    quick = Forum.from_config(config, max_wait=0.0, timeout=(1.0, 1.0), budget=budget)
    try:
        return i18n.supported(quick.locale_of(username))
    except (ForumUnavailable, NotFound):
        return None


@bp.post("/logout")
@login_required
def logout():
    """End the session server-side, so the old cookie no longer works."""
    db = get_session()
    sessions.revoke(session=db, token=current_user.get_id())
    db.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.logged_out"))


@bp.get("/logged-out")
def logged_out():
    """After logging out here: offer to log out of the forum too (else the next login is silent)."""
    return render_template("auth/logged_out.html", forum_done=request.args.get("forum") == "done",
                           forum_url=current_app.config["DISCOURSE_URL"].rstrip("/"))


@bp.post("/forum-logout")
def forum_logout():
    """Log out of the forum too: DiscourseConnect's ``logout=true`` request, signed like a login.

    Discourse's ``sso_provider`` ends the forum session and sends the browser back to the signed
    ``return_sso_url`` (ours, fixed: not an open redirect). It is a POST with our CSRF token, so
    no other site can log a member out of the forum through us.
    """
    if current_user.is_authenticated:  # the header's button logs out here first
        sessions.revoke(session=get_session(), token=current_user.get_id())
        get_session().commit()
        logout_user()
        session.clear()
    back = current_app.config["BASE_URL"].rstrip("/") + url_for("auth.logged_out", forum="done")
    params = discourse.request_params(current_app.config["DISCOURSE_CONNECT_SECRET"],
                                      nonce=secrets.token_urlsafe(16), return_sso_url=back, logout=True)
    forum_url = current_app.config["DISCOURSE_URL"].rstrip("/")
    return redirect(f"{forum_url}/session/sso_provider?{urlencode(params)}", 303)


@bp.post("/forum-webhook")
@csrf.exempt
def forum_webhook():
    """Discourse's account webhooks (see docs/identity.md): signed, never replayed, applied."""
    secret = current_app.config.get("DISCOURSE_WEBHOOK_SECRET") or ""
    body = request.get_data(cache=False)
    with write_session() as db:
        done = webhooks.receive(db, secret=secret, headers=request.headers, body=body, now=utcnow())
        db.commit()
    return jsonify({"ok": True, "done": done})
