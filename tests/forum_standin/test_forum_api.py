"""The stand-in forum's JSON API, driven over real HTTP by the real pydiscourse client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseClientError, DiscourseRateLimitedError

JSON_TYPE = "application/json; charset=utf-8"


def api_get(forum, path, *, key=None, username=None, **params):
    """GET with raw requests, to see status codes and headers pydiscourse hides."""
    headers = {"Api-Key": key or forum.api_key, "Api-Username": username or forum.api_username}
    return requests.get(forum.url + path, headers=headers, params=params, timeout=5)


# === users ===


def test_user_by_username(client):
    user = client.user("ysolde_k")
    assert user["username"] == "ysolde_k"
    assert user["trust_level"] == 3
    assert user["admin"] is False and user["staged"] is False
    assert user["created_at"] == "2016-04-23T10:00:00.000Z"
    names = [g["name"] for g in user["groups"]]
    assert names == [
        "trust_level_0",
        "trust_level_1",
        "trust_level_2",
        "trust_level_3",
        "steering-committee",
        "sig-security",
    ]


def test_u_and_users_paths_are_alike_and_case_insensitive(forum):
    one = api_get(forum, "/u/Halvard.json")
    two = api_get(forum, "/users/halvard.json")
    assert one.status_code == two.status_code == 200
    assert one.json()["user"]["id"] == two.json()["user"]["id"]
    assert one.json()["user"]["moderator"] is True


def test_suspended_user_profile_says_so(client):
    user = client.user("grumbleweed")
    assert user["suspended_till"] == "2027-09-01T00:00:00.000Z"
    assert "personal attacks" in user["suspend_reason"]
    assert "suspended_till" not in client.user("marlow_p")


def test_admin_user_by_id(client, forum):
    marlow = forum.data.user("marlow_p")
    detail = client.user_by_id(marlow.id)
    assert detail["username"] == "marlow_p"
    assert detail["active"] is True and detail["staged"] is False
    assert detail["single_sign_on_record"] is None
    assert "suspended_till" not in detail
    assert client.user_all(-1)["username"] == "system"


def test_admin_user_shows_penalties(client, forum):
    suspended = client.user_by_id(forum.data.user("grumbleweed").id)
    assert suspended["suspended_till"] == "2027-09-01T00:00:00.000Z"
    assert suspended["suspended_at"] == "2026-09-01T09:00:00.000Z"
    silenced = client.user_by_id(forum.data.user("shoutcaps").id)
    assert silenced["silenced"] is True and silenced["silenced_till"] == "2027-01-15T00:00:00.000Z"
    staged = client.user_by_id(forum.data.user("mailbox_guest").id)
    assert staged["staged"] is True


def test_admin_endpoints_are_hidden_from_non_staff(forum):
    answer = api_get(forum, "/admin/users/1.json", username="marlow_p")
    assert answer.status_code == 404
    assert answer.json()["error_type"] == "not_found"


# === user lists ===


def test_user_list_pages_of_100(client, forum):
    for n in range(150):
        forum.data.add_user(f"bulk{n:03d}", created_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=n))
    pages = [client.list_users("active", page=n, order="created", asc="true") for n in (1, 2, 3, 4)]
    assert [len(page) for page in pages] == [100, 100, 7, 0]
    everyone = [u for page in pages for u in page]
    assert len({u["id"] for u in everyone}) == 207
    created = [u["created_at"] for u in everyone]
    assert created == sorted(created)
    assert everyone[0]["username"] == "tamsin_ward"
    assert client.list_users("active", page=0)[0]["id"] == client.list_users("active", page=1)[0]["id"]


def test_user_list_default_order_is_newest_first(client):
    users = client.list_users("active")
    assert users[0]["username"] == "justjoined"
    assert {u["username"] for u in users}.isdisjoint({"system", "discobot", "mailbox_guest", "pending_pip"})


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("staff", {"tamsin_ward", "halvard", "quillon"}),
        ("suspended", {"grumbleweed"}),
        ("blocked", {"shoutcaps"}),
    ],
)
def test_user_list_flags(client, flag, expected):
    assert {u["username"] for u in client.list_users(flag)} == expected


def test_user_list_new_and_suspect(client):
    new = {u["username"] for u in client.list_users("new")}
    assert {"fresh_sprout", "justjoined", "nightjar", "pending_pip"} <= new
    assert "marlow_p" not in new
    assert {u["username"] for u in client.list_users("suspect")} == {"justjoined"}


def test_user_list_emails_only_on_request(client):
    assert "email" not in client.list_users("staff")[0]
    staff = client.list_users("staff", show_emails="true")
    assert {u["email"] for u in staff} >= {"tamsin_ward@example.org"}


def test_unknown_user_list_flag_is_404(forum):
    assert api_get(forum, "/admin/users/list/everyone.json").status_code == 404


# === groups ===


def test_group_members_pages_until_total(client, forum):
    members = client.group_members("sig-documentation", limit=3)
    assert len(members) == 10
    assert members[0]["username"] == "inkwell"
    assert all(m["added_at"] for m in members)
    pages = [r for r in forum.data.api_requests() if "members.json" in r[1]]
    assert len(pages) == 4


def test_group_members_meta_and_owners(forum):
    body = api_get(forum, "/groups/sig-documentation/members.json", offset=8, limit=5).json()
    assert body["meta"] == {"total": 10, "limit": 5, "offset": 8}
    assert len(body["members"]) == 2
    assert {o["username"] for o in body["owners"]} == {"inkwell", "tessellate"}


def test_steering_committee(client):
    members = {m["username"] for m in client.group_members("steering-committee")}
    assert members == {"tamsin_ward", "halvard", "ysolde_k", "bartek_m", "nadira_s", "ferdinand_o"}


def test_automatic_group_members(client):
    members = {m["username"] for m in client.group_members("trust_level_4")}
    assert {"tamsin_ward", "halvard", "quillon", "system", "discobot"} == members


def test_group_member_limits_are_checked(forum):
    assert api_get(forum, "/groups/sig-release/members.json", limit=1001).status_code == 400
    assert api_get(forum, "/groups/sig-release/members.json", offset=-1).status_code == 400


def test_group_detail_and_list(client, forum):
    detail = client.group("sig-security")["group"]
    assert detail["name"] == "sig-security" and detail["user_count"] == 7 and detail["automatic"] is False
    listing = api_get(forum, "/groups.json").json()
    names = {g["name"] for g in listing["groups"]}
    assert {"steering-committee", "sig-security", "trust_level_0", "admins"} <= names
    assert listing["total_rows_groups"] == len(names)


def test_add_and_remove_group_members(client, forum):
    group = forum.data.find_group("sig-release")
    assert client.add_group_members(group.id, ["marlow_p", "umbra"]) == {
        "success": "OK",
        "usernames": ["marlow_p", "umbra"],
        "emails": [],
    }
    assert {"marlow_p", "umbra"} <= {m["username"] for m in client.group_members("sig-release")}
    with pytest.raises(DiscourseClientError, match="already a member"):
        client.add_group_member(group.id, "marlow_p")
    answer = client.delete_group_member(group.id, "marlow_p")
    assert answer == {"success": "OK", "usernames": ["marlow_p"], "skipped_usernames": []}
    assert "marlow_p" not in {m["username"] for m in client.group_members("sig-release")}


def test_group_changes_need_an_admin_or_owner(forum):
    group = forum.data.find_group("sig-release")
    outsider = DiscourseClient(forum.url, api_username="marlow_p", api_key=forum.api_key)
    with pytest.raises(DiscourseClientError):
        outsider.add_group_member(group.id, "umbra")
    owner = DiscourseClient(forum.url, api_username="cadence", api_key=forum.api_key)
    assert owner.add_group_member(group.id, "umbra")["usernames"] == ["umbra"]


def test_automatic_groups_cannot_be_changed(client):
    with pytest.raises(DiscourseClientError, match="automatic"):
        client.add_group_member(10, "marlow_p")


# === topics, replies, personal messages ===


def test_create_topic_reply_and_message(client, forum):
    topic = client.create_post(
        "The proposal to amend section 2 is open for comments until Friday.",
        category_id=3,
        title="Amendment 7: comment period open",
    )
    assert topic["post_number"] == 1 and topic["username"] == "system"
    reply = client.create_post("Voting opens once the comment period has ended.", topic_id=topic["topic_id"])
    assert reply["post_number"] == 2 and reply["topic_id"] == topic["topic_id"]
    message = client.create_post(
        "Your ballot for the steering committee election is ready.",
        title="Your ballot",
        archetype="private_message",
        target_recipients="marlow_p,umbra",
    )
    assert forum.data.topics_created() == [
        {
            "topic_id": topic["topic_id"],
            "title": "Amendment 7: comment period open",
            "raw": "The proposal to amend section 2 is open for comments until Friday.",
            "username": "system",
            "created_at": forum.data.topics[topic["topic_id"]].created_at,
            "category_id": 3,
        }
    ]
    sent = forum.data.messages_sent()
    assert [(m["topic_id"], m["title"], m["recipients"]) for m in sent] == [
        (message["topic_id"], "Your ballot", ["marlow_p", "umbra"])
    ]
    assert [p["id"] for p in forum.data.posts_created()] == [topic["id"], reply["id"], message["id"]]


def test_fetch_topic_post_and_categories(client):
    topic = client.create_post("A body long enough for the forum to accept it.", title="Fetching topics back")
    client.create_post("A reply long enough for the forum to accept.", topic_id=topic["topic_id"])
    fetched = client.topic("fetching-topics-back", topic["topic_id"])
    assert fetched["posts_count"] == 2 and fetched["category_id"] == 1
    assert [p["post_number"] for p in fetched["post_stream"]["posts"]] == [1, 2]
    assert client.post_by_id(topic["id"])["raw"] == "A body long enough for the forum to accept it."
    names = [c["name"] for c in client.categories()]
    assert names[:4] == ["Uncategorized", "Announcements", "Governance", "General"]


def test_post_validation_matches_discourse_defaults(client):
    with pytest.raises(DiscourseClientError, match="Title must be at least 15 characters") as caught:
        client.create_post("A body long enough for the forum to accept it.", title="Too short")
    assert caught.value.response.status_code == 422
    assert caught.value.response.json()["action"] == "create_post"
    with pytest.raises(DiscourseClientError, match="no user named"):
        client.create_post(
            "Long enough message.", title="Hi", archetype="private_message", target_recipients="nobody"
        )


def test_silenced_members_cannot_post(forum):
    silenced = DiscourseClient(forum.url, api_username="shoutcaps", api_key=forum.api_key)
    with pytest.raises(DiscourseClientError, match="silenced"):
        silenced.create_post("A body long enough for the forum to accept it.", title="Let me speak please")


def test_reply_to_missing_topic_is_404(client):
    with pytest.raises(DiscourseClientError) as caught:
        client.create_post("A reply long enough for the forum to accept.", topic_id=9999)
    assert caught.value.response.status_code == 404


def test_private_messages_are_private(client, forum):
    message = client.create_post(
        "Only for you two to read.",
        title="Private",
        archetype="private_message",
        target_recipients="marlow_p",
    )
    assert api_get(forum, f"/t/{message['topic_id']}.json", username="marlow_p").status_code == 200
    assert api_get(forum, f"/t/{message['topic_id']}.json", username="umbra").status_code == 404


# === errors, content type, authentication ===


@pytest.mark.parametrize(
    "path",
    [
        "/u/ysolde_k.json",
        "/admin/users/1.json",
        "/admin/users/list/active.json",
        "/groups.json",
        "/groups/sig-release.json",
        "/groups/sig-release/members.json",
        "/categories.json",
        "/t/1.json",
        "/posts/1.json",
        "/u/nobody.json",
        "/no/such/route.json",
    ],
)
def test_content_type_is_exactly_discourses(forum, path):
    assert api_get(forum, path).headers["Content-Type"] == JSON_TYPE


@pytest.mark.parametrize(
    "path",
    [
        "/u/nobody.json",
        "/admin/users/999.json",
        "/groups/nobody.json",
        "/groups/nobody/members.json",
        "/t/999.json",
        "/posts/999.json",
        "/no/such/route.json",
    ],
)
def test_not_found_shape(forum, path):
    answer = api_get(forum, path)
    assert answer.status_code == 404
    assert answer.json() == {
        "errors": ["The requested URL or resource could not be found."],
        "error_type": "not_found",
    }


def test_not_found_through_pydiscourse(client):
    with pytest.raises(DiscourseClientError, match="could not be found") as caught:
        client.user("nobody")
    assert caught.value.response.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"Api-Key": "wrong", "Api-Username": "system"},
        {"Api-Key": "test-api-key", "Api-Username": "nobody"},
        {"Api-Key": "test-api-key", "Api-Username": "mailbox_guest"},
        {"Api-Username": "system"},
        {},
    ],
    ids=["wrong-key", "unknown-user", "staged-user", "no-key", "no-headers"],
)
def test_bad_credentials_are_403(forum, headers):
    answer = requests.get(forum.url + "/u/ysolde_k.json", headers=headers, timeout=5)
    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == JSON_TYPE
    assert answer.json()["error_type"] == "invalid_access"
    assert answer.json()["errors"]


def test_bad_key_through_pydiscourse(forum):
    client = DiscourseClient(forum.url, api_username="system", api_key="wrong")
    with pytest.raises(DiscourseClientError, match="not permitted") as caught:
        client.user("ysolde_k")
    assert caught.value.response.status_code == 403


# === rate limits and slowness ===


def test_forced_429_shape(forum):
    forum.data.force_rate_limit(1, wait_seconds=7)
    answer = api_get(forum, "/u/ysolde_k.json")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.headers["Discourse-Rate-Limit-Error-Code"] == "admin_api_key_rate_limit"
    assert answer.headers["Content-Type"] == JSON_TYPE
    body = answer.json()
    assert body["error_type"] == "rate_limit"
    assert body["extras"]["wait_seconds"] == 7
    assert "7 seconds" in body["errors"][0]
    assert api_get(forum, "/u/ysolde_k.json").status_code == 200


def test_pydiscourse_waits_and_retries_after_429(client, forum, sleeps):
    forum.data.force_rate_limit(2, wait_seconds=3)
    assert client.user("ysolde_k")["username"] == "ysolde_k"
    # pydiscourse sleeps wait_seconds plus one second of its own back-off per refusal.
    assert sleeps == [4, 4]


def test_pydiscourse_gives_up_after_four_429s(client, forum, sleeps):
    forum.data.force_rate_limit(4, wait_seconds=1)
    with pytest.raises(DiscourseRateLimitedError):
        client.user("ysolde_k")
    assert sleeps == [2, 2, 2]


def test_per_minute_limit_per_key():
    from governance.forum_standin.testing import running_forum

    with running_forum(rate_limit=3) as forum:
        assert [api_get(forum, "/u/ysolde_k.json").status_code for _ in range(3)] == [200, 200, 200]
        refused = api_get(forum, "/u/ysolde_k.json")
        assert refused.status_code == 429
        assert 1 <= refused.json()["extras"]["wait_seconds"] <= 60
        assert refused.headers["Retry-After"] == str(refused.json()["extras"]["wait_seconds"])
        forum.data.set_rate_limit(None)
        assert api_get(forum, "/u/ysolde_k.json").status_code == 200


def test_delay_lets_clients_time_out(forum):
    forum.data.set_delay(0.5)
    slow = DiscourseClient(forum.url, api_username=forum.api_username, api_key=forum.api_key, timeout=0.1)
    with pytest.raises(requests.exceptions.Timeout):
        slow.user("ysolde_k")
    forum.data.set_delay(0)


@pytest.mark.parametrize(
    ("category", "expected"),
    [(3, 3), ("3", 3), ("governance", 3), ("Announcements", 2), ("no such category", 1), (999, 1), (None, 1)],
)
def test_topic_category_by_id_or_name(client, forum, category, expected):
    post = client.create_post(
        "A body long enough for the forum to accept it.",
        category_id=category,
        title="Where does this topic land?",
    )
    assert forum.data.topics[post["topic_id"]].category_id == expected
