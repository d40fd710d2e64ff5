"""Signed tree heads: Ed25519 signatures over the Merkle root of the event log.

Boundary rule: standard library and ``cryptography`` only; no Flask, SQLModel, SQLAlchemy or other
project imports.

A head is the JSON object ``{tree_size, root_hash, timestamp, signature, key_id}``. The signature
is Ed25519 over the canonical JSON of ``{"root_hash", "timestamp", "tree_size"}`` and is written
as 128 hex digits; ``key_id`` is the first 16 hex digits of SHA-256 of the 32-byte raw public key.
A server without a signing key still publishes heads, with ``signature`` and ``key_id`` null:
an unsigned head can only be trusted by comparing its root with one published elsewhere.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .canonical import AuditError, canonical_json, sha256_hex

__all__ = [
    "SignatureError",
    "entry_message",
    "generate_key",
    "head_message",
    "is_signed",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "sign_entry",
    "sign_head",
    "validate_head",
    "verify_entry",
    "verify_head",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

PrivateKeyInput = bytes | str | Ed25519PrivateKey
PublicKeyInput = bytes | str | Ed25519PublicKey


class SignatureError(AuditError):
    """A tree head is unsigned, signed by another key, or its signature does not verify."""


# === Keys =======================================================================================


def generate_key() -> tuple[bytes, bytes]:
    """Create a new Ed25519 key pair and return ``(private_pem, public_pem)``.

    The private PEM is unencrypted PKCS#8: keep it out of the repository and readable only by
    the server (for example ``instance/audit_key.pem``).
    """
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private_pem, public_key_pem(private)


def load_private_key(key: PrivateKeyInput) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from PEM (bytes or text) or its 32 raw bytes."""
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, str):
        key = key.encode("ascii")
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PrivateKey.from_private_bytes(key)
    try:
        loaded = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not an Ed25519 private key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SignatureError("the private key is not an Ed25519 key")
    return loaded


def load_public_key(key: PublicKeyInput) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM (bytes or text) or its 32 raw bytes."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, str):
        key = key.encode("ascii")
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    try:
        loaded = serialization.load_pem_public_key(key)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not an Ed25519 public key: {exc}") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise SignatureError("the public key is not an Ed25519 key")
    return loaded


def public_key_pem(key: PrivateKeyInput | PublicKeyInput) -> bytes:
    """The SubjectPublicKeyInfo PEM of a public key, or of the public half of a private key."""
    if isinstance(key, Ed25519PrivateKey):
        public = key.public_key()
    elif isinstance(key, Ed25519PublicKey):
        public = key
    else:
        try:
            public = load_public_key(key)
        except (SignatureError, ValueError):
            public = load_private_key(key).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key: PublicKeyInput) -> str:
    """First 16 hex digits of SHA-256 of the 32-byte raw public key."""
    raw = load_public_key(public_key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


# === Heads ======================================================================================


def head_message(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """The bytes a head signature covers: canonical JSON of {root_hash, timestamp, tree_size}."""
    return canonical_json({"tree_size": tree_size, "root_hash": root_hash, "timestamp": timestamp})


def sign_head(
    private_key: PrivateKeyInput | None, tree_size: int, root: bytes | str, timestamp: str
) -> dict[str, Any]:
    """Build a tree head for ``root`` (bytes or hex) and sign it; with no key, an unsigned head.

    ``timestamp`` is RFC 3339 UTC to the second. With ``private_key`` None the head carries
    ``signature`` and ``key_id`` null, which the verifier reports as unsigned.
    """
    root_hash = root.hex() if isinstance(root, bytes) else root
    head: dict[str, Any] = {
        "tree_size": tree_size,
        "root_hash": root_hash,
        "timestamp": timestamp,
        "signature": None,
        "key_id": None,
    }
    validate_head(head)
    if private_key is None:
        return head
    key = load_private_key(private_key)
    head["signature"] = key.sign(head_message(tree_size, root_hash, timestamp)).hex()
    head["key_id"] = key_id(key.public_key())
    return head


def is_signed(head: dict[str, Any]) -> bool:
    """Whether the head carries a signature at all (not whether it verifies)."""
    return head.get("signature") is not None


def validate_head(head: Any) -> None:
    """Check a head's shape (fields and their formats); raise AuditError naming the bad field."""
    if not isinstance(head, dict):
        raise AuditError("a tree head must be a JSON object")
    expected = {"tree_size", "root_hash", "timestamp", "signature", "key_id"}
    if set(head) != expected:
        raise AuditError(
            f"tree head fields are wrong (missing {sorted(expected - set(head))}, "
            f"unexpected {sorted(set(head) - expected)})"
        )
    size = head["tree_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise AuditError("tree head tree_size must be a whole number >= 0")
    if not isinstance(head["root_hash"], str) or not _HEX64.fullmatch(head["root_hash"]):
        raise AuditError("tree head root_hash must be 64 lowercase hex digits")
    if not isinstance(head["timestamp"], str) or not _TIME.fullmatch(head["timestamp"]):
        raise AuditError("tree head timestamp must be RFC 3339 UTC to the second (YYYY-MM-DDTHH:MM:SSZ)")
    signature, kid = head["signature"], head["key_id"]
    if (signature is None) != (kid is None):
        raise AuditError("tree head signature and key_id must both be present or both be null")
    if signature is not None:
        if not isinstance(signature, str) or not _HEX128.fullmatch(signature):
            raise AuditError("tree head signature must be 128 lowercase hex digits")
        if not isinstance(kid, str) or not _HEX16.fullmatch(kid):
            raise AuditError("tree head key_id must be 16 lowercase hex digits")


def verify_head(head: dict[str, Any], public_key: PublicKeyInput) -> None:
    """Check a head's signature with ``public_key``; raise SignatureError saying what is wrong.

    An unsigned head, a head signed by a different key (``key_id`` mismatch) and a signature
    that does not verify each raise, with a message fit to show an auditor.
    """
    validate_head(head)
    if not is_signed(head):
        raise SignatureError("the tree head is unsigned: the server had no signing key")
    key = load_public_key(public_key)
    expected_id = key_id(key)
    if head["key_id"] != expected_id:
        raise SignatureError(
            f"the tree head was signed by key {head['key_id']}, not by the given key {expected_id}"
        )
    message = head_message(head["tree_size"], head["root_hash"], head["timestamp"])
    try:
        key.verify(bytes.fromhex(head["signature"]), message)
    except InvalidSignature:
        raise SignatureError("the tree head signature does not verify: the head was altered") from None


# === Entries ====================================================================================
#
# Each log entry is countersigned when it is appended: the signature covers the entry's hash,
# which covers every entry before it through ``prev_hash``. Someone who can write to the
# database but does not hold the signing key (it lives in the environment, not in the database)
# can therefore neither add, change nor remove an entry, nor re-chain the log after one, without
# leaving entries whose signatures do not verify.


def entry_message(seq: int, entry_hash: str) -> bytes:
    """The bytes an entry signature covers: canonical JSON of {entry_hash, seq}.

    Its keys differ from a head's, so an entry signature can never pass for a head's.
    """
    return canonical_json({"entry_hash": entry_hash, "seq": seq})


@functools.lru_cache(maxsize=4)
def _cached_private_key(pem: bytes) -> Ed25519PrivateKey:
    return load_private_key(pem)


def sign_entry(private_key_pem: bytes | None, seq: int, entry_hash: str) -> str:
    """The entry's signature (128 hex digits), or "" when no signing key is configured."""
    if private_key_pem is None:
        return ""
    return _cached_private_key(private_key_pem).sign(entry_message(seq, entry_hash)).hex()


def verify_entry(public_key: PublicKeyInput, seq: int, entry_hash: str, signature: str) -> None:
    """Check an entry's signature; raise SignatureError saying what is wrong."""
    if not isinstance(signature, str) or not _HEX128.fullmatch(signature):
        raise SignatureError(f"log entry {seq} is not signed (or its signature is malformed)")
    try:
        load_public_key(public_key).verify(bytes.fromhex(signature), entry_message(seq, entry_hash))
    except InvalidSignature:
        raise SignatureError(f"log entry {seq}'s signature does not verify: the entry or one before it was "
                             "changed, added or removed after it was signed") from None
