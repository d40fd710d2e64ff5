"""Home page and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from ..db import get_session

bp = Blueprint("main", __name__)


def index():
    """The home page: what is open, what is coming, how to take part."""
    from ..polls import service
    from . import poll_lists
    from .polls import now

    db = get_session()
    groups = poll_lists.sort_for_lists(service.list_by_status(db))
    shown = groups["open"] + groups["upcoming"] + groups["results"][:3]
    marks, turnouts = poll_lists.marks(db, shown, now()), poll_lists.turnouts(db, shown)
    db.commit()
    return render_template("index.html", open_polls=groups["open"], upcoming=groups["upcoming"],
                           results=groups["results"][:3], marks=marks, turnouts=turnouts)


@bp.get("/healthz")
def healthz():
    """Health for load balancers and monitoring (JSON; 503 when this host cannot serve).

    Database reachable, schema at the newest migration, the clock's last run and the forum
    outbox's backlog; see ``governance.ops.health`` and docs/production.md.
    """
    from ..ops import health

    body, status = health.report(current_app.extensions["governance.engine"], current_app.config)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, status
