"""Load shedding: a request that cannot be served in time is a 503 with Retry-After and writes
nothing; a ballot whose client has hung up is not committed."""

from __future__ import annotations

import http.client
import socket
import threading
import time

from sqlalchemy import func, select
from sqlmodel import Session

from governance.models import Ballot
from tests.conftest import LiveServer
from tests.ops.support import cast_in_process, open_poll_now


def _ballots(app) -> int:
    with Session(app.extensions["governance.engine"]) as s:
        return s.execute(select(func.count()).select_from(Ballot)).scalar_one()


def test_a_full_process_answers_503_with_retry_after_before_any_write(database_url, new_app):
    app = new_app(database_url, MAX_IN_FLIGHT=1, QUEUE_TIMEOUT=0.3, RETRY_AFTER=7)
    voting = open_poll_now(app, voters=2)
    release = threading.Event()

    @app.get("/_test/slow")
    def slow():
        release.wait(10)
        return "done"

    with LiveServer(app) as server:
        port = int(server.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/_test/slow")  # takes the only slot
        time.sleep(0.2)
        cookie, csrf = voting.cookies[0]
        ballot = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        started = time.monotonic()
        ballot.request("POST", f"/polls/{voting.poll_id}/ballot",
                       body=f"csrf_token={csrf}&poll={voting.poll_id}&rank-{voting.option_ids['Ash']}=1",
                       headers={"Cookie": f"{voting.cookie_name}={cookie}", "User-Agent": "ops-test",
                                "Content-Type": "application/x-www-form-urlencoded"})
        answer = ballot.getresponse()
        body = answer.read()
        waited = time.monotonic() - started
        health = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        health.request("GET", "/healthz")  # never shed: the load balancer must see the truth
        assert health.getresponse().status == 200
        release.set()
        assert conn.getresponse().status == 200
    assert answer.status == 503 and answer.getheader("Retry-After") == "7"
    assert b"Nothing you sent was saved" in body
    assert 0.2 <= waited < 3
    assert _ballots(app) == 0
    assert cast_in_process(app.test_client(), voting, 0).status_code == 303  # a free slot serves again


def test_a_request_past_its_deadline_writes_nothing(database_url, new_app):
    app = new_app(database_url, REQUEST_DEADLINE=0.000001)
    voting = open_poll_now(app, voters=1)
    client = app.test_client()
    response = cast_in_process(client, voting, 0)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert _ballots(app) == 0
    assert client.get(f"/polls/{voting.poll_id}").status_code == 200  # reading is never refused for it


def test_a_ballot_whose_client_hung_up_is_not_committed(app):
    """gunicorn hands the app the client's socket; one whose peer has closed means nobody is waiting."""
    voting = open_poll_now(app, voters=2)
    mine, theirs = socket.socketpair()
    theirs.close()  # the voter's browser gave up
    client = app.test_client()
    cookie, csrf = voting.cookies[0]
    client.set_cookie(voting.cookie_name, cookie)
    response = client.post(f"/polls/{voting.poll_id}/ballot", headers={"User-Agent": "ops-test"},
                           data={"csrf_token": csrf, "poll": str(voting.poll_id),
                                 f"rank-{voting.option_ids['Ash']}": "1", "confirm": "yes"},
                           environ_base={"gunicorn.socket": mine})
    mine.close()
    assert response.status_code == 503
    assert _ballots(app) == 0
    still, peer = socket.socketpair()  # a client still there: the ballot is taken
    response = client.post(f"/polls/{voting.poll_id}/ballot", headers={"User-Agent": "ops-test"},
                           data={"csrf_token": csrf, "poll": str(voting.poll_id),
                                 f"rank-{voting.option_ids['Ash']}": "1", "confirm": "yes"},
                           environ_base={"gunicorn.socket": still})
    still.close()
    peer.close()
    assert response.status_code == 303 and _ballots(app) == 1
