"""Opening a poll: freezing its options, electorate, tie-break seed and election parameters.

Boundary rule: a service (takes a session, flushes, never commits); ``snapshot_electorate`` calls
the forum and runs outside any transaction.

When a poll opens, the election parameters that every ballot is encrypted under are fixed and
published (``governance.crypto.ElectionParams``: options in ballot order, the election public key,
the trustees and their verification keys, the threshold, a random election id), and their
fingerprint goes into the ``poll.opened`` log entry. The per-poll link salt (for credentials) is
drawn now; in platform mode so is the key salt, from which the platform derives the poll's key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from .. import crypto
from ..audit import log
from ..audit.canonical import canonical_json, plain, sha256_hex
from ..copy import N_, Message, plural
from ..errors import Conflict, ForumUnavailable, NotFound
from ..identity.eligibility import Evidence
from ..models import ElectorateEntry, Outbox, Poll, PollOption, PollSecret
from . import keys
from .nominations import nominations
from .service import _lock_poll, _t, options, rule_of


@dataclass(frozen=True)
class GroupSnapshot:
    """Members of the poll's groups as the forum listed them, with each one's evidence."""

    members: list[dict[str, Any]]
    raw_sha256: str
    #: The forum ids of members with an accepted exception whose records were asked for.
    excepted: frozenset[int] = frozenset()


def snapshot_electorate(poll: Poll, forum: Any, *, excepted: Any = ()) -> GroupSnapshot | None:
    """Fetch the group members (outside any transaction: this calls the forum).

    Members whose ``added_at`` is not before the opening time are left out, so a snapshot taken a
    little after the opening still freezes the groups as they were at the opening. ``excepted``
    are the forum ids of members with an accepted eligibility exception: their records are
    fetched too, with the groups (of the poll's) they were in at the opening, often none.
    Returns None for community-wide polls (nothing to snapshot).
    """
    from ..identity.forum import parse_time

    rule = rule_of(poll)
    if not rule.groups:
        return None
    opens = poll.opens_at
    raw_pages: list[Any] = []
    chosen: dict[int, dict[str, Any]] = {}
    for group in rule.groups:
        listed = forum.group_members(group)
        raw_pages.append({"group": group, "members": listed})
        try:
            for item in listed:
                added = parse_time(item.get("added_at"))
                if added and opens and added >= opens:
                    continue
                chosen.setdefault(int(item["id"]), {"groups": set()})["groups"].add(group)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ForumUnavailable(Message('The forum gave an unexpected answer (members of %(group)s).', group=group)) from None
    listed_ids = set(chosen)
    for user_id in excepted:
        chosen.setdefault(int(user_id), {"groups": set()})
    members = []
    for user_id in sorted(chosen):
        if user_id <= 0:
            continue
        try:
            evidence, _raw = forum.evidence(user_id)
        except NotFound:
            if user_id in listed_ids:
                raise
            continue  # an excepted member whose account is gone: not in the electorate
        # Group membership as of the opening (from the lists), not as of now.
        frozen = Evidence(**{**evidence.__dict__, "groups": frozenset(chosen[user_id]["groups"])})
        members.append(frozen.to_dict())
    digest = sha256_hex(canonical_json(plain(raw_pages)))
    return GroupSnapshot(members=members, raw_sha256=digest, excepted=frozenset(int(i) for i in excepted))



def open_poll(*, session: Session, poll: Poll, now: datetime, snapshot: GroupSnapshot | None,
              secret: str) -> Poll:
    """Open voting: freeze the options, the electorate, the tie-break seed and the election parameters.

    A trustee poll opens only once its key ceremony is complete (``trustees.ceremony_result``);
    until then it stays scheduled and its page says why.
    """
    from ..audit.bundle import electorate_hash, rule_electorate_hash
    from . import exceptions, trustees
    from . import rules as poll_rules

    poll = _lock_poll(session, poll, exclusive=True)
    if poll.status != "scheduled":
        return poll
    excepted = exceptions.accepted(session, poll)  # decided under this lock: no decision comes later
    rule = rule_of(poll)
    if rule.groups and snapshot is not None and not set(excepted) <= snapshot.excepted:
        return poll  # an exception accepted after the snapshot was taken: the next tick takes another
    ceremony = None
    if poll.key_mode == "trustees":
        ceremony = trustees.ceremony_result(session, poll)
        if ceremony is None:
            return poll
    if poll.kind == "election":
        standing = [(n, m) for n, m in nominations(session, poll, include_withdrawn=False) if n.accepted_at]
        if len(standing) <= poll.seats:
            poll.status = "cancelled"
            poll.cancel_reason = (f"Only {plural(len(standing), 'accepted candidate')} for {plural(poll.seats, 'seat')} when "
                                  "voting was due to open.")
            session.add(poll)
            log.record(session=session, created_at=now, type="poll.cancelled", actor=None, poll_id=poll.id,
                       payload={"poll": poll.id, "reason": poll.cancel_reason})
            return poll
        problem = _cap_problem(poll, standing, poll_rules.cap(poll.rules or {}))
        if problem:
            poll.status, poll.cancel_reason = "cancelled", problem
            session.add(poll)
            log.record(session=session, created_at=now, type="poll.cancelled", actor=None, poll_id=poll.id,
                       payload={"poll": poll.id, "reason": poll.cancel_reason})
            return poll
        for position, (nomination, member) in enumerate(standing):
            session.add(PollOption(poll_id=poll.id, position=position, label=member.username,
                                   description=member.name, member_id=member.id,
                                   affiliation=nomination.affiliation or None))
        session.flush()
    lapsed = exceptions.lapse_pending(session, poll, now)
    if rule.groups:
        if snapshot is None:
            raise Conflict(N_("The electorate could not be frozen: the forum's group lists were not fetched."))
        eligible = []
        for item in snapshot.members:
            session.add(ElectorateEntry(poll_id=poll.id, forum_user_id=item["forum_user_id"],
                                        username=item["username"], evidence=item))
            entry = exceptions.eligible_entry(rule, item, item["username"], poll.opens_at,
                                              excepted.get(item["forum_user_id"]))
            if entry is not None:
                eligible.append(entry)
        poll.electorate_hash = electorate_hash(eligible)
        poll.electorate_size = len(eligible)
    else:
        poll.electorate_hash = rule_electorate_hash(poll.eligibility, _t(poll.opens_at))
        poll.electorate_size = None
    labels = [o.label for o in options(session, poll)]
    salts = session.get(PollSecret, poll.id) or PollSecret(poll_id=poll.id)
    salts.link_salt = keys.new_salt()
    if poll.key_mode == "trustees":
        election_id = poll.ceremony["setup"]["election_id"]
        public_key, threshold, trustee_keys = ceremony
    else:
        election_id = crypto.new_election_id()
        salts.key_salt = keys.new_salt()
        public_key = crypto.platform_keypair(keys.platform_seed(secret, poll.id, salts.key_salt),
                                             election_id=election_id, poll=poll.id).public_key
        threshold, trustee_keys = 1, [{"index": 1, "name": "platform", "verification_key": public_key}]
    params = crypto.ElectionParams(
        election_id=election_id, poll=poll.id, options=tuple(labels), max_value=len(labels),
        public_key=public_key, threshold=threshold, trustees=tuple(trustee_keys))
    session.add(salts)
    poll.election_params = params.to_dict()
    poll.fingerprint = params.fingerprint()
    poll.trustee_threshold = threshold
    poll.tie_seed = secrets.token_hex(16)
    poll.status = "open"
    poll.opened_at = now
    session.add(poll)
    session.flush()
    log.record(session=session, created_at=now, type="poll.opened", actor=None, poll_id=poll.id, payload={
        "poll": poll.id, "options": labels, "method": poll.method, "seats": poll.seats,
        "tie_break_seed": poll.tie_seed, "electorate_hash": poll.electorate_hash,
        "electorate_size": poll.electorate_size, "eligibility": poll.eligibility,
        "group_lists_sha256": snapshot.raw_sha256 if snapshot else None,
        "key_mode": poll.key_mode, "election_fingerprint": poll.fingerprint,
        "opens_at": _t(poll.opens_at), "closes_at": _t(poll.closes_at), "rules": poll.rules,
        "exceptions": sorted(excepted.values()), "exceptions_lapsed": lapsed,
        **({"affiliations": {o.label: o.affiliation for o in options(session, poll) if o.affiliation}}
           if poll.kind == "election" else {})})
    session.add(Outbox(kind="topic", poll_id=poll.id, payload={"poll": poll.id}))
    session.flush()
    return poll


def _cap_problem(poll: Poll, standing: list, cap: int | None) -> str:
    """Why the seats cannot be filled under the cap on seats per affiliation ("" when they can)."""
    if cap is None:
        return ""
    from .rules import affiliation_key

    per: dict[str, int] = {}
    free = 0
    for nomination, _member in standing:
        if nomination.affiliation:
            key = affiliation_key(nomination.affiliation)
            per[key] = per.get(key, 0) + 1
        else:
            free += 1
    electable = free + sum(min(n, cap) for n in per.values())
    if electable >= poll.seats:
        return ""
    return (f"With at most {plural(cap, 'seat')} per affiliation, only {electable} of the {len(standing)} accepted candidates "
            f"can be elected together, fewer than the {plural(poll.seats, 'seat')} when voting was due to open.")
