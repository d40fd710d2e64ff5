"""HTTP layer: blueprints, error pages, security headers, CSRF and rate limits.

Boundary rule: web -> services (identity, proposals, polls, audit) -> models/db. Views are thin:
parse the request, call one service with the request's session, commit once, render or redirect.
Only this package calls ``abort()``, ``flash()`` or ``login_user()``.
"""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

class _JSONProvider(DefaultJSONProvider):
    """Request JSON nested too deeply for the parser is bad JSON (a 400), not a RecursionError."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint and cross-cutting handler to the app."""
    from . import (  # noqa: F401
        audit,
        auth,
        charter,
        documents,
        errors,
        filters,
        i18n,
        main,
        observe,
        officers,
        polls,
        security,
        timing,
        trustees,
        voting,
    )

    app.json = _JSONProvider(app)

    i18n.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    observe.init_app(app)
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(polls.bp)
    app.register_blueprint(charter.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(audit.bp)
    app.add_url_rule("/", endpoint="index", view_func=main.index)
