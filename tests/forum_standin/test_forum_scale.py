"""The stand-in at the size of a real community, with Discourse's default limits and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from governance.forum_standin.seed import seed_large
from governance.forum_standin.testing import running_forum
from governance.forum_standin.webhooks import add_webhook


def test_thirty_thousand_accounts_with_a_realistic_spread():
    data = seed_large(30_000)
    humans = [u for u in data.users.values() if u.human]
    assert len(humans) == 30_000
    levels = Counter(u.trust_level for u in humans)
    assert levels[0] > levels[1] * 0.5 and levels[1] > levels[2] > levels[3] > levels[4] > 0
    assert 50 < sum(u.suspended for u in humans) < 300 and 40 < sum(u.silenced for u in humans) < 200
    assert 400 < sum(u.staged for u in humans) < 900 and 250 < sum(not u.active for u in humans) < 700
    years = Counter(u.created_at.year for u in humans)
    assert years[2015] < years[2025]  # forums grow: more recent accounts
    assert len(data.find_group("contributors").members) == 6000
    assert data.find_user(humans[-1].username) is humans[-1]  # the index finds generated names


def test_the_admin_list_pages_through_thousands_of_accounts_without_overlap():
    with running_forum(data=seed_large(3_000)) as forum:
        from pydiscourse import DiscourseClient

        api = DiscourseClient(forum.url, api_username="system", api_key=forum.api_key, timeout=10)
        seen = []
        page = 1
        while True:
            rows = api._get("/admin/users/list/active.json", page=page, order="created", asc="true")
            seen.extend(rows)
            if len(rows) < 100:
                break
            page += 1
        assert len(seen) == len({r["id"] for r in seen})  # no overlap between pages
        expected = [u for u in forum.data.users.values() if u.human and u.active and not u.staged]
        assert len(seen) == len(expected)
        assert [r["created_at"] for r in seen] == sorted(r["created_at"] for r in seen)


def test_per_address_limits_answer_as_discourse_does():
    with running_forum(discourse_limits=True) as forum:
        codes = [requests.get(forum.url + "/", timeout=5, headers={"X-Forwarded-For": "203.0.113.5"}).status_code
                 for _ in range(51)]
        assert codes == [200] * 50 + [429]
        refused = requests.get(forum.url + "/", timeout=5, headers={"X-Forwarded-For": "203.0.113.5"})
        assert refused.status_code == 429
        assert refused.headers["Discourse-Rate-Limit-Error-Code"] == "ip_10_secs_limit"
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        assert refused.text.startswith("Slow down, too many requests from this IP address.")
        # Another address is not held up, nor is the admin API (it has a limit of its own).
        assert requests.get(forum.url + "/", timeout=5, headers={"X-Forwarded-For": "203.0.113.6"}).ok
        api = requests.get(forum.url + "/groups.json", timeout=5, headers={
            "Api-Key": forum.api_key, "Api-Username": "system", "X-Forwarded-For": "203.0.113.5"})
        assert api.status_code == 200


def test_the_admin_api_limit_is_sixty_a_minute_forum_wide():
    with running_forum(discourse_limits=True) as forum:
        headers = {"Api-Key": forum.api_key, "Api-Username": "system"}
        codes = [requests.get(forum.url + "/groups.json", headers=headers, timeout=5).status_code for _ in range(61)]
        assert codes == [200] * 60 + [429]
        refused = requests.get(forum.url + "/groups.json", headers=headers, timeout=5)
        body = refused.json()
        assert body["error_type"] == "rate_limit" and 1 <= body["extras"]["wait_seconds"] <= 60
        assert refused.headers["Discourse-Rate-Limit-Error-Code"] == "admin_api_key_rate_limit"
        assert refused.headers["Retry-After"] == str(body["extras"]["wait_seconds"])
        bad = requests.get(forum.url + "/groups.json", headers={**headers, "Api-Key": "nope"}, timeout=5)
        assert bad.status_code == 403  # a bad key is refused before the limiter counts


def test_webhooks_carry_discourses_headers_and_signature():
    received = []

    def app(environ, start_response):
        request = Request(environ)
        received.append((dict(request.headers), request.get_data()))
        return Response("ok")(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with running_forum() as forum:
            add_webhook(forum.data, f"http://127.0.0.1:{server.server_port}/hook", "s3cret")
            forum.data.suspend("marlow_p")
            forum.data.add_to_group("sig-release", "marlow_p")
            forum.data.set_trust_level("marlow_p", 3)
            forum.data.silence("marlow_p")  # no event, as in Discourse
            assert forum.sender.drain(5)
    finally:
        server.shutdown()
    assert [h["X-Discourse-Event"] for h, _ in received] == [
        "user_suspended", "user_added_to_group", "user_promoted"]
    ids = [int(h["X-Discourse-Event-Id"]) for h, _ in received]
    assert ids == sorted(ids) and len(set(ids)) == 3
    for headers, body in received:
        assert headers["X-Discourse-Event-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"].startswith("Discourse/")
        assert headers["X-Discourse-Instance"].startswith("http://127.0.0.1:")
    (h1, b1), (h2, b2), (h3, b3) = received
    assert h1["X-Discourse-Event-Type"] == "user" and json.loads(b1)["user"]["username"] == "marlow_p"
    assert h2["X-Discourse-Event-Type"] == "group_user" and set(json.loads(b2)["group_user"]) >= {"group_id", "user_id"}
    assert json.loads(b3) == {"user_promoted": {"user_id": json.loads(b1)["user"]["id"], "old_trust_level": 2,
                                                "new_trust_level": 3}}
