"""WSGI entry point: ``flask --app app run`` or ``gunicorn app:app``."""

import sys

from governance.config import StartupError
from governance.factory import create_app

try:
    app = create_app()
except StartupError as exc:
    sys.exit(f"governance: {exc}")
