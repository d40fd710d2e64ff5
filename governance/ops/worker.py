"""The gunicorn worker the shipped configuration uses: gthread, with each request's arrival stamped.

Boundary rule: imported by gunicorn only (``worker_class`` in ``deploy/gunicorn.conf.py``). It
changes nothing in how requests are served; it records when a connection was queued for a thread
so that ``governance.ops.load`` can tell how long a request waited before the app saw it.
"""

from __future__ import annotations

import time

from gunicorn.workers.gthread import ThreadWorker

from . import load


class StampingThreadWorker(ThreadWorker):
    """gthread, plus the time each request was queued for a worker thread."""

    def enqueue_req(self, conn):
        conn.governance_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn):
        load.stamp(getattr(conn, "governance_queued_at", None))
        return super().handle(conn)
