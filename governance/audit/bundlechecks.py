"""Checks every bundle makes: its zip, its log's chain, the Merkle inclusion proofs, the head's
signature and the independently published head.

Shared by the poll verifiers (``verifier``, ``encrypted``) and the document verifier
(``documents``). Boundary rule: standard library and ``governance.audit`` only. Each function
raises ``_fail``/``_error`` (see ``report``) or returns what the check found.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import merkle
from .canonical import AuditError, sha256_hex
from .chain import ChainError, Entry, verify_segment
from .report import OK, SKIP, WARN, _error, _fail
from .signing import SignatureError, is_signed, key_id, load_public_key, validate_head, verify_head

__all__ = ["read_zip", "check_file_hashes", "check_chain", "check_inclusion", "check_published_head", "check_signature", "read_head_and_proofs"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: A bundle is read into memory: refuse archives that claim to unpack to absurd sizes (before reading them).
MAX_FILE = 256 * 1024 * 1024
MAX_TOTAL = 1024 * 1024 * 1024


def read_zip(data: bytes, *, max_file: int = MAX_FILE, max_total: int = MAX_TOTAL) -> dict[str, bytes]:
    """Every file of the zip by name; refuses duplicates, directories and contents over the bounds."""
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            duplicates = sorted(n for n, k in Counter(i.filename for i in infos).items() if k > 1)
            if duplicates:
                raise _fail(f"the zip holds {duplicates[0]} more than once")
            if any(i.file_size > max_file for i in infos) or sum(i.file_size for i in infos) > max_total:
                raise _error("the zip unpacks to more than a bundle can hold")
            for info in infos:
                if info.is_dir():
                    raise _fail(f"the zip holds a directory, {info.filename}, which the format has not")
                files[info.filename] = zf.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise _error(f"not a readable zip file ({exc})") from None
    if "manifest.json" not in files:
        raise _error("manifest.json is missing: this is not an audit bundle")
    return files


def check_file_hashes(files: Mapping[str, bytes], listed: Mapping[str, Mapping[str, Any]],
                      allowed: Callable[[str], bool]) -> None:
    """Every file the manifest lists is one the format has and matches its SHA-256 and size."""
    for name in sorted(listed):
        if not allowed(name):
            raise _fail(f"{name} is not a file of the bundle format (extra file)")
        data = files[name]
        if len(data) != listed[name]["size"] or sha256_hex(data) != listed[name]["sha256"]:
            raise _fail(f"{name} does not match its SHA-256 and size in the manifest: it was changed")


def check_chain(entries: Sequence[Entry]) -> str:
    """Each entry's hash matches its contents and links to the one before; a summary."""
    if not entries:
        raise _error("log.jsonl holds no entries")
    try:
        verify_segment(list(entries))
    except ChainError as exc:
        raise _fail(str(exc)) from None
    return f"{len(entries)} entries (seq {entries[0].seq}..{entries[-1].seq})"


def read_head_and_proofs(head: Any, proofs: Any) -> dict[int, list[bytes]]:
    """Validate ``head.json`` and ``proofs.json`` (made for that head); each entry's proof by seq."""
    try:
        validate_head(head)
    except AuditError as exc:
        raise _error(f"head.json: {exc}") from None
    if not isinstance(proofs, dict) or not isinstance(proofs.get("entries"), list):
        raise _error("proofs.json must be an object with an entries list")
    if proofs.get("tree_size") != head["tree_size"] or proofs.get("root_hash") != head["root_hash"]:
        raise _fail("proofs.json was made for another tree head than head.json")
    by_seq: dict[int, list[bytes]] = {}
    for item in proofs["entries"]:
        if (not isinstance(item, dict) or not isinstance(item.get("seq"), int)
                or not isinstance(item.get("proof"), list)
                or not all(isinstance(p, str) and _HEX64.fullmatch(p) for p in item["proof"])):
            raise _error("proofs.json: each entry needs a seq and a proof of 64-hex-digit hashes")
        by_seq[item["seq"]] = [bytes.fromhex(p) for p in item["proof"]]
    return by_seq


def check_inclusion(entries: Sequence[Entry], by_seq: dict[int, list[bytes]], head: dict[str, Any]) -> None:
    """Each entry is in the log under the head, by its inclusion proof."""
    size, root = head["tree_size"], bytes.fromhex(head["root_hash"])
    for entry in entries:
        if not merkle.verify_inclusion(merkle.leaf_hash(entry.leaf), entry.seq, size, by_seq[entry.seq], root):
            raise _fail(f"log entry {entry.seq} is not in the log under the tree head (inclusion proof fails)")


def check_signature(head: dict[str, Any], bundled: bytes | None, given: bytes | None) -> tuple[str, str]:
    """The head's signature, by the key given (OK) or only the one the bundle ships (WARN)."""
    if not is_signed(head):
        if bundled is not None:
            raise _fail("the tree head is unsigned but the bundle ships a public key")
        return WARN, ("the tree head is UNSIGNED: the server had no signing key. Nothing here proves the server "
                      "published this head; compare its root with one published elsewhere (--head or --head-url)")
    key = given if given is not None else bundled
    if key is None:
        raise _error("the tree head is signed but the bundle has no public_key.pem, and no key was given")
    try:
        load_public_key(key)
        verify_head(head, key)
    except SignatureError as exc:
        raise _fail(str(exc)) from None
    except (AuditError, ValueError) as exc:
        which = "the given public key" if given is not None else "public_key.pem"
        raise _error(f"{which} cannot be used: {exc}") from None
    if given is not None:
        return OK, f"signed by the given key {head['key_id']}"
    return WARN, (f"signature verifies with the key shipped in the bundle (key id {key_id(bundled)}); that only "
                  "proves the bundle is self-consistent. Check the key id against the one the server publishes, "
                  "or pass the key with --public-key")


def check_published_head(expected: str | None, head: dict[str, Any]) -> tuple[str, str]:
    """The head's root against one published elsewhere (``--head``/``--head-url``), if given."""
    if expected is None:
        return SKIP, "no independently published head was given (--head or --head-url)"
    expected = expected.strip().lower()
    if expected != head["root_hash"]:
        raise _fail(f"the tree head root {head['root_hash']} is not the published root {expected}")
    return OK, f"root {expected} matches"
