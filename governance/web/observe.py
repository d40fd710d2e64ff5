"""Request ids, the access log, request metrics and the ``/metrics`` endpoint.

Boundary rule: cross-cutting request hooks over ``governance.ops.logs`` and ``governance.ops.metrics``;
no domain logic. Ballot submissions are counted (``governance_ballots_total``), never logged.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request

from ..ops import logs, metrics

bp = Blueprint("observe", __name__)


def _start() -> None:
    g.started = time.monotonic()
    trusted = bool(int(current_app.config.get("TRUSTED_PROXIES") or 0))
    g.request_id = logs.new_request_id(request.headers.get("X-Request-Id"), trusted)
    g.request_id_token = logs.request_id.set(g.request_id)


def _finish(response: Response) -> Response:
    seconds = time.monotonic() - g.get("started", time.monotonic())
    response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
    path = request.path
    if request.method == "POST" and logs.BALLOT_PATH.match(path):
        metrics.ballot(response.status_code)
    metrics.request_done(request.endpoint, response.status_code, seconds)
    logs.access_line(method=request.method, path=path, status=response.status_code, seconds=seconds,
                     client=request.remote_addr)
    return response


def _teardown(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        logs.request_id.reset(token)


@bp.get("/metrics")
def scrape():
    """Prometheus text exposition; a bearer token (GOVERNANCE_METRICS_TOKEN) or loopback only."""
    if not metrics.allowed(request.remote_addr, request.headers.get("Authorization"),
                           str(current_app.config.get("METRICS_TOKEN") or "")):
        abort(403)
    from prometheus_client import CONTENT_TYPE_LATEST

    body = metrics.render(current_app.extensions["governance.engine"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Register the hooks (first, so every request has its id before anything logs) and the endpoint."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
    app.register_blueprint(bp)
