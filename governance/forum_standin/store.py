"""In-memory state of the stand-in forum, and the controls tests use on it (its records are in
``records``; they are re-exported here).

Boundary rule: plain Python only. Nothing here imports Flask or any other part of the
project, so tests may build and inspect a `ForumData` without starting a server.

Every read or write of the state happens under `ForumData.lock`, because the server answers
requests on several threads while a test changes the data from its own thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from .limits import RateLimits
from .records import Category, ForumError, Group, Membership, Post, Topic, User, cook, slugify, utcnow

__all__ = ["AUTO_GROUP_IDS", "Category", "ForumData", "ForumError", "Group", "Membership", "Post", "Topic", "User",
           "cook", "slugify", "utcnow"]

# Discourse's fixed ids for its automatic groups (`Group::AUTO_GROUPS`).
AUTO_GROUP_IDS = {
    "everyone": 0,
    "admins": 1,
    "moderators": 2,
    "staff": 3,
    "trust_level_0": 10,
    "trust_level_1": 11,
    "trust_level_2": 12,
    "trust_level_3": 13,
    "trust_level_4": 14,
}
# Discourse numbers groups that people create from 41 upwards.
FIRST_CUSTOM_GROUP_ID = 41

# Discourse's default length limits (site settings of the same names).
MIN_TOPIC_TITLE_LENGTH = 15
MIN_POST_LENGTH = 20
MIN_FIRST_POST_LENGTH = 20
MIN_PERSONAL_MESSAGE_TITLE_LENGTH = 2
MIN_PERSONAL_MESSAGE_POST_LENGTH = 10


class ForumData(RateLimits):
    """All forum state, plus the switches tests use to shape the forum's behaviour.

    Control methods (safe to call from any thread while the server runs):
    `add_user`, `create_group`, `add_to_group`, `remove_from_group`, `suspend`, `unsuspend`,
    `silence`, `set_trust_level`, `create_topic`, `create_post`, `messages_sent`,
    `topics_created`, `posts_created`, `force_rate_limit`, `set_rate_limit`, `set_delay`,
    `api_requests`, `api_arrivals`.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.categories: dict[int, Category] = {}
        self.topics: dict[int, Topic] = {}
        self.posts: dict[int, Post] = {}
        self.welcome_topic_id: int | None = None
        self._next_user_id = 1
        self._next_group_id = FIRST_CUSTOM_GROUP_ID
        self._next_topic_id = 1
        self._next_post_id = 1
        # Switches for tests.
        self.delay_seconds = 0.0
        self.rate_limit_per_minute: int | None = None
        self._forced_429s = 0
        self._forced_wait_seconds = 1
        self._hits: dict[str, deque[float]] = {}
        self._requests: list[tuple[str, str, str]] = []
        self._arrivals: list[tuple[str, str]] = []
        self.queries: list[str] = []  # the query string of each logged request, in order
        # Discourse's global per-IP limits (None: off) and the forum-wide admin API limit.
        self.ip_limits: tuple[int, int] | None = None  # (per 10 seconds, per minute)
        self._ip_hits: dict[str, deque[float]] = {}
        self.refusals: list[tuple[str, str]] = []  # (limit, client) of every 429 sent
        # username (lower case) -> user id; checked on use, since tests may rename a User in place.
        self._by_name: dict[str, int] = {}
        # Bumped by every control method, so answers computed over all users can be cached.
        self.revision = 0
        self._cache: dict[object, tuple[int, object]] = {}
        # Outgoing webhooks (see webhooks.py): the configured hooks and the deliveries owed.
        self.webhooks: list = []
        self._next_event_id = 1
        self.outbox: deque = deque()
        self.outbox_ready = threading.Condition(self.lock)

    # === users ===

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        email: str | None = None,
        created_at: datetime | None = None,
        trust_level: int = 1,
        admin: bool = False,
        moderator: bool = False,
        active: bool = True,
        staged: bool = False,
        user_id: int | None = None,
        groups: Iterable[str] = (),
        **extra,
    ) -> User:
        """Create an account (now, unless `created_at` says otherwise) and return it."""
        if not 0 <= trust_level <= 4:
            raise ValueError(f"trust level must be 0..4, not {trust_level!r}")
        with self.lock:
            if self._name_taken(username):
                raise ValueError(f"username {username!r} is taken")
            if user_id is None:
                user_id = self._next_user_id
            if user_id in self.users:
                raise ValueError(f"user id {user_id} is taken")
            self._next_user_id = max(self._next_user_id, user_id + 1)
            user = User(
                id=user_id,
                username=username,
                name=name,
                email=email or f"{username.lower()}@example.org",
                created_at=created_at or utcnow(),
                trust_level=trust_level,
                admin=admin,
                moderator=moderator,
                active=active,
                staged=staged,
                **extra,
            )
            self.users[user_id] = user
            self._by_name[username.lower()] = user_id
            self.revision += 1
            for group_name in groups:
                self.add_to_group(group_name, username)
            return user

    def _name_taken(self, username: str) -> bool:
        wanted = username.lower()
        user = self.users.get(self._by_name.get(wanted, 0))
        if user is not None and user.username.lower() == wanted:
            return True
        # A big forum is built by the seed, which renames nobody: the index is enough there.
        return len(self.users) <= 5000 and self.find_user(username) is not None

    def find_user(self, username: str) -> User | None:
        """Return the user with this username (case-insensitive, as Discourse), or None."""
        wanted = username.lower()
        with self.lock:
            user = self.users.get(self._by_name.get(wanted, 0))
            if user is not None and user.username.lower() == wanted:
                return user
            for user in self.users.values():  # renamed in place since it was indexed
                if user.username.lower() == wanted:
                    self._by_name[wanted] = user.id
                    return user
        return None

    def user(self, username: str) -> User:
        """Return the user with this username; KeyError if there is none."""
        user = self.find_user(username)
        if user is None:
            raise KeyError(username)
        return user

    def suspend(
        self, username: str, *, until: datetime | None = None, reason: str = "Suspended by staff"
    ) -> User:
        """Suspend an account (for 100 years unless `until` is given), as `PUT /admin/users/{id}/suspend`."""
        with self.lock:
            user = self.user(username)
            user.suspended_at = utcnow()
            user.suspended_till = until or user.suspended_at + timedelta(days=365 * 100)
            user.suspend_reason = reason
            self._changed()
            self.emit("user", "user_suspended", user)
            return user

    def unsuspend(self, username: str) -> User:
        """Lift a suspension."""
        with self.lock:
            user = self.user(username)
            user.suspended_at = user.suspended_till = user.suspend_reason = None
            self._changed()
            self.emit("user", "user_unsuspended", user)
            return user

    def silence(
        self, username: str, *, until: datetime | None = None, reason: str = "Silenced by staff"
    ) -> User:
        """Silence an account (for 100 years unless `until` is given)."""
        with self.lock:
            user = self.user(username)
            user.silenced_till = until or utcnow() + timedelta(days=365 * 100)
            user.silence_reason = reason
            self._changed()  # core Discourse sends no webhook for a silence (see webhooks.py)
            return user

    def unsilence(self, username: str) -> User:
        """Lift a silence (no webhook either)."""
        with self.lock:
            user = self.user(username)
            user.silenced_till = user.silence_reason = None
            self._changed()
            return user

    def delete_user(self, username: str) -> User:
        """Delete an account, as `DELETE /admin/users/{id}.json`; sends `user_destroyed`."""
        with self.lock:
            user = self.user(username)
            self.emit("user", "user_destroyed", user)  # the payload is built before the row goes
            del self.users[user.id]
            self._by_name.pop(user.username.lower(), None)
            for group in self.groups.values():
                group.members.pop(user.id, None)
            self._changed()
            return user

    def update_user(self, username: str, **fields) -> User:
        """Change profile fields (name, title, ...) as the member would; sends `user_updated`."""
        with self.lock:
            user = self.user(username)
            for key, value in fields.items():
                if not hasattr(user, key):
                    raise AttributeError(key)
                setattr(user, key, value)
            self._changed()
            self.emit("user", "user_updated", user)
            return user

    def set_trust_level(self, username: str, level: int) -> User:
        """Change a user's trust level, which also moves them between trust_level_N groups."""
        if not 0 <= level <= 4:
            raise ValueError(f"trust level must be 0..4, not {level!r}")
        with self.lock:
            user = self.user(username)
            old, user.trust_level = user.trust_level, level
            self._changed()
            if old != level:
                self.emit("user_promoted", "user_promoted", user, old_trust_level=old)
            return user

    # === groups ===

    def create_group(
        self, name: str, *, full_name: str | None = None, bio: str | None = None, group_id: int | None = None
    ) -> Group:
        """Create an empty custom group and return it."""
        with self.lock:
            if name in AUTO_GROUP_IDS or self.find_group(name) is not None:
                raise ValueError(f"group {name!r} exists")
            if group_id is None:
                group_id = self._next_group_id
            self._next_group_id = max(self._next_group_id, group_id + 1)
            group = Group(id=group_id, name=name, full_name=full_name, bio=bio)
            self.groups[group_id] = group
            return group

    def find_group(self, name: str) -> Group | None:
        """Return the custom group with this name (case-insensitive), or None."""
        wanted = name.lower()
        with self.lock:
            for group in self.groups.values():
                if group.name.lower() == wanted:
                    return group
        return None

    def add_to_group(
        self, group_name: str, username: str, *, owner: bool = False, added_at: datetime | None = None
    ) -> Membership:
        """Put a user in a custom group (or make an existing member an owner)."""
        with self.lock:
            group = self.find_group(group_name)
            if group is None:
                raise KeyError(group_name)
            user = self.user(username)
            membership = group.members.get(user.id)
            if membership is None:
                membership = Membership(user_id=user.id, added_at=added_at or utcnow(), owner=owner)
                group.members[user.id] = membership
                self._changed()
                self.emit("group_user", "user_added_to_group", user, group=group, membership=membership)
            elif owner:
                membership.owner = True
            return membership

    def remove_from_group(self, group_name: str, username: str) -> bool:
        """Take a user out of a custom group; return whether they were in it."""
        with self.lock:
            group = self.find_group(group_name)
            if group is None:
                raise KeyError(group_name)
            user = self.user(username)
            membership = group.members.pop(user.id, None)
            if membership is None:
                return False
            self._changed()
            self.emit("group_user", "user_removed_from_group", user, group=group, membership=membership)
            return True

    def auto_group_names(self, user: User) -> list[str]:
        """The automatic groups Discourse puts this user in, in id order."""
        names = []
        if user.admin:
            names.append("admins")
        if user.moderator:
            names.append("moderators")
        if user.staff:
            names.append("staff")
        names.extend(f"trust_level_{level}" for level in range(user.trust_level + 1))
        return names

    def auto_group_user_ids(self, name: str) -> list[int]:
        """Ids of the users in an automatic group (cached between changes on big forums)."""
        with self.lock:
            return list(self.cached(("auto", name), lambda: [
                u.id for u in self.users.values() if name in self.auto_group_names(u)]))

    def auto_group_size(self, name: str) -> int:
        """How many users an automatic group has (one pass over the users, cached between changes)."""
        with self.lock:
            return self.cached("auto_sizes", self._auto_sizes).get(name, 0)

    def _auto_sizes(self) -> dict[str, int]:
        sizes = dict.fromkeys(AUTO_GROUP_IDS, 0)
        by_level = [0] * 5
        for user in self.users.values():
            by_level[user.trust_level] += 1
            if user.admin:
                sizes["admins"] += 1
            if user.moderator:
                sizes["moderators"] += 1
            if user.admin or user.moderator:
                sizes["staff"] += 1
        for level in range(5):
            sizes[f"trust_level_{level}"] = sum(by_level[level:])
        return sizes

    def cached(self, key, compute):
        """``compute()``, remembered until the next change; only on forums above 2,000 accounts.

        Small forums are recomputed every time, so a test that edits a ``User`` in place sees it.
        """
        with self.lock:
            if len(self.users) <= 2000:
                return compute()
            hit = self._cache.get(key)
            if hit is not None and hit[0] == self.revision:
                return hit[1]
            value = compute()
            self._cache[key] = (self.revision, value)
            return value

    def _changed(self) -> None:
        self.revision += 1

    def emit(self, event_type: str, event_name: str, user: User, **context) -> None:
        """Queue this event for every active webhook that wants it (see ``webhooks.py``)."""
        with self.lock:
            if not self.webhooks:
                return
            from .webhooks import queue_event  # the payload is built now, as Discourse enqueues it

            queue_event(self, event_type, event_name, user, **context)

    def group_names_of(self, user: User) -> list[str]:
        """All group names a user belongs to, automatic ones first, each part in id order."""
        with self.lock:
            custom = [
                g.name for g in sorted(self.groups.values(), key=lambda g: g.id) if user.id in g.members
            ]
        return self.auto_group_names(user) + custom

    # === categories, topics and posts ===

    def add_category(self, name: str, *, slug: str | None = None, **extra) -> Category:
        """Create a category (ids count from 1, as Discourse's Uncategorized is 1)."""
        with self.lock:
            category_id = max(self.categories, default=0) + 1
            category = Category(
                id=category_id, name=name, slug=slug or slugify(name), position=category_id, **extra
            )
            self.categories[category_id] = category
            return category

    def create_topic(
        self,
        *,
        author: User,
        title: str,
        raw: str,
        category_id: int | None = None,
        archetype: str = "regular",
        recipients: Iterable[User] = (),
        created_at: datetime | None = None,
        via_api: bool = False,
    ) -> Post:
        """Start a topic or personal message; return its first post."""
        with self.lock:
            private = archetype == "private_message"
            min_title = MIN_PERSONAL_MESSAGE_TITLE_LENGTH if private else MIN_TOPIC_TITLE_LENGTH
            min_raw = MIN_PERSONAL_MESSAGE_POST_LENGTH if private else MIN_FIRST_POST_LENGTH
            errors = []
            if len(title.strip()) < min_title:
                errors.append(f"Title must be at least {min_title} characters")
            if len(raw.strip()) < min_raw:
                errors.append(f"Body must be at least {min_raw} characters")
            if errors:
                raise ForumError("\n".join(errors))
            if private:
                category_id = None
            elif category_id is None:
                category_id = 1
            elif category_id not in self.categories:
                raise ForumError("Category can't be blank")
            created_at = created_at or utcnow()
            topic = Topic(
                id=self._next_topic_id,
                title=title.strip(),
                slug=slugify(title),
                user_id=author.id,
                created_at=created_at,
                category_id=category_id,
                archetype=archetype,
                allowed_user_ids=[author.id, *(u.id for u in recipients if u.id != author.id)]
                if private
                else [],
                via_api=via_api,
            )
            self._next_topic_id += 1
            self.topics[topic.id] = topic
            return self._append_post(topic, author, raw, created_at, None, via_api)

    def create_post(
        self,
        *,
        author: User,
        topic_id: int,
        raw: str,
        reply_to_post_number: int | None = None,
        created_at: datetime | None = None,
        via_api: bool = False,
    ) -> Post:
        """Reply in an existing topic; return the new post."""
        with self.lock:
            topic = self.topics.get(topic_id)
            if topic is None:
                raise ForumError(
                    "The requested URL or resource could not be found.", kind="not_found", status=404
                )
            minimum = MIN_PERSONAL_MESSAGE_POST_LENGTH if topic.private else MIN_POST_LENGTH
            if len(raw.strip()) < minimum:
                raise ForumError(f"Body must be at least {minimum} characters")
            return self._append_post(
                topic, author, raw, created_at or utcnow(), reply_to_post_number, via_api
            )

    def _append_post(self, topic, author, raw, created_at, reply_to, via_api) -> Post:
        post = Post(
            id=self._next_post_id,
            topic_id=topic.id,
            user_id=author.id,
            post_number=len(topic.post_ids) + 1,
            raw=raw,
            cooked=cook(raw),
            created_at=created_at,
            reply_to_post_number=reply_to,
            via_api=via_api,
        )
        self._next_post_id += 1
        self.posts[post.id] = post
        topic.post_ids.append(post.id)
        author.last_posted_at = max(author.last_posted_at or created_at, created_at)
        return post

    def messages_sent(self) -> list[dict]:
        """Personal messages sent through the API: title, raw, sender and recipients, oldest first."""
        with self.lock:
            return [
                self._summary(topic)
                | {"recipients": [self.users[i].username for i in topic.allowed_user_ids[1:]]}
                for topic in self.topics.values()
                if topic.via_api and topic.private
            ]

    def topics_created(self) -> list[dict]:
        """Public topics created through the API, oldest first."""
        with self.lock:
            return [
                self._summary(topic) | {"category_id": topic.category_id}
                for topic in self.topics.values()
                if topic.via_api and not topic.private
            ]

    def posts_created(self) -> list[dict]:
        """Every post created through the API (first posts and replies), oldest first."""
        with self.lock:
            return [
                {
                    "id": post.id,
                    "topic_id": post.topic_id,
                    "post_number": post.post_number,
                    "username": self.users[post.user_id].username,
                    "raw": post.raw,
                    "reply_to_post_number": post.reply_to_post_number,
                }
                for post in self.posts.values()
                if post.via_api
            ]

    def _summary(self, topic: Topic) -> dict:
        first = self.posts[topic.post_ids[0]]
        return {
            "topic_id": topic.id,
            "title": topic.title,
            "raw": first.raw,
            "username": self.users[topic.user_id].username,
            "created_at": topic.created_at,
        }

    # === test switches: rate limits, slowness, request log ===
