"""Verifying a poll's audit bundle anywhere: the checks, their report, and ``verify_bundle``.

Boundary rule: as ``bundle``: standard library, ``cryptography`` (through ``signing``) and
``governance.tally`` only, so an auditor runs it without the server. ``bundle`` builds format 1
bundles and holds the hashes and ballot files both sides share; format 2 (encrypted ballots) is
``encrypted.EncryptedVerifier``, a subclass of the verifier here. ``docs/audit.md`` specifies the
checks.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .bundle import (
    _TRACKER,
    BALLOT_FORMAT_FILES,
    BUNDLE_FILES,
    CLOSED_TYPE,
    FORMAT,
    FORMAT_VERSION,
    OPENED_TYPE,
    TALLIED_TYPE,
    Codec,
    Tallier,
    _check_election,
    _compare_results,
    _named_counts,
    _profile,
    default_codecs,
    default_tallier,
    electorate_hash,
    name_notes,
    normalize_results,
    rule_electorate_hash,
)
from .bundlechecks import (
    MAX_FILE,
    check_chain,
    check_file_hashes,
    check_inclusion,
    check_published_head,
    check_signature,
    read_head_and_proofs,
    read_zip,
)
from .canonical import AuditError, canonical_json, sha256_hex
from .chain import Entry
from .report import (
    ERROR,
    FAIL,
    NOT_RUN,
    OK,
    SKIP,
    WARN,
    Check,
    VerifyReport,
    _error,
    _fail,
    run_checks,
)

__all__ = [
    "CHECKS",
    "Check",
    "ERROR",
    "FAIL",
    "NOT_RUN",
    "OK",
    "SKIP",
    "VerifyReport",
    "WARN",
    "verify_bundle",
]


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
            if info.file_size > MAX_FILE:
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
        self.manifest: dict[str, Any] = {}

    def run(self) -> VerifyReport:
        """Run the checks in order, stopping at the first FAIL or ERROR."""
        report = run_checks(self, self.CHECKS)
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
        self.files.update(read_zip(data))
        return OK, f"{len(self.files)} files, {len(data)} bytes"

    def _check_manifest(self) -> tuple[str, str]:
        manifest = self._json("manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _error(f"manifest.json does not describe a {FORMAT}")
        self.manifest = manifest
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
        check_file_hashes(self.files, listed, self._allowed)
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
        notes = name_notes(expected)
        if (self.manifest.get("names") or {}) != notes:
            raise _fail("manifest.json's names do not say how the ballot files show the candidates' names "
                        f"(they show {notes or 'every name as itself'})")
        mapped = f"; names shown otherwise are listed in manifest.json ({', '.join(notes)})" if notes else ""
        return OK, ", ".join(BALLOT_FORMAT_FILES) + " agree" + mapped

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
        return OK, check_chain(self.entries)

    def _check_proofs(self) -> tuple[str, str]:
        head = self._json("head.json")
        by_seq = read_head_and_proofs(head, self._json("proofs.json"))
        self.head = head
        if set(by_seq) != {e.seq for e in self.entries}:
            raise _fail("proofs.json does not hold exactly one proof per log entry")
        check_inclusion(self.entries, by_seq, head)
        return OK, f"{len(self.entries)} entries included in the tree of {head['tree_size']} entries, " \
                   f"root {head['root_hash']}"

    def _check_signature(self) -> tuple[str, str]:
        return check_signature(self.head, self.files.get("public_key.pem"), self.public_key)

    def _check_published_head(self) -> tuple[str, str]:
        return check_published_head(self.expected_head_root, self.head)

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
