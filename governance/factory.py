"""The application factory.

Boundary rule: the only place that assembles Flask, configuration, the database, login and the
blueprints. Kept out of the package ``__init__`` so ``import governance.tally`` pulls in no Flask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure one instance of the application.

    Raises ``config.StartupError`` (a one-line reason) for a configuration that must not run or a
    database that cannot be reached.
    """
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object("governance.config.Defaults")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)  # instance/config.py, never in git
        app.config.from_prefixed_env("GOVERNANCE")  # GOVERNANCE_SECRET_KEY=... etc.
        if app.debug and "GOVERNANCE_ENV" not in os.environ:
            app.config["ENV"] = "development"  # flask run --debug is a developer's machine
    else:
        app.config.update(test_config)

    from . import config

    config.check(app.config)
    _derive(app)
    from .audit.log import check_signing_key

    if (problem := check_signing_key()) is not None:
        # Found now rather than at the first poll close, whose tree head could not be signed.
        raise config.StartupError(problem)

    from . import cli, db
    from .identity import login
    from .ops import load, metrics
    from .web import register_blueprints

    db.init_app(app)
    login.init_app(app)
    cli.init_app(app)
    register_blueprints(app)
    # Outermost: a request the process cannot serve in time is answered before anything else runs.
    app.wsgi_app = load.Admission(
        app.wsgi_app, max_in_flight=load.in_flight_bound(app.config["MAX_IN_FLIGHT"], db.engine_of(app)),
        queue_timeout=app.config["QUEUE_TIMEOUT"],
        deadline=app.config["REQUEST_DEADLINE"], retry_after=app.config["RETRY_AFTER"],
        trust_proxy=bool(int(app.config.get("TRUSTED_PROXIES") or 0)), on_shed=metrics.shed)
    if not app.config.get("TESTING") and not app.config.get("SKIP_DB_CHECK"):
        db.check_connection(app)
    return app


def _derive(app: Flask) -> None:
    """Settings that follow from others."""
    from datetime import timedelta

    secure = app.config["BASE_URL"].startswith("https://")
    app.config.setdefault("SESSION_COOKIE_SECURE", secure)
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE")) or secure
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config["SESSION_LIFETIME_HOURS"]))
    app.config["PREFERRED_URL_SCHEME"] = "https" if secure else "http"
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
