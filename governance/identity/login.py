"""Flask-Login wiring: the user loader resolves server-side session tokens."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager

from ..db import get_session
from . import sessions

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in with your forum account to continue."
login_manager.login_message_category = "info"
# Sessions are server-side rows; Flask-Login's "strong" protection would add nothing but
# surprise logouts behind changing proxies.
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(token: str):
    """Return the member of a live login session, or None (never raise) for anything else."""
    return sessions.resolve(session=get_session(), token=token)


def init_app(app: Flask) -> None:
    """Bind Flask-Login to the app."""
    login_manager.init_app(app)
