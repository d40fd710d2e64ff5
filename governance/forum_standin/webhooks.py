"""Outgoing webhooks, sent as Discourse's ``Jobs::EmitWebHookEvent`` sends them.

Boundary rule: plain Python and this package only (``urllib`` for the POST), no Flask.

What a delivery looks like (Discourse's ``build_webhook_headers`` / ``build_webhook_body``):

* ``POST`` to the hook's payload URL, body ``{"<event type>": <payload>}`` as JSON;
* headers ``Content-Type: application/json``, ``User-Agent: Discourse/<version>``,
  ``X-Discourse-Instance`` (the forum's base URL), ``X-Discourse-Event-Id`` (the id of the
  ``WebHookEvent`` row: one per delivery attempt, growing), ``X-Discourse-Event-Type`` (``user``,
  ``group_user``, ``user_promoted``), ``X-Discourse-Event`` (the event name) and, when the hook
  has a secret, ``X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256 of the body>``;
* no retry unless ``retry`` is set (the site setting ``retry_web_hook_events`` is off by default;
  when on, Discourse tries again after 1, 5, 25 and 125 minutes, each try a new event id).

Which events core Discourse sends for an account (``config/initializers/012-web_hook_events.rb``
and the pull requests that added them): ``user_created``, ``user_approved``, ``user_updated``,
``user_logged_in``, ``user_logged_out``, ``user_confirmed_email``, ``user_destroyed``
(``HasDestroyedWebHook``), ``user_suspended`` and ``user_unsuspended``, ``user_added_to_group``
and ``user_removed_from_group`` (type ``group_user``) and ``user_promoted`` (a trust level change).
Silencing a member sends nothing, so the stand-in's ``silence`` sends nothing either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import serializers as ser
from .store import ForumData, Group, Membership, User

DISCOURSE_VERSION = "3.5.0"

#: Every account event the stand-in can send, by event name.
USER_EVENTS = frozenset({
    "user_created", "user_updated", "user_destroyed", "user_suspended", "user_unsuspended",
    "user_added_to_group", "user_removed_from_group", "user_promoted",
})


@dataclass
class Webhook:
    """One webhook as an admin sets it up under Admin > API > Webhooks."""

    id: int
    payload_url: str
    secret: str
    events: frozenset[str] = USER_EVENTS
    active: bool = True
    retry: bool = False
    #: (event id, event name, HTTP status or -1 for no answer), oldest first
    deliveries: list[tuple[int, str, int]] = field(default_factory=list)


def add_webhook(data: ForumData, payload_url: str, secret: str, *, events=USER_EVENTS,
                retry: bool = False) -> Webhook:
    """Register a webhook on the forum and return it."""
    unknown = set(events) - USER_EVENTS
    if unknown:
        raise ValueError(f"unknown webhook events: {', '.join(sorted(unknown))}")
    with data.lock:
        hook = Webhook(id=len(data.webhooks) + 1, payload_url=payload_url, secret=secret,
                       events=frozenset(events), retry=retry)
        data.webhooks.append(hook)
        return hook


def _payload(data: ForumData, event_type: str, user: User, *, group: Group | None = None,
             membership: Membership | None = None, old_trust_level: int | None = None) -> dict:
    if event_type == "group_user":
        return {"id": hash((group.id, user.id)) & 0x7FFFFFFF, "group_id": group.id, "user_id": user.id,
                "notification_level": 3, "owner": bool(membership and membership.owner)}
    if event_type == "user_promoted":
        return {"user_id": user.id, "old_trust_level": old_trust_level, "new_trust_level": user.trust_level}
    viewer = data.users.get(-1, user)
    return ser.user_profile(data, user, viewer)["user"]


def queue_event(data: ForumData, event_type: str, event_name: str, user: User, **context) -> None:
    """Build the payload now (as Discourse does when it enqueues the job) and queue a delivery
    for every active hook that subscribes to ``event_name``. Caller holds ``data.lock``."""
    payload = _payload(data, event_type, user, **context)
    for hook in data.webhooks:
        if hook.active and event_name in hook.events:
            data.outbox.append((hook, event_type, event_name, payload, 0))
    data.outbox_ready.notify_all()


def sign(secret: str, body: bytes) -> str:
    """The ``X-Discourse-Event-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(data: ForumData, base_url: str, hook: Webhook, event_type: str, event_name: str,
            payload: dict, *, timeout: float = 5.0) -> int:
    """POST one delivery now; return the HTTP status (-1 when nothing answered)."""
    body = json.dumps({event_type: payload}).encode()
    with data.lock:
        event_id = data._next_event_id
        data._next_event_id += 1
    headers = {
        "Accept": "*/*",
        "Connection": "close",
        "Content-Type": "application/json",
        "Host": urlsplit(hook.payload_url).netloc,
        "User-Agent": f"Discourse/{DISCOURSE_VERSION}",
        "X-Discourse-Instance": base_url,
        "X-Discourse-Event-Id": str(event_id),
        "X-Discourse-Event-Type": event_type,
        "X-Discourse-Event": event_name,
    }
    if hook.secret:
        headers["X-Discourse-Event-Signature"] = sign(hook.secret, body)
    request = urllib.request.Request(hook.payload_url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (configured URL)
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError):
        status = -1
    with data.lock:
        hook.deliveries.append((event_id, event_name, status))
    return status


class Sender:
    """A thread that delivers queued events in order, as Sidekiq runs the jobs."""

    def __init__(self, data: ForumData, base_url: str) -> None:
        self.data = data
        self.base_url = base_url
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="forum-webhooks", daemon=True)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.data.lock:
            self._stop = True
            self.data.outbox_ready.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        data = self.data
        while True:
            with data.lock:
                while not data.outbox and not self._stop:
                    data.outbox_ready.wait(0.5)
                if self._stop:
                    return
                hook, event_type, event_name, payload, tries = data.outbox.popleft()
                self._busy = True
            try:
                status = deliver(data, self.base_url, hook, event_type, event_name, payload)
            finally:
                with data.lock:
                    self._busy = False
            if not 200 <= status < 300 and status not in (404, 410) and hook.retry and tries < 4:
                with data.lock:  # the stand-in retries at once; Discourse waits 5^tries minutes
                    data.outbox.append((hook, event_type, event_name, payload, tries + 1))

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout (for tests)."""
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.data.lock:
                if not self.data.outbox and not self._busy:
                    return True
            time.sleep(0.005)
        return False
