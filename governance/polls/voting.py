"""Casting encrypted ballots: the voter's credential, checking a ballot, recording it, the board.

Boundary rule: a service (takes a session, flushes, never commits; raises domain errors).

A ballot arrives encrypted (the browser encrypted it with ``governance.crypto``) or as ranks
from the plain form, which the server encrypts on arrival (``encrypt_on_arrival``). Either way
``check`` verifies its proof against the poll's frozen election parameters and the member's
credential *before* any write; ``cast`` then records it under the poll's lock: the voter's
participation (who, never what or when), the ballot on the bulletin board, and a signed log
entry naming its tracker and credential. A ballot of the same credential already on the board
is marked superseded (the last one counts). docs/secrecy.md is the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import load_only
from sqlmodel import Session

from .. import crypto
from ..audit import log
from ..copy import N_, Message
from ..errors import Conflict, InvalidInput, NotEligible, NotFound, VotingClosed
from ..models import Ballot, Member, Outbox, Participation, Poll, PollOption, PollSecret
from ..models.base import MAX_ID
from . import keys
from .ballots import OptionRef
from .methods import EQUAL_RANKS

# === Reading a poll for voting ==================================================================


@dataclass(frozen=True)
class BallotBox:
    """A poll as a vote reads it before writing: the poll, its link salt, options and parameters.

    ``link_salt`` is None once the poll has closed (no credential can be derived any more).
    Options and parameters are frozen when the poll opens; the status, the closing time and the
    salt are read again under the poll's lock by ``cast``.
    """

    poll: Poll
    link_salt: str | None
    options: tuple[OptionRef, ...]
    params: Any  # governance.crypto.ElectionParams, or None before the opening
    #: The transaction that read the poll under its lock (PostgreSQL's FOR SHARE, or SQLite's
    #: write transaction), or None: ``cast`` re-reads the poll's state unless it runs in it.
    locked_in: Any = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(o.label for o in self.options)


_POLLS = Poll.__table__
_SECRETS = PollSecret.__table__
_OPTIONS = PollOption.__table__
_BALLOTS = Ballot.__table__
_BOX = (select(Poll, PollSecret.link_salt).outerjoin(PollSecret, PollSecret.poll_id == Poll.id)
        .options(load_only(Poll.id, Poll.body, Poll.kind, Poll.method, Poll.title, Poll.status, Poll.seats,
                           Poll.eligibility, Poll.default_option, Poll.opens_at, Poll.closes_at, Poll.opened_at,
                           Poll.tie_seed, Poll.fingerprint, Poll.key_mode))
        .where(Poll.id == bindparam("poll_id")).execution_options(populate_existing=True))
_BOX_SHARED = _BOX.with_for_update(read=True, of=_POLLS)
_STATE = (select(_POLLS.c.status, _POLLS.c.opened_at, _POLLS.c.closes_at, _SECRETS.c.link_salt)
          .outerjoin(_SECRETS, _SECRETS.c.poll_id == _POLLS.c.id)
          .where(_POLLS.c.id == bindparam("poll_id")))
_STATE_SHARED = _STATE.with_for_update(read=True, of=_POLLS)
_BOX_OPTIONS = (select(_OPTIONS.c.id, _OPTIONS.c.label).where(_OPTIONS.c.poll_id == bindparam("poll_id"))
                .order_by(_OPTIONS.c.position))
_PARAMS = select(_POLLS.c.election_params).where(_POLLS.c.id == bindparam("poll_id"))

#: What opened polls never change, per process: options and election parameters, by (poll id,
#: fingerprint). The fingerprint is a hash of the parameters, which hold a random election id, so
#: no other poll (in another database, say) shares the key. Bounded.
_FROZEN: dict[tuple[int, str], tuple[tuple[OptionRef, ...], Any]] = {}
_FROZEN_MAX = 512


def ballot_box(session: Session, poll_id: int) -> BallotBox:
    """Read a poll for voting: the poll with its link salt, its options and election parameters.

    On PostgreSQL the poll's row is read under its shared lock (FOR SHARE), held to the end of
    the transaction; on SQLite the lock is the write transaction itself, if one is open.
    """
    conn = session.connection()
    postgresql = conn.dialect.name == "postgresql"
    found = session.execute(_BOX_SHARED if postgresql else _BOX, {"poll_id": poll_id}).first() \
        if 0 < poll_id <= MAX_ID else None
    if found is None:
        raise NotFound(Message('There is no poll %(poll_id)s.', poll_id=poll_id))
    poll = found[0]
    locked = postgresql or bool(conn.get_execution_options().get("sqlite_immediate"))
    frozen = bool(poll.fingerprint) and poll.status in ("open", "closed", "certifying", "published")
    cached = _FROZEN.get((poll.id, poll.fingerprint)) if frozen else None
    if cached is None:
        options = tuple(OptionRef(i, label) for i, label in conn.execute(_BOX_OPTIONS, {"poll_id": poll_id}))
        raw = conn.execute(_PARAMS, {"poll_id": poll_id}).scalar() if poll.fingerprint else None
        params = crypto.ElectionParams.from_dict(raw) if raw else None
        cached = (options, params)
        if frozen:
            if len(_FROZEN) >= _FROZEN_MAX:
                _FROZEN.clear()
            _FROZEN[(poll.id, poll.fingerprint)] = cached
    return BallotBox(poll=poll, link_salt=found[1], options=cached[0], params=cached[1],
                     locked_in=session.get_transaction() if locked else None)


def credential(box: BallotBox, member: Member, *, secret: str) -> str:
    """The member's credential in this poll (VotingClosed once the link salt is gone)."""
    if box.link_salt is None:
        raise VotingClosed(N_("Voting has closed."))
    return keys.credential(secret, box.poll.id, box.link_salt, member.id)


# === Ballots: encoding, checking ================================================================


def values_of(ranking: list[list[str]], labels: tuple[str, ...]) -> list[int]:
    """The plaintext of a ranking: each option's rank (1 = first), 0 for unranked, in ballot order.

    >>> values_of([["b"], ["a", "c"]], ("a", "b", "c", "d"))
    [2, 1, 2, 0]
    """
    rank = {label: position for position, group in enumerate(ranking, start=1) for label in group}
    return [rank.get(label, 0) for label in labels]


def ranking_of(values: list[int] | None, labels: tuple[str, ...], *, method: str, kind: str) -> tuple[list | None, str]:
    """Decode a decrypted ballot: (ranking, "") or (None, why it is invalid); the rule every
    verifier applies (``governance.audit.encrypted.decode``)."""
    from ..audit.encrypted import decode

    return decode(values, labels, method=method, kind=kind, equal_ranks=method in EQUAL_RANKS)


def check(box: BallotBox, ballot: Any, credential_value: str) -> str:
    """Verify an encrypted ballot for this poll and credential; return its tracker.

    InvalidInput (nothing is stored) when its shape, encodings or proof are wrong, including a
    ballot made for another voter or another poll.
    """
    if box.params is None:
        raise VotingClosed(N_("Voting is not open for this poll."))
    try:
        crypto.verify_ballot(box.params, ballot, credential_value)
    except crypto.CryptoError as exc:
        raise InvalidInput([("ballot", Message('the encrypted ballot was refused: %(exc)s; nothing was recorded', exc=exc))]) from None
    return crypto.tracker(ballot)


def encrypt_on_arrival(box: BallotBox, ranking: list[list[str]], credential_value: str, *, secret: str,
                       form_nonce: str = "") -> dict[str, Any]:
    """Encrypt a ballot submitted without JavaScript (the server sees this ranking only now).

    The randomness is derived from the platform's secret, the credential, the form's one-time
    nonce and the ranks, so submitting the same form twice gives the same ballot (and tracker),
    which ``cast`` records once; any other ranking gets fresh randomness.
    """
    if box.params is None:
        raise VotingClosed(N_("Voting is not open for this poll."))
    values = values_of(ranking, box.labels)
    if form_nonce:
        seed = hmac.new(secret.encode(), "|".join(["governance/v1/no-js-ballot", box.poll.fingerprint,
                                                   credential_value, form_nonce, ",".join(map(str, values))]).encode(),
                        hashlib.sha512).digest()
        rng = crypto.deterministic_rng(seed)
    else:
        rng = None
    ballot, _secrets = crypto.encrypt_ballot(box.params, values, credential_value, rng=rng)
    return ballot


# === Casting ====================================================================================


@dataclass(frozen=True)
class Receipt:
    """What a voter is told after casting: the tracker and the signed log entry that holds it."""

    tracker: str
    replaced: bool
    seq: int
    entry_hash: str
    signature: str
    #: True when this exact ballot was already recorded (a resubmitted form): nothing changed.
    already: bool = False


def _lock_poll_state(session: Session, box: BallotBox):
    conn = session.connection()
    if box.locked_in is not None and box.locked_in is session.get_transaction():
        return box.poll.status, box.poll.opened_at, box.poll.closes_at, box.link_salt
    return conn.execute(_STATE_SHARED if conn.dialect.name == "postgresql" else _STATE,
                        {"poll_id": box.poll.id}).one()


_OWN_BALLOTS = (select(_BALLOTS.c.id, _BALLOTS.c.tracker, _BALLOTS.c.superseded, _BALLOTS.c.seq)
                .where(_BALLOTS.c.poll_id == bindparam("poll_id"), _BALLOTS.c.credential == bindparam("credential")))


def hour_of(moment: datetime) -> datetime:
    """The start of the hour: the only time a ballot's log entry carries (docs/secrecy.md)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def cast(*, session: Session, box: BallotBox, member: Member, ballot: dict[str, Any], tracker: str,
         credential_value: str, now: datetime, send_receipt: bool = False, evidence: Any = None) -> Receipt:
    """Record a checked encrypted ballot (``check`` gave its tracker); the last one before the close counts.

    The poll's status, closing time and link salt count only as read under the poll's shared
    lock in this transaction (voters share it; closing and cancelling take it alone, so a close
    waits for the votes in flight and no vote lands after it). On PostgreSQL the voter's own
    ballots are locked with a transaction advisory lock on their credential, so two submissions
    of one voter queue and each names the ballot it replaces (SQLite's write transactions are
    exclusive already). ``evidence`` is what the member is judged on (``identity.freshness``:
    as of the opening and still now); without it, the member's record as held.
    """
    from ..identity.eligibility import check
    from .service import eligibility, rule_of

    poll = box.poll
    status, opened_at, closes_at, link_salt = _lock_poll_state(session, box)
    if status != "open" or opened_at is None:
        raise VotingClosed("Voting is not open for this poll." if status != "closed" else "Voting has closed.")
    if closes_at is not None and now >= closes_at:
        raise VotingClosed(N_("Voting has closed."))
    if link_salt is None or link_salt != box.link_salt:
        raise VotingClosed(N_("Voting has closed."))
    verdict = eligibility(session, poll, member, evidence=evidence)
    if verdict.ok and evidence is not None and rule_of(poll).groups:
        # A group poll judges membership on the electorate frozen at opening; what the member
        # lost since (suspended, silenced, deactivated) counts all the same.
        opened = poll.opens_at or poll.opened_at
        verdict = check(replace(rule_of(poll), groups=()), evidence, opens_at=opened)
        if not verdict.ok:
            from . import exceptions

            if exceptions.excepted(session, poll, member):  # the officers waived the poll's own rule
                verdict = exceptions.standing(evidence, opened)
    if not verdict.ok:
        raise NotEligible(N_("You may not vote in this poll."), list(verdict.reasons))
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                     {"k": f"ballot:{poll.id}:{credential_value}"})
    own = conn.execute(_OWN_BALLOTS, {"poll_id": poll.id, "credential": credential_value}).all()
    for row in own:
        if row.tracker == tracker:
            if row.superseded:
                raise Conflict(N_("This ballot was cast before and has since been replaced; it cannot be cast again."))
            entry = log.get(session, row.seq)
            return Receipt(tracker=tracker, replaced=False, seq=row.seq, entry_hash=entry.hash,
                           signature=entry.signature, already=True)
    live = [row for row in own if not row.superseded]
    from sqlalchemy.dialects import postgresql as pg
    from sqlalchemy.dialects import sqlite as sq

    dialect = pg if conn.dialect.name == "postgresql" else sq
    conn.execute(dialect.insert(Participation.__table__).values(
        id=secrets.token_hex(16), poll_id=poll.id, member_id=member.id,
        evidence=evidence.to_dict() if evidence is not None else _evidence(member))
        .on_conflict_do_nothing(index_elements=["poll_id", "member_id"]))
    payload = {"poll": poll.id, "tracker": tracker, "credential": credential_value}
    if live:
        payload["replaces"] = live[0].tracker
    entry, signature = log.record_signed(session=session, created_at=hour_of(now),
                                         type="ballot.replaced" if live else "ballot.cast", actor=None,
                                         poll_id=poll.id, payload=payload)
    if live:
        conn.execute(update(_BALLOTS).where(_BALLOTS.c.id.in_([r.id for r in live])).values(superseded=True))
    conn.execute(_BALLOTS.insert().values(id=secrets.token_hex(16), poll_id=poll.id, tracker=tracker,
                                          credential=credential_value, content=ballot, seq=entry.seq,
                                          superseded=False))
    if send_receipt:
        session.add(Outbox(kind="receipt", poll_id=poll.id,
                           payload={"poll": poll.id, "username": member.username, "tracker": tracker}))
        session.flush()
    return Receipt(tracker=tracker, replaced=bool(live), seq=entry.seq, entry_hash=entry.hash, signature=signature)


def _evidence(member: Member) -> dict[str, Any]:
    from ..identity.service import member_evidence

    return member_evidence(member).to_dict()


# === What a voter and the public see ============================================================


def my_tracker(session: Session, box: BallotBox, member: Member, *, secret: str) -> str | None:
    """The member's live ballot's tracker while the poll is open (through their credential), else None."""
    if box.link_salt is None:
        return None
    cred = credential(box, member, secret=secret)
    return session.execute(select(_BALLOTS.c.tracker).where(
        _BALLOTS.c.poll_id == box.poll.id, _BALLOTS.c.credential == cred,
        _BALLOTS.c.superseded.is_(False))).scalar()


def has_voted(session: Session, poll: Poll, member: Member) -> bool:
    """Whether the member has voted in this poll (never what or when)."""
    return session.execute(select(func.count()).select_from(Participation).where(
        Participation.poll_id == poll.id, Participation.member_id == member.id)).scalar_one() > 0


def board(session: Session, poll: Poll) -> list[Ballot]:
    """Every accepted encrypted ballot of the poll, in the order the log recorded them."""
    return list(session.scalars(select(Ballot).where(Ballot.poll_id == poll.id).order_by(Ballot.seq)))


def board_entry(session: Session, poll: Poll, tracker: str) -> Ballot | None:
    """The board's ballot with this tracker (a full tracker, or a prefix of at least 16 digits)."""
    if len(tracker) >= 64:
        return session.scalars(select(Ballot).where(Ballot.poll_id == poll.id, Ballot.tracker == tracker)).first()
    if len(tracker) < 16:
        return None
    found = list(session.scalars(select(Ballot).where(Ballot.poll_id == poll.id,
                                                        Ballot.tracker.startswith(tracker)).limit(2)))
    return found[0] if len(found) == 1 else None


def live_ballots(session: Session, poll: Poll) -> list[Ballot]:
    """The ballots that count: the last of each credential, sorted by tracker (the first mix's input)."""
    return list(session.scalars(select(Ballot).where(Ballot.poll_id == poll.id, Ballot.superseded.is_(False))
                                .order_by(Ballot.tracker)))


def cast_ranking(*, session: Session, poll_id: int, member: Member, ranking: list[list[str]], now: datetime,
                 secret: str, send_receipt: bool = False) -> Receipt:
    """Encrypt a ranking on arrival and cast it, in one call (the demo's seeding, tests, scripts).

    The same path as a ballot submitted without JavaScript: the credential, the server-side
    encryption with its proof, the check, then ``cast``.
    """
    box = ballot_box(session, poll_id)
    cred = credential(box, member, secret=secret)
    ballot = encrypt_on_arrival(box, ranking, cred, secret=secret)
    tracker = check(box, ballot, cred)
    return cast(session=session, box=box, member=member, ballot=ballot, tracker=tracker, credential_value=cred,
                now=now, send_receipt=send_receipt)
