"""Encrypted ballots, verifiable mixing and threshold decryption over ristretto255 (docs/crypto.md).

Boundary rule: a pure library. It imports the standard library and pysodium (libsodium) only;
nothing from Flask, SQL or the rest of the project (tests/test_architecture.py enforces it).

>>> from governance.crypto import platform_keypair, ElectionParams, encrypt_ballot, verify_ballot
>>> key = platform_keypair(bytes(32))
>>> params = ElectionParams(election_id="00" * 16, poll=1, options=["yes", "no"], max_value=2,
...     public_key=key.public_key, threshold=1,
...     trustees=[{"index": 1, "name": "platform", "verification_key": key.public_key}])
>>> ballot, secrets = encrypt_ballot(params, [1, 0], "ab" * 16)
>>> verify_ballot(params, ballot, "ab" * 16)
"""

from .ballot import audit_ballot, ballot_ciphertexts, encrypt_ballot, tracker, verify_ballot, verify_ballots
from .ceremony import (
    PlatformKey,
    ceremony_finish,
    ceremony_init,
    ceremony_share,
    platform_keypair,
    read_setup,
    verify_ceremony,
    verify_certificate,
    verify_key_message,
    verify_key_proof,
    verify_shares_message,
)
from .decrypt import (
    combine,
    decryption_factors,
    factors_to_json,
    pack_factors,
    read_factors,
    unpack_factors,
    verify_decryption_factors,
)
from .group import CryptoError, Secret, deterministic_rng
from .params import ElectionParams, Trustee, new_election_id
from .pipeline import verify_pipeline
from .shuffle import as_tuples, pack, shuffle, tuples_to_json, unpack, verify_shuffle

__all__ = [
    "CryptoError", "ElectionParams", "Trustee", "new_election_id", "Secret", "deterministic_rng",
    "encrypt_ballot", "verify_ballot", "verify_ballots", "tracker", "audit_ballot", "ballot_ciphertexts",
    "shuffle", "verify_shuffle", "pack", "unpack", "as_tuples", "tuples_to_json",
    "decryption_factors", "verify_decryption_factors", "combine", "read_factors", "factors_to_json",
    "pack_factors", "unpack_factors",
    "read_setup", "ceremony_init", "ceremony_share", "ceremony_finish", "verify_ceremony",
    "verify_certificate", "verify_shares_message", "verify_key_message",
    "platform_keypair", "PlatformKey", "verify_key_proof", "verify_pipeline",
]
