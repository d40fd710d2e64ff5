"""One place that maps errors to HTTP answers: an HTML page, or JSON when the client asks for it.

Every handler first ends the request's database session (rolled back) and renders a page that
needs no database (``errors/error.html`` stands alone), so an error page never fails because the
request's transaction did; should rendering fail all the same, a plain-text answer is sent.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import ForumUnavailable, GovernanceError, InvalidInput, NotEligible, RateLimited
from ..identity.login import login_manager
from ..ops import metrics
from ..ops.load import ClientGone, Overloaded

log = logging.getLogger(__name__)

TITLES = {
    400: lazy_gettext("Bad request"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Not found"),
    405: lazy_gettext("Method not allowed"),
    409: lazy_gettext("Conflict"),
    413: lazy_gettext("Request too large"),
    429: lazy_gettext("Too many requests"),
    500: lazy_gettext("Something went wrong"),
    503: lazy_gettext("Service unavailable"),
}
#: Flask-WTF's reasons for refusing a form.
CSRF_REASONS = {
    "The CSRF token is missing.": lazy_gettext("The CSRF token is missing."),
    "The CSRF session token is missing.": lazy_gettext("The CSRF session token is missing."),
    "The CSRF token has expired.": lazy_gettext("The CSRF token has expired."),
    "The CSRF token is invalid.": lazy_gettext("The CSRF token is invalid."),
    "The CSRF tokens do not match.": lazy_gettext("The CSRF tokens do not match."),
}
#: Werkzeug's own descriptions of the errors it raises, in the page's language.
WERKZEUG = {
    "The requested URL was not found on the server. If you entered the URL manually please check your spelling "
    "and try again.": lazy_gettext("The requested URL was not found on the server. If you entered the URL "
                                   "manually please check your spelling and try again."),
    "The method is not allowed for the requested URL.": lazy_gettext("The method is not allowed for the "
                                                                     "requested URL."),
    "You don't have the permission to access the requested resource. It is either read-protected or not readable "
    "by the server.": lazy_gettext("You don't have the permission to access the requested resource. It is either "
                                   "read-protected or not readable by the server."),
}


def wants_json() -> bool:
    """True when the client prefers JSON to HTML (API clients, fetch calls)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str, *, reasons: list[str] | None = None, headers=None):
    """Render the error page (or JSON) for ``status``, without the request's database session.

    The message and reasons are said in the reader's language (``i18n.translate``)."""
    from ..db import close_session
    from .i18n import translate

    message = str(WERKZEUG.get(message, translate(message)))
    reasons = [translate(reason) for reason in reasons or []]

    close_session(RuntimeError("error page"))  # roll back whatever the request did; the page needs none
    if "_login_user" not in g:
        # Flask-Login's template context would load the member from the database: the page
        # shows no member, so give it the anonymous user without asking.
        g._login_user = login_manager.anonymous_user()
    title = str(TITLES.get(status, _("Error")))
    try:
        if wants_json():
            body = {"error": {"status": status, "title": title, "message": message}}
            if reasons:
                body["error"]["reasons"] = reasons
            response = jsonify(body)
        else:
            response = render_template("errors/error.html", status=status, title=title, message=message,
                                       reasons=reasons or [])
    except Exception:  # noqa: BLE001 - the last resort must not fail
        log.exception("the error page itself failed")
        text = "\n".join([f"{status} {title}", message, *(reasons or [])]) + "\n"
        response = Response(text, mimetype="text/plain")
    return response, status, headers or {}


def handle_http(exc: HTTPException):
    """Werkzeug's HTTP errors (404, 405, 413, ...) as our pages."""
    status = exc.code or 500
    message = exc.description or TITLES.get(status, "")
    if status == 413:
        message = _("The request body is larger than this site accepts.")
    # Keep protocol headers such as Allow (405) or Retry-After, drop the default content type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error_response(status, message, headers=headers)


def handle_csrf(exc: CSRFError):
    """A missing or stale CSRF token: nothing was changed."""
    return error_response(400, _("The form could not be accepted (%(why)s). Nothing was changed; reload the page "
                                 "and try again.", why=str(CSRF_REASONS.get(exc.description, exc.description))))


def handle_domain(exc: GovernanceError):
    """Domain errors raised by services."""
    reasons: list[str] = []
    message = exc.message
    if isinstance(exc, NotEligible):
        reasons = exc.reasons
    elif isinstance(exc, InvalidInput):
        reasons = [msg for _field, msg in exc.reasons]
        if len(reasons) == 1:
            message, reasons = reasons[0], []
        else:
            message = _("The request could not be accepted; nothing was changed.")
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, ForumUnavailable):
        headers["Retry-After"] = "30"
    return error_response(exc.status, message, reasons=reasons, headers=headers)


def handle_500(exc: InternalServerError):
    """An unexpected failure: roll back, log, and show a page without internals."""
    original = exc.original_exception
    if isinstance(original, SQLAlchemyError):
        metrics.database_error(type(original).__name__)
        problem = _schema_problem()
        if problem is not None:
            return error_response(503, _("The site is not set up correctly: %(problem)s. Nothing was saved.",
                                         problem=problem), headers={"Retry-After": "60"})
    log.error("unhandled error", extra={"event": "error.unhandled", "method": request.method,
                                        "path": request.path}, exc_info=original)
    return error_response(500, _("An unexpected error occurred. Nothing you submitted was half-saved; please try "
                                 "again."))


def _schema_problem() -> str | None:
    """Why the database cannot serve this code (never migrated, behind), or None; never raises."""
    from ..db import schema_problem

    try:
        return schema_problem(current_app.extensions["governance.engine"])
    except Exception:  # noqa: BLE001 - asked while handling another failure
        return None


def handle_database_unavailable(exc: OperationalError):
    """The database did not answer in time (busy past its timeout, or down), or has no schema: nothing was saved."""
    metrics.database_error(type(exc).__name__)
    problem = _schema_problem()
    if problem is not None:
        return error_response(503, _("The site is not set up correctly: %(problem)s. Nothing was saved.",
                                     problem=problem), headers={"Retry-After": "60"})
    log.warning("database unavailable", extra={"event": "database.unavailable", "method": request.method,
                                               "path": request.path,
                                               "error": str(exc.orig if exc.orig is not None else exc).splitlines()[0]})
    message = _("The database is busy or unreachable right now. Nothing you submitted was saved; please try "
                "again in a moment.")
    return error_response(503, message, headers={"Retry-After": "5"})


def handle_overloaded(exc: Overloaded):
    """Too busy to take this in time (its deadline passed before it could write): nothing was saved."""
    metrics.shed("deadline")
    return error_response(503, exc.message, headers={"Retry-After": str(exc.retry_after)})


def handle_client_gone(exc: ClientGone):
    """The client closed the connection before the commit: the work was rolled back; nobody reads this."""
    metrics.shed("client_gone")
    return error_response(503, _("The connection was closed before the request finished; nothing was saved."),
                          headers={"Retry-After": "1"})


def init_app(app: Flask) -> None:
    """Register every handler."""
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(Overloaded, handle_overloaded)
    app.register_error_handler(ClientGone, handle_client_gone)
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(GovernanceError, handle_domain)
    app.register_error_handler(InternalServerError, handle_500)
    app.register_error_handler(HTTPException, handle_http)
