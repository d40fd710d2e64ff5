"""The audit bundle of one closed poll: building it on the server, verifying it anywhere.

Boundary rule: standard library, ``cryptography`` (through ``signing``) and ``governance.tally``
only; no Flask, SQLModel, SQLAlchemy or other project imports, so an auditor can run the verifier
without the server. ``docs/audit.md`` specifies the format and the checks for auditors.

The bundle is a zip holding ``manifest.json`` and the files in ``BUNDLE_FILES``. Three hashes tie
it to the event log, and the services that write the log compute them with the functions here:

* ``electorate_hash(eligible)`` -> ``election.json`` ``electorate_hash`` (frozen at opening, and
  the optional ``electorate_hash`` of the ``poll.opened`` entry's payload);
* ``ballots_hash(ballots)`` -> the ``ballots_hash`` of the ``poll.closed`` entry's payload, the
  SHA-256 of ``ballots.jsonl``;
* ``results_hash(results)`` -> the ``results_hash`` of the ``poll.tallied`` entry's payload, the
  SHA-256 of ``results.json``.
"""

from __future__ import annotations

import csv
import functools
import importlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import merkle
from .canonical import AuditError, canonical_json, plain, sha256_hex
from .chain import ChainError, Entry, verify_segment
from .signing import (
    SignatureError,
    is_signed,
    key_id,
    load_public_key,
    validate_head,
    verify_head,
)

__all__ = [
    "BALLOT_FORMAT_FILES",
    "BUNDLE_FILES",
    "CLOSED_TYPE",
    "FORMAT",
    "FORMAT_VERSION",
    "OPENED_TYPE",
    "TALLIED_TYPE",
    "Check",
    "Codec",
    "VerifyReport",
    "ballots_hash",
    "ballots_jsonl",
    "build_bundle",
    "default_codecs",
    "default_tallier",
    "electorate_hash",
    "normalize_ballots",
    "normalize_results",
    "results_hash",
    "verify_bundle",
]

FORMAT = "governance-audit-bundle"
FORMAT_VERSION = 1

#: Log entry types whose payloads the verifier reads (see the module docstring).
OPENED_TYPE = "poll.opened"
CLOSED_TYPE = "poll.closed"
TALLIED_TYPE = "poll.tallied"

BALLOT_FORMAT_FILES = ("ballots.blt", "ballots.abif", "ballots.toi")
#: Every file besides manifest.json; public_key.pem is present exactly when the head is signed.
BUNDLE_FILES = (
    "election.json",
    "ballots.jsonl",
    *BALLOT_FORMAT_FILES,
    "electorate.json",
    "results.json",
    "results.txt",
    "results.csv",
    "log.jsonl",
    "proofs.json",
    "head.json",
    "public_key.pem",
)

# A bundle is read into memory; refuse archives that claim to unpack to absurd sizes.
_MAX_FILE = 256 * 1024 * 1024
_MAX_TOTAL = 1024 * 1024 * 1024
_TRACKER = re.compile(r"[0-9a-f]{8,128}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Zip entries get a fixed timestamp so that the same inputs always give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

Tallier = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], Any]


# === Hashes the log commits to ==================================================================


def normalize_ballots(ballots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return ballots as ``{"tracker", "ranking"}`` dicts, sorted by tracker, groups as sorted lists.

    A ranking item may be a name or a list of equally ranked names; empty groups are dropped.

    >>> normalize_ballots([{"tracker": "bb" * 8, "ranking": ["x", ["z", "y"], []]}, {"tracker": "aa" * 8}])
    [{'tracker': 'aaaaaaaaaaaaaaaa', 'ranking': []}, {'tracker': 'bbbbbbbbbbbbbbbb', 'ranking': [['x'], ['y', 'z']]}]

    Only the shape is checked here (trackers are lowercase hex, names are strings, no tracker
    twice); ``build_bundle`` also checks the names against the candidates.
    """
    out = []
    for number, ballot in enumerate(ballots, start=1):
        tracker = ballot.get("tracker")
        if not isinstance(tracker, str) or not _TRACKER.fullmatch(tracker):
            raise AuditError(f"ballot {number}: tracker must be 8 to 128 lowercase hex digits")
        ranking = []
        for item in ballot.get("ranking", ()):
            group = [item] if isinstance(item, str) else list(item)
            if not all(isinstance(name, str) for name in group):
                raise AuditError(f"ballot {tracker}: ranking entries must be candidate names")
            if group:
                # Equal rankings have no order; sorting them makes the ballot's bytes unique.
                ranking.append(sorted(group))
        out.append({"tracker": tracker, "ranking": ranking})
    out.sort(key=lambda b: b["tracker"])
    for a, b in zip(out, out[1:], strict=False):
        if a["tracker"] == b["tracker"]:
            raise AuditError(f"tracker {a['tracker']} is used by more than one ballot")
    return out


def ballots_jsonl(ballots: Iterable[Mapping[str, Any]]) -> bytes:
    """The exact bytes of ``ballots.jsonl``: one canonical JSON ballot per line, sorted by tracker."""
    return b"".join(canonical_json(b) + b"\n" for b in normalize_ballots(ballots))


def ballots_hash(ballots: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of ``ballots.jsonl``: what the ``poll.closed`` entry commits to."""
    return sha256_hex(ballots_jsonl(ballots))


def normalize_results(results: Any) -> dict[str, Any]:
    """A ``Result`` (or its dict) as plain JSON data: the content of ``results.json``.

    Floats, which canonical JSON refuses, become their shortest ``repr`` text; tuples become
    lists. The published result and a re-count are compared in this form.
    """
    data = results.to_dict() if hasattr(results, "to_dict") else results
    if not isinstance(data, Mapping):
        raise AuditError("results must be a governance.tally Result or its to_dict() mapping")
    return _plain(data)


def results_hash(results: Any) -> str:
    """SHA-256 of ``results.json`` (canonical JSON of the results): what ``poll.tallied`` commits to."""
    return sha256_hex(canonical_json(normalize_results(results)))


def electorate_hash(eligible: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of the eligible members (sorted by username) and their evidence.

    This is the hash frozen when a poll opens; ``electorate.json`` ``eligible`` must hash to it.
    """
    members = [dict(m) for m in eligible]
    for m in members:
        if not isinstance(m.get("username"), str):
            raise AuditError("each eligible member needs a username string")
    return sha256_hex(canonical_json(sorted(members, key=lambda m: m["username"])))


_plain = plain


def rule_electorate_hash(rule: Mapping[str, Any], opens_at: str | None) -> str:
    """The electorate hash of a community-wide poll: its eligibility rule and opening time.

    Such a poll has no list of members to freeze (every forum member who meets the rule may
    vote), so the rule itself is what is frozen when it opens; each voter's evidence is recorded
    when they first vote and checked against the rule by the verifier.
    """
    return sha256_hex(canonical_json({"rule": plain(dict(rule)), "opens_at": opens_at}))


# === Ballot file formats and the tally engine ===================================================


@dataclass(frozen=True)
class Codec:
    """How to write and read one ballot file format, through ``governance.tally.core.Profile``.

    ``write(profile) -> str`` and ``read(text) -> Profile``. ``keeps_blank`` is False for a
    format that cannot hold a ballot ranking nobody (such ballots are then left out of the
    comparison with ``ballots.jsonl``).
    """

    write: Callable[[Any], str]
    read: Callable[[str], Any]
    keeps_blank: bool = True


# (file name, module, reader, writer, keyword arguments both take), first match wins: the
# names the tally engine uses, then the older read_/write_ names.
_CODEC_PLACES = (
    ("ballots.blt", "governance.tally.blt", "read_blt", "write_blt", {}),
    ("ballots.abif", "governance.tally.formats", "parse_abif", "write_abif", {}),
    ("ballots.abif", "governance.tally.formats", "read_abif", "write_abif", {}),
    ("ballots.toi", "governance.tally.formats", "parse_preflib", "write_preflib", {"kind": "toi"}),
    ("ballots.toi", "governance.tally.formats", "read_toi", "write_toi", {}),
)


def default_codecs() -> dict[str, Codec]:
    """The ballot-format codecs of ``governance.tally`` that this installation has, by file name."""
    codecs: dict[str, Codec] = {}
    for filename, module_name, reader, writer, options in _CODEC_PLACES:
        if filename in codecs:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        read, write = getattr(module, reader, None), getattr(module, writer, None)
        if read is not None and write is not None:
            codecs[filename] = Codec(
                write=functools.partial(write, **options), read=functools.partial(read, **options)
            )
    return codecs


#: Method name -> (module, function), used when ``governance.tally.methods.count`` is absent.
_METHODS = {
    "irv": ("governance.tally.irv", "irv"),
    "schulze": ("governance.tally.condorcet", "schulze"),
    "ranked-pairs": ("governance.tally.condorcet", "ranked_pairs"),
    "debian": ("governance.tally.condorcet", "debian"),
    "meek": ("governance.tally.stv", "meek"),
    "wigm": ("governance.tally.stv", "wigm"),
    "scottish": ("governance.tally.stv", "scottish"),
}


def default_tallier(election: Mapping[str, Any], ballots: Sequence[Mapping[str, Any]]) -> Any:
    """Count ``ballots`` as ``election`` says, with ``governance.tally.methods.count``.

    Uses the election's ``candidates``, ``seats``, ``withdrawn``, ``method``, ``options`` and
    tie-breaking (``tie_breaker`` keyword arguments of ``TieBreaker`` or else ``tie_break_seed``).
    """
    from governance.tally.core import TieBreaker

    profile = _profile(election, ballots)
    tb_options = dict(election.get("tie_breaker") or {})
    if "order_names" in tb_options and tb_options["order_names"] is not None:
        tb_options["order_names"] = tuple(tb_options["order_names"])
    tb_options.setdefault("seed", election.get("tie_break_seed"))
    tie_breaker = TieBreaker(**tb_options)
    options = dict(election.get("options") or {})
    method = election["method"]
    try:
        from governance.tally import methods
    except ImportError:
        methods = None
    if methods is not None:
        if method not in getattr(methods, "METHODS", {method: None}):
            raise AuditError(f"this installation of governance.tally cannot count method {method!r}")
        return methods.count(profile, method, seats=election["seats"], tie_breaker=tie_breaker, **options)
    if method not in _METHODS:
        raise AuditError(f"this installation of governance.tally cannot count method {method!r}")
    module_name, function = _METHODS[method]
    try:
        counter = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError):
        raise AuditError(f"this installation of governance.tally cannot count method {method!r}") from None
    return counter(profile, tie_breaker=tie_breaker, **options)


def _profile(election: Mapping[str, Any], ballots: Sequence[Mapping[str, Any]]) -> Any:
    from governance.tally.core import Profile

    return Profile.build(
        list(election["candidates"]),
        [b["ranking"] for b in ballots],
        seats=election["seats"],
        withdrawn=list(election.get("withdrawn") or ()),
        title=str(election.get("title") or ""),
    )


def _named_counts(profile: Any, *, keep_blank: bool = True) -> Counter:
    """Ballots of a profile as {ranking by names: weight}, independent of candidate order."""
    out: Counter = Counter()
    for ballot in profile.ballots:
        ranking = tuple(frozenset(profile.candidates[i] for i in group) for group in ballot.ranking)
        if ranking or keep_blank:
            out[ranking] += ballot.weight
    return out


# === Building ===================================================================================


def build_bundle(
    *,
    election: Mapping[str, Any],
    ballots: Sequence[Mapping[str, Any]],
    electorate: Mapping[str, Any],
    log_entries: Sequence[Entry],
    all_entry_hashes: Sequence[str],
    head: Mapping[str, Any],
    public_key_pem: bytes | None,
    results: Any,
    tallier: Tallier | None = None,
    codecs: Mapping[str, Codec] | None = None,
) -> bytes:
    """Build the audit bundle (zip bytes) of one closed poll.

    Args:
        election: the poll's description (see docs/audit.md); needs ``method``, ``seats``,
            ``candidates`` (ballot order) and ``electorate_hash`` (computed here when absent).
        ballots: ``{"tracker", "ranking"}`` dicts, in any order.
        electorate: ``{"eligible": [{"username", ...evidence}], "participants": [usernames]}``.
        log_entries: the poll's entries of the event log, in ``seq`` order.
        all_entry_hashes: the hash of every entry of the log (index = ``seq``) up to ``head``.
        head: the tree head (from ``signing.sign_head``) over ``all_entry_hashes``.
        public_key_pem: the server's public key; required when the head is signed.
        results: the published ``Result`` (or its dict).
        tallier: ``tallier(election, ballots) -> Result``; defaults to ``default_tallier``.
        codecs: ballot-format writers by file name; defaults to ``default_codecs()``.

    Returns:
        The zip file's bytes; the same inputs always give the same bytes.

    Raises AuditError when the inputs disagree with each other (so a bundle that cannot verify
    is never published): the head does not cover the hashes, an entry is not in the log, the
    ballots name unknown candidates, or the results do not follow from the ballots.
    """
    election = _check_election(dict(election))
    norm_ballots = normalize_ballots(ballots)
    _check_ballot_names(norm_ballots, election["candidates"])
    eligible = list(electorate.get("eligible", ()))
    if "electorate_hash" not in election:
        election["electorate_hash"] = electorate_hash(eligible)
    electorate_data = {
        "eligible": sorted((dict(m) for m in eligible), key=lambda m: m["username"]),
        "participants": sorted(electorate.get("participants", ())),
    }

    head = dict(head)
    validate_head(head)
    leaves = [bytes.fromhex(h) for h in all_entry_hashes]
    if len(leaves) != head["tree_size"]:
        raise AuditError(f"the head covers {head['tree_size']} entries but {len(leaves)} hashes were given")
    if merkle.root(leaves).hex() != head["root_hash"]:
        raise AuditError("the head's root_hash is not the Merkle root of all_entry_hashes")
    entries = sorted(log_entries, key=lambda e: e.seq)
    for entry in entries:
        if entry.seq >= len(leaves) or all_entry_hashes[entry.seq] != entry.hash:
            raise AuditError(f"log entry {entry.seq} is not in the log the head covers")
    if is_signed(head):
        if public_key_pem is None:
            raise AuditError("the head is signed, so the bundle needs the public key")
        verify_head(head, public_key_pem)
    proofs = merkle.inclusion_proofs([e.seq for e in entries], leaves)

    published = normalize_results(results)
    recount = normalize_results((tallier or default_tallier)(election, norm_ballots))
    problem = _compare_results(published, recount)
    if problem:
        raise AuditError(f"the results do not follow from the ballots: {problem}")

    files: dict[str, bytes] = {
        "election.json": _pretty_json(election),
        "ballots.jsonl": b"".join(canonical_json(b) + b"\n" for b in norm_ballots),
    }
    codecs = default_codecs() if codecs is None else codecs
    profile = _profile(election, norm_ballots)
    for filename in BALLOT_FORMAT_FILES:
        if filename not in codecs:
            raise AuditError(f"no writer for {filename} (governance.tally has none installed)")
        files[filename] = codecs[filename].write(profile).encode("utf-8")
    files["electorate.json"] = _pretty_json(electorate_data)
    files["results.json"] = canonical_json(published)
    files["results.txt"] = _results_text(election, results, published).encode("utf-8")
    files["results.csv"] = _results_csv(results, published).encode("utf-8")
    files["log.jsonl"] = b"".join(canonical_json(e.to_dict()) + b"\n" for e in entries)
    files["proofs.json"] = _pretty_json(
        {
            "tree_size": head["tree_size"],
            "root_hash": head["root_hash"],
            "entries": [
                {"seq": e.seq, "leaf_index": e.seq, "proof": [p.hex() for p in proof]}
                for e, proof in zip(entries, proofs, strict=True)
            ],
        }
    )
    files["head.json"] = _pretty_json(head)
    if public_key_pem is not None:
        files["public_key.pem"] = public_key_pem
    return _zip(files)


def _pretty_json(data: Any) -> bytes:
    canonical_json(data)  # refuses floats and other values that do not round-trip exactly
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _manifest(files: Mapping[str, bytes], version: int = FORMAT_VERSION) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": version,
        "files": {
            name: {"sha256": sha256_hex(data), "size": len(data)} for name, data in sorted(files.items())
        },
    }


def _zip(files: Mapping[str, bytes], version: int = FORMAT_VERSION) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [("manifest.json", _pretty_json(_manifest(files, version))), *files.items()]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def _check_election(election: dict[str, Any]) -> dict[str, Any]:
    """Check the fields the count needs; raise AuditError naming the first bad one."""
    method = election.get("method")
    if not isinstance(method, str) or not method:
        raise AuditError("election.json: method must be a non-empty string")
    seats = election.get("seats")
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 1:
        raise AuditError("election.json: seats must be a whole number >= 1")
    candidates = election.get("candidates")
    if (
        not isinstance(candidates, list)
        or not candidates
        or not all(isinstance(c, str) and c for c in candidates)
        or len(set(candidates)) != len(candidates)
    ):
        raise AuditError("election.json: candidates must be a non-empty list of distinct names")
    withdrawn = election.get("withdrawn") or []
    if not isinstance(withdrawn, list) or any(w not in candidates for w in withdrawn):
        raise AuditError("election.json: withdrawn must list candidates")
    if "electorate_hash" in election and not (
        isinstance(election["electorate_hash"], str) and _HEX64.fullmatch(election["electorate_hash"])
    ):
        raise AuditError("election.json: electorate_hash must be 64 lowercase hex digits")
    if not isinstance(election.get("options") or {}, Mapping):
        raise AuditError("election.json: options must be an object")
    return election


def _check_ballot_names(ballots: Sequence[Mapping[str, Any]], candidates: Sequence[str]) -> None:
    known = set(candidates)
    for ballot in ballots:
        seen: set[str] = set()
        for group in ballot["ranking"]:
            for name in group:
                if name not in known:
                    raise AuditError(f"ballot {ballot['tracker']}: {name!r} is not a candidate")
                if name in seen:
                    raise AuditError(f"ballot {ballot['tracker']}: {name!r} is ranked more than once")
                seen.add(name)


def _results_text(election: Mapping[str, Any], result: Any, results: Mapping[str, Any]) -> str:
    """A plain-text report of the count, for people; results.json is the authoritative form."""
    report = _tally_report()
    if report is not None and not isinstance(result, Mapping):
        return report.to_text(result, title=str(election.get("title") or ""))
    lines = []
    title = election.get("title")
    if title:
        lines += [str(title), "=" * len(str(title)), ""]
    lines.append(f"Method: {results.get('method', election['method'])}")
    lines.append(f"Seats: {results.get('seats', election['seats'])}")
    lines.append(f"Candidates (ballot order): {', '.join(election['candidates'])}")
    lines.append(f"Ballots: {results.get('ballots', '')}")
    lines.append(f"Elected: {', '.join(results.get('elected', [])) or '(none)'}")
    if results.get("tied"):
        lines.append(f"Unresolved tie between: {', '.join(results['tied'])}")
    for rnd in results.get("rounds", []):
        lines += ["", f"Round {rnd.get('round')}"]
        if "quota" in rnd:
            lines.append(f"  quota: {rnd['quota']}")
        for name, votes in rnd.get("votes", {}).items():
            lines.append(f"  {name}: {votes}")
        if rnd.get("exhausted") not in (None, "0"):
            lines.append(f"  exhausted: {rnd['exhausted']}")
        if rnd.get("elected"):
            lines.append(f"  elected: {', '.join(rnd['elected'])}")
        if rnd.get("excluded"):
            lines.append(f"  excluded: {', '.join(rnd['excluded'])}")
        if rnd.get("note"):
            lines.append(f"  note: {rnd['note']}")
    for tb in results.get("tie_breaks", []):
        lines.append(
            f"Tie in round {tb.get('round')} ({tb.get('purpose')}) between {', '.join(tb.get('tied', []))}: "
            f"{tb.get('chosen')} chosen by {tb.get('how')}"
        )
    return "\n".join(lines) + "\n"


def _results_csv(result: Any, results: Mapping[str, Any]) -> str:
    """The count as CSV: the tally engine's table, or one row per round and candidate."""
    report = _tally_report()
    if report is not None and not isinstance(result, Mapping):
        return report.to_csv(result)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["round", "candidate", "votes", "status"])
    for rnd in results.get("rounds", []):
        for name, votes in rnd.get("votes", {}).items():
            status = "elected" if name in rnd.get("elected", []) else ""
            status = "excluded" if name in rnd.get("excluded", []) else status
            writer.writerow([rnd.get("round"), name, votes, status])
    return out.getvalue()


def _tally_report() -> Any:
    try:
        return importlib.import_module("governance.tally.report")
    except ImportError:
        return None


def _compare_results(published: Mapping[str, Any], recount: Mapping[str, Any]) -> str | None:
    """Describe the first difference between two results (winners, then rounds), or None."""
    if published.get("elected") != recount.get("elected"):
        return (
            f"published winners {published.get('elected')} but the re-count elects {recount.get('elected')}"
        )
    if published.get("tied") != recount.get("tied"):
        return f"published unresolved tie {published.get('tied')} but the re-count has {recount.get('tied')}"
    pub_rounds, re_rounds = published.get("rounds") or [], recount.get("rounds") or []
    for number, (a, b) in enumerate(zip(pub_rounds, re_rounds, strict=False), start=1):
        if a != b:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            return f"round {number} differs from the re-count (in {', '.join(keys)})"
    if len(pub_rounds) != len(re_rounds):
        return f"published {len(pub_rounds)} rounds but the re-count has {len(re_rounds)}"
    if published != recount:
        keys = sorted(k for k in set(published) | set(recount) if published.get(k) != recount.get(k))
        return f"the results differ from the re-count in {', '.join(keys)}"
    return None


# === Verifying ==================================================================================

OK, FAIL, ERROR, WARN, SKIP, NOT_RUN = "OK", "FAIL", "ERROR", "WARN", "SKIP", "NOT RUN"
RULES_TITLE = ("The poll's times changed only by approved, logged changes; its rules (exceptions, certification, "
               "affiliation cap) are the ones frozen at opening, and were followed")

#: (name, what the check establishes), in the order they run.
CHECKS = (
    ("bundle", "The bundle is a readable zip file"),
    ("manifest", "Every file matches its SHA-256 and size in manifest.json; none missing or extra"),
    ("election", "election.json describes a countable poll"),
    ("ballots", "ballots.jsonl is sorted by unique tracker and names only candidates"),
    ("formats", "ballots.blt, ballots.abif and ballots.toi hold the same ballots as ballots.jsonl"),
    ("electorate", "electorate.json matches the electorate hash in election.json"),
    ("chain", "Each log entry's hash matches its contents and links to the entry before it"),
    ("proofs", "Each log entry is in the log under the tree head (Merkle inclusion proofs)"),
    ("signature", "The tree head is signed by the server's key"),
    ("published_head", "The tree head is the one published independently"),
    ("commitments", "The log's poll.closed and poll.tallied entries commit to these ballots and results"),
    ("rules", RULES_TITLE),
    ("recount", "Re-counting the ballots gives the published results, round by round"),
)


@dataclass
class Check:
    """The outcome of one check: ``status`` is OK, FAIL, ERROR, WARN, SKIP or NOT RUN.

    FAIL means the bundle is well formed but something does not verify (tampering or a server
    fault); ERROR means the input is malformed or cannot be checked (missing file, bad JSON).
    """

    name: str
    title: str
    status: str = NOT_RUN
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready view."""
        return {"name": self.name, "title": self.title, "status": self.status, "detail": self.detail}


@dataclass
class VerifyReport:
    """Every check in order; verification stops at the first FAIL or ERROR."""

    checks: list[Check]
    election: dict[str, Any] | None = None
    head: dict[str, Any] | None = None
    ballots: int | None = None

    @property
    def ok(self) -> bool:
        """True when no check failed (WARN and SKIP still pass, but say what was not proven)."""
        return self.first_problem is None

    @property
    def first_problem(self) -> Check | None:
        """The first check that failed or could not be done, or None."""
        return next((c for c in self.checks if c.status in (FAIL, ERROR)), None)

    @property
    def malformed(self) -> bool:
        """True when the first problem is malformed input rather than a failed verification."""
        problem = self.first_problem
        return problem is not None and problem.status == ERROR

    @property
    def warnings(self) -> list[Check]:
        """Checks that passed with a caveat (unsigned head, key taken from the bundle itself)."""
        return [c for c in self.checks if c.status == WARN]

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        problem = self.first_problem
        return {
            "ok": self.ok,
            "first_problem": problem.to_dict() if problem else None,
            "checks": [c.to_dict() for c in self.checks],
            "head": self.head,
        }


class _Failed(Exception):
    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _fail(detail: str) -> _Failed:
    return _Failed(FAIL, detail)


def _error(detail: str) -> _Failed:
    return _Failed(ERROR, detail)


def verify_bundle(
    data_or_path: bytes | str | Path,
    *,
    expected_head_root: str | None = None,
    public_key: bytes | str | None = None,
    tallier: Tallier | None = None,
    codecs: Mapping[str, Codec] | None = None,
    **options: Any,
) -> VerifyReport:
    """Verify an audit bundle (zip bytes or a path) and report every check up to the first problem.

    Format 2 bundles (encrypted ballots) take more ``options``: ``receipts`` (voters' receipts
    to find in the bundle), ``workers`` (processes for the proofs) and ``progress`` (a callable
    told each step's progress).

    Args:
        data_or_path: the bundle's bytes, or the path of the zip file.
        expected_head_root: the root hash the auditor obtained independently (for example from
            the forum post announcing the result); the head must have this root.
        public_key: the server's Ed25519 public key (PEM or raw 32 bytes) obtained independently;
            without it the key shipped in the bundle is used and the report warns.
        tallier: ``tallier(election, ballots) -> Result``; defaults to ``default_tallier``.
        codecs: ballot-format readers by file name; defaults to ``default_codecs()``.

    Never raises for a bad bundle: problems are reported as FAIL or ERROR checks.
    """
    cls = _Verifier
    if _manifest_version(data_or_path) == 2:
        from .encrypted import EncryptedVerifier

        cls = EncryptedVerifier
    verifier = cls(
        data_or_path,
        expected_head_root=expected_head_root,
        public_key=public_key,
        tallier=tallier or default_tallier,
        codecs=default_codecs() if codecs is None else codecs,
        **options,
    )
    return verifier.run()


def _manifest_version(source: bytes | str | Path) -> Any:
    """The bundle's format version as its manifest says, or None if it cannot be read (the
    verifier's first checks then say why)."""
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo("manifest.json")
            if info.file_size > _MAX_FILE:
                return None
            return json.loads(zf.read(info)).get("version")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError,
            NotImplementedError, AttributeError):
        return None


class _Verifier:
    """The checks of ``verify_bundle``; each ``_check_<name>`` returns (status, detail) or raises _Failed.

    Format 1 (plaintext ballots, polls counted before ballots were encrypted). Format 2 is
    ``governance.audit.encrypted.EncryptedVerifier``, a subclass with more checks.
    """

    CHECKS = CHECKS
    VERSION = FORMAT_VERSION
    REQUIRED_FILES = BUNDLE_FILES

    def _allowed(self, name: str) -> bool:
        """Whether a file of this name belongs in a bundle of this format."""
        return name in self.REQUIRED_FILES

    def __init__(
        self,
        source: bytes | str | Path,
        *,
        expected_head_root: str | None,
        public_key: bytes | str | None,
        tallier: Tallier,
        codecs: Mapping[str, Codec],
        **options: Any,
    ) -> None:
        self.options = options
        self.source = source
        self.expected_head_root = expected_head_root
        self.public_key = public_key
        self.tallier = tallier
        self.codecs = codecs
        self.files: dict[str, bytes] = {}
        self.election: dict[str, Any] = {}
        self.ballots: list[dict[str, Any]] = []
        self.entries: list[Entry] = []
        self.head: dict[str, Any] = {}

    def run(self) -> VerifyReport:
        """Run the checks in order, stopping at the first FAIL or ERROR."""
        checks = [Check(name, title) for name, title in self.CHECKS]
        report = VerifyReport(checks=checks)
        for check in checks:
            try:
                check.status, check.detail = getattr(self, f"_check_{check.name}")()
            except _Failed as failed:
                check.status, check.detail = failed.status, failed.detail
                break
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # A field of the wrong shape that no check anticipated: a malformed bundle.
                check.status, check.detail = ERROR, f"malformed bundle: {type(exc).__name__}: {exc}"
                break
        report.election = self.election or None
        report.head = self.head or None
        report.ballots = len(self.ballots)
        return report

    # --- helpers ---------------------------------------------------------------------------

    def _json(self, name: str) -> Any:
        try:
            return json.loads(self.files[name].decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _error(f"{name} is not valid JSON: {exc}") from None

    def _lines(self, name: str) -> list[tuple[int, bytes, Any]]:
        data = self.files[name]
        if data and not data.endswith(b"\n"):
            raise _error(f"{name} does not end with a newline")
        out = []
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            try:
                out.append((number, line, json.loads(line.decode("utf-8"), parse_constant=_refuse_constant)))
            except (UnicodeDecodeError, ValueError) as exc:
                raise _error(f"{name} line {number} is not valid JSON: {exc}") from None
        return out

    # --- checks ----------------------------------------------------------------------------

    def _check_bundle(self) -> tuple[str, str]:
        source = self.source
        try:
            if isinstance(source, (str, Path)):
                data = Path(source).read_bytes()
            else:
                data = bytes(source)
        except OSError as exc:
            raise _error(f"cannot read {source}: {exc.strerror or exc}") from None
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = zf.infolist()
                names = [i.filename for i in infos]
                duplicates = sorted(n for n, k in Counter(names).items() if k > 1)
                if duplicates:
                    raise _fail(f"the zip holds {duplicates[0]} more than once")
                if (
                    any(i.file_size > _MAX_FILE for i in infos)
                    or sum(i.file_size for i in infos) > _MAX_TOTAL
                ):
                    raise _error("the zip unpacks to more than a bundle can hold")
                for info in infos:
                    if info.is_dir():
                        raise _fail(f"the zip holds a directory, {info.filename}, which the format has not")
                    self.files[info.filename] = zf.read(info)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
            raise _error(f"not a readable zip file ({exc})") from None
        if "manifest.json" not in self.files:
            raise _error("manifest.json is missing: this is not an audit bundle")
        return OK, f"{len(self.files)} files, {len(data)} bytes"

    def _check_manifest(self) -> tuple[str, str]:
        manifest = self._json("manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _error(f"manifest.json does not describe a {FORMAT}")
        if manifest.get("version") != self.VERSION:
            raise _error(
                f"bundle format version {manifest.get('version')!r} is not supported "
                f"(this verifier reads versions 1 and 2)"
            )
        listed = manifest.get("files")
        if not isinstance(listed, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int)
            for v in listed.values()
        ):
            raise _error("manifest.json files must map each file name to its sha256 and size")
        present = set(self.files) - {"manifest.json"}
        for name in self.REQUIRED_FILES:
            if name == "public_key.pem":
                continue  # optional: checked with the head's signature
            if name not in listed and name not in present:
                raise _error(f"{name} is missing from the bundle")
            if name not in listed:
                raise _fail(f"{name} is in the bundle but not in the manifest")
        for name in sorted(listed):
            if name not in present:
                raise _error(f"{name} is listed in the manifest but missing from the bundle")
        for name in sorted(present):
            if name not in listed:
                raise _fail(f"{name} is in the bundle but not in the manifest (extra file)")
        for name in sorted(listed):
            if not self._allowed(name):
                raise _fail(f"{name} is not a file of the bundle format (extra file)")
            data = self.files[name]
            if len(data) != listed[name]["size"] or sha256_hex(data) != listed[name]["sha256"]:
                raise _fail(f"{name} does not match its SHA-256 and size in the manifest: it was changed")
        return OK, f"{len(listed)} files match"

    def _check_election(self) -> tuple[str, str]:
        election = self._json("election.json")
        if not isinstance(election, dict):
            raise _error("election.json must be a JSON object")
        try:
            _check_election(election)
        except AuditError as exc:
            raise _error(str(exc)) from None
        if "electorate_hash" not in election:
            raise _error("election.json has no electorate_hash")
        self.election = election
        title = election.get("title") or election.get("id") or "poll"
        return OK, (
            f"{title}: {election['method']}, {election['seats']} seat(s), {len(election['candidates'])} candidates"
        )

    def _check_ballots(self) -> tuple[str, str]:
        candidates = set(self.election["candidates"])
        previous = None
        for number, line, ballot in self._lines("ballots.jsonl"):
            where = f"ballots.jsonl line {number}"
            if not isinstance(ballot, dict) or set(ballot) != {"tracker", "ranking"}:
                raise _error(f"{where}: a ballot must be an object with exactly tracker and ranking")
            tracker, ranking = ballot["tracker"], ballot["ranking"]
            if not isinstance(tracker, str) or not _TRACKER.fullmatch(tracker):
                raise _error(f"{where}: the tracker must be 8 to 128 lowercase hex digits")
            if not isinstance(ranking, list) or not all(
                isinstance(g, list) and g and all(isinstance(n, str) for n in g) for g in ranking
            ):
                raise _error(f"{where}: the ranking must be a list of non-empty lists of names")
            if canonical_json(ballot) != line:
                raise _fail(f"{where} is not written in canonical JSON")
            if previous is not None and tracker == previous:
                raise _fail(f"{where}: tracker {tracker} appears twice (a duplicated ballot)")
            if previous is not None and tracker < previous:
                raise _fail(f"{where}: tracker {tracker} is out of order (ballots must be sorted by tracker)")
            names = [n for g in ranking for n in g]
            unknown = [n for n in names if n not in candidates]
            if unknown:
                raise _fail(f"{where}: {unknown[0]!r} is not a candidate")
            if len(set(names)) != len(names):
                raise _fail(f"{where}: a candidate is ranked more than once")
            previous = tracker
            self.ballots.append(ballot)
        return OK, f"{len(self.ballots)} ballots"

    def _check_formats(self) -> tuple[str, str]:
        try:
            expected = _profile(self.election, self.ballots)
        except ValueError as exc:
            raise _error(f"the ballots cannot form a profile: {exc}") from None
        for filename in BALLOT_FORMAT_FILES:
            codec = self.codecs.get(filename)
            if codec is None:
                raise _error(f"cannot check {filename}: this installation of governance.tally cannot read it")
            try:
                parsed = codec.read(self.files[filename].decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise _error(f"{filename} cannot be read: {exc}") from None
            if set(parsed.candidates) != set(expected.candidates):
                raise _fail(f"{filename} lists other candidates than election.json")
            want = _named_counts(expected, keep_blank=codec.keeps_blank)
            got = _named_counts(parsed, keep_blank=codec.keeps_blank)
            if want != got:
                raise _fail(
                    f"{filename} holds different ballots from ballots.jsonl ({_count_diff(want, got)})"
                )
        return OK, ", ".join(BALLOT_FORMAT_FILES) + " agree"

    def _check_electorate(self) -> tuple[str, str]:
        data = self._json("electorate.json")
        if not isinstance(data, dict) or not isinstance(data.get("eligible"), list):
            raise _error("electorate.json must be an object with an eligible list")
        if self.election.get("electorate_basis") == "rule":
            return self._check_rule_electorate(data)
        eligible = data["eligible"]
        if not all(isinstance(m, dict) and isinstance(m.get("username"), str) for m in eligible):
            raise _error("electorate.json: every eligible member needs a username")
        usernames = [m["username"] for m in eligible]
        if len(set(usernames)) != len(usernames):
            raise _fail("electorate.json lists a member twice")
        if electorate_hash(eligible) != self.election["electorate_hash"]:
            raise _fail("electorate.json does not hash to the electorate_hash frozen in election.json")
        participants = data.get("participants", [])
        if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
            raise _error("electorate.json: participants must be a list of usernames")
        if len(set(participants)) != len(participants):
            raise _fail("electorate.json lists a participant twice")
        outsiders = sorted(set(participants) - set(usernames))
        if outsiders:
            raise _fail(f"electorate.json: participant {outsiders[0]!r} is not in the electorate")
        if len(participants) != len(self.ballots):
            raise _fail(f"{len(participants)} members took part but there are {len(self.ballots)} ballots")
        from .election_rules import check_group_eligible, has_rules

        excepted = check_group_eligible(self.election, eligible)
        if has_rules(self.election):
            return OK, (f"{len(usernames)} eligible ({excepted} by exception), each meets the rule or holds an "
                        f"accepted exception; {len(participants)} took part")
        return OK, f"{len(usernames)} eligible, {len(participants)} took part"

    def _check_rule_electorate(self, data: dict[str, Any]) -> tuple[str, str]:
        """A community-wide poll: the frozen rule, and every participant's evidence meets it."""


        election = self.election
        frozen = election.get("electorate_rule")
        if not isinstance(frozen, dict) or set(frozen) != {"rule", "opens_at"}:
            raise _error("election.json: electorate_rule must hold exactly the rule and opens_at")
        if rule_electorate_hash(frozen["rule"], frozen["opens_at"]) != election["electorate_hash"]:
            raise _fail("the frozen rule does not hash to the electorate_hash in election.json")
        if frozen["rule"] != election.get("eligibility") or frozen["opens_at"] != election.get("opens_at"):
            raise _fail("the frozen rule differs from the poll's eligibility rule or opening time")
        if data["eligible"]:
            raise _fail("a community-wide poll lists no eligible members; electorate.json does")
        participants = data.get("participants", [])
        if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
            raise _error("electorate.json: participants must be a list of usernames")
        if len(set(participants)) != len(participants):
            raise _fail("electorate.json lists a participant twice")
        evidence = election.get("participants_evidence")
        if not isinstance(evidence, list) or sorted(e.get("username", "") for e in evidence) != sorted(participants):
            raise _fail("the participants' evidence does not match the participants")
        from .election_rules import check_rule_participants

        excepted = check_rule_participants(election, evidence)
        if len(participants) != len(self.ballots):
            raise _fail(f"{len(participants)} members took part but there are {len(self.ballots)} ballots")
        return OK, (f"community-wide rule frozen at opening; {len(participants)} took part, each meets the rule"
                    + (f" ({excepted} by an accepted exception)" if excepted else ""))

    def _check_chain(self) -> tuple[str, str]:
        for number, _line, data in self._lines("log.jsonl"):
            try:
                self.entries.append(Entry.from_dict(data))
            except AuditError as exc:
                raise _error(f"log.jsonl line {number}: {exc}") from None
        if not self.entries:
            raise _error("log.jsonl holds no entries")
        try:
            verify_segment(self.entries)
        except ChainError as exc:
            raise _fail(str(exc)) from None
        seqs = [e.seq for e in self.entries]
        return OK, f"{len(self.entries)} entries (seq {seqs[0]}..{seqs[-1]})"

    def _check_proofs(self) -> tuple[str, str]:
        head = self._json("head.json")
        try:
            validate_head(head)
        except AuditError as exc:
            raise _error(f"head.json: {exc}") from None
        self.head = head
        proofs = self._json("proofs.json")
        if not isinstance(proofs, dict) or not isinstance(proofs.get("entries"), list):
            raise _error("proofs.json must be an object with an entries list")
        if proofs.get("tree_size") != head["tree_size"] or proofs.get("root_hash") != head["root_hash"]:
            raise _fail("proofs.json was made for another tree head than head.json")
        by_seq = {}
        for item in proofs["entries"]:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("seq"), int)
                or not isinstance(item.get("proof"), list)
                or not all(isinstance(p, str) and _HEX64.fullmatch(p) for p in item["proof"])
            ):
                raise _error("proofs.json: each entry needs a seq and a proof of 64-hex-digit hashes")
            by_seq[item["seq"]] = [bytes.fromhex(p) for p in item["proof"]]
        if set(by_seq) != {e.seq for e in self.entries}:
            raise _fail("proofs.json does not hold exactly one proof per log entry")
        size, root = head["tree_size"], bytes.fromhex(head["root_hash"])
        for entry in self.entries:
            if not merkle.verify_inclusion(
                merkle.leaf_hash(entry.leaf), entry.seq, size, by_seq[entry.seq], root
            ):
                raise _fail(
                    f"log entry {entry.seq} is not in the log under the tree head (inclusion proof fails)"
                )
        return (
            OK,
            f"{len(self.entries)} entries included in the tree of {size} entries, root {head['root_hash']}",
        )

    def _check_signature(self) -> tuple[str, str]:
        head = self.head
        bundled = self.files.get("public_key.pem")
        if not is_signed(head):
            if bundled is not None:
                raise _fail("the tree head is unsigned but the bundle ships a public key")
            return WARN, (
                "the tree head is UNSIGNED: the server had no signing key. Nothing here proves the server "
                "published this head; compare its root with one published elsewhere (--head or --head-url)"
            )
        if self.public_key is not None:
            try:
                verify_head(head, self.public_key)
            except SignatureError as exc:
                raise _fail(str(exc)) from None
            except (AuditError, ValueError) as exc:
                raise _error(f"the given public key cannot be used: {exc}") from None
            return OK, f"signed by the given key {head['key_id']}"
        if bundled is None:
            raise _error("the tree head is signed but the bundle has no public_key.pem, and no key was given")
        try:
            load_public_key(bundled)
            verify_head(head, bundled)
        except SignatureError as exc:
            raise _fail(str(exc)) from None
        except (AuditError, ValueError) as exc:
            raise _error(f"public_key.pem cannot be used: {exc}") from None
        return WARN, (
            f"signature verifies with the key shipped in the bundle (key id {key_id(bundled)}); that only "
            "proves the bundle is self-consistent. Check the key id against the one the server publishes, "
            "or pass the key with --public-key"
        )

    def _check_published_head(self) -> tuple[str, str]:
        if self.expected_head_root is None:
            return SKIP, "no independently published head was given (--head or --head-url)"
        expected = self.expected_head_root.strip().lower()
        if expected != self.head["root_hash"]:
            raise _fail(f"the tree head root {self.head['root_hash']} is not the published root {expected}")
        return OK, f"root {expected} matches"

    def _check_commitments(self) -> tuple[str, str]:
        closed = [e for e in self.entries if e.type == CLOSED_TYPE]
        tallied = [e for e in self.entries if e.type == TALLIED_TYPE]
        opened = [e for e in self.entries if e.type == OPENED_TYPE]
        if not closed:
            raise _fail(f"the log has no {CLOSED_TYPE} entry committing to the ballots")
        if not tallied:
            raise _fail(f"the log has no {TALLIED_TYPE} entry committing to the results")
        close, tally = closed[-1], tallied[-1]
        b_hash = sha256_hex(self.files["ballots.jsonl"])
        if close.payload.get("ballots_hash") != b_hash:
            raise _fail(
                f"ballots.jsonl is not the ballot set the log entry {close.seq} ({CLOSED_TYPE}) committed to"
            )
        if "ballots" in close.payload and close.payload["ballots"] != len(self.ballots):
            raise _fail(
                f"log entry {close.seq} records {close.payload['ballots']} ballots, not {len(self.ballots)}"
            )
        r_hash = sha256_hex(self.files["results.json"])
        if tally.payload.get("results_hash") != r_hash:
            raise _fail(
                f"results.json is not the result the log entry {tally.seq} ({TALLIED_TYPE}) committed to"
            )
        if tally.seq < close.seq:
            raise _fail(f"the poll was tallied (entry {tally.seq}) before it closed (entry {close.seq})")
        for entry in opened[-1:]:
            for key in ("electorate_hash", "tie_break_seed"):
                if key in entry.payload and entry.payload[key] != self.election.get(key):
                    raise _fail(
                        f"election.json {key} is not the one log entry {entry.seq} ({OPENED_TYPE}) froze"
                    )
        return OK, f"ballots committed in entry {close.seq}, results in entry {tally.seq}"

    def _check_rules(self) -> tuple[str, str]:
        from .election_rules import check_rules
        from .times import check_times

        times = check_times(self.election, self.entries)
        status, detail = check_rules(self.election, self.entries)
        return status, f"{times}; {detail}" if times else detail

    def _check_recount(self) -> tuple[str, str]:
        published = self._json("results.json")
        if not isinstance(published, dict):
            raise _error("results.json must be a JSON object")
        try:
            recount = normalize_results(self.tallier(self.election, self.ballots))
        except AuditError as exc:
            raise _error(f"cannot re-count: {exc}") from None
        except ValueError as exc:  # TallyError
            raise _fail(f"the ballots cannot be counted as election.json says: {exc}") from None
        problem = _compare_results(published, recount)
        if problem:
            raise _fail(problem)
        winners = ", ".join(recount.get("elected", [])) or "(none)"
        return OK, f"{len(recount.get('rounds', []))} rounds agree; elected: {winners}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _count_diff(want: Counter, got: Counter) -> str:
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    return f"{missing} ballot(s) missing, {extra} ballot(s) not in ballots.jsonl"
