"""gunicorn settings for the platform: ``gunicorn -c deploy/gunicorn.conf.py app:app``.

Every value can be overridden on the command line or with ``GUNICORN_CMD_ARGS``. What it adds to
gunicorn's defaults:

* ``on_starting`` builds the app once in the master and checks what every worker would need (the
  configuration, the database, the schema at the newest migration). On any problem the master
  prints one line, ``governance: <reason>``, and exits with status 1 before a worker is forked,
  instead of workers crash-looping forever.
* The gthread worker that stamps each request's arrival (``governance.ops.worker``), so the app
  can shed load (``governance.ops.load``): ``threads`` connections per worker are read and queued,
  ``GOVERNANCE_MAX_IN_FLIGHT`` of them run in the app at once.
* No gunicorn access log (the app writes its own, JSON, without query strings and without ballot
  submissions); gunicorn's error log goes to standard error as JSON.
* ``prometheus_client``'s multiprocess mode in a fresh folder per master, dead workers marked.
"""

import os
import shutil
import sys
import tempfile

bind = os.environ.get("GOVERNANCE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GOVERNANCE_WORKERS", "2"))
worker_class = "governance.ops.worker.StampingThreadWorker"
threads = int(os.environ.get("GOVERNANCE_THREADS", "16"))
# A request that takes longer than this is a bug or a hung database; gunicorn restarts the worker.
timeout = 60
graceful_timeout = 20
keepalive = 5
# Connections waiting in the kernel for a worker to accept them.
backlog = 512

accesslog = None
errorlog = "-"
loglevel = "info"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "governance.ops.logs.JSONFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def on_starting(server):
    """Refuse to start, with one line and a non-zero exit, when the workers could not serve."""
    # Before anything imports prometheus_client: its value class is chosen at import, and the
    # workers inherit this process's modules.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="governance-metrics-")
    from governance.ops.startup import serving_problem

    problem = serving_problem()
    if problem is not None:
        on_exit(server)
        sys.stderr.write(f"governance: {problem}\n")
        sys.stderr.flush()
        os._exit(1)  # before any worker exists
    server.log.info("governance: configuration, database and schema checked")


def child_exit(server, worker):
    """A dead worker's live gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this master made."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if folder.startswith(tempfile.gettempdir() + "/governance-metrics-"):
        shutil.rmtree(folder, ignore_errors=True)
