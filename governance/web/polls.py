"""Poll pages: list, create, schedule, nominate, vote, results."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("polls", __name__, url_prefix="/polls")
charter_bp = Blueprint("charter", __name__, url_prefix="/charter")
