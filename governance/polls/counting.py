"""From the close to the published result: mixes, decryption shares, decoding, the count.

Boundary rule: a service (takes a session, flushes, never commits). The heavy cryptography runs
outside any transaction: ``plan`` reads what the next step needs and returns a ``Work`` whose
``run`` needs no database; ``apply`` stores the outcome after checking, under the poll's lock,
that the poll is still where the plan found it. The clock (``polls.clock``) drives the steps.

Closing deletes the link salt (no credential can be derived again) and fixes the first mix's
input: the live ballots (the last of each credential), sorted by tracker, which the
``poll.closed`` entry commits to. Then:

* platform mode: the platform mixes once, decrypts with its key (derived from its secret and the
  key salt), and counts; the key salt is deleted with the publication;
* trustee mode: each trustee uploads a mix made with ``governance-trustee mix`` (at least the
  threshold's number of distinct trustees; the mixing ends when every trustee has mixed or an
  election officer ends it), then decryption shares; uploads are verified here before they count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session

from .. import crypto
from ..audit import log
from ..copy import N_
from ..errors import Conflict
from ..models import (
    Ballot,
    DecodedBallot,
    DecryptionShare,
    LegacyBallot,
    Mix,
    Outbox,
    Participation,
    Poll,
    PollSecret,
    PollTrustee,
    RateLimitCounter,
)
from . import keys, voting
from . import rules as poll_rules
from .service import NOTA_LABEL, _lock_poll, _t, options, turnout


def sha256_hex(data: bytes) -> str:
    """SHA-256 of bytes, hex."""
    return hashlib.sha256(data).hexdigest()


# === Closing =====================================================================================


def forget_secrets(session: Session, poll: Poll, *, key_too: bool) -> None:
    """Delete the link salt (and with ``key_too`` the key salt), the poll's voting counters, the
    receipts the forum has not taken yet (a receipt names a voter and a tracker) and the poll's
    reminder rounds."""
    salts = session.get(PollSecret, poll.id)
    if salts is not None:
        if key_too:
            session.delete(salts)
        else:
            salts.link_salt = None
            session.add(salts)
    session.execute(delete(RateLimitCounter).where(RateLimitCounter.key.startswith(keys.vote_limit_prefix(poll.id))))
    session.execute(delete(Outbox).where(Outbox.poll_id == poll.id, Outbox.kind == "receipt", Outbox.done_at.is_(None)))
    from . import reminders

    reminders.forget(session, poll)  # how far a round got says nothing of anyone, but it goes too
    session.flush()


def mix_input(session: Session, poll: Poll) -> tuple[list[Ballot], bytes]:
    """The live ballots sorted by tracker, and their ciphertexts packed (the first mix's input)."""
    live = voting.live_ballots(session, poll)
    tuples = [crypto.ballot_ciphertexts(b.content) for b in live]
    return live, crypto.pack(tuples)


def close_poll(*, session: Session, poll: Poll, now: datetime) -> Poll:
    """Close voting: forget the voters' credentials and fix the ballots that go into the first mix."""
    poll = _lock_poll(session, poll, exclusive=True)
    if poll.status != "open":
        return poll
    forget_secrets(session, poll, key_too=False)
    poll.status = "closed"
    poll.closed_at = now
    live, packed = mix_input(session, poll)
    poll.ballots_hash = sha256_hex(packed)
    session.add(poll)
    accepted = session.execute(select(func.count()).select_from(Ballot).where(Ballot.poll_id == poll.id)).scalar_one()
    log.record(session=session, created_at=now, type="poll.closed", actor=None, poll_id=poll.id, payload={
        "poll": poll.id, "ballots": len(live), "accepted": accepted, "voters": turnout(session, poll),
        "mix_input_sha256": poll.ballots_hash,
        "trackers_sha256": sha256_hex("".join(b.tracker + "\n" for b in live).encode())})
    log.make_head(session=session, reason=f"poll {poll.id} closed", now=now)
    if poll.key_mode == "trustees":
        for trustee in _trustees(session, poll):
            session.add(Outbox(kind="trustee", poll_id=poll.id,
                               payload={"poll": poll.id, "username": trustee.username, "step": "mix"}))
    session.flush()
    return poll


# === The steps after the close ==================================================================


@dataclass
class Work:
    """The next step of a closed poll, ready to run without the database."""

    poll_id: int
    kind: str  # "mix", "decrypt", "verify-mix", "verify-share", "count"
    size: int  # ciphertexts handled (what the step costs)
    run: Callable[[], Any]
    #: What the plan found, checked again by ``apply``: (mixes, shares) counts and the item's id.
    state: tuple = ()
    info: dict[str, Any] = field(default_factory=dict)


def _trustees(session: Session, poll: Poll) -> list[PollTrustee]:
    return list(session.scalars(select(PollTrustee).where(PollTrustee.poll_id == poll.id)
                                .order_by(PollTrustee.position)))


def mixes(session: Session, poll: Poll, *, verified_only: bool = True) -> list[Mix]:
    """The poll's mixes in order (only those verified, unless asked)."""
    query = select(Mix).where(Mix.poll_id == poll.id)
    if verified_only:
        query = query.where(Mix.verified.is_(True))
    return list(session.scalars(query.order_by(Mix.position)))


def shares(session: Session, poll: Poll, *, verified_only: bool = True) -> list[DecryptionShare]:
    """The poll's decryption shares (only those verified, unless asked)."""
    query = select(DecryptionShare).where(DecryptionShare.poll_id == poll.id)
    if verified_only:
        query = query.where(DecryptionShare.verified.is_(True))
    return list(session.scalars(query.order_by(DecryptionShare.trustee)))


def current_input(session: Session, poll: Poll) -> bytes:
    """What the next mix shuffles: the last verified mix's output, or the live ballots."""
    done = mixes(session, poll)
    return done[-1].output if done else mix_input(session, poll)[1]


def mixing_done(session: Session, poll: Poll) -> bool:
    """Whether the mixing phase is over (platform: one mix; trustees: all mixed, or ended with >= t)."""
    done = mixes(session, poll)
    if poll.key_mode != "trustees":
        return len(done) >= 1
    mixers = {m.mixer for m in done}
    return len(mixers) >= len(_trustees(session, poll)) or (
        poll.mixing_ended and len(mixers) >= poll.trustee_threshold)


def params_of(poll: Poll):
    """The poll's frozen election parameters."""
    return crypto.ElectionParams.from_dict(poll.election_params)


def plan(session: Session, poll: Poll, *, secret: str) -> Work | None:
    """The next step of a closed poll, or None (waiting for trustees, or nothing left to do)."""
    if poll.status != "closed":
        return None
    params = params_of(poll)
    width = len(params.options)
    done = mixes(session, poll)
    pending = [m for m in mixes(session, poll, verified_only=False) if not m.verified]
    state = (len(done), len(shares(session, poll)))
    if pending:
        upload = pending[0]
        previous = done[-1].output if done else mix_input(session, poll)[1]
        output, proof, mixer = upload.output, dict(upload.proof), upload.mixer

        def verify_mix() -> str | None:
            try:
                crypto.verify_shuffle(params, crypto.unpack(previous, width), crypto.unpack(output, width),
                                      proof, mixer=mixer, workers=_workers())
            except crypto.CryptoError as exc:
                return str(exc)
            return None

        return Work(poll.id, "verify-mix", len(output) // 64, verify_mix, state + (upload.id,))
    if not mixing_done(session, poll):
        if poll.key_mode == "trustees":
            return None
        source = current_input(session, poll)

        def mix() -> tuple[bytes, dict]:
            output, proof = crypto.shuffle(params, crypto.unpack(source, width), mixer=1, workers=_workers())
            return crypto.pack(output), proof

        return Work(poll.id, "mix", len(source) // 64, mix, state, {"input": sha256_hex(source)})
    final = done[-1].output
    valid = shares(session, poll)
    pending_shares = [s for s in shares(session, poll, verified_only=False) if not s.verified]
    if pending_shares:
        upload = pending_shares[0]
        factors, proof, index = upload.factors, dict(upload.proof), upload.trustee

        def verify_share() -> str | None:
            try:
                crypto.verify_decryption_factors(params, index, crypto.unpack(final, width),
                                                 crypto.unpack_factors(factors, width), proof, workers=_workers())
            except crypto.CryptoError as exc:
                return str(exc)
            return None

        return Work(poll.id, "verify-share", len(final) // 64, verify_share, state + (upload.id,))
    if len(valid) < poll.trustee_threshold:
        if poll.key_mode == "trustees":
            return None
        salts = session.get(PollSecret, poll.id)
        seed = keys.platform_seed(secret, poll.id, salts.key_salt)

        def decrypt() -> tuple[bytes, dict]:
            keypair = crypto.platform_keypair(seed, election_id=params.election_id, poll=poll.id)
            factors, proof = crypto.decryption_factors(params, keypair.secret, 1, crypto.unpack(final, width),
                                                       workers=_workers())
            return crypto.pack_factors(factors), proof

        return Work(poll.id, "decrypt", len(final) // 64, decrypt, state, {"mix": sha256_hex(final)})
    chosen = {s.trustee: crypto.unpack_factors(s.factors, width) for s in valid[:poll.trustee_threshold]}

    def combine() -> list:
        return crypto.combine(params, crypto.unpack(final, width), chosen)

    return Work(poll.id, "count", len(final) // 64, combine, state)


def _workers() -> int:
    return 2


def apply(*, session: Session, poll: Poll, work: Work, outcome: Any, now: datetime) -> str | None:
    """Store a step's outcome if the poll is still where ``plan`` found it; return the step's name."""
    poll = _lock_poll(session, poll, exclusive=True)
    if poll.status != "closed":
        return None
    state = (len(mixes(session, poll)), len(shares(session, poll)))
    if state != work.state[:2]:
        return None  # another clock took this step first
    if work.kind == "mix":
        output, proof = outcome
        position = state[0] + 1
        session.add(Mix(poll_id=poll.id, position=position, mixer=1, input_sha256=work.info["input"],
                        output_sha256=sha256_hex(output), output=output, proof=proof, verified=True))
        log.record(session=session, created_at=now, type="mix.added", actor=None, poll_id=poll.id, payload={
            "poll": poll.id, "position": position, "mixer": 1, "input_sha256": work.info["input"],
            "output_sha256": sha256_hex(output), "proof_sha256": _json_sha(proof)})
    elif work.kind == "verify-mix":
        _settle_upload(session, poll, Mix, work.state[2], outcome, now)
    elif work.kind == "verify-share":
        _settle_upload(session, poll, DecryptionShare, work.state[2], outcome, now)
    elif work.kind == "decrypt":
        factors, proof = outcome
        session.add(DecryptionShare(poll_id=poll.id, trustee=1, mix_sha256=work.info["mix"], factors=factors,
                                    proof=proof, verified=True))
        log.record(session=session, created_at=now, type="decryption.share", actor=None, poll_id=poll.id, payload={
            "poll": poll.id, "trustee": 1, "mix_sha256": work.info["mix"],
            "factors_sha256": sha256_hex(factors), "proof_sha256": _json_sha(proof)})
    elif work.kind == "count":
        publish(session=session, poll=poll, values=outcome, now=now)
    session.flush()
    return work.kind


def _json_sha(data: Any) -> str:
    from ..audit.canonical import canonical_json

    return sha256_hex(canonical_json(data))


def _settle_upload(session: Session, poll: Poll, model, upload_id: int, problem: str | None, now: datetime) -> None:
    """Mark a trustee's upload verified (and log it), or delete it with the reason logged."""
    row = session.get(model, upload_id)
    if row is None or row.verified:
        return
    what = "mix" if model is Mix else "decryption.share"
    who = row.mixer if model is Mix else row.trustee
    if problem is not None:
        session.delete(row)
        log.record(session=session, created_at=now, type=f"{what}.rejected", actor=None, poll_id=poll.id,
                   payload={"poll": poll.id, "trustee": who, "reason": problem[:500]})
        return
    row.verified = True
    session.add(row)
    if model is Mix:
        payload = {"poll": poll.id, "position": row.position, "mixer": row.mixer, "input_sha256": row.input_sha256,
                   "output_sha256": row.output_sha256, "proof_sha256": _json_sha(row.proof)}
        log.record(session=session, created_at=now, type="mix.added", actor=None, poll_id=poll.id, payload=payload)
        session.flush()
        if mixing_done(session, poll):  # every trustee mixed: time to decrypt
            for trustee in _trustees(session, poll):
                session.add(Outbox(kind="trustee", poll_id=poll.id,
                                   payload={"poll": poll.id, "username": trustee.username, "step": "decrypt"}))
    else:
        log.record(session=session, created_at=now, type="decryption.share", actor=None, poll_id=poll.id, payload={
            "poll": poll.id, "trustee": row.trustee, "mix_sha256": row.mix_sha256,
            "factors_sha256": sha256_hex(row.factors), "proof_sha256": _json_sha(row.proof)})


# === Publication =================================================================================


def decoded_lines(decoded: list[dict[str, Any]]) -> bytes:
    """``ballots.jsonl`` of a bundle (format 2): one decoded ballot per line, in the final mix's order."""
    from ..audit.encrypted import decoded_jsonl

    return decoded_jsonl(decoded)


def publish(*, session: Session, poll: Poll, values: list, now: datetime) -> Poll:
    """Decode the decrypted ballots and count them; publish, or hold the count for certification.

    Where the poll's rules require certification (``polls.certification``) the count is stored
    for the election officers and nothing is published or logged about it but the fact that it
    is waiting; the key salt is deleted either way (the decryption is done).
    """
    decoded = _decode(session, poll, values)
    election = election_dict(session, poll)
    result = tally(election, [d for d in decoded if d.get("ranking") is not None])
    forget_secrets(session, poll, key_too=True)
    from . import rules as poll_rules

    if poll_rules.certification_required(poll.rules or {}):
        from . import certification

        return certification.hold(session=session, poll=poll, result=result.to_dict(), now=now)
    return release(session=session, poll=poll, decoded=decoded, result=result.to_dict(), now=now)


def _decode(session: Session, poll: Poll, values: list) -> list[dict[str, Any]]:
    """Decode each decrypted ballot (the rule every verifier applies) and store it."""
    labels = tuple(params_of(poll).options)
    decoded = []
    for position, row in enumerate(values):
        ranking, invalid = voting.ranking_of(row, labels, method=poll.method, kind=poll.kind)
        item = {"position": position, "ranking": ranking} if ranking is not None else \
            {"position": position, "invalid": invalid, "values": row}
        decoded.append(item)
        session.add(DecodedBallot(poll_id=poll.id, position=position, values=list(row) if row is not None else [],
                                  ranking=ranking, invalid=invalid))
    session.flush()
    return decoded


def release(*, session: Session, poll: Poll, decoded: list[dict[str, Any]], result: dict[str, Any], now: datetime,
            certified: dict[str, Any] | None = None, officer: Any = None) -> Poll:
    """Publish a count: the log entries that commit to the ballots and the result, the head, the
    forum's results post. ``certified`` (with the certifying ``officer``) is the certification's
    log entry payload, written between the count and the publication."""
    from ..audit.bundle import results_hash

    counted = [d for d in decoded if d.get("ranking") is not None]
    log.record(session=session, created_at=now, type="poll.decrypted", actor=None, poll_id=poll.id, payload={
        "poll": poll.id, "ballots": len(decoded), "invalid": len(decoded) - len(counted),
        "decoded_sha256": sha256_hex(decoded_lines(decoded))})
    poll.result = result
    poll.result_hash = results_hash(result)
    log.record(session=session, created_at=now, type="poll.tallied", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "method": election_dict(session, poll)["method"],
                        "elected": list(result.get("elected", [])),
                        "tied": list(result.get("tied", [])), "results_hash": poll.result_hash})
    if certified is not None:
        log.record(session=session, created_at=now, type="poll.certified", actor=officer, poll_id=poll.id,
                   payload={**certified, "poll": poll.id, "results_hash": poll.result_hash})
    poll.status = "published"
    poll.published_at = now
    session.add(poll)
    log.record(session=session, created_at=now, type="results.published", actor=None, poll_id=poll.id,
               payload={"poll": poll.id, "results_hash": poll.result_hash})
    if poll.amendment_id is not None:
        from ..proposals import service as documents

        documents.on_referendum_published(session=session, poll=poll, now=now)
    log.make_head(session=session, reason=f"poll {poll.id} counted", now=now)
    session.add(Outbox(kind="results", poll_id=poll.id, payload={"poll": poll.id}))
    session.flush()
    return poll


def decoded_ballots(session: Session, poll: Poll) -> list[dict[str, Any]]:
    """The decrypted ballots as published (final mix order): ranking, or why one is invalid."""
    rows = session.scalars(select(DecodedBallot).where(DecodedBallot.poll_id == poll.id)
                           .order_by(DecodedBallot.position))
    out = []
    for row in rows:
        if row.ranking is not None:
            out.append({"position": row.position, "ranking": row.ranking})
        else:
            out.append({"position": row.position, "invalid": row.invalid, "values": row.values or None})
    return out


def published_ballots(session: Session, poll: Poll) -> list[dict[str, Any]]:
    """The ballots as published after the count: decoded ballots in the final mix's order.

    A poll counted before ballots were encrypted has its plaintext ballots with their trackers
    (``{"tracker", "ranking"}``, sorted by tracker) instead.
    """
    if poll.status != "published":
        raise Conflict(N_("Ballots are published once they are counted."))
    if not poll.fingerprint:
        rows = session.execute(select(LegacyBallot.tracker, LegacyBallot.ranking)
                               .where(LegacyBallot.poll_id == poll.id).order_by(LegacyBallot.tracker)).all()
        return [{"tracker": t, "ranking": r} for t, r in rows]
    return decoded_ballots(session, poll)


def published_counts(session: Session, poll: Poll) -> tuple[int, int]:
    """(ballots published, of them invalid), counted in the database without reading the ballots."""
    if poll.status != "published":
        raise Conflict(N_("Ballots are published once they are counted."))
    if not poll.fingerprint:
        total = session.execute(select(func.count()).select_from(LegacyBallot)
                                .where(LegacyBallot.poll_id == poll.id)).scalar_one()
        return total, 0
    total = session.execute(select(func.count()).select_from(DecodedBallot)
                            .where(DecodedBallot.poll_id == poll.id)).scalar_one()
    invalid = session.execute(select(func.count()).select_from(DecodedBallot)
                              .where(DecodedBallot.poll_id == poll.id, DecodedBallot.invalid != "")).scalar_one()
    return total, invalid


def counted_ballots(session: Session, poll: Poll) -> list[dict[str, Any]]:
    """The valid ballots the count used, as ``{"ranking": ...}``."""
    return [{"ranking": d["ranking"]} for d in published_ballots(session, poll) if "ranking" in d]


def progress(session: Session, poll: Poll) -> dict[str, Any]:
    """Where the count of a closed poll stands, for its page."""
    done = mixes(session, poll)
    trustees = _trustees(session, poll)
    return {
        "mode": poll.key_mode,
        "mixes": len(done),
        "mixers": sorted({m.mixer for m in done}),
        "trustees": [(t.position, t.username) for t in trustees],
        "mixing_done": mixing_done(session, poll),
        "shares": [s.trustee for s in shares(session, poll)],
        "threshold": poll.trustee_threshold,
        "pending": len(mixes(session, poll, verified_only=False)) - len(done)
        + len(shares(session, poll, verified_only=False)) - len(shares(session, poll)),
    }


def participants_count(session: Session, poll: Poll) -> int:
    """How many members voted."""
    return session.execute(select(func.count()).select_from(Participation)
                           .where(Participation.poll_id == poll.id)).scalar_one()


# === What a count needs (the platform's count and every re-count) ===============================


def election_dict(session: Session, poll: Poll) -> dict[str, Any]:
    """Everything a re-count needs (the bundle's ``election.json``)."""
    labels = [o.label for o in options(session, poll)]
    method_options: dict[str, Any] = {}
    method = poll.method
    if poll.kind == "referendum":
        method_options = {"threshold": poll.threshold, "strict": poll.threshold_strict, "quorum": poll.quorum}
    elif poll.default_option and NOTA_LABEL in labels and method == "schulze":
        method, method_options = "debian", {"default": NOTA_LABEL, "quorum": poll.quorum}
    elif poll.kind == "election" and poll_rules.cap(poll.rules or {}) is not None:
        # The charter's cap: the platform's count and every re-count apply the same rule.
        from . import nominations

        method_options = {"max_per_affiliation": poll_rules.cap(poll.rules),
                          "affiliations": nominations.affiliations(session, poll)}
    return {
        "poll": poll.id,
        "title": poll.title,
        "body": poll.body,
        "kind": poll.kind,
        "method": method,
        "seats": poll.seats,
        "candidates": labels,
        "withdrawn": [],
        "options": method_options,
        "tie_break_seed": poll.tie_seed,
        "eligibility": poll.eligibility,
        "electorate_hash": poll.electorate_hash,
        "opens_at": _t(poll.opens_at),
        "closes_at": _t(poll.closes_at),
        "amendment": poll.amendment_id,
    }


def tally(election: dict[str, Any], ballots: list[dict[str, Any]]):
    """Count ballots exactly as an auditor's re-count does (one code path for both)."""
    from ..tally.core import Profile, TieBreaker
    from ..tally.methods import count

    profile = Profile.build(list(election["candidates"]), [b["ranking"] for b in ballots],
                            seats=election["seats"], title=election.get("title", ""))
    options = dict(election.get("options") or {})
    if "threshold" in options:
        options["threshold"] = Fraction(options["threshold"])
    tie_breaker = TieBreaker(seed=election.get("tie_break_seed") or None)
    seats = election["seats"] if election["method"] in ("meek", "scottish", "wigm", "civs-pr") else None
    return count(profile, election["method"], seats=seats, tie_breaker=tie_breaker, **options)
