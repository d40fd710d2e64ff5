"""WSGI entry point: ``flask --app app run`` or ``gunicorn -c deploy/gunicorn.conf.py app:app``."""

import sys

from governance.config import StartupError
from governance.factory import create_app
from governance.ops import logs

#: gunicorn's "App failed to load" status: a worker exiting with it stops the whole server
#: (any other status would have the master fork a new worker, forever).
APP_LOAD_ERROR = 4

try:
    app = create_app()
except StartupError as exc:
    sys.stderr.write(f"governance: {exc}\n")
    sys.stderr.flush()
    sys.exit(APP_LOAD_ERROR)

if "gunicorn" not in sys.modules:  # gunicorn's configuration sets up its own logging (JSON too)
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
