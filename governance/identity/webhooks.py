"""Discourse's webhooks about accounts: verify, refuse replays, apply.

Boundary rule: a service over a session; it flushes and never commits, and raises domain errors.

A delivery is believed only when ``X-Discourse-Event-Signature`` is ``sha256=`` and the hex
HMAC-SHA256 of the exact body under the webhook's secret (compared in constant time). Replays
are refused by ``X-Discourse-Event-Id``: Discourse gives every delivery attempt a new, growing
id, so an id seen before is a replay, and so is one not above every id received more than
``REPLAY_WINDOW`` ago (Discourse sends no timestamp; its ids are the clock). Deliveries seen
within the window are kept to tell replays apart; older ones are pruned except the newest.

What each event does (the member's record is always marked stale, so the next ballot or the
next ``flask forum sync`` re-reads it):

* ``user_suspended``: suspended now, every login session ended;
* ``user_destroyed``: deactivated now, every login session ended;
* ``user_promoted``: the new trust level, from the signed payload, observed now;
* ``user_unsuspended``, ``user_added_to_group``, ``user_removed_from_group``, ``user_updated``
  and any other account event: stale only (re-read before it counts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from ..errors import Conflict, InvalidInput, NotAllowed
from ..models import ForumWebhookDelivery, Member
from . import sessions
from .service import _after_change, _roles, member_evidence

REPLAY_WINDOW = timedelta(hours=24)
MAX_BODY = 256 * 1024
_SIGNATURE = re.compile(r"^sha256=([0-9a-f]{64})$")


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of ``X-Discourse-Event-Signature`` over the raw body."""
    if not secret or not header or len(header) > 100:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))
    return ok and _SIGNATURE.match(header) is not None


def _user_id(event_type: str, payload: Any) -> int | None:
    if not isinstance(payload, dict):
        return None
    inner = payload.get(event_type)
    if not isinstance(inner, dict):
        return None
    value = inner.get("id") if event_type == "user" else inner.get("user_id")
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


def receive(session: Session, *, secret: str, headers: Any, body: bytes, now: datetime) -> str:
    """Verify and apply one delivery; return what was done (for the answer and the log).

    Raises NotAllowed (unsigned, wrongly signed, or no secret configured: 403), Conflict (a
    replay: 409), InvalidInput (a signed delivery we cannot read: 400). Nothing is written then.
    """
    if not secret:
        raise NotAllowed("This platform accepts no forum webhooks (no webhook secret is configured).")
    if len(body) > MAX_BODY:
        raise InvalidInput("The webhook body is too large.")
    if not verify_signature(secret, body, headers.get("X-Discourse-Event-Signature")):
        raise NotAllowed("The webhook's signature is missing or wrong.")
    try:
        event_id = int(headers.get("X-Discourse-Event-Id", ""))
    except ValueError:
        raise InvalidInput("The webhook has no event id.") from None
    if not 0 < event_id < 2**62:
        raise InvalidInput("The webhook's event id is out of range.")
    event_type = str(headers.get("X-Discourse-Event-Type", ""))[:32]
    event = str(headers.get("X-Discourse-Event", ""))[:64]
    if session.get(ForumWebhookDelivery, event_id) is not None:
        raise Conflict(f"Webhook delivery {event_id} was already received.")
    cutoff = now - REPLAY_WINDOW
    floor = session.exec(select(func.max(ForumWebhookDelivery.event_id))
                         .where(ForumWebhookDelivery.received_at < cutoff)).one()
    if floor is not None and event_id <= floor:
        raise Conflict(f"Webhook delivery {event_id} is older than the replay window.")
    if event_type == "ping" or event == "ping":
        session.add(ForumWebhookDelivery(event_id=event_id, event="ping", received_at=now))
        session.flush()
        return "ping"
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("The webhook body is not JSON.") from None
    user_id = _user_id(event_type, payload)
    session.add(ForumWebhookDelivery(event_id=event_id, event=event or event_type, forum_user_id=user_id,
                                     received_at=now))
    if floor is not None:  # keep the floor row, prune the rest of the old ones
        session.execute(delete(ForumWebhookDelivery).where(ForumWebhookDelivery.received_at < cutoff,
                                                           ForumWebhookDelivery.event_id < floor))
    session.flush()
    if user_id is None:
        return "ignored"
    member = session.exec(select(Member).where(Member.forum_user_id == user_id)).first()
    if member is None:
        return "unknown account"
    before = member_evidence(member).to_dict(), _roles(member)
    done = "marked stale"
    if event == "user_suspended":
        member.suspended = True
        sessions.revoke_all(session=session, member=member)
        done = "suspended"
    elif event == "user_destroyed":
        member.active = False
        sessions.revoke_all(session=session, member=member)
        done = "deactivated"
    elif event == "user_promoted":
        level = (payload.get("user_promoted") or {}).get("new_trust_level")
        if isinstance(level, int) and 0 <= level <= 4:
            member.trust_level = level
            member.groups = sorted([g for g in (member.groups or []) if not g.startswith("trust_level_")]
                                   + [f"trust_level_{n}" for n in range(level + 1)])
            done = f"trust level {level}"
    member.stale_since = member.stale_since or now
    session.add(member)
    session.flush()
    _after_change(session, member, before, source="webhook", now=now)
    return done
