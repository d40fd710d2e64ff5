"""Encrypted ballots: exponential ElGamal per option, one proof of knowledge of the randomness
bound to the poll and the credential, tracker, Benaloh audit (docs/crypto.md §5).

Boundary rule: standard library and ``governance.crypto`` only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from . import _work
from .group import (
    IDENTITY,
    CryptoError,
    G,
    Rng,
    Secret,
    add,
    canonical_json,
    challenge,
    point_hex,
    read_point,
    read_scalar,
    read_secret,
    scalar_hex,
    sha256_hex,
    smul,
    smul_base,
    sub,
)
from .params import ElectionParams

__all__ = ["encrypt_ballot", "verify_ballot", "verify_ballots", "tracker", "audit_ballot", "ballot_ciphertexts",
           "read_ciphertext", "decode_table", "Ciphertext"]

Ciphertext = tuple[bytes, bytes]
BALLOT_TAG = "governance/v1/ballot"
_CRED = re.compile(r"[0-9a-f]{32}\Z")


@lru_cache(maxsize=16)
def decode_table(max_value: int) -> dict[bytes, int]:
    """``{m·g: m}`` for ``m = 0..max_value`` (``0·g`` is the identity, 32 zero bytes)."""
    table, p = {IDENTITY: 0}, IDENTITY
    for m in range(1, max_value + 1):
        p = add(p, G)
        table[p] = m
    return table


def _check_credential(credential: Any) -> str:
    if not isinstance(credential, str) or not _CRED.match(credential):
        raise CryptoError("credential must be 32 lowercase hex digits")
    return credential


def _ballot_challenge(params: ElectionParams, credential: str, cts: list[Ciphertext],
                      commits: list[bytes]) -> int:
    return challenge(BALLOT_TAG, params.fp, credential, len(cts), b"".join(a + b for a, b in cts),
                     b"".join(commits))


def read_ciphertext(value: Any, what: str) -> Ciphertext:
    """``{"alpha": point, "beta": point}`` → ``(α, β)`` bytes, strictly."""
    if not isinstance(value, dict) or set(value) != {"alpha", "beta"}:
        raise CryptoError(f"{what}: expected exactly alpha and beta")
    return read_point(value["alpha"], f"{what}: alpha"), read_point(value["beta"], f"{what}: beta")


def encrypt_ballot(params: ElectionParams, values: list[int], credential: str, *,
                   rng: Rng | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Encrypt one value per option; returns ``(ballot_dict, secrets)`` (secrets for a Benaloh audit)."""
    _check_credential(credential)
    if not isinstance(values, (list, tuple)) or len(values) != params.width:
        raise CryptoError(f"expected {params.width} values, one per option")
    for k, m in enumerate(values):
        if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m <= params.max_value:
            raise CryptoError(f"value {k} must be an integer from 0 to {params.max_value}")
    draw = rng or Secret.random
    rs = [draw() for _ in values]
    cts = []
    for r, m in zip(rs, values, strict=True):
        ry = smul(r, params.public_key)
        cts.append((smul_base(r), add(ry, smul_base(m)) if m else ry))
    nonces = [draw() for _ in values]
    commits = [smul_base(a) for a in nonces]
    c = _ballot_challenge(params, credential, cts, commits)
    responses = [a + r * c for a, r in zip(nonces, rs, strict=True)]
    ballot = {"credential": credential,
              "ciphertexts": [{"alpha": point_hex(a), "beta": point_hex(b)} for a, b in cts],
              "proof": {"challenge": scalar_hex(c), "responses": [s.hex() for s in responses]}}
    return ballot, {"randomness": [r.hex() for r in rs]}


def ballot_ciphertexts(ballot: Any, width: int | None = None) -> list[Ciphertext]:
    """The ballot's ciphertexts as ``(α, β)`` bytes, with strict shape and point checks."""
    if not isinstance(ballot, dict) or set(ballot) != {"credential", "ciphertexts", "proof"}:
        raise CryptoError("ballot: expected exactly the keys credential, ciphertexts, proof")
    cts = ballot["ciphertexts"]
    if not isinstance(cts, list) or (width is not None and len(cts) != width):
        raise CryptoError(f"ballot: expected {width} ciphertexts, one per option")
    return [read_ciphertext(ct, f"ballot: ciphertext {k}") for k, ct in enumerate(cts)]


def verify_ballot(params: ElectionParams, ballot: Any, credential: str) -> None:
    """Check shape, encodings, width, credential and the proof; raise CryptoError saying what is wrong."""
    _check_credential(credential)
    cts = ballot_ciphertexts(ballot, params.width)
    if ballot["credential"] != credential:
        raise CryptoError("ballot: it was made for another credential")
    proof = ballot["proof"]
    if not isinstance(proof, dict) or set(proof) != {"challenge", "responses"}:
        raise CryptoError("ballot: proof must have exactly challenge and responses")
    c = read_scalar(proof["challenge"], "ballot: proof challenge")
    resp = proof["responses"]
    if not isinstance(resp, list) or len(resp) != params.width:
        raise CryptoError(f"ballot: proof must have {params.width} responses")
    ss = [read_scalar(s, f"ballot: proof response {k}") for k, s in enumerate(resp)]
    commits = [sub(smul_base(s), smul(c, a)) for s, (a, _) in zip(ss, cts, strict=True)]
    if _ballot_challenge(params, credential, cts, commits) != c:
        raise CryptoError("ballot: the proof does not verify (altered ballot, other credential or other poll)")


def _first_bad(params: ElectionParams | dict[str, Any], items: Sequence[tuple[Any, str]],
               offset: int) -> tuple[int, str] | None:
    """The first of ``items`` whose check fails, as (index counted from ``offset``, reason), or None."""
    if isinstance(params, dict):  # in a worker process: parameters travel as their dict
        params = ElectionParams.from_dict(params)
    for k, (ballot, credential) in enumerate(items):
        try:
            verify_ballot(params, ballot, credential)
        except CryptoError as exc:
            return offset + k, str(exc)
    return None


def verify_ballots(params: ElectionParams, items: Sequence[tuple[Any, str]], *, workers: int = 1,
                   progress: Callable[[int, int], None] | None = None) -> tuple[int, str] | None:
    """``verify_ballot`` on each (ballot, credential); the first failure as (index, reason), or None.

    With ``workers`` > 1 and enough ballots (``_work.POOL_MIN`` ciphertexts), chunks are checked
    in that many processes; the answer is the same: the failure with the lowest index.
    ``progress(done, total)`` is called as chunks finish, in order.
    """
    total = len(items)
    with _work.pool(workers, total * params.width) as ex:
        chunks = _work.split(total, max(1, total // 1000) if ex is None else 8 * workers)
        if ex is None:
            results = ((lambda lo=lo, hi=hi: _first_bad(params, items[lo:hi], lo)) for lo, hi in chunks)
        else:
            shared = params.to_dict()
            futures = [ex.submit(_first_bad, shared, list(items[lo:hi]), lo) for lo, hi in chunks]
            results = (f.result for f in futures)
        for (_lo, hi), result in zip(chunks, results, strict=True):
            bad = result()
            if bad is not None:
                return bad  # chunks are read in order, so this is the lowest failing index
            if progress is not None:
                progress(hi, total)
    return None

def tracker(ballot: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of the ballot."""
    return sha256_hex(canonical_json(ballot))


def audit_ballot(params: ElectionParams, ballot: Any, secrets: Any) -> list[int]:
    """Benaloh audit: recompute the ciphertexts from the revealed randomness; return the values or raise."""
    cts = ballot_ciphertexts(ballot, params.width)
    if not isinstance(secrets, dict) or set(secrets) != {"randomness"}:
        raise CryptoError("ballot secrets: expected exactly the key randomness")
    rs = secrets["randomness"]
    if not isinstance(rs, list) or len(rs) != params.width:
        raise CryptoError(f"ballot secrets: expected {params.width} randomness values")
    verify_ballot(params, ballot, ballot["credential"])
    table = decode_table(params.max_value)
    values = []
    for k, ((a, b), rh) in enumerate(zip(cts, rs, strict=True)):
        r = read_secret(rh, f"ballot secrets: randomness {k}")
        if smul_base(r) != a:
            raise CryptoError(f"ballot audit: ciphertext {k} was not made with the revealed randomness")
        m = table.get(sub(b, smul(r, params.public_key)))
        if m is None:
            raise CryptoError(f"ballot audit: ciphertext {k} does not hold a value from 0 to {params.max_value}")
        values.append(m)
    return values
