"""Trustees of a poll: naming them, relaying their key ceremony, taking their mixes and shares.

Boundary rule: a service (takes a session, flushes, never commits; raises domain errors).

The platform only relays and checks: each trustee runs ``governance-trustee`` on their own
machine (docs/crypto.md §8, §12) and uploads what it writes; the platform never sees a trustee's
secret. The ceremony's *setup* (election id, poll, threshold, trustees by index) is fixed when
the poll is scheduled; the poll opens only once the whole public transcript verifies
(``ceremony_result``). After the close each trustee uploads a mix (in turn) and then decryption
factors; those are checked by the clock before they count (``counting``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from .. import crypto
from ..audit import log
from ..audit.canonical import canonical_json
from ..copy import N_, Message
from ..errors import Conflict, InvalidInput, NotAllowed
from ..models import DecryptionShare, Member, Mix, Outbox, Poll, PollTrustee

MAX_TRUSTEES = 10


def trustees(session: Session, poll: Poll) -> list[PollTrustee]:
    """The poll's trustees by index."""
    return list(session.scalars(select(PollTrustee).where(PollTrustee.poll_id == poll.id)
                                .order_by(PollTrustee.position)))


def name(session: Session, poll: Poll, members: list[Member], threshold: int) -> list[PollTrustee]:
    """Name a draft's trustees (replacing any named before) and the threshold of the ceremony."""
    if poll.status != "draft":
        raise Conflict("Trustees are named on a draft; this poll is " + poll.status + ".")
    problems = []
    if not 1 <= len(members) <= MAX_TRUSTEES:
        problems.append(("trustees", Message('name between 1 and %(MAX_TRUSTEES)s trustees', MAX_TRUSTEES=MAX_TRUSTEES)))
    if len({m.id for m in members}) != len(members):
        problems.append(("trustees", N_("a trustee is named twice")))
    if not 1 <= threshold <= max(1, len(members)):
        problems.append(("trustee_threshold", N_("the threshold must be between 1 and the number of trustees")))
    if problems:
        raise InvalidInput(problems)
    for row in trustees(session, poll):
        session.delete(row)
    session.flush()
    rows = [PollTrustee(poll_id=poll.id, position=i, member_id=m.id, username=m.username)
            for i, m in enumerate(members, start=1)]
    session.add_all(rows)
    poll.key_mode = "trustees"
    poll.trustee_threshold = threshold
    session.add(poll)
    session.flush()
    return rows


def setup(poll: Poll, rows: list[PollTrustee]) -> dict[str, Any]:
    """The ceremony setup of docs/crypto.md §8 (fixed when the poll is scheduled)."""
    return {"election_id": poll.ceremony["election_id"], "poll": poll.id, "threshold": poll.trustee_threshold,
            "trustees": [{"index": r.position, "name": r.username} for r in rows]}


def begin(*, session: Session, poll: Poll, now: datetime) -> None:
    """At scheduling: fix the ceremony's setup and ask the trustees for their certificates."""
    rows = trustees(session, poll)
    if not rows:
        raise InvalidInput([("trustees", N_("this body's polls are decrypted by trustees: name them first"))])
    poll.ceremony = {"election_id": secrets.token_hex(16)}
    poll.ceremony = {**poll.ceremony, "setup": setup(poll, rows)}
    session.add(poll)
    log.record(session=session, created_at=now, type="ceremony.started", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "setup_sha256": _sha(poll.ceremony["setup"])})
    for row in rows:
        session.add(Outbox(kind="trustee", poll_id=poll.id,
                           payload={"poll": poll.id, "username": row.username, "step": "keys"}))
    session.flush()


def _sha(data: Any) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def transcript(session: Session, poll: Poll) -> dict[str, Any]:
    """Everything published in the ceremony so far: what a trustee's next command reads."""
    rows = trustees(session, poll)
    return {
        "setup": (poll.ceremony or {}).get("setup"),
        "certificates": [r.certificate for r in rows if r.certificate],
        "shares": [r.shares for r in rows if r.shares],
        "keys": [r.verification for r in rows if r.verification],
    }


def stage(session: Session, poll: Poll) -> str:
    """Where the ceremony is: "certificates", "shares", "keys" or "complete" (or "none")."""
    rows = trustees(session, poll)
    if not rows or not poll.ceremony:
        return "none"
    for field, name_ in (("certificate", "certificates"), ("shares", "shares"), ("verification", "keys")):
        if any(getattr(r, field) is None for r in rows):
            return name_
    return "complete"


def trustee_of(session: Session, poll: Poll, member: Member) -> PollTrustee:
    """The member's trustee row in this poll, or NotAllowed."""
    row = session.scalars(select(PollTrustee).where(PollTrustee.poll_id == poll.id,
                                                    PollTrustee.member_id == member.id)).first()
    if row is None:
        raise NotAllowed(N_("You are not a trustee of this poll."))
    return row


def upload_ceremony(*, session: Session, poll: Poll, member: Member, message: Any, now: datetime) -> str:
    """Take a trustee's ceremony message for the current round, checked; return the round's name."""
    if poll.status not in ("nominations", "scheduled") or not poll.ceremony:
        raise Conflict(N_("This poll's key ceremony is not under way."))
    row = trustee_of(session, poll, member)
    current = stage(session, poll)
    if not isinstance(message, dict) or message.get("index") != row.position:
        raise InvalidInput([("file", Message('this file is not a ceremony message of trustee %(position)s (%(username)s); upload the file governance-trustee wrote for you', position=row.position, username=row.username))])
    field, what = {"certificates": ("certificate", "certificate"), "shares": ("shares", "shares"),
                   "keys": ("verification", "verification key")}.get(current, (None, None))
    if field is None:
        raise Conflict(N_("The key ceremony is complete."))
    if getattr(row, field) is not None:
        raise Conflict(N_("You already uploaded this round's message; the next round starts when every trustee has."))
    state = transcript(session, poll)
    try:
        if current == "certificates":
            crypto.verify_certificate(state["setup"], message)
        elif current == "shares":
            crypto.verify_shares_message(state["setup"], state["certificates"], message)
        else:
            crypto.verify_key_message(state["setup"], state["certificates"], state["shares"], message)
    except crypto.CryptoError as exc:
        raise InvalidInput([("file", Message('the ceremony message was refused: %(exc)s', exc=exc))]) from None
    setattr(row, field, message)
    session.add(row)
    session.flush()
    log.record(session=session, created_at=now, type=f"ceremony.{what.replace(' ', '_')}", actor=member,
               poll_id=poll.id, payload={"poll": poll.id, "trustee": row.position, "sha256": _sha(message)})
    if stage(session, poll) == "complete":
        result = ceremony_result(session, poll)
        log.record(session=session, created_at=now, type="ceremony.completed", actor=None, poll_id=poll.id,
                   payload={"poll": poll.id, "public_key": result[0], "threshold": result[1]})
    return what


def ceremony_result(session: Session, poll: Poll) -> tuple[str, int, list[dict[str, Any]]] | None:
    """(public key, threshold, trustees' verification keys) once the transcript verifies, else None."""
    if stage(session, poll) != "complete":
        return None
    state = transcript(session, poll)
    try:
        fields = crypto.verify_ceremony(state["setup"], state["certificates"], state["shares"], state["keys"])
    except crypto.CryptoError:
        return None
    return fields["public_key"], fields["threshold"], [dict(t) for t in fields["trustees"]]


# === After the close ============================================================================


def next_task(session: Session, poll: Poll, row: PollTrustee) -> str | None:
    """What this trustee should do now: "mix", "decrypt", "wait" or None (nothing more)."""
    from . import counting

    if poll.status != "closed":
        return None
    if not counting.mixing_done(session, poll):
        done = counting.mixes(session, poll, verified_only=False)
        if any(m.mixer == row.position for m in done):
            return "wait"
        if any(not m.verified for m in done):
            return "wait"  # the last upload is being verified
        return "mix"
    shares = counting.shares(session, poll, verified_only=False)
    if any(s.trustee == row.position for s in shares):
        return "wait"
    return "decrypt"


def upload_mix(*, session: Session, poll: Poll, member: Member, mix: dict[str, Any], output: bytes,
               now: datetime) -> Mix:
    """Take a trustee's mix (verified later by the clock, before it counts)."""
    from . import counting

    poll = counting._lock_poll(session, poll, exclusive=True)
    row = trustee_of(session, poll, member)
    if next_task(session, poll, row) != "mix":
        raise Conflict(N_("It is not your turn to mix (or the mixing is over)."))
    source = counting.current_input(session, poll)
    width = len(poll.election_params["options"])
    if len(output) != len(source) or len(output) % (64 * width):
        raise InvalidInput([("file", N_("the mix does not hold as many ballots as its input"))])
    if mix.get("mixer") != row.position:
        raise InvalidInput([("file", Message('this mix was made for trustee %(value)s, not you (trustee %(position)s)', value=repr(mix.get('mixer')), position=row.position))])
    position = len(counting.mixes(session, poll, verified_only=False)) + 1
    row_mix = Mix(poll_id=poll.id, position=position, mixer=row.position,
                  input_sha256=counting.sha256_hex(source), output_sha256=counting.sha256_hex(output),
                  output=output, proof=mix["proof"], verified=False)
    session.add(row_mix)
    session.flush()
    log.record(session=session, created_at=now, type="mix.uploaded", actor=member, poll_id=poll.id,
               payload={"poll": poll.id, "position": position, "mixer": row.position,
                        "output_sha256": row_mix.output_sha256})
    return row_mix


def upload_share(*, session: Session, poll: Poll, member: Member, proof: dict[str, Any], factors: bytes,
                 now: datetime) -> DecryptionShare:
    """Take a trustee's decryption factors (verified later by the clock, before they count)."""
    from . import counting

    poll = counting._lock_poll(session, poll, exclusive=True)
    row = trustee_of(session, poll, member)
    if next_task(session, poll, row) != "decrypt":
        raise Conflict(N_("It is not time for your decryption share (or you sent it already)."))
    final = counting.mixes(session, poll)[-1].output
    if len(factors) * 2 != len(final):
        raise InvalidInput([("file", N_("the decryption does not hold one factor per ciphertext of the last mix"))])
    share = DecryptionShare(poll_id=poll.id, trustee=row.position, mix_sha256=counting.sha256_hex(final),
                            factors=factors, proof=proof, verified=False)
    session.add(share)
    session.flush()
    log.record(session=session, created_at=now, type="decryption.uploaded", actor=member, poll_id=poll.id,
               payload={"poll": poll.id, "trustee": row.position, "factors_sha256": counting.sha256_hex(factors)})
    return share


def end_mixing(*, session: Session, poll: Poll, actor: Member, now: datetime) -> Poll:
    """An election officer ends the mixing once at least the threshold's trustees have mixed."""
    from . import counting

    poll = counting._lock_poll(session, poll, exclusive=True)
    if poll.status != "closed" or poll.key_mode != "trustees":
        raise Conflict(N_("Only a closed trustee poll's mixing can be ended."))
    mixers = {m.mixer for m in counting.mixes(session, poll)}
    if len(mixers) < poll.trustee_threshold:
        raise Conflict(Message('%(value)s trustees have mixed; at least %(trustee_threshold)s must before the mixing can end.', value=len(mixers), trustee_threshold=poll.trustee_threshold))
    poll.mixing_ended = True
    session.add(poll)
    log.record(session=session, created_at=now, type="mixing.ended", actor=actor, poll_id=poll.id,
               payload={"poll": poll.id, "mixers": sorted(mixers)})
    for row in trustees(session, poll):
        session.add(Outbox(kind="trustee", poll_id=poll.id,
                           payload={"poll": poll.id, "username": row.username, "step": "decrypt"}))
    session.flush()
    return poll

