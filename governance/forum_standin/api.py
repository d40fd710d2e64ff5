"""The stand-in forum's JSON API: the Discourse endpoints the platform calls.

Boundary rule: Flask and this package only. Each request passes, in order: the test delay,
the rate limiter, then the Api-Key / Api-Username check. Answers are always
`application/json; charset=utf-8`, which pydiscourse insists on, and errors take Discourse's
`{"errors": [...], "error_type": ...}` shape.
"""

from __future__ import annotations

import hmac
import json
import time
from datetime import datetime

from flask import Blueprint, Response, current_app, g, request

from . import serializers as ser
from .store import AUTO_GROUP_IDS, ForumData, ForumError, Group, User, utcnow

bp = Blueprint("api", __name__)

JSON_TYPE = "application/json; charset=utf-8"
NOT_FOUND = "The requested URL or resource could not be found."
INVALID_ACCESS = "You are not permitted to view the requested resource. The API username or key is invalid."
ADMIN_PAGE_SIZE = 100  # AdminUserIndexQuery pages by 100
GROUPS_PAGE_SIZE = 36  # GroupsController#index
MEMBERS_DEFAULT_LIMIT = 50
MEMBERS_MAX_LIMIT = 1000
USER_LIST_FLAGS = ("active", "new", "staff", "suspended", "blocked", "suspect")


# === plumbing ===


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    """Serialize `body` with Discourse's exact JSON content type."""
    return Response(json.dumps(body), status=status, headers=headers, content_type=JSON_TYPE)


def error_response(
    message: str, error_type: str, status: int, *, extras: dict | None = None, headers=None
) -> Response:
    """Discourse's error body: `{"errors": [message], "error_type": ...}` (plus `extras`)."""
    body: dict = {"errors": [message], "error_type": error_type}
    if extras is not None:
        body["extras"] = extras
    return json_response(body, status, headers)


def rate_limited(wait_seconds: int) -> Response:
    """A 429 as Discourse's admin API key limiter sends it."""
    unit = "second" if wait_seconds == 1 else "seconds"
    message = (
        f"You’ve performed this action too many times. Please wait {wait_seconds} {unit} before trying again."
    )
    return error_response(
        message,
        "rate_limit",
        429,
        extras={"wait_seconds": wait_seconds, "time_left": f"{wait_seconds} {unit}"},
        headers={
            "Retry-After": str(wait_seconds),
            "Discourse-Rate-Limit-Error-Code": "admin_api_key_rate_limit",
        },
    )


def _state():
    return current_app.extensions["forum_standin"]


def _data() -> ForumData:
    return _state().data


def _params() -> dict:
    """Request parameters from the query string, a form body or a JSON body (later wins)."""
    params = dict(request.args.items())
    params.update(request.form.items())
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        params.update(body)
    return params


def _int_param(params: dict, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ForumError(f"You supplied invalid parameters to the request: {name}", status=400) from None


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1", "yes", "on")


def _require_admin() -> None:
    # Discourse's admin routes do not exist for non-staff: they answer 404.
    if not g.api_user.admin:
        raise ForumError(NOT_FOUND, kind="not_found", status=404)


def api_user():
    """The active, unsuspended account an admin API request acts as, or None (bad key or user)."""
    state = _state()
    key = request.headers.get("Api-Key", "")
    username = request.headers.get("Api-Username", "")
    user = state.data.find_user(username) if username else None
    key_ok = hmac.compare_digest(key.encode(), state.api_key.encode())
    if not key_ok or user is None or user.staged or not user.active or user.suspended:
        return None
    return user


@bp.before_request
def authenticate():
    """Apply the test delay, the API key check, then the admin API key's rate limit.

    As Discourse: a bad key or user is refused (403) before the limiter counts anything, and a
    request with a good admin key counts against ``max_admin_api_reqs_per_minute`` instead of
    the per-IP limits (``app._global_limits`` lets it through).
    """
    state = _state()
    data = state.data
    data.log_arrival(request.method, request.path)
    if data.delay_seconds:
        time.sleep(data.delay_seconds)
    user = api_user()
    if user is None:
        return error_response(INVALID_ACCESS, "invalid_access", 403)
    wait = data.check_rate_limit(request.headers.get("Api-Key", ""))
    if wait is not None:
        return rate_limited(wait)
    g.api_user = user
    data.log_request(request.method, request.path, user.username, request.query_string.decode("latin-1"))
    return None


@bp.errorhandler(ForumError)
def forum_error(error: ForumError):
    """Render a refusal in Discourse's shape."""
    if error.kind == "create_post":
        return json_response({"action": "create_post", "errors": error.message.split("\n")}, error.status)
    return error_response(error.message, error.kind, error.status)


def _user_or_404(data: ForumData, username: str) -> User:
    user = data.find_user(username)
    if user is None:
        raise ForumError(NOT_FOUND, kind="not_found", status=404)
    return user


def _group_by_name(data: ForumData, name: str) -> tuple[str, Group | None]:
    if name in AUTO_GROUP_IDS and name != "everyone":
        return name, None
    group = data.find_group(name)
    if group is None:
        raise ForumError(NOT_FOUND, kind="not_found", status=404)
    return group.name, group


# === users ===


@bp.get("/u/<username>.json")
@bp.get("/users/<username>.json")
def user_profile(username: str):
    """A member's public profile, as /u/{username}.json."""
    data = _data()
    with data.lock:
        return json_response(ser.user_profile(data, _user_or_404(data, username), g.api_user))


@bp.get("/admin/users/<int(signed=True):user_id>.json")
def admin_user(user_id: int):
    """Everything staff may see about one account."""
    _require_admin()
    data = _data()
    with data.lock:
        user = data.users.get(user_id)
        if user is None:
            raise ForumError(NOT_FOUND, kind="not_found", status=404)
        return json_response(ser.admin_user(data, user, g.api_user))


def _matches_flag(user: User, flag: str) -> bool:
    now = utcnow()
    if flag == "active":
        return user.active
    if flag == "new":
        return user.trust_level == 0
    if flag == "staff":
        return user.staff
    if flag == "suspended":
        return user.suspended
    if flag == "blocked":  # Discourse's old name for silenced
        return user.silenced
    # "suspect": brand-new accounts (under a day old) that have not posted yet
    return user.trust_level == 0 and user.last_posted_at is None and (now - user.created_at).days < 1


_ORDERS = {
    "created": lambda u: u.created_at,
    "username": lambda u: u.username.lower(),
    "trust_level": lambda u: u.trust_level,
    "seen": lambda u: u.last_seen_at or datetime.min.replace(tzinfo=u.created_at.tzinfo),
    "days_visited": lambda u: u.days_visited,
    "posts_read": lambda u: u.posts_read_count,
    "read_time": lambda u: u.time_read,
}


@bp.get("/admin/users/list/<flag>.json")
def admin_user_list(flag: str):
    """Pages of 100 accounts matching a flag; real (non-bot, non-staged) users only."""
    _require_admin()
    if flag not in USER_LIST_FLAGS:
        raise ForumError(NOT_FOUND, kind="not_found", status=404)
    params = _params()
    page = max(_int_param(params, "page", 1) - 1, 0)  # Discourse treats page 0 and 1 alike
    order = params.get("order", "created")
    ascending = _truthy(params.get("asc", ""))
    show_emails = _truthy(params.get("show_emails", ""))
    needle = str(params.get("filter", "")).lower()
    data = _data()
    with data.lock:

        def listing():
            users = [
                u
                for u in data.users.values()
                if u.human
                and not u.staged
                and _matches_flag(u, flag)
                and (not needle or needle in u.username.lower() or needle in u.email.lower())
            ]
            key = _ORDERS.get(order, _ORDERS["created"])
            users.sort(key=lambda u: (key(u), u.id), reverse=not ascending)
            return users

        users = data.cached(("admin_list", flag, order, ascending, needle), listing)
        chunk = users[page * ADMIN_PAGE_SIZE : (page + 1) * ADMIN_PAGE_SIZE]
        return json_response([ser.admin_list_user(data, u, show_emails=show_emails) for u in chunk])


@bp.put("/admin/users/<int(signed=True):user_id>/suspend")
@bp.put("/admin/users/<int(signed=True):user_id>/suspend.json")
def suspend_user(user_id: int):
    """Suspend an account until `suspend_until`, as pydiscourse's `suspend()` asks."""
    _require_admin()
    params = _params()
    data = _data()
    with data.lock:
        user = data.users.get(user_id)
        if user is None:
            raise ForumError(NOT_FOUND, kind="not_found", status=404)
        try:
            until = datetime.fromisoformat(str(params["suspend_until"]))
        except (KeyError, ValueError):
            raise ForumError(
                "You supplied invalid parameters to the request: suspend_until", status=400
            ) from None
        if until.tzinfo is None:
            until = until.replace(tzinfo=utcnow().tzinfo)
        data.suspend(user.username, until=until, reason=str(params.get("reason", "")))
        return json_response(
            {
                "suspension": {
                    "suspend_reason": user.suspend_reason,
                    "full_suspend_reason": user.suspend_reason,
                    "suspended_till": ser.timestamp(user.suspended_till),
                    "suspended_at": ser.timestamp(user.suspended_at),
                    "suspended_by": ser.basic_user(g.api_user),
                }
            }
        )


@bp.put("/admin/users/<int(signed=True):user_id>/unsuspend")
@bp.put("/admin/users/<int(signed=True):user_id>/unsuspend.json")
def unsuspend_user(user_id: int):
    """Lift a suspension."""
    _require_admin()
    data = _data()
    with data.lock:
        user = data.users.get(user_id)
        if user is None:
            raise ForumError(NOT_FOUND, kind="not_found", status=404)
        data.unsuspend(user.username)
        return json_response({"suspension": {"suspended_till": None, "suspended_at": None}})


# === groups ===


def _all_groups(data: ForumData) -> list[tuple[str, Group | None]]:
    auto = [(name, None) for name in AUTO_GROUP_IDS if name != "everyone"]
    custom = [(g.name, g) for g in sorted(data.groups.values(), key=lambda g: g.id)]
    return auto + custom


@bp.get("/groups.json")
def group_list():
    """All groups (automatic ones too, as staff see them), 36 a page, by name."""
    params = _params()
    page = max(_int_param(params, "page", 0), 0)
    data = _data()
    with data.lock:
        groups = sorted(_all_groups(data), key=lambda pair: pair[0])
        chunk = groups[page * GROUPS_PAGE_SIZE : (page + 1) * GROUPS_PAGE_SIZE]
        return json_response(
            {
                "groups": [ser.group_list_entry(data, name, group, g.api_user) for name, group in chunk],
                "extras": {"type_filters": ["my", "public", "close", "owner", "automatic", "non_automatic"]},
                "total_rows_groups": len(groups),
                "load_more_groups": f"/groups?page={page + 1}",
            }
        )


@bp.get("/groups/<name>.json")
def group_detail(name: str):
    """One group's settings."""
    data = _data()
    with data.lock:
        name, group = _group_by_name(data, name)
        return json_response(
            {
                "group": ser.group_detail(data, name, group, g.api_user),
                "extras": {"visible_group_names": [n for n, _ in _all_groups(data)]},
            }
        )


@bp.get("/groups/<name>/members.json")
def group_members(name: str):
    """A page of a group's members (`offset`, `limit`), every owner, and `meta.total`.

    Members are ordered by when they joined, then by username, so pages never overlap.
    """
    params = _params()
    limit = _int_param(params, "limit", MEMBERS_DEFAULT_LIMIT)
    offset = _int_param(params, "offset", 0)
    if limit < 0 or limit > MEMBERS_MAX_LIMIT:
        raise ForumError("You supplied invalid parameters to the request: limit", status=400)
    if offset < 0:
        raise ForumError("You supplied invalid parameters to the request: offset", status=400)
    data = _data()
    with data.lock:
        name, group = _group_by_name(data, name)
        if group is None:
            rows = [(data.users[i], data.users[i].created_at, False) for i in data.auto_group_user_ids(name)]
        else:
            rows = [(data.users[m.user_id], m.added_at, m.owner) for m in group.members.values()]
        rows.sort(key=lambda row: (row[1], row[0].username.lower()))
        page = rows[offset : offset + limit]
        return json_response(
            {
                "members": [ser.group_member(user, added) for user, added, _ in page],
                "owners": [ser.group_member(user, added) for user, added, owner in rows if owner],
                "meta": {"total": len(rows), "limit": limit, "offset": offset},
            }
        )


def _custom_group_for_change(data: ForumData, group_id: int) -> Group:
    group = data.groups.get(group_id)
    if group is None:
        if group_id in AUTO_GROUP_IDS.values():
            raise ForumError("You cannot modify an automatic group", status=422)
        raise ForumError(NOT_FOUND, kind="not_found", status=404)
    viewer = g.api_user
    if not (viewer.admin or (viewer.id in group.members and group.members[viewer.id].owner)):
        raise ForumError(INVALID_ACCESS, kind="invalid_access", status=403)
    return group


def _usernames(params: dict) -> list[str]:
    raw = params.get("usernames", "")
    names = raw if isinstance(raw, list) else str(raw).split(",")
    return [n.strip() for n in names if n and n.strip()]


@bp.put("/groups/<int:group_id>/members.json")
def add_group_members(group_id: int):
    """Add comma-separated `usernames` to a custom group (admins and group owners only)."""
    names = _usernames(_params())
    data = _data()
    with data.lock:
        group = _custom_group_for_change(data, group_id)
        users = [u for u in (data.find_user(n) for n in names) if u is not None]
        if not users:
            raise ForumError(
                "You must specify a valid username or email address to add a member.", status=400
            )
        already = sorted(u.username for u in users if u.id in group.members)
        if len(already) == len(users):
            message = (
                f"{already[0]} is already a member of this group."
                if len(already) == 1
                else f"{', '.join(already)} are already members of this group."
            )
            raise ForumError(message, status=422)
        added = []
        for user in users:
            if user.id not in group.members:
                data.add_to_group(group.name, user.username)
                added.append(user.username)
        return json_response({"success": "OK", "usernames": added, "emails": []})


@bp.delete("/groups/<int:group_id>/members.json")
def remove_group_members(group_id: int):
    """Remove comma-separated `usernames` from a custom group; report the ones skipped."""
    names = _usernames(_params())
    data = _data()
    with data.lock:
        group = _custom_group_for_change(data, group_id)
        if not names:
            raise ForumError(
                "You must specify a valid username or email address to remove a member.", status=400
            )
        removed, skipped = [], []
        for name in names:
            user = data.find_user(name)
            if user is not None and user.id in group.members:
                data.remove_from_group(group.name, user.username)
                removed.append(user.username)
            else:
                skipped.append(name)
        return json_response({"success": "OK", "usernames": removed, "skipped_usernames": skipped})


# === categories, topics, posts ===


@bp.get("/categories.json")
def category_list():
    """Every category the API user can see."""
    data = _data()
    with data.lock:
        cats = [
            c
            for c in sorted(data.categories.values(), key=lambda c: c.position)
            if g.api_user.staff or not c.read_restricted
        ]
        return json_response(
            {
                "category_list": {
                    "can_create_category": g.api_user.admin,
                    "can_create_topic": True,
                    "categories": [ser.category(data, c) for c in cats],
                }
            }
        )


def _visible_topic(data: ForumData, topic_id: int):
    topic = data.topics.get(topic_id)
    viewer = g.api_user
    if topic is None or (topic.private and not viewer.admin and viewer.id not in topic.allowed_user_ids):
        raise ForumError(NOT_FOUND, kind="not_found", status=404)
    return topic


@bp.get("/t/<int:topic_id>.json")
@bp.get("/t/<slug>/<int:topic_id>.json")
def topic(topic_id: int, slug: str | None = None):
    """A topic with all its posts."""
    data = _data()
    with data.lock:
        return json_response(ser.topic(data, _visible_topic(data, topic_id), g.api_user))


@bp.get("/posts/<int:post_id>.json")
def post(post_id: int):
    """One post, with its raw text."""
    data = _data()
    with data.lock:
        p = data.posts.get(post_id)
        if p is None:
            raise ForumError(NOT_FOUND, kind="not_found", status=404)
        _visible_topic(data, p.topic_id)
        return json_response(ser.post(data, p, g.api_user))


def _find_category(data: ForumData, value) -> int | None:
    # TopicCreator#find_category: digits are an id, anything else a category name
    # (case-insensitive); a category that is not found leaves the topic Uncategorized.
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdecimal():
        return int(text) if int(text) in data.categories else None
    return next((c.id for c in data.categories.values() if c.name.lower() == text.lower()), None)


@bp.post("/posts.json")
@bp.post("/posts")
def create_post():
    """Create a topic (`title`, `raw`, `category`), a reply (`topic_id`) or a personal message.

    A personal message needs `archetype=private_message` and comma-separated
    `target_recipients` (or the older `target_usernames`).
    """
    params = _params()
    raw = str(params.get("raw") or "")
    if not raw:
        raise ForumError("param is missing or the value is empty: raw", status=400)
    author = g.api_user
    if author.silenced:
        raise ForumError("You have been silenced and cannot post.", kind="create_post", status=422)
    data = _data()
    with data.lock:
        try:
            topic_id = _int_param(params, "topic_id")
            if topic_id is not None:
                new = data.create_post(
                    author=author,
                    topic_id=topic_id,
                    raw=raw,
                    reply_to_post_number=_int_param(params, "reply_to_post_number"),
                    via_api=True,
                )
            elif params.get("archetype") == "private_message":
                names = str(params.get("target_recipients") or params.get("target_usernames") or "")
                recipients = []
                for name in (n.strip() for n in names.split(",") if n.strip()):
                    user = data.find_user(name)
                    if user is None:
                        raise ForumError(f"There is no user named {name}.", kind="create_post")
                    recipients.append(user)
                if not recipients:
                    raise ForumError("You must choose a valid user.", kind="create_post")
                new = data.create_topic(
                    author=author,
                    title=str(params.get("title") or ""),
                    raw=raw,
                    archetype="private_message",
                    recipients=recipients,
                    via_api=True,
                )
            else:
                new = data.create_topic(
                    author=author,
                    title=str(params.get("title") or ""),
                    raw=raw,
                    category_id=_find_category(data, params.get("category")),
                    via_api=True,
                )
        except ForumError as error:
            if error.kind == "invalid_parameters" and error.status == 422:
                error.kind = "create_post"
            raise
        return json_response(ser.post(data, new, author))
