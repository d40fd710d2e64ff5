"""Health, metrics and logs, read as an operator (and an observer of the logs) would read them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session

from governance.models import Outbox
from governance.ops import heartbeat
from tests.ops.support import cast, get, open_poll_now, serving, settings


def test_health_reports_the_clock_and_the_outbox(app, runner):
    health = app.test_client().get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "degraded"  # no clock run yet
    assert health.json["checks"]["clock"] == {"ok": False, "last_tick": None, "age_seconds": None,
                                              "bound_seconds": 300}
    assert runner.invoke(args=["polls", "tick"]).exit_code == 0
    health = app.test_client().get("/healthz").json
    assert health["status"] == "ok" and health["checks"]["clock"]["age_seconds"] <= 5
    engine = app.extensions["governance.engine"]
    old = datetime.now(UTC) - timedelta(hours=2)
    with Session(engine) as s:
        s.add(Outbox(kind="head", payload={"head": 1}, created_at=old, next_attempt_at=old, attempts=3))
        s.add(Outbox(kind="head", payload={"head": 2}))
        s.commit()
    outbox = app.test_client().get("/healthz").json["checks"]["outbox"]
    assert outbox["undelivered"] == 2 and outbox["failing"] == 1 and outbox["ok"] is False
    assert outbox["oldest_age_seconds"] >= 7000


def test_a_stuck_clock_is_reported(app):
    heartbeat.beat(app.extensions["governance.engine"], datetime.now(UTC) - timedelta(minutes=20))
    clock = app.test_client().get("/healthz").json["checks"]["clock"]
    assert clock["ok"] is False and clock["age_seconds"] >= 1200


def test_two_clocks_keep_the_newest_heartbeat(app):
    engine = app.extensions["governance.engine"]
    now = datetime.now(UTC)
    heartbeat.beat(engine, now)
    heartbeat.beat(engine, now - timedelta(minutes=5))  # a slower host finishing later
    with engine.connect() as conn:
        assert heartbeat.last_beat(conn) == now.replace(microsecond=0)


def test_metrics_need_loopback_or_the_token(database_url, new_app):
    app = new_app(database_url)
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 403
    app.config["METRICS_TOKEN"] = "s3cret-token"
    assert client.get("/metrics").status_code == 403  # with a token, loopback alone is not enough
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"},
                    environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert ok.status_code == 200 and b"governance_open_polls" in ok.data


def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def test_logs_and_metrics_of_a_real_server_after_a_vote(database_url, tmp_path, new_app):
    """Through gunicorn (two workers, multiprocess metrics): the log never shows an SSO payload or a
    ballot line, and the metrics count the ballots of both workers."""
    values = settings(database_url)
    app = new_app(database_url, **values)
    voting = open_poll_now(app, voters=4, title="Logged")
    with app.app_context():
        engine = app.extensions["governance.engine"]
        with engine.begin() as conn:  # a stale outbox job, to see it in the metrics
            conn.execute(insert(Outbox.__table__).values(kind="head", payload={"head": 9}, attempts=2, last_error="",
                                                         next_attempt_at=datetime.now(UTC) + timedelta(hours=1),
                                                         created_at=datetime.now(UTC) - timedelta(minutes=3)))
    log_path = tmp_path / "server.log"
    with serving(values, log_path=log_path) as (port, _proc):
        get(port, "/auth/sso?sso=U0VDUkVUUEFZTE9BRA%3D%3D&sig=deadbeefcafe")
        get(port, f"/polls/{voting.poll_id}/ballot", headers={"Cookie": f"{voting.cookie_name}={voting.cookies[0][0]}"})
        trackers = []
        for voter in range(4):
            status, tracker = cast(port, voting, voter)
            assert status == 200 and tracker
            trackers.append(tracker)
        get(port, "/polls/")
        status, body = get(port, "/metrics")
        assert status == 200
        text = body.decode()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    raw = log_path.read_text()
    requests = [entry for entry in lines if entry.get("event") == "http.request"]
    assert any(entry["path"] == "/polls/" and entry["request_id"] for entry in requests)
    assert any(entry["path"] == "/auth/sso" for entry in requests)
    assert "U0VDUkVUUEFZTE9BRA" not in raw and "deadbeefcafe" not in raw and "sso=" not in raw
    assert not any("/ballot" in entry.get("path", "") or "/ballot" in entry.get("message", "") for entry in lines)
    assert not any(t in raw for t in trackers)
    assert not re.search(r"voter\d", raw)
    assert _metric(text, "governance_ballots_total", outcome="accepted") == 4
    assert _metric(text, "governance_open_polls") == 1
    # the poll's announcement (no forum here) and the stale job
    assert _metric(text, "governance_outbox_undelivered") == 2 and _metric(text, "governance_outbox_failing") == 1
    assert _metric(text, "governance_outbox_oldest_age_seconds") >= 170
    assert _metric(text, "governance_clock_lag_seconds") == -1  # no clock ran
    assert _metric(text, "governance_http_request_duration_seconds_count", endpoint="polls.cast") == 4
    assert _metric(text, "governance_database_up") == 1


def test_every_forum_call_is_counted_by_call_and_outcome(forum):
    """governance_forum_calls_total counts each API call once, whatever calls it: an answer, a 404
    (an answer too), a 429 and a forum that cannot be reached."""
    import socket

    from prometheus_client import REGISTRY

    from governance.errors import ForumUnavailable, NotFound
    from tests.conftest import forum_adapter

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("governance_forum_calls_total", {"call": "user", "outcome": outcome}) or 0.0

    before = {o: count(o) for o in ("ok", "rate_limited", "failed")}
    adapter = forum_adapter(forum)
    adapter.user_by_username("marlow_p")
    try:
        adapter.user_by_username("nobody_here_at_all")
    except NotFound:
        pass
    forum.data.force_rate_limit(1, wait_seconds=60)
    try:
        adapter.user_by_username("marlow_p")
    except ForumUnavailable:
        pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    from governance.identity.forum import Forum

    try:
        Forum(url=f"http://127.0.0.1:{closed_port}", api_key="k", api_username="system", timeout=1.0
              ).user_by_username("marlow_p")
    except ForumUnavailable:
        pass
    after = {o: count(o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"ok": 2, "rate_limited": 1, "failed": 1}
