"""The check a server runs once before it forks workers: could they serve?

Boundary rule: builds the app the way a worker will (from the environment) and asks the database
about its schema; returns a one-line reason or None. ``deploy/gunicorn.conf.py`` calls it in the
master, so a configuration that cannot serve stops the server with that line and status 1.
"""

from __future__ import annotations


def serving_problem() -> str | None:
    """Why workers built from this environment could not serve (one line), or None."""
    from ..config import StartupError
    from ..db import dispose, schema_problem
    from ..factory import create_app

    try:
        app = create_app()
    except StartupError as exc:
        return str(exc)
    try:
        return schema_problem(app.extensions["governance.engine"])
    finally:
        dispose(app)
