"""Verifying a governed document's audit bundle anywhere, without the server.

Boundary rule: standard library, ``governance.audit`` and the pure document libraries
(``governance.proposals.blocks`` and ``governance.proposals.charter_rules``, which re-classify each
version exactly as the server did); no Flask, SQLModel or database. docs/audit.md §10 describes
the bundle and these checks.

Beyond the log's integrity (chain, proofs, head, signature) it checks that every version's text
is the one the log recorded, that every charter version is the one the log recorded, and that
every adopted version was adopted by a rule the charter in force at that time allowed:

* a **direct publication** (``adopted_by: committee``, after the first version) only of detail
  (re-classified here), only where that charter lets the committee publish detail of the
  document, asked for and announced on the forum before it took effect, and approved by a second
  member other than the one who asked, or left for the charter's waiting period without objection;
* a **referendum** (``adopted_by: poll``) only on the text frozen when the vote opened, at the bar
  of the charter in force then (threshold, strict, quorum, voting days), after that charter's
  discussion period, and only when its recorded figures pass that bar. (The poll's own bundle
  proves the figures from the ballots.)
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from .bundlechecks import (
    check_chain,
    check_file_hashes,
    check_inclusion,
    check_published_head,
    check_signature,
    read_head_and_proofs,
    read_zip,
)
from .canonical import AuditError, sha256_hex
from .chain import Entry
from .report import OK, WARN, VerifyReport, _error, _fail, run_checks

FORMAT = "governance-document-bundle"
FORMAT_VERSION = 1
CHARTER_SLUG = "charter"
FIXED_FILES = ("document.json", "charters.json", "changes.json", "log.jsonl", "proofs.json", "head.json")
_OPTIONAL = ("public_key.pem",)
_TEXT_FILE = re.compile(r"(version-\d{4,}|amendment-\d+)\.md")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_FILE = 64 * 1024 * 1024
_MAX_TOTAL = 512 * 1024 * 1024

CHECKS = (
    ("bundle", "The bundle is a readable zip file"),
    ("manifest", "Every file matches its SHA-256 and size in manifest.json; none missing or extra"),
    ("chain", "Each log entry's hash matches its contents and links to the entry before it"),
    ("proofs", "Each log entry is in the log under the tree head (Merkle inclusion proofs)"),
    ("signature", "The tree head is signed by the server's key"),
    ("published_head", "The tree head is the one published independently"),
    ("texts", "Every version's and amendment's text is the one the log recorded (SHA-256)"),
    ("charters", "Every charter version is the one the log recorded, in order"),
    ("adoption", "Every version was adopted by a rule the charter in force at that time allowed"),
)


def is_document_bundle(data_or_path: bytes | str | Path) -> bool:
    """Whether the zip's manifest says it is a document bundle (False for anything unreadable)."""
    try:
        data = Path(data_or_path).read_bytes() if isinstance(data_or_path, (str, Path)) else bytes(data_or_path)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def verify_document_bundle(data_or_path: bytes | str | Path, *, expected_head_root: str | None = None,
                           public_key: bytes | str | None = None) -> VerifyReport:
    """Verify a document bundle and report every check up to the first problem (never raises for bad input)."""
    return _Verifier(data_or_path, expected_head_root, public_key).run()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _charter_sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _passes(figures: dict[str, Any], bar: dict[str, Any]) -> tuple[bool, str]:
    """Whether recorded yes/no/abstain figures pass a bar (quorum counts abstentions; threshold yes/(yes+no))."""
    yes, no, abstain = (int(figures.get(k) or 0) for k in ("yes", "no", "abstain"))
    if yes + no + abstain < int(bar.get("quorum", 0)):
        return False, f"{yes + no + abstain} ballots, below the quorum of {bar.get('quorum')}"
    if yes + no == 0:
        return False, "no vote for or against"
    share, threshold = Fraction(yes, yes + no), Fraction(str(bar["threshold"]))
    ok = share > threshold if bar.get("strict") else share >= threshold
    return ok, f"yes {yes}, no {no}: {'more than' if bar.get('strict') else 'at least'} {bar['threshold']} " \
               f"{'is' if ok else 'is not'} met"


class _Verifier:
    """The checks of ``verify_document_bundle``; each ``_check_<name>`` returns (status, detail) or raises."""

    def __init__(self, source, expected_head_root, public_key) -> None:
        self.source = source
        self.expected_head_root = expected_head_root
        self.public_key = public_key
        self.files: dict[str, bytes] = {}
        self.entries: list[Entry] = []
        self.head: dict[str, Any] = {}
        self.document: dict[str, Any] = {}
        self.charters: dict[int, dict[str, Any]] = {}

    def run(self) -> VerifyReport:
        report = run_checks(self, CHECKS)
        report.head = self.head or None
        return report

    # --- helpers ---------------------------------------------------------------------------

    def _json(self, name: str) -> Any:
        try:
            return json.loads(self.files[name].decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _error(f"{name} is not valid JSON: {exc}") from None

    def _of(self, type_: str, **payload: Any) -> list[Entry]:
        return [e for e in self.entries if e.type == type_
                and all(e.payload.get(k) == v for k, v in payload.items())]

    def _charter_at(self, seq: int) -> tuple[int, dict[str, Any]]:
        """The charter in force just before log entry ``seq`` (the newest charter.changed before it)."""
        before = [e for e in self.entries if e.type == "charter.changed" and e.seq < seq]
        if not before:
            raise _fail(f"no charter version was in force before log entry {seq}")
        number = before[-1].payload.get("version")
        if number not in self.charters:
            raise _fail(f"charter version {number} (in force at log entry {seq}) is not in charters.json")
        return number, self.charters[number]

    @staticmethod
    def _rule(charter: dict[str, Any], slug: str) -> dict[str, Any]:
        from governance.polls.charter_schema import normalized

        for doc in normalized(charter).get("documents") or []:
            if doc.get("slug") == slug:
                return doc
        raise _fail(f"the charter in force had no rule for the document {slug!r}")

    # --- checks ----------------------------------------------------------------------------

    def _check_bundle(self) -> tuple[str, str]:
        try:
            data = Path(self.source).read_bytes() if isinstance(self.source, (str, Path)) else bytes(self.source)
        except OSError as exc:
            raise _error(f"cannot read {self.source}: {exc.strerror or exc}") from None
        self.files.update(read_zip(data, max_file=_MAX_FILE, max_total=_MAX_TOTAL))
        return OK, f"{len(self.files)} files, {len(data)} bytes"

    def _check_manifest(self) -> tuple[str, str]:
        manifest = self._json("manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _error(f"manifest.json does not describe a {FORMAT}")
        if manifest.get("version") != FORMAT_VERSION:
            raise _error(f"bundle format version {manifest.get('version')!r} is not supported")
        listed = manifest.get("files")
        if not isinstance(listed, dict) or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                                   and isinstance(v.get("size"), int) for v in listed.values()):
            raise _error("manifest.json files must map each file name to its sha256 and size")
        present = set(self.files) - {"manifest.json"}
        for name in FIXED_FILES:
            if name not in present:
                raise _error(f"{name} is missing from the bundle")
        for name in sorted(present ^ set(listed)):
            raise _fail(f"{name} is {'in the bundle but not in the manifest' if name in present else 'listed but missing'}")
        check_file_hashes(self.files, listed, lambda name: name in FIXED_FILES or name in _OPTIONAL
                          or bool(_TEXT_FILE.fullmatch(name)))
        return OK, f"{len(listed)} files match"

    def _check_chain(self) -> tuple[str, str]:
        data = self.files["log.jsonl"]
        if data and not data.endswith(b"\n"):
            raise _error("log.jsonl does not end with a newline")
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            try:
                self.entries.append(Entry.from_dict(json.loads(line.decode("utf-8"))))
            except (UnicodeDecodeError, ValueError, AuditError) as exc:
                raise _error(f"log.jsonl line {number}: {exc}") from None
        return OK, check_chain(self.entries)

    def _check_proofs(self) -> tuple[str, str]:
        head = self._json("head.json")
        by_seq = read_head_and_proofs(head, self._json("proofs.json"))
        self.head = head
        proofs = self._json("proofs.json")
        size = head["tree_size"]
        covered = [e for e in self.entries if e.seq < size]
        newer = [e.seq for e in self.entries if e.seq >= size]
        if set(by_seq) != {e.seq for e in covered}:
            raise _fail("proofs.json does not hold exactly one proof per log entry the head covers")
        if sorted(proofs.get("not_yet_covered") or []) != newer:
            raise _fail("proofs.json does not list exactly the entries newer than the head")
        check_inclusion(covered, by_seq, head)
        if newer:
            return WARN, (f"{len(covered)} entries included under root {head['root_hash']}; {len(newer)} newer "
                          "entries are not covered by a head yet (only their chain links are checked)")
        return OK, f"{len(covered)} entries included in the tree of {size} entries, root {head['root_hash']}"

    def _check_signature(self) -> tuple[str, str]:
        return check_signature(self.head, self.files.get("public_key.pem"), self.public_key)

    def _check_published_head(self) -> tuple[str, str]:
        return check_published_head(self.expected_head_root, self.head)

    def _check_texts(self) -> tuple[str, str]:
        document = self._json("document.json")
        if not isinstance(document, dict) or not isinstance(document.get("versions"), list):
            raise _error("document.json must be an object with a versions list")
        self.document = document
        slug = document["slug"]
        numbers = [v["number"] for v in document["versions"]]
        if numbers != list(range(1, len(numbers) + 1)) or document.get("current_version") != len(numbers):
            raise _fail(f"the versions are not numbered 1..{document.get('current_version')} without gaps")
        for v in document["versions"]:
            text = self.files.get(v["file"])
            if text is None:
                raise _error(f"{v['file']} is missing")
            if sha256_hex(text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")) != v["sha256"]:
                raise _fail(f"version {v['number']}: {v['file']} does not hash to the SHA-256 document.json lists")
            published = self._of("document.version_published", document=slug, version=v["number"])
            if len(published) != 1:
                raise _fail(f"version {v['number']} has {len(published)} publication entries in the log, not one")
            if published[0].payload.get("sha256") != v["sha256"]:
                raise _fail(f"version {v['number']}'s text is not the one the log recorded (SHA-256 differs)")
            if published[0].payload.get("adopted_by") not in (v["adopted_by"], "initial"):
                raise _fail(f"version {v['number']} says it was adopted by {v['adopted_by']}, the log says "
                            f"{published[0].payload.get('adopted_by')}")
            v["_entry"] = published[0]
        for a in document.get("amendments") or []:
            if sha256_hex(self.files[a["file"]]) != a["sha256"]:
                raise _fail(f"amendment {a['id']}: {a['file']} does not hash to its listed SHA-256")
        return OK, f"{len(numbers)} versions of {slug}, each the text the log recorded"

    def _check_charters(self) -> tuple[str, str]:
        listed = self._json("charters.json")
        if not isinstance(listed, dict) or not isinstance(listed.get("versions"), list):
            raise _error("charters.json must be an object with a versions list")
        changed = self._of("charter.changed")
        for v in listed["versions"]:
            if _charter_sha(v["data"]) != v["sha256"]:
                raise _fail(f"charter version {v['number']}'s data does not hash to its listed SHA-256")
            entries = [e for e in changed if e.payload.get("version") == v["number"]]
            if len(entries) != 1 or entries[0].payload.get("sha256") != v["sha256"]:
                raise _fail(f"charter version {v['number']} is not the one the log recorded")
            self.charters[v["number"]] = v["data"]
        order = [e.payload.get("version") for e in changed]
        if order != list(range(1, len(order) + 1)) or set(order) != set(self.charters):
            raise _fail("the log's charter versions do not run 1, 2, 3 ... or differ from charters.json")
        if self.document["slug"] == CHARTER_SLUG:
            from governance.proposals import charter_rules

            for v in self.document["versions"]:
                try:
                    data = charter_rules.parse(self.files[v["file"]].decode("utf-8"))
                except (UnicodeDecodeError, charter_rules.CharterTextError) as exc:
                    raise _fail(f"charter text version {v['number']} is not a charter's rendering: {exc}") from None
                if _charter_sha(data) != _charter_sha(self.charters.get(v["number"])):
                    raise _fail(f"charter text version {v['number']} is not charter version {v['number']}")
        return OK, f"{len(self.charters)} charter versions, each the one the log recorded"

    def _check_adoption(self) -> tuple[str, str]:
        slug = self.document["slug"]
        versions = self.document["versions"]
        counts = Counter()
        for v in versions[1:]:
            previous = versions[v["number"] - 2]
            kind = self._classify(previous, v)
            listed = (v.get("classification") or {}).get("kind")
            if listed != kind:
                raise _fail(f"version {v['number']} is listed as {listed}, but it is a {kind} of version "
                            f"{previous['number']}")
            if v["adopted_by"] == "committee":
                self._committee(slug, v, kind)
            elif v["adopted_by"] == "poll":
                self._referendum(slug, v, previous, kind)
            else:
                raise _fail(f"version {v['number']} names no rule that adopted it ({v['adopted_by']!r})")
            counts[v["adopted_by"]] += 1
        return OK, (f"version 1 is the first import; {counts['committee']} direct publication(s) of detail with "
                    f"the two-person rule, {counts['poll']} by referendum at the bar in force")

    # --- adoption rules --------------------------------------------------------------------

    def _classify(self, old: dict[str, Any], new: dict[str, Any]) -> str:
        if self.document["slug"] == CHARTER_SLUG:
            from governance.proposals import charter_rules

            return charter_rules.classify(self.charters[old["number"]], self.charters[new["number"]])["kind"]
        from governance.proposals.blocks import classify

        return classify(self.files[old["file"]].decode("utf-8"), self.files[new["file"]].decode("utf-8")).kind

    def _committee(self, slug: str, v: dict[str, Any], kind: str) -> None:
        entry: Entry = v["_entry"]
        n = v["number"]
        if kind != "detail":
            raise _fail(f"version {n} was published directly by the committee but it is a {kind}: only detail may be")
        approval = entry.payload.get("approval")
        if not isinstance(approval, dict):
            raise _fail(f"version {n} was published directly with no second approver or waiting period on record")
        change = approval.get("change")
        requested = self._of("change.requested", change=change)
        if len(requested) != 1 or requested[0].seq > entry.seq:
            raise _fail(f"version {n}: the publication request {change} is not in the log before it took effect")
        request = requested[0]
        if request.payload.get("sha256") != v["sha256"]:
            raise _fail(f"version {n} is not the text its publication request {change} asked for")
        if request.actor != approval.get("requested_by"):
            raise _fail(f"version {n}: the request was made by {request.actor}, not {approval.get('requested_by')}")
        # The charter in force when it was asked for, and (for a document other than the charter,
        # whose own new version is in force by then) when it took effect, must both allow it.
        moments = [request.seq] + ([entry.seq] if slug != CHARTER_SLUG else [])
        for moment in moments:
            number, charter = self._charter_at(moment)
            rule = self._rule(charter, slug)
            if "detail" not in (rule.get("committee_may_publish") or []):
                raise _fail(f"version {n}: charter version {number} did not let the committee publish detail of "
                            f"{slug}")
        number, charter = self._charter_at(request.seq)
        announced = [e for e in self._of("change.announced", change=change) if e.seq < entry.seq]
        if not announced:
            raise _fail(f"version {n} took effect before the forum notice of request {change} was posted")
        approved = [e for e in self._of("change.approved", change=change) if e.seq < entry.seq]
        if approved:
            if approved[0].actor == request.actor or approved[0].actor is None:
                raise _fail(f"version {n}: request {change} was approved by the member who made it")
            return
        stopped = [e for e in self.entries if e.type in ("change.objected", "change.withdrawn")
                   and e.payload.get("change") == change and e.seq < entry.seq]
        waiting = request.payload.get("waiting_days")
        from governance.polls.charter_schema import normalized

        allowed = normalized(charter)["rules"]["publication"].get("waiting_days")
        if waiting is None or allowed is None or waiting < allowed:
            raise _fail(f"version {n}: no second member approved request {change}, and the charter in force "
                        "allowed no (such) waiting period")
        if stopped:
            raise _fail(f"version {n}: request {change} was objected to, yet took effect")
        if _time(entry.created_at) < _time(request.created_at) + timedelta(days=waiting):
            raise _fail(f"version {n} took effect before the waiting period of request {change} had passed")

    def _referendum(self, slug: str, v: dict[str, Any], previous: dict[str, Any], kind: str) -> None:
        n, poll = v["number"], v.get("poll")
        started = self._of("amendment.voting_started", poll=poll)
        if len(started) != 1:
            raise _fail(f"version {n}: the log does not show referendum {poll} being put to the vote (once)")
        start = started[0].payload
        if start.get("base") != previous["number"] or start.get("base_sha256") != previous["sha256"]:
            raise _fail(f"version {n}: referendum {poll} was not on version {previous['number']} as the base")
        if start.get("sha256") != v["sha256"]:
            raise _fail(f"version {n} is not the text frozen when referendum {poll} opened")
        number, charter = self._charter_at(started[0].seq)
        if start.get("charter_version") not in (None, number):
            raise _fail(f"version {n}: referendum {poll} names charter version {start.get('charter_version')}, but "
                        f"version {number} was in force")
        rule = self._rule(charter, slug)
        bar = rule.get(kind)
        if bar is None:
            raise _fail(f"version {n}: charter version {number} accepted no {kind} of {slug}")
        for key in ("threshold", "strict", "quorum", "voting_days"):
            if key in start and str(start[key]) != str(bar.get(key, 0 if key == "quorum" else None)):
                raise _fail(f"version {n}: referendum {poll} ran with {key} {start[key]}, but charter version "
                            f"{number} set {bar.get(key)} for a {kind}")
        if start.get("kind") not in (None, kind):
            raise _fail(f"version {n}: referendum {poll} was put to the vote as {start.get('kind')}, it is a {kind}")
        from governance.polls.charter_schema import normalized

        days = normalized(charter)["rules"]["discussion_days"].get(kind, 0)
        if start.get("discussion_opened") and _time(started[0].created_at) < \
                _time(start["discussion_opened"]) + timedelta(days=days):
            raise _fail(f"version {n}: referendum {poll} opened before the {days}-day discussion period ended")
        adopted = [e for e in self._of("amendment.adopted", poll=poll)]
        if len(adopted) != 1 or adopted[0].payload.get("version") != n:
            raise _fail(f"version {n}: the log does not record referendum {poll} adopting it")
        if adopted[0].payload.get("result_hash") != v.get("result_hash"):
            raise _fail(f"version {n}: the result hash differs from the one the log recorded for referendum {poll}")
        ok, why = _passes(adopted[0].payload, bar)
        if not ok:
            raise _fail(f"version {n}: referendum {poll} did not pass the bar of charter version {number}: {why}")
