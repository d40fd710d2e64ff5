"""Audit bundles of polls with encrypted ballots (format 2): building them, verifying them anywhere.

Boundary rule: standard library, ``cryptography`` (through ``signing``), ``governance.crypto`` and
``governance.tally`` only; no Flask, SQLModel or SQLAlchemy, so an auditor runs the verifier
without the server. ``docs/audit.md`` (section "Format 2") specifies the files and the checks;
``docs/crypto.md`` the ciphertexts, proofs, mixes and decryption.

A format 2 bundle holds everything from the cast ballots to the count: the bulletin board (every
accepted encrypted ballot with its credential), every mix with its proof of shuffle, every
decryption share with its proof, the decoded ballots, and the poll's signed log entries. The
verifier checks that the board is exactly what the log recorded (every ballot entry is signed
with the platform's audit key), that every ballot's proof holds for its credential and this
poll, that the first mix's input is the last ballot of each credential, every shuffle, every
share, the decoding, and counts again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import merkle
from .bundle import (
    BALLOT_FORMAT_FILES,
    Codec,
    Tallier,
    _check_ballot_names,
    _check_election,
    _compare_results,
    _pretty_json,
    _profile,
    _results_csv,
    _results_text,
    _zip,
    default_codecs,
    default_tallier,
    electorate_hash,
    name_notes,
    normalize_results,
)
from .canonical import AuditError, canonical_json, sha256_hex
from .chain import Entry
from .report import OK, SKIP, WARN, _error, _fail
from .signing import SignatureError, is_signed, load_public_key, validate_head, verify_entry, verify_head
from .verifier import RULES_TITLE, _Verifier

FORMAT_VERSION = 2

#: Every fixed file besides manifest.json; public_key.pem is present exactly when the head is
#: signed; mix-<k>.bin and shares-<j>.bin hold the mixes' outputs and the decryption factors.
BUNDLE_FILES = (
    "election.json",
    "board.jsonl",
    "mixes.json",
    "decryption.json",
    "ballots.jsonl",
    *BALLOT_FORMAT_FILES,
    "electorate.json",
    "results.json",
    "results.txt",
    "results.csv",
    "log.jsonl",
    "signatures.json",
    "proofs.json",
    "head.json",
    "public_key.pem",
)
_BINARY = re.compile(r"(mix|shares)-([1-9][0-9]{0,3})\.bin")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CREDENTIAL = re.compile(r"[0-9a-f]{32}")

CAST_TYPES = ("ballot.cast", "ballot.replaced")
CLOSED_TYPE = "poll.closed"
MIX_TYPE = "mix.added"
SHARE_TYPE = "decryption.share"
DECRYPTED_TYPE = "poll.decrypted"
TALLIED_TYPE = "poll.tallied"
OPENED_TYPE = "poll.opened"
#: A poll open when ballots became encrypted: its parameters were frozen by this entry (migration).
ENCRYPTED_TYPE = "ballots.encrypted"

#: (name, what the check establishes), in the order they run.
CHECKS = (
    ("bundle", "The bundle is a readable zip file"),
    ("manifest", "Every file matches its SHA-256 and size in manifest.json; none missing or extra"),
    ("election", "election.json describes a countable poll and its frozen election parameters"),
    ("chain", "Each log entry's hash matches its contents and links to the entry before it"),
    ("proofs", "Each log entry is in the log under the tree head (Merkle inclusion proofs)"),
    ("signature", "The tree head is signed by the server's key"),
    ("entry_signatures", "Every log entry of the poll is signed by the same key"),
    ("published_head", "The tree head is the one published independently"),
    ("board", "The bulletin board holds exactly the ballots the log recorded, each hashing to its tracker"),
    ("ballot_proofs", "Every ballot's proof holds for its credential and this poll"),
    ("mix_input", "The first mix shuffled exactly the last ballot of each credential, as poll.closed committed"),
    ("mixes", "Every mix is a re-encryption of a permutation of its input (proofs of shuffle)"),
    ("decryption", "Enough trustees decrypted the last mix, each with a valid proof"),
    ("decoding", "The decrypted ballots are what the shares give, decoded as the rules say"),
    ("electorate", "electorate.json matches the electorate frozen at opening; one ballot per participant"),
    ("formats", "ballots.blt, ballots.abif and ballots.toi hold the same ballots as ballots.jsonl"),
    ("commitments", "The log's entries commit to these decrypted ballots and results"),
    ("rules", RULES_TITLE),
    ("recount", "Re-counting the ballots gives the published results, round by round"),
    ("receipts", "Each voter receipt given is a ballot of this board, counted unless replaced"),
)


# === Decoding (the rule the server and every verifier apply) ====================================

#: Counting methods (as election.json names them) whose ballots may rank options equally.
EQUAL_RANK_METHODS = frozenset({"schulze", "ranked-pairs", "debian"})


def decode(values: Sequence[int | None] | None, labels: Sequence[str], *, method: str, kind: str,
           equal_ranks: bool) -> tuple[list[list[str]] | None, str]:
    """A decrypted ballot's ranking, or (None, why it is invalid).

    Each option's value is its rank (1 = first, 0 = unranked); ranks may have gaps. Equal ranks
    are valid only for methods that count them (``equal_ranks``); a referendum marks at most one
    of its options.

    >>> decode([2, 1, 2, 0], ("a", "b", "c", "d"), method="schulze", kind="decision", equal_ranks=True)
    ([['b'], ['a', 'c']], '')
    >>> decode([1, 1], ("a", "b"), method="irv", kind="decision", equal_ranks=False)
    (None, 'two options share rank 1')
    >>> decode(None, ("a", "b"), method="irv", kind="decision", equal_ranks=False)
    (None, 'a value does not decode to a rank')
    """
    if values is None or len(values) != len(labels) or any(v is None for v in values):
        return None, "a value does not decode to a rank"
    by_rank: dict[int, list[str]] = {}
    for label, value in zip(labels, values, strict=True):
        if value:
            by_rank.setdefault(int(value), []).append(label)
    if kind == "referendum" and sum(len(g) for g in by_rank.values()) > 1:
        return None, "more than one choice is marked"
    if not equal_ranks:
        for value in sorted(by_rank):
            if len(by_rank[value]) > 1:
                return None, f"two options share rank {value}"
    return [sorted(by_rank[v]) for v in sorted(by_rank)], ""


def decoded_jsonl(decoded: Iterable[Mapping[str, Any]]) -> bytes:
    """The exact bytes of a format 2 ``ballots.jsonl``: one canonical JSON line per decrypted
    ballot, in the final mix's order: ``{"position", "ranking"}`` or ``{"position", "invalid",
    "values"}``."""
    return b"".join(canonical_json(dict(d)) + b"\n" for d in decoded)


def board_line(item: Mapping[str, Any]) -> bytes:
    """One line of ``board.jsonl``: ``{"seq", "tracker", "credential", "ballot"}``, canonical JSON."""
    return canonical_json({"seq": item["seq"], "tracker": item["tracker"], "credential": item["credential"],
                           "ballot": item["ballot"]}) + b"\n"


# === Building ===================================================================================


def build_encrypted_bundle(
    *,
    election: Mapping[str, Any],
    board: Sequence[Mapping[str, Any]],
    mixes: Sequence[Mapping[str, Any]],
    shares: Sequence[Mapping[str, Any]],
    decoded: Sequence[Mapping[str, Any]],
    electorate: Mapping[str, Any],
    log_entries: Sequence[Entry],
    signatures: Mapping[int, str],
    all_entry_hashes: Sequence[str],
    head: Mapping[str, Any],
    public_key_pem: bytes | None,
    results: Any,
    tallier: Tallier | None = None,
    codecs: Mapping[str, Codec] | None = None,
) -> bytes:
    """Build the format 2 audit bundle (zip bytes) of one counted poll with encrypted ballots.

    ``board``: ``{"seq", "tracker", "credential", "ballot"}`` in log order. ``mixes``:
    ``{"position", "mixer", "input_sha256", "output_sha256", "proof", "output": bytes}``.
    ``shares``: ``{"trustee", "mix_sha256", "proof", "factors": bytes}``. ``decoded``: the
    decrypted ballots in the final mix's order (see ``decoded_jsonl``). The rest as in
    ``bundle.build_bundle``. The count is redone here (cheap); the cryptography was verified when
    each piece was stored, and ``verify_bundle`` checks it all again.
    """
    election = _check_election(dict(election))
    counted = [{"ranking": d["ranking"]} for d in decoded if d.get("ranking") is not None]
    _check_ballot_names([{"tracker": str(d["position"]), "ranking": d["ranking"]}
                         for d in decoded if d.get("ranking") is not None], election["candidates"])
    eligible = list(electorate.get("eligible", ()))
    if "electorate_hash" not in election:
        election["electorate_hash"] = electorate_hash(eligible)
    head = dict(head)
    validate_head(head)
    leaves = [bytes.fromhex(h) for h in all_entry_hashes]
    if len(leaves) != head["tree_size"] or merkle.root(leaves).hex() != head["root_hash"]:
        raise AuditError("the head does not cover the given entry hashes")
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
    recount = normalize_results((tallier or default_tallier)(election, counted))
    problem = _compare_results(published, recount)
    if problem:
        raise AuditError(f"the results do not follow from the decrypted ballots: {problem}")

    files: dict[str, bytes] = {
        "election.json": _pretty_json(election),
        "board.jsonl": b"".join(board_line(b) for b in board),
        "mixes.json": _pretty_json([{"position": m["position"], "mixer": m["mixer"], "input_sha256": m["input_sha256"],
                                     "output_sha256": m["output_sha256"], "proof": m["proof"],
                                     "file": f"mix-{m['position']}.bin"} for m in mixes]),
        "decryption.json": _pretty_json([{"trustee": s["trustee"], "mix_sha256": s["mix_sha256"],
                                          "proof": s["proof"], "file": f"shares-{s['trustee']}.bin"} for s in shares]),
        "ballots.jsonl": decoded_jsonl(decoded),
    }
    for m in mixes:
        files[f"mix-{m['position']}.bin"] = bytes(m["output"])
    for s in shares:
        files[f"shares-{s['trustee']}.bin"] = bytes(s["factors"])
    codecs = default_codecs() if codecs is None else codecs
    profile = _profile(election, counted)
    for filename in BALLOT_FORMAT_FILES:
        files[filename] = codecs[filename].write(profile).encode("utf-8")
    files["electorate.json"] = _pretty_json({
        "eligible": sorted((dict(m) for m in eligible), key=lambda m: m["username"]),
        "participants": sorted(electorate.get("participants", ())),
    })
    files["results.json"] = canonical_json(published)
    files["results.txt"] = _results_text(election, results, published).encode("utf-8")
    files["results.csv"] = _results_csv(results, published).encode("utf-8")
    files["log.jsonl"] = b"".join(canonical_json(e.to_dict()) + b"\n" for e in entries)
    files["signatures.json"] = _pretty_json({"entries": [{"seq": e.seq, "signature": signatures.get(e.seq) or None}
                                                         for e in entries]})
    files["proofs.json"] = _pretty_json({
        "tree_size": head["tree_size"], "root_hash": head["root_hash"],
        "entries": [{"seq": e.seq, "leaf_index": e.seq, "proof": [p.hex() for p in proof]}
                    for e, proof in zip(entries, proofs, strict=True)],
    })
    files["head.json"] = _pretty_json(head)
    if public_key_pem is not None:
        files["public_key.pem"] = public_key_pem
    return _zip(files, version=FORMAT_VERSION, names=name_notes(profile))


# === Verifying ==================================================================================


def _crypto():
    try:
        from governance import crypto
    except ImportError:  # pragma: no cover - the package ships with it
        raise _error("this installation has no governance.crypto: it cannot check encrypted ballots") from None
    return crypto


class EncryptedVerifier(_Verifier):
    """The checks of a format 2 bundle (see ``CHECKS``); options: ``receipts``, ``workers``, ``progress``."""

    CHECKS = CHECKS
    VERSION = FORMAT_VERSION
    REQUIRED_FILES = BUNDLE_FILES

    def _allowed(self, name: str) -> bool:
        return name in BUNDLE_FILES or bool(_BINARY.fullmatch(name))

    @property
    def _workers(self) -> int:
        return int(self.options.get("workers") or 1)

    def _progress(self, step: str, done: int, total: int) -> None:
        report: Callable[[str, int, int], None] | None = self.options.get("progress")
        if report is not None:
            report(step, done, total)

    # --- the election and the log ----------------------------------------------------------

    def _check_election(self) -> tuple[str, str]:
        status, detail = super()._check_election()
        crypto = _crypto()
        election = self.election
        try:
            self.params = crypto.ElectionParams.from_dict(election.get("crypto"))
        except (crypto.CryptoError, TypeError, ValueError, KeyError) as exc:
            raise _error(f"election.json: the election parameters are unusable ({exc})") from None
        if self.params.fingerprint() != election.get("fingerprint"):
            raise _fail("election.json: the election parameters do not hash to the fingerprint given")
        if list(self.params.options) != list(election["candidates"]):
            raise _fail("election.json: the parameters' options are not the poll's candidates in ballot order")
        if self.params.poll != election.get("poll"):
            raise _fail("election.json: the parameters belong to another poll")
        self.width = len(self.params.options)
        mode = election.get("key_mode")
        return status, f"{detail}; ballots encrypted ({mode} key, {self.params.threshold} of " \
                       f"{len(self.params.trustees)} to decrypt), fingerprint {self.params.fingerprint()[:16]}"

    def _entries_of(self, *types: str) -> list[Entry]:
        return [e for e in self.entries if e.type in types]

    def _check_entry_signatures(self) -> tuple[str, str]:
        data = self._json("signatures.json")
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise _error("signatures.json must be an object with an entries list")
        by_seq: dict[int, Any] = {}
        for item in data["entries"]:
            if not isinstance(item, dict) or not isinstance(item.get("seq"), int):
                raise _error("signatures.json: each entry needs a seq")
            by_seq[item["seq"]] = item.get("signature")
        if set(by_seq) != {e.seq for e in self.entries}:
            raise _fail("signatures.json does not hold exactly one signature slot per log entry")
        if not is_signed(self.head):
            if any(by_seq.values()):
                raise _fail("the entries are signed but the tree head is not")
            return WARN, ("the log entries are UNSIGNED (the server had no signing key): someone with the "
                          "database could have rewritten the poll's log before the close")
        key = self.public_key if self.public_key is not None else self.files.get("public_key.pem")
        try:
            public = load_public_key(key)
        except (AuditError, ValueError, TypeError) as exc:
            raise _error(f"no usable public key for the entries' signatures ({exc})") from None
        signed = 0
        for entry in self.entries:
            signature = by_seq[entry.seq]
            # A ballot entry is signed when it is accepted; an entry from before entries were signed
            # (a poll opened before) may have none, since a later signed entry covers it.
            if not signature and entry.type not in CAST_TYPES and (signed == 0 or entry.type == ENCRYPTED_TYPE):
                continue
            try:
                verify_entry(public, entry.seq, entry.hash, signature)
            except SignatureError as exc:
                raise _fail(str(exc)) from None
            signed += 1
        if not signed:
            raise _fail("no log entry of the poll is signed, though the tree head is")
        return OK, f"{signed} of {len(self.entries)} entries signed, every ballot entry among them"

    # --- the board -------------------------------------------------------------------------

    def _check_board(self) -> tuple[str, str]:
        crypto = _crypto()
        cast = {e.seq: e for e in self._entries_of(*CAST_TYPES)}
        closed = self._entries_of(CLOSED_TYPE)
        if not closed:
            raise _fail(f"the log has no {CLOSED_TYPE} entry: the poll never closed")
        self.closed = closed[-1]
        late = [seq for seq in cast if seq > self.closed.seq]
        if late:
            raise _fail(f"log entry {late[0]} records a ballot after the poll closed (entry {self.closed.seq})")
        self.board: list[dict[str, Any]] = []
        seen: set[int] = set()
        for number, line, item in self._lines("board.jsonl"):
            where = f"board.jsonl line {number}"
            if not isinstance(item, dict) or set(item) != {"seq", "tracker", "credential", "ballot"}:
                raise _error(f"{where}: a board entry has exactly seq, tracker, credential and ballot")
            if canonical_json(item) + b"\n" != line + b"\n":
                raise _fail(f"{where} is not written in canonical JSON")
            seq, tracker, cred = item["seq"], item["tracker"], item["credential"]
            if not isinstance(seq, int) or seq in seen:
                raise _fail(f"{where}: log entry {seq!r} is on the board twice or is not a number")
            if not isinstance(cred, str) or not _CREDENTIAL.fullmatch(cred):
                raise _error(f"{where}: the credential must be 32 lowercase hex digits")
            entry = cast.get(seq)
            if entry is None:
                raise _fail(f"{where}: ballot {str(tracker)[:16]} is on the board but no ballot entry {seq} "
                            "of the log recorded it (a ballot was added)")
            try:
                computed = crypto.tracker(item["ballot"])
            except (crypto.CryptoError, TypeError, ValueError) as exc:
                raise _fail(f"{where}: the ballot is malformed ({exc})") from None
            if computed != tracker:
                raise _fail(f"{where}: the ballot does not hash to its tracker {str(tracker)[:16]}: the ballot was "
                            "changed after it was cast")
            if entry.payload.get("tracker") != tracker or entry.payload.get("credential") != cred:
                raise _fail(f"{where}: log entry {seq} recorded ballot {str(entry.payload.get('tracker'))[:16]}, "
                            f"not {tracker[:16]}: the ballot was changed after it was cast")
            seen.add(seq)
            self.board.append(item)
        missing = sorted(set(cast) - seen)
        if missing:
            tracker = cast[missing[0]].payload.get("tracker", "")
            raise _fail(f"ballot {str(tracker)[:16]} (log entry {missing[0]}) is missing from the board "
                        "(a ballot was deleted)")
        if [b["seq"] for b in self.board] != sorted(seen):
            raise _fail("board.jsonl is not in the log's order")
        # The last ballot of each credential counts; a replacement must name the one it replaces.
        live: dict[str, str] = {}
        by_tracker: dict[str, dict[str, Any]] = {}
        for item in self.board:
            entry = cast[item["seq"]]
            cred, tracker = item["credential"], item["tracker"]
            if tracker in by_tracker:
                raise _fail(f"tracker {tracker[:16]} is on the board twice")
            replaces = entry.payload.get("replaces")
            if entry.type == "ballot.replaced":
                if live.get(cred) != replaces:
                    raise _fail(f"log entry {entry.seq} replaces {str(replaces)[:16]}, which was not that "
                                "credential's ballot")
            elif cred in live:
                raise _fail(f"log entry {entry.seq} casts a second ballot for a credential without replacing the first")
            live[cred] = tracker
            by_tracker[tracker] = item
        self.live = sorted((by_tracker[t] for t in live.values()), key=lambda b: b["tracker"])
        self.superseded = {t for t in by_tracker if t not in set(live.values())}
        return OK, f"{len(self.board)} ballots accepted, {len(self.live)} counting (the last of each credential)"

    def _check_ballot_proofs(self) -> tuple[str, str]:
        crypto = _crypto()
        total = len(self.board)
        bad = crypto.verify_ballots(self.params, [(item["ballot"], item["credential"]) for item in self.board],
                                    workers=self._workers,
                                    progress=lambda done, _total: self._progress("ballot proofs", done, total))
        if bad is not None:
            item = self.board[bad[0]]
            raise _fail(f"ballot {item['tracker'][:16]} (log entry {item['seq']}): {bad[1]}")
        return OK, f"{total} ballot proofs hold, each bound to its credential and this poll"

    # --- mixes and decryption --------------------------------------------------------------

    def _check_mix_input(self) -> tuple[str, str]:
        crypto = _crypto()
        self.mix_input = crypto.pack([crypto.ballot_ciphertexts(b["ballot"]) for b in self.live])
        payload = self.closed.payload
        if payload.get("mix_input_sha256") != sha256_hex(self.mix_input):
            raise _fail(f"the live ballots are not the mix input that log entry {self.closed.seq} "
                        f"({CLOSED_TYPE}) committed to")
        if payload.get("ballots") != len(self.live):
            raise _fail(f"log entry {self.closed.seq} records {payload.get('ballots')} ballots, not {len(self.live)}")
        return OK, f"{len(self.live)} ballots, sorted by tracker, as entry {self.closed.seq} committed"

    def _binary(self, name: str) -> bytes:
        if name not in self.files:
            raise _error(f"{name} is missing from the bundle")
        return self.files[name]

    def _check_mixes(self) -> tuple[str, str]:
        crypto = _crypto()
        listed = self._json("mixes.json")
        if not isinstance(listed, list) or not listed:
            raise _fail("mixes.json lists no mix: the ballots were decrypted without being mixed")
        logged = {e.payload.get("position"): e for e in self._entries_of(MIX_TYPE)}
        source, mixers = self.mix_input, []
        trustees = {t.index for t in self.params.trustees}
        for number, mix in enumerate(listed, start=1):
            if not isinstance(mix, dict) or mix.get("position") != number:
                raise _error(f"mixes.json: mix {number} is missing or out of order")
            output = self._binary(f"mix-{number}.bin")
            entry = logged.get(number)
            if entry is None:
                raise _fail(f"mix {number} is not recorded in the log")
            want = {"mixer": mix.get("mixer"), "input_sha256": sha256_hex(source),
                    "output_sha256": sha256_hex(output), "proof_sha256": sha256_hex(canonical_json(mix.get("proof")))}
            for key, value in want.items():
                if entry.payload.get(key) != value:
                    raise _fail(f"mix {number}: its {key.replace('_', ' ')} is not what log entry {entry.seq} recorded")
            if mix["mixer"] not in trustees:
                raise _fail(f"mix {number} was made by {mix['mixer']!r}, who is not a trustee of this poll")
            try:
                crypto.verify_shuffle(self.params, crypto.unpack(source, self.width), crypto.unpack(output, self.width),
                                      mix.get("proof"), mixer=mix["mixer"], workers=self._workers)
            except crypto.CryptoError as exc:
                raise _fail(f"mix {number} (trustee {mix['mixer']}): the proof of shuffle fails: {exc}") from None
            self._progress("mixes", number, len(listed))
            source = output
            mixers.append(mix["mixer"])
        if len(logged) != len(listed):
            raise _fail(f"the log records {len(logged)} mixes but the bundle holds {len(listed)}")
        if len(set(mixers)) < self.params.threshold:
            raise _fail(f"only {len(set(mixers))} distinct trustees mixed; the threshold is {self.params.threshold}")
        self.final = source
        return OK, f"{len(listed)} mixes by trustee(s) {', '.join(map(str, mixers))}, every proof of shuffle holds"

    def _check_decryption(self) -> tuple[str, str]:
        crypto = _crypto()
        listed = self._json("decryption.json")
        if not isinstance(listed, list):
            raise _error("decryption.json must be a list")
        logged = {e.payload.get("trustee"): e for e in self._entries_of(SHARE_TYPE)}
        trustees = {t.index for t in self.params.trustees}
        final = crypto.unpack(self.final, self.width)
        self.shares: dict[int, Any] = {}
        for share in listed:
            if not isinstance(share, dict) or not isinstance(share.get("trustee"), int):
                raise _error("decryption.json: each share names its trustee")
            index = share["trustee"]
            if index not in trustees or index in self.shares:
                raise _fail(f"decryption share of {index!r}: not a trustee, or a second share")
            data = self._binary(f"shares-{index}.bin")
            entry = logged.get(index)
            if entry is None:
                raise _fail(f"trustee {index}'s decryption share is not recorded in the log")
            if share.get("mix_sha256") != sha256_hex(self.final) or entry.payload.get("mix_sha256") != sha256_hex(self.final):
                raise _fail(f"trustee {index}'s decryption share is not of the last mix")
            if entry.payload.get("factors_sha256") != sha256_hex(data) or \
                    entry.payload.get("proof_sha256") != sha256_hex(canonical_json(share.get("proof"))):
                raise _fail(f"trustee {index}'s decryption share is not what log entry {entry.seq} recorded")
            try:
                factors = crypto.unpack_factors(data, self.width)
                crypto.verify_decryption_factors(self.params, index, final, factors, share.get("proof"),
                                                 workers=self._workers)
            except crypto.CryptoError as exc:
                raise _fail(f"trustee {index}'s decryption share fails its proof: {exc}") from None
            self.shares[index] = factors
        if len(self.shares) < self.params.threshold:
            raise _fail(f"{len(self.shares)} valid decryption shares; {self.params.threshold} are needed")
        return OK, f"trustee(s) {', '.join(map(str, sorted(self.shares)))} decrypted the last mix; every proof holds"

    def _check_decoding(self) -> tuple[str, str]:
        crypto = _crypto()
        chosen = {i: self.shares[i] for i in sorted(self.shares)[: self.params.threshold]}
        try:
            values = crypto.combine(self.params, crypto.unpack(self.final, self.width), chosen)
        except crypto.CryptoError as exc:
            raise _fail(f"the shares do not combine: {exc}") from None
        labels = list(self.params.options)
        expected = []
        method = self.election["method"]
        for position, row in enumerate(values):
            ranking, invalid = decode(row, labels, method=method, kind=self.election.get("kind", ""),
                                      equal_ranks=method in EQUAL_RANK_METHODS)
            expected.append({"position": position, "ranking": ranking} if ranking is not None else
                            {"position": position, "invalid": invalid, "values": list(row) if row else None})
        if decoded_jsonl(expected) != self.files["ballots.jsonl"]:
            got = self.files["ballots.jsonl"].split(b"\n")
            want = decoded_jsonl(expected).split(b"\n")
            line = next((i for i, (a, b) in enumerate(zip(want, got, strict=False), start=1) if a != b),
                        min(len(want), len(got)))
            raise _fail(f"ballots.jsonl is not what the decryption gives (first difference at line {line})")
        self.ballots = [{"ranking": d["ranking"]} for d in expected if d.get("ranking") is not None]
        invalid = len(expected) - len(self.ballots)
        return OK, f"{len(expected)} ballots decrypted and decoded, {invalid} invalid"

    # --- what follows the decryption -------------------------------------------------------

    def _check_electorate(self) -> tuple[str, str]:
        counted = self.ballots
        self.ballots = self.live  # one ballot per participant: the live ones
        try:
            return super()._check_electorate()
        finally:
            self.ballots = counted

    def _check_commitments(self) -> tuple[str, str]:
        decrypted = self._entries_of(DECRYPTED_TYPE)
        tallied = self._entries_of(TALLIED_TYPE)
        if not decrypted or not tallied:
            raise _fail(f"the log lacks the {DECRYPTED_TYPE} or {TALLIED_TYPE} entry")
        dec, tally = decrypted[-1], tallied[-1]
        if dec.payload.get("decoded_sha256") != sha256_hex(self.files["ballots.jsonl"]):
            raise _fail(f"ballots.jsonl is not the decryption log entry {dec.seq} committed to")
        if tally.payload.get("results_hash") != sha256_hex(self.files["results.json"]):
            raise _fail(f"results.json is not the result log entry {tally.seq} committed to")
        if not (self.closed.seq < dec.seq < tally.seq):
            raise _fail("the log's close, decryption and count are out of order")
        frozen = [e for e in self._entries_of(OPENED_TYPE, ENCRYPTED_TYPE) if "election_fingerprint" in e.payload]
        if not frozen:
            raise _fail("no log entry froze the election parameters")
        if frozen[-1].payload["election_fingerprint"] != self.election.get("fingerprint"):
            raise _fail(f"election.json's parameters are not the ones log entry {frozen[-1].seq} froze")
        opened = self._entries_of(OPENED_TYPE)
        for entry in opened[-1:]:
            for key in ("electorate_hash", "tie_break_seed"):
                if key in entry.payload and entry.payload[key] != self.election.get(key):
                    raise _fail(f"election.json {key} is not the one log entry {entry.seq} froze")
        return OK, f"decryption committed in entry {dec.seq}, results in entry {tally.seq}"

    def _check_receipts(self) -> tuple[str, str]:
        receipts = list(self.options.get("receipts") or ())
        if not receipts:
            return SKIP, "no voter receipt was given (--receipt)"
        by_tracker = {b["tracker"]: b for b in self.board}
        entries = {e.seq: e for e in self.entries}
        replaced = []
        for receipt in receipts:
            tracker = receipt.get("tracker") if isinstance(receipt, dict) else None
            if not isinstance(tracker, str):
                raise _error("a receipt must be the JSON file the receipt page offers")
            item = by_tracker.get(tracker)
            entry = entries.get(receipt.get("seq"))
            if item is None or entry is None or entry.hash != receipt.get("entry_hash"):
                signed = ""
                if receipt.get("signature") and self.files.get("public_key.pem"):
                    try:
                        verify_entry(self.public_key or self.files["public_key.pem"], receipt.get("seq"),
                                     receipt.get("entry_hash"), receipt["signature"])
                        signed = " The receipt's signature is valid: the platform accepted this ballot and then lost it."
                    except (SignatureError, AuditError, ValueError, TypeError):
                        signed = " (The receipt's signature does not verify either.)"
                raise _fail(f"the ballot of receipt {tracker[:16]} is not in this bundle's board and log.{signed}")
            if tracker in self.superseded:
                replaced.append(tracker[:16])
        if replaced:
            return WARN, (f"{len(receipts)} receipt(s) found; {', '.join(replaced)} was replaced by a later ballot "
                          "of the same voter (only the last one counts)")
        return OK, f"{len(receipts)} receipt(s) found on the board, each counted"


__all__ = ["BUNDLE_FILES", "CHECKS", "FORMAT_VERSION", "EncryptedVerifier", "board_line", "build_encrypted_bundle",
           "EQUAL_RANK_METHODS", "decode", "decoded_jsonl"]
