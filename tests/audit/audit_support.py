"""Helpers for the audit tests: a small generated poll, its event log, keys and zip surgery.

The tests inject a small instant-runoff counter and a toy ballot codec so that they do not depend
on which parts of the tally engine exist yet; ``test_audit_real_tally.py`` runs the same checks
with the real engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

from governance.audit import merkle
from governance.audit.bundle import (
    Codec,
    ballots_hash,
    build_bundle,
    electorate_hash,
    normalize_ballots,
    results_hash,
)
from governance.audit.canonical import canonical_json, sha256_hex
from governance.audit.chain import Entry, make_entry
from governance.audit.signing import generate_key, sign_head
from governance.tally.blt import read_blt, write_blt
from governance.tally.core import Profile, Result, Round

CANDIDATES = ["Ada", "Brook", "Cyd", "Dee"]
SEED = "5eed0f7e1ec7100000000000000000000000000000000000000000000000cafe"


# === A small counter and codec, standing in for the tally engine ================================


def toy_irv(election: dict[str, Any], ballots: list[dict[str, Any]]) -> Result:
    """Single-winner instant runoff over one-name groups; ties exclude the last in ballot order."""
    hopeful = [c for c in election["candidates"] if c not in (election.get("withdrawn") or [])]
    rounds = []
    number = 0
    while True:
        number += 1
        votes = dict.fromkeys(hopeful, 0)
        exhausted = 0
        for ballot in ballots:
            top = next((g[0] for g in ballot["ranking"] if g[0] in votes), None)
            if top is None:
                exhausted += 1
            else:
                votes[top] += 1
        live = sum(votes.values())
        leader = max(hopeful, key=lambda c: (votes[c], -hopeful.index(c)))
        if 2 * votes[leader] > live or len(hopeful) == 1:
            rounds.append(Round(number, votes, elected=(leader,), exhausted=exhausted))
            return Result(
                method="toy-irv",
                seats=1,
                elected=(leader,),
                rounds=tuple(rounds),
                candidates=tuple(election["candidates"]),
                ballots=len(ballots),
            )
        loser = min(reversed(hopeful), key=lambda c: votes[c])
        rounds.append(Round(number, votes, excluded=(loser,), exhausted=exhausted))
        hopeful.remove(loser)


def _toy_write(profile: Profile) -> str:
    rows = [[[list(profile.names(g)) for g in b.ranking], b.weight] for b in profile.ballots]
    return "toy\n" + json.dumps({"candidates": list(profile.candidates), "ballots": rows}) + "\n"


def _toy_read(text: str) -> Profile:
    if not text.startswith("toy\n"):
        raise ValueError("not a toy ballot file")
    data = json.loads(text[4:])
    return Profile.build(
        data["candidates"], [r for r, _ in data["ballots"]], weights=[w for _, w in data["ballots"]]
    )


TOY_CODECS = {
    "ballots.blt": Codec(write=write_blt, read=read_blt),
    "ballots.abif": Codec(write=_toy_write, read=_toy_read),
    "ballots.toi": Codec(write=_toy_write, read=_toy_read),
}


# === The generated poll =========================================================================


def make_ballots(n: int = 41, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` random partial rankings with unique trackers, in no particular order."""
    rng = random.Random(seed)
    ballots = []
    for i in range(n):
        order = rng.sample(CANDIDATES, len(CANDIDATES))
        ranking = [[name] for name in order[: rng.randint(1, len(CANDIDATES))]]
        tracker = hashlib.sha256(f"tracker-{seed}-{i}".encode()).hexdigest()[:32]
        ballots.append({"tracker": tracker, "ranking": ranking})
    return ballots


@dataclass
class Poll:
    """Everything ``build_bundle`` takes, plus the keys, so that tests can rebuild variants."""

    election: dict[str, Any]
    ballots: list[dict[str, Any]]
    electorate: dict[str, Any]
    log: list[Entry]
    poll_entries: list[Entry]
    head: dict[str, Any]
    public_pem: bytes | None
    private_pem: bytes | None
    results: Any
    tallier: Any = toy_irv
    codecs: dict[str, Codec] = field(default_factory=lambda: dict(TOY_CODECS))

    def build(self, **changes: Any) -> bytes:
        """Build the bundle, with any keyword of ``build_bundle`` overridden."""
        kwargs = {
            "election": self.election,
            "ballots": self.ballots,
            "electorate": self.electorate,
            "log_entries": self.poll_entries,
            "all_entry_hashes": [e.hash for e in self.log],
            "head": self.head,
            "public_key_pem": self.public_pem,
            "results": self.results,
            "tallier": self.tallier,
            "codecs": self.codecs,
        }
        kwargs.update(changes)
        return build_bundle(**kwargs)

    def entry(self, type_: str) -> Entry:
        """The poll's log entry of this type."""
        return next(e for e in self.poll_entries if e.type == type_)


def make_poll(
    *,
    ballots: list[dict[str, Any]] | None = None,
    private_pem: bytes | None | str = "generate",
    tallier: Any = toy_irv,
    results: Any = None,
    method: str = "toy-irv",
    seats: int = 1,
    participants: list[str] | None = None,
) -> Poll:
    """Open, run, close and tally a small poll, logging each step, and sign the final head.

    With ``results`` the log commits to those results instead of the count's (a dishonest
    server); with ``private_pem=None`` the head is unsigned.
    """
    ballots = make_ballots() if ballots is None else ballots
    if private_pem == "generate":
        private_pem, public_pem = generate_key()
    elif private_pem is None:
        public_pem = None
    else:
        from governance.audit.signing import public_key_pem

        public_pem = public_key_pem(private_pem)
    eligible = [
        {
            "username": f"member{i:02d}",
            "evidence": {"trust_level": 2, "groups": ["members"], "checked_at": "2026-03-01T09:00:00Z"},
        }
        for i in range(1, 51)
    ]
    if participants is None:
        participants = [m["username"] for m in eligible[: len(ballots)]]
    election = {
        "id": 7,
        "title": "Stewards 2026",
        "body": "stewards",
        "kind": "election",
        "method": method,
        "seats": seats,
        "thresholds": {"quorum_percent": 20},
        "eligibility": {"min_trust_level": 2, "groups": ["members"]},
        "candidates": CANDIDATES,
        "opens_at": "2026-03-01T10:00:00Z",
        "closes_at": "2026-03-08T10:00:00Z",
        "tie_break_seed": SEED,
        "electorate_hash": electorate_hash(eligible),
        "document_version": None,
    }
    results = tallier(election, normalize_ballots(ballots)) if results is None else results

    log: list[Entry] = []

    def add(type_: str, actor: str | None, payload: dict[str, Any], when: str) -> Entry:
        entry = make_entry(
            log[-1] if log else None, type=type_, actor=actor, payload=payload, created_at=when
        )
        log.append(entry)
        return entry

    add("member.joined", "member01", {"username": "member01"}, "2026-02-01T08:00:00Z")
    add("proposal.revised", "member02", {"proposal": 3, "version": 2}, "2026-02-10T08:00:00Z")
    opened = add(
        "poll.opened",
        "admin",
        {"poll": 7, "electorate_hash": election["electorate_hash"], "tie_break_seed": SEED},
        "2026-03-01T10:00:00Z",
    )
    add("proposal.revised", "member03", {"proposal": 4, "version": 1}, "2026-03-02T08:00:00Z")
    add("poll.opened", "admin", {"poll": 8}, "2026-03-03T10:00:00Z")
    closed = add(
        "poll.closed",
        None,
        {"poll": 7, "ballots": len(ballots), "ballots_hash": ballots_hash(ballots)},
        "2026-03-08T10:00:00Z",
    )
    tallied = add(
        "poll.tallied",
        None,
        {"poll": 7, "results_hash": results_hash(results)},
        "2026-03-08T10:00:01Z",
    )
    add(
        "poll.closed",
        None,
        {"poll": 8, "ballots": 0, "ballots_hash": ballots_hash([])},
        "2026-03-09T10:00:00Z",
    )
    root = merkle.root([e.leaf for e in log])
    head = sign_head(private_pem, len(log), root, "2026-03-09T10:00:05Z")
    return Poll(
        election=election,
        ballots=ballots,
        electorate={"eligible": eligible, "participants": participants},
        log=log,
        poll_entries=[opened, closed, tallied],
        head=head,
        public_pem=public_pem,
        private_pem=private_pem if isinstance(private_pem, bytes) else None,
        results=results,
        tallier=tallier,
    )


# === Zip surgery ================================================================================


def read_zip(data: bytes) -> dict[str, bytes]:
    """Every file of a zip, by name, in archive order."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(files: dict[str, bytes], *, manifest: bool = True) -> bytes:
    """Zip ``files``; with ``manifest`` recompute manifest.json as a careful forger would."""
    files = dict(files)
    if manifest:
        listed = {
            n: {"sha256": sha256_hex(d), "size": len(d)} for n, d in files.items() if n != "manifest.json"
        }
        old = json.loads(files["manifest.json"])
        old["files"] = dict(sorted(listed.items()))
        files["manifest.json"] = json.dumps(old, indent=2).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def tamper(
    data: bytes, changes: dict[str, bytes] | None = None, *, drop: tuple[str, ...] = (), manifest: bool = True
) -> bytes:
    """Replace or add files, drop some, and rezip (recomputing the manifest unless told not to)."""
    contents = read_zip(data)
    contents.update(changes or {})
    for name in drop:
        del contents[name]
    return write_zip(contents, manifest=manifest)


def jsonl(items: list[dict[str, Any]]) -> bytes:
    """Canonical JSON lines."""
    return b"".join(canonical_json(i) + b"\n" for i in items)


def resign(entry: Entry, **changes: Any) -> Entry:
    """A changed entry whose hash is recomputed (a forger who rewrites the hash too)."""
    changed = replace(entry, **changes)
    return replace(changed, hash=changed.computed_hash())
