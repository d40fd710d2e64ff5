"""Home page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..db import get_session

bp = Blueprint("main", __name__)


def index():
    """The home page: what is open, what is coming, how to take part."""
    from ..polls import service

    db = get_session()
    groups = service.list_by_status(db)
    db.commit()
    return render_template("index.html", open_polls=groups["open"], upcoming=groups["upcoming"],
                           results=groups["results"][:3])


@bp.get("/healthz")
def healthz():
    """Liveness and database check for load balancers (JSON, 200 or 503)."""
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
