"""The audit bundle of one closed poll: its hashes, its ballot files, building it on the server
(verifying it anywhere is ``verifier``).

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
from typing import Any

from . import merkle
from .canonical import AuditError, canonical_json, plain, sha256_hex
from .chain import Entry
from .signing import (
    is_signed,
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
    "Codec",
    "ballots_hash",
    "ballots_jsonl",
    "build_bundle",
    "default_codecs",
    "default_tallier",
    "electorate_hash",
    "name_notes",
    "normalize_ballots",
    "normalize_results",
    "results_hash",
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
    return _zip(files, names=name_notes(profile))


def _pretty_json(data: Any) -> bytes:
    canonical_json(data)  # refuses floats and other values that do not round-trip exactly
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


#: The ballot files and the format ``governance.tally.names.substitutions`` knows each by.
_NAME_FORMATS = {"ballots.blt": "blt", "ballots.abif": "abif", "ballots.toi": "preflib"}


def name_notes(profile: Any) -> dict[str, dict[str, str]]:
    """For each ballot file, the names it shows other than as themselves (quoted, escaped, or
    for ABIF, which cannot hold some characters, mapped with the exact names in its metadata):
    ``{file: {name: as shown}}``, files with none left out. The manifest says so; our readers
    read every one back to the name itself."""
    try:
        from governance.tally.names import substitutions
    except ImportError:  # pragma: no cover - a verifier without the tally engine checks no formats
        return {}
    notes = {}
    for filename, fmt in _NAME_FORMATS.items():
        shown = substitutions(profile, fmt)
        if shown:
            notes[filename] = shown
    return notes


def _manifest(files: Mapping[str, bytes], version: int = FORMAT_VERSION,
              names: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": version,
        "files": {
            name: {"sha256": sha256_hex(data), "size": len(data)} for name, data in sorted(files.items())
        },
    }
    if names:
        manifest["names"] = {file: dict(shown) for file, shown in sorted(names.items())}
    return manifest


def _zip(files: Mapping[str, bytes], version: int = FORMAT_VERSION,
         names: Mapping[str, Mapping[str, str]] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [("manifest.json", _pretty_json(_manifest(files, version, names))), *files.items()]:
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
