"""Carrying a poll that is open when ballots become encrypted over to encrypted ballots (migration 0007).

Boundary rule: used only by the migration, on its connection (plain SQL: the migration runs
against the tables as they are at that point, not the models).

The poll gets a platform-held key (it has no trustees), its election parameters are frozen, and
each stored plaintext ballot is encrypted with its voter's credential (the old voter link tells
whose it is), put on the bulletin board and recorded in the log, so voting goes on: a voter who
voted before can still replace their ballot, and the count and the audit bundle see every ballot.
The server held these ballots in plaintext already; the log says they were encrypted here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa

from .. import crypto
from ..audit.chain import make_entry
from ..audit.log import signing_key
from ..audit.signing import sign_entry
from . import keys
from .voting import values_of


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _append(conn, tip, *, type_: str, payload: dict, poll_id: int, now: datetime, key):
    entry = make_entry(tip, type=type_, actor=None, payload=payload, created_at=now)
    conn.execute(sa.text("INSERT INTO audit_entry (seq, created_at, type, actor, payload, prev_hash, hash, poll_id, "
                         "document, signature) VALUES (:seq, :created_at, :type, NULL, :payload, :prev_hash, :hash, "
                         ":poll_id, NULL, :signature)").bindparams(sa.bindparam("payload", type_=sa.JSON)),
                 {"seq": entry.seq, "created_at": entry.created_at, "type": entry.type,
                  "payload": entry.payload, "prev_hash": entry.prev_hash, "hash": entry.hash,
                  "poll_id": poll_id, "signature": sign_entry(key, entry.seq, entry.hash)})
    return entry


def encrypt_open_poll(conn, poll_id: int, *, secret: str) -> int:
    """Encrypt an open poll's plaintext ballots under a new platform-held key; return how many."""
    from ..audit.chain import Entry

    labels = tuple(r[0] for r in conn.execute(sa.text(
        "SELECT label FROM poll_option WHERE poll_id = :p ORDER BY position"), {"p": poll_id}))
    link_salt, key_salt = keys.new_salt(), keys.new_salt()
    election_id = crypto.new_election_id()
    platform = crypto.platform_keypair(keys.platform_seed(secret, poll_id, key_salt), election_id=election_id,
                                       poll=poll_id)
    params = crypto.ElectionParams(election_id=election_id, poll=poll_id, options=labels, max_value=len(labels),
                                   public_key=platform.public_key, threshold=1,
                                   trustees=[{"index": 1, "name": "platform", "verification_key": platform.public_key}])
    conn.execute(sa.text("UPDATE poll SET key_mode = 'platform', trustee_threshold = 1, election_params = :params, "
                         "fingerprint = :fp WHERE id = :p").bindparams(sa.bindparam("params", type_=sa.JSON)),
                 {"params": params.to_dict(), "fp": params.fingerprint(), "p": poll_id})
    conn.execute(sa.text("INSERT INTO poll_secret (poll_id, link_salt, key_salt) VALUES (:p, :l, :k)"),
                 {"p": poll_id, "l": link_salt, "k": key_salt})
    old_key = conn.execute(sa.text("SELECT key FROM poll_key WHERE poll_id = :p"), {"p": poll_id}).scalar()
    members = [r[0] for r in conn.execute(sa.text("SELECT member_id FROM participation WHERE poll_id = :p"),
                                          {"p": poll_id})]
    by_link = {}
    if old_key:
        for member_id in members:
            link = hmac.new(bytes.fromhex(old_key), f"{poll_id}:{member_id}".encode(), hashlib.sha256).hexdigest()
            by_link[link] = member_id
    rows = conn.execute(sa.text("SELECT ranking, voter_link FROM ballot WHERE poll_id = :p ORDER BY tracker"),
                        {"p": poll_id}).all()
    tip_row = conn.execute(sa.text("SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).first()
    tip = Entry(seq=tip_row[0], created_at="", type="", actor=None, payload={}, prev_hash="", hash=tip_row[1]) \
        if tip_row else None
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    key = signing_key()
    tip = _append(conn, tip, type_="ballots.encrypted", poll_id=poll_id, now=now, key=key, payload={
        "poll": poll_id, "ballots": len(rows), "key_mode": "platform", "election_fingerprint": params.fingerprint(),
        "reason": "ballots became encrypted while this poll was open: the ballots cast so far were encrypted "
                  "by the platform under a platform-held key; receipts given before carry old trackers"})
    for ranking, link in rows:
        member_id = by_link.get(link)
        credential = keys.credential(secret, poll_id, link_salt, member_id) if member_id is not None \
            else secrets.token_hex(16)
        ballot, _secrets = crypto.encrypt_ballot(params, values_of(_json(ranking), labels), credential)
        tracker = crypto.tracker(ballot)
        tip = _append(conn, tip, type_="ballot.cast", poll_id=poll_id, now=now, key=key,
                      payload={"poll": poll_id, "tracker": tracker, "credential": credential, "migrated": True})
        conn.execute(sa.text("INSERT INTO ballot_new (id, poll_id, tracker, credential, content, seq, superseded) "
                             "VALUES (:id, :p, :t, :c, :content, :seq, :s)").bindparams(
                                 sa.bindparam("content", type_=sa.JSON)),
                     {"id": secrets.token_hex(16), "p": poll_id, "t": tracker, "c": credential,
                      "content": ballot, "seq": tip.seq, "s": False})
    return len(rows)
