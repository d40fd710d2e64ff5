"""The per-poll secrets and what is derived from them: credentials, rate-limit keys, the platform key.

Boundary rule: pure functions (standard library only); callers pass the platform's secret key.

Every derivation is HMAC-SHA256 (a PRF) keyed by the platform's secret key (from the
environment, never in the database), over a domain tag, the poll and a random per-poll salt that
the database holds. So neither the database alone nor the secret alone yields a credential or a
platform-held decryption key, and deleting the salt (link salt at the close, key salt after the
decryption) ends the derivation for good. docs/secrecy.md says what that protects.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SALT_BYTES = 32


def new_salt() -> str:
    """A fresh random salt (64 hex digits)."""
    return secrets.token_hex(SALT_BYTES)


def _prf(secret_key: str, tag: str, *parts: object) -> bytes:
    message = "|".join([tag, *(str(p) for p in parts)]).encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).digest()


def credential(secret_key: str, poll_id: int, link_salt: str, member_id: int) -> str:
    """The member's pseudonym in this poll (32 hex digits): what their ballot's proof is bound to.

    >>> a = credential("k" * 32, 1, "00" * 32, 7)
    >>> len(a), a == credential("k" * 32, 1, "00" * 32, 7), a == credential("k" * 32, 1, "11" * 32, 7)
    (32, True, False)
    """
    link_key = _prf(secret_key, "governance/v1/link-key", poll_id, link_salt)
    return hmac.new(link_key, f"credential|{member_id}".encode(), hashlib.sha256).hexdigest()[:32]


def platform_seed(secret_key: str, poll_id: int, key_salt: str) -> bytes:
    """The 32-byte seed of a platform-held poll key (``governance.crypto`` derives the key from it)."""
    return _prf(secret_key, "governance/v1/platform-key", poll_id, key_salt)


def vote_limit_key(secret_key: str, poll_id: int, member_id: int) -> str:
    """The voting rate limit's counter key: per poll, and not the member's id (deleted at the close)."""
    return f"vote:{poll_id}:" + _prf(secret_key, "governance/v1/vote-limit", poll_id, member_id).hex()[:24]


def vote_limit_prefix(poll_id: int) -> str:
    """Every voting counter key of a poll starts with this."""
    return f"vote:{poll_id}:"
