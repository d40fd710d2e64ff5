"""The stored event log, read for auditors: poll bundles, entry proofs and a full check of the log.

Boundary rule: a service that only reads, through the session it is given. The tree head a poll
bundle's proofs lead to is the one ``polls.service.close_poll`` stored when the poll closed (the
first head covering its entries), never one made here, so exporting is never a write. The zip itself is assembled by
the pure ``governance.audit.bundle.build_bundle``, which refuses inputs that would not verify.
docs/audit.md §5 specifies the bundle; §10 is the operators' guide to these functions' commands.

Secrecy: the electorate and "who took part" are listed by username, sorted, and never next to a
tracker or a ballot; ballots carry only their tracker and ranking.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ..errors import Conflict, NotFound
from ..identity.eligibility import Rule
from ..models import (
    Amendment,
    AuditEntry,
    CharterVersion,
    Document,
    DocumentVersion,
    ElectorateEntry,
    Member,
    Participation,
    PendingChange,
    Poll,
    TreeHead,
)
from . import log, merkle
from .bundle import build_bundle, electorate_hash
from .canonical import AuditError, canonical_json, plain, sha256_hex
from .chain import ChainError, verify_chain
from .signing import SignatureError, is_signed, key_id, public_key_pem, verify_head

#: Poll statuses whose bundle can be exported (ballots and results are public from the close).
EXPORTABLE = ("closed", "published")


@dataclass(frozen=True)
class Electorate:
    """What a bundle's ``electorate.json`` holds for one poll, and how it was frozen."""

    eligible: list[dict[str, Any]]
    participants: list[str]
    participant_evidence: list[dict[str, Any]]
    #: "group" (the members frozen at opening are listed) or "rule" (community-wide: the rule is).
    basis: str


# === Reading the poll ===========================================================================


def exportable_poll(session: Session, poll_id: int) -> Poll:
    """The poll, if its bundle can be exported; NotFound or Conflict otherwise."""
    poll = session.get(Poll, poll_id)
    if poll is None:
        raise NotFound(f"There is no poll {poll_id}.")
    if poll.status == "cancelled":
        raise Conflict(f"Poll {poll_id} was cancelled: its ballots were never counted or published.")
    if poll.status == "certifying":
        raise Conflict(f"Poll {poll_id}'s count is waiting for the election officers' certification: its audit "
                       "bundle is published with the certified result.")
    if poll.status not in EXPORTABLE:
        raise Conflict(
            f"Poll {poll_id} is {poll.status}: its audit bundle is available once voting has closed."
        )
    return poll


def election(session: Session, poll: Poll) -> dict[str, Any]:
    """``election.json``: what the poll service counts with, plus what an auditor reads."""
    from ..polls import counting
    from ..polls import service as polls

    data = counting.election_dict(session, poll)
    data["id"] = poll.id
    data["thresholds"] = {
        "quorum": poll.quorum,
        "threshold": poll.threshold,
        "strict": poll.threshold_strict,
    }
    data["options_offered"] = [
        {"label": o.label, "description": o.description, "position": o.position, "is_default": o.is_default}
        for o in polls.options(session, poll)
    ]
    data["opened_at"] = _t(poll.opened_at)
    data["closed_at"] = _t(poll.closed_at)
    if poll.rules:
        # A poll scheduled since the charter's election rules exist (older bundles keep their bytes).
        from ..polls import certification, exceptions

        data["rules"] = poll.rules
        data["exceptions"] = exceptions.bundle_list(session, poll)
        for offered, option in zip(data["options_offered"], polls.options(session, poll), strict=True):
            offered["affiliation"] = option.affiliation
        row = certification.pending(session, poll)
        if row is not None and row.decision == "certified":
            data["certification"] = {"officer": row.officer, "officer_groups": list(row.officer_groups),
                                     "counted_at": _t(row.counted_at), "certified_at": _t(row.decided_at),
                                     "certify_by": _t(row.due_at)}
    data["electorate_basis"] = "group" if Rule.from_dict(poll.eligibility or {}).groups else "rule"
    if poll.amendment_id is not None:
        data["document_version"] = _amendment_version(session, poll.amendment_id)
    return data


def electorate(session: Session, poll: Poll) -> Electorate:
    """The frozen electorate (group polls) and who took part, sorted by username."""
    rule = Rule.from_dict(poll.eligibility or {})
    rows = session.exec(
        select(Participation.evidence, Member.username)
        .join(Member, Member.id == Participation.member_id)
        .where(Participation.poll_id == poll.id)
    ).all()
    took_part = sorted(({"username": name, "evidence": evidence} for evidence, name in rows),
                       key=lambda m: m["username"])
    participants = [m["username"] for m in took_part]
    if not rule.groups:
        return Electorate(eligible=[], participants=participants, participant_evidence=took_part, basis="rule")
    from ..polls import exceptions

    eligible = []
    excepted = exceptions.accepted(session, poll)
    frozen = session.exec(select(ElectorateEntry).where(ElectorateEntry.poll_id == poll.id)).all()
    for entry in frozen:
        # The same selection open_poll made: members of the groups who passed the rule at opening,
        # and members with an accepted exception who have the standing every voter needs.
        item = exceptions.eligible_entry(rule, entry.evidence, entry.username, poll.opens_at,
                                         excepted.get(entry.forum_user_id))
        if item is not None:
            eligible.append(item)
    eligible.sort(key=lambda m: m["username"])
    return Electorate(eligible=eligible, participants=participants, participant_evidence=took_part, basis="group")


def rule_hash(poll: Poll) -> str:
    """The electorate hash a community-wide poll freezes at opening: its rule and opening time."""
    return sha256_hex(canonical_json({"rule": poll.eligibility, "opens_at": _t(poll.opens_at)}))


def full_head(head: TreeHead) -> dict[str, Any]:
    """A stored head in the bundle's form: all five fields, ``signature`` and ``key_id`` null if unsigned."""
    signed = bool(head.signature)
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "signature": head.signature if signed else None,
        "key_id": head.key_id if signed else None,
    }


def covering_head(session: Session, upto_seq: int) -> TreeHead:
    """The first stored tree head that covers entry ``upto_seq``; Conflict if none does yet.

    For a poll that is the head ``close_poll`` made in the closing transaction, the one the
    forum post announcing the result carries; using it (rather than the newest head) keeps a
    poll's bundle the same bytes however many heads are made later.
    """
    head = session.exec(
        select(TreeHead).where(TreeHead.tree_size > upto_seq).order_by(TreeHead.tree_size, TreeHead.id)
    ).first()
    if head is None:
        raise Conflict("No tree head covers this poll's log entries yet; one is made when a poll closes.")
    return head


# === The bundle =================================================================================


def poll_bundle(session: Session, poll_id: int) -> bytes:
    """The audit bundle (zip bytes) of a closed or published poll.

    Raises NotFound for an unknown poll and Conflict for a poll that has not closed, or when
    the stored data would not make a bundle that verifies (a ``governance.audit`` AuditError
    from ``build_bundle`` is reported as a Conflict naming the problem).
    """
    from ..polls import counting

    poll = exportable_poll(session, poll_id)
    if poll.result is None:
        raise Conflict(f"Poll {poll_id} has not been counted yet.")
    data = election(session, poll)
    frozen = electorate(session, poll)
    if frozen.basis == "group" and electorate_hash(frozen.eligible) != poll.electorate_hash:
        raise Conflict(f"The stored electorate of poll {poll_id} no longer hashes to the one frozen when it opened.")
    entries = log.entries(session, poll_id=poll.id)
    if not entries:
        raise Conflict(f"Poll {poll_id} has no entries in the event log.")
    head_row = covering_head(session, entries[-1].seq)
    head = full_head(head_row)
    configured = public_key()
    public = configured[0].encode("ascii") if configured and head_row.signature else None
    if frozen.basis == "rule":
        # build_bundle writes only eligible and participants to electorate.json, so the frozen
        # rule and the evidence of those who took part travel in election.json.
        data["electorate_rule"] = {"rule": poll.eligibility, "opens_at": _t(poll.opens_at)}
        data["participants_evidence"] = frozen.participant_evidence
    if poll.fingerprint:
        return _encrypted_bundle(session, poll, data, frozen, entries, head_row, head, public)
    try:
        return build_bundle(
            election=data,
            ballots=counting.published_ballots(session, poll),
            electorate={"eligible": frozen.eligible, "participants": frozen.participants},
            log_entries=[log.as_entry(e) for e in entries],
            all_entry_hashes=log.leaf_hashes(session, size=head_row.tree_size),
            head=head,
            public_key_pem=public,
            results=poll.result,
            tallier=counting.tally,
        )
    except AuditError as exc:
        raise Conflict(f"The audit bundle of poll {poll_id} cannot be built: {exc}") from None


def _encrypted_bundle(session: Session, poll: Poll, data: dict[str, Any], frozen: Electorate, entries: list,
                      head_row: TreeHead, head: dict[str, Any], public: bytes | None) -> bytes:
    """The format 2 bundle: board, mixes, shares and decrypted ballots besides the rest."""
    from ..polls import counting, voting
    from .encrypted import build_encrypted_bundle

    data["crypto"] = poll.election_params
    data["fingerprint"] = poll.fingerprint
    data["key_mode"] = poll.key_mode
    board = [{"seq": b.seq, "tracker": b.tracker, "credential": b.credential, "ballot": b.content}
             for b in voting.board(session, poll)]
    mixes = [{"position": m.position, "mixer": m.mixer, "input_sha256": m.input_sha256,
              "output_sha256": m.output_sha256, "proof": m.proof, "output": m.output}
             for m in counting.mixes(session, poll)]
    shares = [{"trustee": s.trustee, "mix_sha256": s.mix_sha256, "proof": s.proof, "factors": s.factors}
              for s in counting.shares(session, poll)]
    try:
        return build_encrypted_bundle(
            election=data, board=board, mixes=mixes, shares=shares,
            decoded=counting.decoded_ballots(session, poll),
            electorate={"eligible": frozen.eligible, "participants": frozen.participants},
            log_entries=[log.as_entry(e) for e in entries],
            signatures={e.seq: e.signature for e in entries},
            all_entry_hashes=log.leaf_hashes(session, size=head_row.tree_size),
            head=head, public_key_pem=public, results=poll.result, tallier=counting.tally)
    except AuditError as exc:
        raise Conflict(f"The audit bundle of poll {poll.id} cannot be built: {exc}") from None


def bundle_filename(poll_id: int) -> str:
    """The download name of a poll's bundle."""
    return f"poll-{poll_id}-audit.zip"


# === Document bundles ===========================================================================

DOCUMENT_FORMAT = "governance-document-bundle"
DOCUMENT_FORMAT_VERSION = 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def document_bundle(session: Session, slug: str) -> bytes:
    """The audit bundle (zip bytes) of a governed document: every version, every amendment, its log.

    Files (no directories): ``manifest.json`` (SHA-256 and size of every other file),
    ``document.json`` (the versions with their hashes, how each was adopted and its
    classification; the amendments with their classification, status, base, hashes, history and
    referendum poll), ``version-NNNN.md`` (each version's text), ``amendment-N.md`` (each
    amendment's proposed text), ``charters.json`` (every charter version), ``changes.json`` (the
    two-person rule's requests), ``log.jsonl`` (the document's and the charter's log entries), ``proofs.json``
    (inclusion proofs of the entries the newest head covers; newer ones are listed as
    ``not_yet_covered``), ``head.json`` and, when that head is signed, ``public_key.pem``. Each
    referendum's ballots and count are in that poll's own bundle.
    """
    document = session.exec(select(Document).where(Document.slug == slug)).first()
    if document is None:
        raise NotFound(f"There is no document {slug!r}.")
    versions = list(session.exec(select(DocumentVersion).where(DocumentVersion.document_id == document.id)
                                 .order_by(DocumentVersion.number)).all())
    amendments = list(session.exec(select(Amendment).where(Amendment.document_id == document.id)
                                   .order_by(Amendment.id)).all())
    changes = list(session.exec(select(PendingChange).where(PendingChange.document == slug)
                                .order_by(PendingChange.id)).all())
    people = {a.proposer_id for a in amendments} | {v.author_id for v in versions if v.author_id} | {
        i for c in changes for i in (c.requested_by, c.approved_by, c.objected_by) if i}
    proposers = {m.id: m.username for m in session.exec(
        select(Member).where(Member.id.in_(sorted(people) or [0]))).all()}
    files: dict[str, bytes] = {}
    listed_versions = []
    for v in versions:
        name = f"version-{v.number:04d}.md"
        files[name] = v.source_md.encode("utf-8")
        listed_versions.append({
            "number": v.number, "file": name, "sha256": v.sha256, "adopted_by": v.adopted_by, "poll": v.poll_id,
            "result_hash": v.result_hash or None, "amendment": v.amendment_id, "note": v.note,
            "classification": v.classification, "created_at": _t(v.created_at),
            "author": proposers.get(v.author_id), "change": v.change_id,
        })
    listed_amendments = []
    for a in amendments:
        name = f"amendment-{a.id}.md"
        files[name] = a.source_md.encode("utf-8")
        listed_amendments.append({
            "id": a.id, "file": name, "title": a.title, "proposer": proposers.get(a.proposer_id),
            "rationale_md": a.rationale_md, "status": a.status, "kind": a.kind, "classification": a.classification,
            "base_number": a.base_number, "base_sha256": a.base_sha256, "sha256": a.sha256,
            "original_base_number": a.original_base_number, "original_sha256": a.original_sha256,
            "supersedes": a.supersedes_id, "poll": a.poll_id, "adopted_version": a.adopted_version,
            "history": a.history, "forum_topic_id": a.forum_topic_id, "created_at": _t(a.created_at),
        })
    files["document.json"] = _pretty({
        "format": DOCUMENT_FORMAT, "slug": document.slug, "title": document.title,
        "current_version": document.current_version, "versions": listed_versions, "amendments": listed_amendments,
        "referendums": sorted({a.poll_id for a in amendments if a.poll_id is not None}),
    })
    files["charters.json"] = _pretty({"versions": [
        {"number": c.number, "sha256": c.sha256, "data": c.data, "note": c.note, "created_at": _t(c.created_at)}
        for c in session.exec(select(CharterVersion).order_by(CharterVersion.number)).all()]})
    files["changes.json"] = _pretty({"changes": [
        {"id": c.id, "kind": c.kind, "status": c.status, "title": c.title, "base_number": c.base_number,
         "sha256": c.sha256, "requested_by": proposers.get(c.requested_by), "approved_by": proposers.get(c.approved_by),
         "objected_by": proposers.get(c.objected_by), "reason": c.reason, "waiting_days": c.waiting_days,
         "effective_after": _t(c.effective_after), "announced_at": _t(c.announced_at),
         "forum_topic_id": c.forum_topic_id, "applied_at": _t(c.applied_at), "result": c.result,
         "history": c.history, "created_at": _t(c.created_at)} for c in changes]})
    # The document's own entries, and the charter's: an auditor checks each version against the
    # charter that was in force when it was adopted.
    entries = log.entries(session, document=slug)
    if slug != "charter":
        entries = sorted([*entries, *log.entries(session, document="charter")], key=lambda e: e.seq)
    files["log.jsonl"] = b"".join(canonical_json(log.as_entry(e).to_dict()) + b"\n" for e in entries)
    head = latest_head(session)
    if head is None:
        raise Conflict("No signed tree head has been made yet; one is made when a poll closes.")
    covered = [e for e in entries if e.seq < head.tree_size]
    leaves = [bytes.fromhex(h) for h in log.leaf_hashes(session, size=head.tree_size)]
    paths = merkle.inclusion_proofs([e.seq for e in covered], leaves)
    files["proofs.json"] = _pretty({
        "tree_size": head.tree_size, "root_hash": head.root_hash,
        "entries": [{"seq": e.seq, "leaf_index": e.seq, "proof": [p.hex() for p in path]}
                    for e, path in zip(covered, paths, strict=True)],
        "not_yet_covered": [e.seq for e in entries if e.seq >= head.tree_size],
    })
    published = full_head(head)
    files["head.json"] = _pretty(published)
    key = public_key()
    if head.signature and key is not None and key[1] == head.key_id:
        files["public_key.pem"] = key[0].encode("ascii")
    return _zip(files, fmt=DOCUMENT_FORMAT)


def document_filename(slug: str) -> str:
    """The download name of a document's bundle."""
    return f"document-{slug}-audit.zip"


def _pretty(data: Any) -> bytes:
    data = plain(data)
    canonical_json(data)  # refuses values that would not round-trip (non-string keys, huge integers)
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _zip(files: dict[str, bytes], *, fmt: str) -> bytes:
    """A deterministic zip: manifest first, then the files by name, fixed timestamps."""
    manifest = {"format": fmt, "version": DOCUMENT_FORMAT_VERSION,
                "files": {n: {"sha256": sha256_hex(d), "size": len(d)} for n, d in sorted(files.items())}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [("manifest.json", _pretty(manifest)), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


# === Tracker look-up ============================================================================


@dataclass(frozen=True)
class TrackerLookup:
    """What a voter learns from looking up a tracker: never who cast the ballot.

    ``state`` is "found", "not-found", "not-closed" (ballots are published at the close) or
    "cancelled" (the ballots of a cancelled poll are never published).
    """

    state: str
    poll: Poll
    tracker: str
    ranking: list[list[str]] | None = None
    ballot_hash: str | None = None
    position: int | None = None
    total: int | None = None
    entry_seq: int | None = None


def find_tracker(session: Session, poll_id: int, tracker: str) -> TrackerLookup:
    """Find ``tracker`` in the published ballot list of a closed poll (encrypted polls: "board")."""
    from ..polls import counting
    from .withheld import unscheduled

    poll = session.get(Poll, poll_id)
    if poll is None or unscheduled(session, [poll_id]):  # a draft's title is no public record
        raise NotFound(f"There is no poll {poll_id}.")
    if poll.fingerprint:
        return TrackerLookup(state="board", poll=poll, tracker=tracker)
    if poll.status == "cancelled":
        return TrackerLookup(state="cancelled", poll=poll, tracker=tracker)
    if poll.status not in EXPORTABLE:
        return TrackerLookup(state="not-closed", poll=poll, tracker=tracker)
    ballots = counting.published_ballots(session, poll)
    for position, ballot in enumerate(ballots, start=1):
        if ballot["tracker"] == tracker:
            cast = [e for e in log.entries(session, poll_id=poll.id)
                    if e.type in ("ballot.cast", "ballot.replaced") and e.payload.get("tracker") == tracker]
            return TrackerLookup(state="found", poll=poll, tracker=tracker, ranking=ballot["ranking"],
                                 ballot_hash=_legacy_ballot_hash(tracker, ballot["ranking"]),
                                 position=position, total=len(ballots),
                                 entry_seq=cast[-1].seq if cast else None)
    return TrackerLookup(state="not-found", poll=poll, tracker=tracker, total=len(ballots))


def _legacy_ballot_hash(tracker: str, ranking: list) -> str:
    """The hash the log of a poll counted before ballots were encrypted recorded for each ballot."""
    return sha256_hex(canonical_json({"tracker": tracker, "ranking": ranking}))


# === Reading the log for people ================================================================


@dataclass(frozen=True)
class Page:
    """One page of the log, newest first."""

    entries: list[AuditEntry]
    number: int
    pages: int
    total: int
    #: Sequence numbers of the entries whose payload is withheld (``audit.withheld``: draft polls').
    withheld: frozenset[int] = frozenset()


def list_entries(session: Session, *, poll_id: int | None = None, document: str | None = None, page: int = 1,
                 per_page: int = 50) -> Page:
    """A page of log entries, newest first, optionally only one poll's or one document's (test polls'
    entries only when asked for by their poll); draft polls' entries are marked ``withheld``."""
    from sqlalchemy import func

    count = select(func.count()).select_from(AuditEntry)
    query = select(AuditEntry)
    if poll_id is None and document is None:
        # Test polls are no part of the public record: their entries are in the chain (it is one
        # log), but the index lists them only on the test poll's own page (``?poll=ID``).
        tests = select(Poll.id).where(Poll.is_test)
        public = AuditEntry.poll_id.is_(None) | AuditEntry.poll_id.not_in(tests)
        count, query = count.where(public), query.where(public)
    if poll_id is not None:
        count = count.where(AuditEntry.poll_id == poll_id)
        query = query.where(AuditEntry.poll_id == poll_id)
    if document is not None:
        count = count.where(AuditEntry.document == document)
        query = query.where(AuditEntry.document == document)
    total = session.exec(count).one()
    pages = max(1, -(-total // per_page))
    number = min(max(1, page), pages)
    rows = session.exec(query.order_by(AuditEntry.seq.desc()).offset((number - 1) * per_page).limit(per_page)).all()
    from .withheld import withheld_seqs

    return Page(entries=list(rows), number=number, pages=pages, total=total,
                withheld=frozenset(withheld_seqs(session, rows)))


def get_entry(session: Session, seq: int) -> AuditEntry:
    """One entry by sequence number, or NotFound."""
    row = session.get(AuditEntry, seq)
    if row is None:
        raise NotFound(f"The event log has no entry {seq}.")
    return row


def latest_head(session: Session) -> TreeHead | None:
    """The most recently stored tree head, or None before the first one."""
    return session.exec(select(TreeHead).order_by(TreeHead.tree_size.desc(), TreeHead.id.desc())).first()


@dataclass(frozen=True)
class Proof:
    """An entry's RFC 6962 inclusion proof against a stored head."""

    head: TreeHead
    leaf_index: int
    path: list[str]
    verified: bool


def inclusion(session: Session, entry: AuditEntry, head: TreeHead | None) -> Proof | None:
    """The entry's inclusion proof against ``head``; None when the head does not cover it yet."""
    if head is None or entry.seq >= head.tree_size:
        return None
    leaves = [bytes.fromhex(h) for h in log.leaf_hashes(session, size=head.tree_size)]
    path = merkle.inclusion_proof(entry.seq, leaves)
    ok = merkle.verify_inclusion(merkle.leaf_hash(bytes.fromhex(entry.hash)), entry.seq, head.tree_size, path,
                                 bytes.fromhex(head.root_hash))
    return Proof(head=head, leaf_index=entry.seq, path=[p.hex() for p in path], verified=ok)


def entry_json(entry: AuditEntry) -> str:
    """The entry as its canonical JSON line (what ``log.jsonl`` holds)."""
    return canonical_json(log.as_entry(entry).to_dict()).decode("utf-8")


def public_key() -> tuple[str, str] | None:
    """(PEM text, key id) of the configured signing key's public half, or None."""
    try:
        key = log.signing_key()
        if key is None:
            return None
        pem = public_key_pem(key)
    except (OSError, SignatureError, ValueError):
        return None
    return pem.decode("ascii"), key_id(pem)


def published_head(session: Session) -> dict[str, Any] | None:
    """The latest head as published (JSON), with the public key when one is configured."""
    head = latest_head(session)
    if head is None:
        return None
    data: dict[str, Any] = full_head(head)
    data["reason"] = head.reason
    if head.forum_post_id is not None:
        data["forum_post_id"] = head.forum_post_id
    key = public_key()
    if key is not None and head.signature:
        data["public_key"] = key[0]
    return data


# === Checking the whole stored log ==============================================================


@dataclass(frozen=True)
class LogCheck:
    """The outcome of ``check_log``: ``problem`` is None when everything agrees."""

    entries: int
    head: TreeHead | None
    problem: str | None
    signature: str


def check_log(session: Session, *, batch: int = 5000) -> LogCheck:
    """Recompute the hash chain and the Merkle root of the stored log and compare with the latest head.

    Checks, in order, stopping at the first problem: every entry's hash and link to the one
    before (``chain.verify_chain``); that the latest head does not claim more entries than the
    log holds; that the Merkle root of the first ``tree_size`` entries is its ``root_hash``; and,
    when a signing key is configured and the head is signed, its signature.
    """
    hashes: list[str] = []
    previous = None
    after: int | None = None
    while True:
        rows = log.entries(session, after=after, limit=batch)
        if not rows:
            break
        chunk = [log.as_entry(r) for r in rows]
        try:
            verify_chain(chunk, prev=previous)
        except ChainError as exc:
            return LogCheck(entries=len(hashes), head=None, problem=str(exc), signature="not checked")
        hashes += [e.hash for e in chunk]
        previous, after = chunk[-1], chunk[-1].seq
    head = latest_head(session)
    if head is None:
        return LogCheck(entries=len(hashes), head=None, problem=None, signature="no head stored yet")
    if head.tree_size > len(hashes):
        return LogCheck(entries=len(hashes), head=head, signature="not checked",
                        problem=f"tree head {head.id} covers {head.tree_size} entries but the log holds {len(hashes)}")
    root = merkle.root([bytes.fromhex(h) for h in hashes[: head.tree_size]]).hex()
    if root != head.root_hash:
        return LogCheck(entries=len(hashes), head=head, signature="not checked",
                        problem=(f"tree head {head.id} (size {head.tree_size}) has root {head.root_hash} but the "
                                 f"log's first {head.tree_size} entries give {root}"))
    published = full_head(head)
    if not is_signed(published):
        return LogCheck(entries=len(hashes), head=head, problem=None, signature="the head is unsigned")
    key = public_key()
    if key is None:
        return LogCheck(entries=len(hashes), head=head, problem=None,
                        signature=f"signed by key {head.key_id}; not checked (no signing key configured here)")
    if key[1] != head.key_id:
        return LogCheck(entries=len(hashes), head=head, problem=None,
                        signature=f"signed by key {head.key_id}; not checked (the configured key is {key[1]})")
    try:
        verify_head(published, key[0].encode("ascii"))
    except AuditError as exc:
        return LogCheck(entries=len(hashes), head=head, signature="bad", problem=f"tree head {head.id}: {exc}")
    return LogCheck(entries=len(hashes), head=head, problem=None, signature=f"signed by key {key[1]}, verified")


# === Helpers ====================================================================================


def _amendment_version(session: Session, amendment_id: int) -> dict[str, Any]:
    """The document text a referendum decides: the amendment, its base version and both hashes."""
    amendment = session.get(Amendment, amendment_id)
    if amendment is None:
        return {"amendment": amendment_id}
    document = session.get(Document, amendment.document_id)
    return {
        "amendment": amendment.id,
        "document": document.slug if document else None,
        "base_version": amendment.base_number,
        "base_sha256": amendment.base_sha256,
        "amended_sha256": amendment.sha256,
        "kind": amendment.kind,
    }


def _t(value: datetime | None) -> str | None:
    return None if value is None else log.format_time(value)
