"""A thin adapter over pydiscourse: timeouts, quoted paths, domain errors, paced bulk calls.

Boundary rule: the only module that talks to the forum's JSON API. It raises domain errors
(``ForumUnavailable``, ``NotFound``), never requests or pydiscourse exceptions.

pydiscourse retries a 429 answer itself, sleeping ``extras.wait_seconds`` + 1 between tries. A web
request must not hang that long, so the adapter bounds each of those sleeps by ``max_wait``: a
longer back-off aborts the call at once with ``ForumUnavailable`` carrying the forum's wait, and
the caller shows a clear page (web) or waits and retries (``flask forum sync``).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pydiscourse.client as _pd_client
import requests
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseClientError, DiscourseError, DiscourseRateLimitedError

from ..copy import Message
from ..errors import ForumUnavailable, NotFound
from .eligibility import Evidence

_max_wait: contextvars.ContextVar[float] = contextvars.ContextVar("forum_max_wait", default=2.0)


class _BackOff(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _BoundedSleep:
    """Stands in for the ``time`` module inside pydiscourse.client: bounded 429 sleeps."""

    def sleep(self, seconds: float) -> None:
        if seconds > _max_wait.get():
            raise _BackOff(seconds)
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _NoBudget(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


_before_request: contextvars.ContextVar[Any] = contextvars.ContextVar("forum_before_request", default=None)


class _MeteredRequests:
    """Stands in for ``requests`` inside pydiscourse.client: each HTTP request (a retry after a
    429 too) is counted and drawn from the API budget before it is sent."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        hook = _before_request.get()
        if hook is not None:
            hook()
        return requests.request(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)


_install_lock = threading.Lock()
with _install_lock:
    if not isinstance(_pd_client.time, _BoundedSleep):
        _pd_client.time = _BoundedSleep()
    if not isinstance(_pd_client.requests, _MeteredRequests):
        _pd_client.requests = _MeteredRequests()


def parse_time(value: str | None) -> datetime | None:
    """A forum timestamp (ISO 8601, ``Z`` for UTC) as an aware UTC datetime, or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class Forum:
    """The forum's JSON API as this platform uses it."""

    def __init__(self, *, url: str, api_key: str, api_username: str, timeout: float | tuple[float, float] = 5.0,
                 max_wait: float = 2.0, page_interval: float = 0.0, budget: Any = None) -> None:
        self.url = url.rstrip("/")
        self.client = DiscourseClient(self.url, api_username=api_username, api_key=api_key, timeout=timeout)
        self.max_wait = max_wait
        self.page_interval = page_interval
        #: ``budget.Budget`` (or anything with ``take() -> seconds to wait``); None: no budget
        self.budget = budget
        self.calls = 0

    def _metered(self) -> None:
        if self.budget is not None:
            wait = self.budget.take()
            if wait:
                raise _NoBudget(wait)
        self.calls += 1

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> Forum:
        """Build from a Flask config mapping."""
        kwargs = dict(url=config["DISCOURSE_URL"], api_key=config["DISCOURSE_API_KEY"],
                      api_username=config["DISCOURSE_API_USERNAME"],
                      timeout=float(config.get("DISCOURSE_TIMEOUT", 5.0)))
        kwargs.update(overrides)
        return cls(**kwargs)

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        from ..ops import metrics

        token = _max_wait.set(self.max_wait)
        hook = _before_request.set(self._metered)
        outcome = "failed"
        try:
            yield
            outcome = "ok"
        except _NoBudget as exc:
            outcome = "rate_limited"
            raise ForumUnavailable(Message("The platform has used its share of the forum's API limit for now (%(what)s); try again in %(value)s seconds.", what=what, value=int(exc.seconds) + 1)) from None
        except _BackOff as exc:
            outcome = "rate_limited"
            raise ForumUnavailable(Message('The forum asked us to slow down (%(what)s); try again in %(value)s seconds.', what=what, value=int(exc.seconds) + 1)) from None
        except DiscourseRateLimitedError:
            outcome = "rate_limited"
            raise ForumUnavailable(Message('The forum is rate limiting us (%(what)s); try again shortly.', what=what)) from None
        except DiscourseClientError as exc:
            status = getattr(exc.response, "status_code", None)
            if status == 404:
                outcome = "ok"  # an answer: the forum has no such thing
                raise NotFound(Message('The forum has no such %(what)s.', what=what)) from None
            raise ForumUnavailable(Message('The forum refused the request for %(what)s (HTTP %(status)s).', what=what, status=status)) from None
        except (DiscourseError, requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as exc:
            # ValueError, KeyError, TypeError, AttributeError: an answer of the wrong shape.
            kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
            if not isinstance(exc, requests.RequestException) or (
                    isinstance(exc, DiscourseError) and not isinstance(exc, requests.ConnectionError)):
                kind = "gave an unexpected answer"
            raise ForumUnavailable(Message('The forum %(kind)s (%(what)s). Nothing was changed; please try again.', kind=kind, what=what)) from None
        finally:
            _before_request.reset(hook)
            _max_wait.reset(token)
            metrics.forum_call(what, outcome)

    # --- users -------------------------------------------------------------------------------
    def user_detail(self, user_id: int) -> dict[str, Any]:
        """``/admin/users/{id}.json``: the full admin view of one account."""
        with self._call("user"):
            return self.client.user_by_id(int(user_id))

    def user_by_username(self, username: str) -> dict[str, Any]:
        """``/u/{username}.json`` (the ``user`` object)."""
        with self._call("user"):
            return self.client.user(quote(username, safe=""))

    def evidence(self, user_id: int) -> tuple[Evidence, dict[str, Any]]:
        """Eligibility evidence for one account plus the raw admin record it came from."""
        with self._call("user"):
            raw = self.client.user_by_id(int(user_id))
            return evidence_from_admin(raw), raw

    def locale_of(self, username: str) -> str | None:
        """The interface language the account chose on the forum (``user.locale`` of
        ``/u/{username}.json``), or None when it keeps the site's default."""
        with self._call("user"):
            value = self.client.user(quote(username, safe=""))["locale"]
            return value if isinstance(value, str) and 0 < len(value) <= 20 else None

    def users_page(self, page: int, *, flag: str = "active") -> list[dict[str, Any]]:
        """One page (100 accounts, oldest first) of ``/admin/users/list/{flag}.json``."""
        with self._call("user list"):
            rows = self.client._get(f"/admin/users/list/{quote(flag, safe='')}.json", page=int(page),
                                    order="created", asc="true")
            if not isinstance(rows, list):
                raise ValueError("not a list")
            return rows

    # --- groups ------------------------------------------------------------------------------
    def group_members(self, name: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Every member of a group, paged through ``meta.total`` with pacing between pages."""
        path = f"/groups/{quote(name, safe='')}/members.json"
        members: list[dict[str, Any]] = []
        offset = 0
        with self._call("group"):
            while True:
                page = self.client._get(path, offset=offset, limit=limit)
                batch = page.get("members", [])
                members.extend(batch)
                offset += len(batch)
                total = int(page.get("meta", {}).get("total", 0))
                if offset >= total or not batch:
                    break
                if self.page_interval:
                    time.sleep(self.page_interval)
        return members

    def groups(self) -> list[dict[str, Any]]:
        """All groups visible to the API user (``/groups.json`` answers 36 a page)."""
        groups: list[dict[str, Any]] = []
        page = 0
        with self._call("groups"):
            while True:
                data = self.client._get("/groups.json", page=page)
                batch = data.get("groups", [])
                groups.extend(batch)
                if not batch or len(groups) >= int(data.get("total_rows_groups") or 0):
                    break
                page += 1
                if self.page_interval:
                    time.sleep(self.page_interval)
        return groups

    # --- posting -----------------------------------------------------------------------------
    def create_topic(self, *, title: str, raw: str, category: str | int | None = None) -> dict[str, Any]:
        """Open a topic; returns the first post (with ``topic_id``)."""
        with self._call("topic"):
            return self.client.create_post(raw, category_id=category, title=title)

    def reply(self, *, topic_id: int, raw: str) -> dict[str, Any]:
        """Reply in a topic."""
        with self._call("reply"):
            return self.client.create_post(raw, topic_id=int(topic_id))

    def private_message(self, *, usernames: list[str], title: str, raw: str) -> dict[str, Any]:
        """Send a private message."""
        with self._call("message"):
            return self.client.create_post(raw, title=title, archetype="private_message",
                                           target_recipients=",".join(usernames))

    def post(self, post_id: int) -> dict[str, Any]:
        """One post (``/posts/{id}.json``)."""
        with self._call("post"):
            return self.client._get(f"/posts/{int(post_id)}.json")


def evidence_from_admin(raw: dict[str, Any], *, groups: frozenset[str] | None = None) -> Evidence:
    """Eligibility evidence from an ``/admin/users/{id}.json`` record or a user list entry.

    List entries carry no groups: pass the groups known otherwise as ``groups``.
    """
    now = datetime.now(UTC)
    suspended_till = parse_time(raw.get("suspended_till"))
    silenced_till = parse_time(raw.get("silenced_till"))
    suspended = bool(raw.get("suspended_at")) and (suspended_till is None or suspended_till > now)
    silenced = bool(raw.get("silenced")) or (silenced_till is not None and silenced_till > now)
    if groups is None:
        groups = frozenset(g["name"] for g in raw.get("groups", []) if isinstance(g, dict) and g.get("name"))
    return Evidence(
        forum_user_id=int(raw["id"]),
        username=str(raw["username"]),
        created_at=parse_time(raw.get("created_at")),
        trust_level=int(raw.get("trust_level") or 0),
        groups=groups,
        suspended=suspended,
        silenced=silenced,
        staged=bool(raw.get("staged")),
        active=bool(raw.get("active", True)),
    )
