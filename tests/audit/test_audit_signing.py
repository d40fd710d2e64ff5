"""Signed tree heads: Ed25519 over the canonical JSON of {tree_size, root_hash, timestamp}."""

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.audit.canonical import AuditError
from governance.audit.signing import (
    SignatureError,
    generate_key,
    head_message,
    is_signed,
    key_id,
    load_private_key,
    public_key_pem,
    sign_head,
    verify_head,
)

ROOT = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
WHEN = "2026-03-09T10:00:05Z"


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    """A key pair as PEM."""
    return generate_key()


def test_signed_head_verifies(keys):
    private, public = keys
    head = sign_head(private, 8, bytes.fromhex(ROOT), WHEN)
    assert set(head) == {"tree_size", "root_hash", "timestamp", "signature", "key_id"}
    assert head["root_hash"] == ROOT and is_signed(head)
    verify_head(head, public)


def test_signature_covers_the_canonical_message(keys):
    private, public = keys
    head = sign_head(private, 8, ROOT, WHEN)
    message = b'{"root_hash":"' + ROOT.encode() + b'","timestamp":"2026-03-09T10:00:05Z","tree_size":8}'
    assert head_message(8, ROOT, WHEN) == message
    # An independent check with the library directly, as an auditor would do it.
    raw = serialization.load_pem_public_key(public)
    assert isinstance(raw, Ed25519PublicKey)
    raw.verify(bytes.fromhex(head["signature"]), message)


def test_key_id_is_sha256_prefix_of_the_raw_public_key(keys):
    private, public = keys
    raw = serialization.load_pem_public_key(public).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert key_id(public) == hashlib.sha256(raw).hexdigest()[:16] == key_id(raw)
    assert sign_head(private, 1, ROOT, WHEN)["key_id"] == key_id(public)


def test_raw_and_object_keys_are_accepted(keys):
    private, public = keys
    key = load_private_key(private)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert (
        sign_head(raw, 3, ROOT, WHEN)
        == sign_head(key, 3, ROOT, WHEN)
        == sign_head(private.decode(), 3, ROOT, WHEN)
    )
    assert public_key_pem(private) == public_key_pem(public) == public


@pytest.mark.parametrize(
    ("field", "value"),
    [("tree_size", 9), ("root_hash", "0" * 64), ("timestamp", "2026-03-09T10:00:06Z")],
)
def test_any_change_breaks_the_signature(keys, field, value):
    private, public = keys
    head = sign_head(private, 8, ROOT, WHEN)
    head[field] = value
    with pytest.raises(SignatureError, match="does not verify"):
        verify_head(head, public)


def test_flipped_signature_bit_fails(keys):
    private, public = keys
    head = sign_head(private, 8, ROOT, WHEN)
    head["signature"] = f"{int(head['signature'][0], 16) ^ 1:x}" + head["signature"][1:]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_head(head, public)


def test_another_key_is_named(keys):
    other = Ed25519PrivateKey.generate()
    head = sign_head(other, 8, ROOT, WHEN)
    with pytest.raises(
        SignatureError, match=f"signed by key {key_id(other.public_key())}, not by the given key"
    ):
        verify_head(head, keys[1])


def test_without_a_key_the_head_is_unsigned(keys):
    head = sign_head(None, 8, ROOT, WHEN)
    assert head["signature"] is None and head["key_id"] is None and not is_signed(head)
    with pytest.raises(SignatureError, match="unsigned"):
        verify_head(head, keys[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((8, "XYZ", WHEN), "root_hash"),
        ((-1, ROOT, WHEN), "tree_size"),
        ((8, ROOT, "yesterday"), "timestamp"),
    ],
)
def test_bad_heads_are_refused(keys, args, message):
    with pytest.raises(AuditError, match=message):
        sign_head(keys[0], *args)


def test_not_a_key_is_a_clear_error():
    with pytest.raises(SignatureError, match="not an Ed25519 public key"):
        verify_head(sign_head(None, 1, ROOT, WHEN) | {"signature": "0" * 128, "key_id": "0" * 16}, b"junk")
