"""Threshold decryption: each trustee's factors with one batched Chaum–Pedersen proof, and the
Lagrange combination that decodes the plaintext values (docs/crypto.md §7).

Boundary rule: standard library and ``governance.crypto`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _work
from .ballot import decode_table
from .group import (
    CryptoError,
    Rng,
    Secret,
    add,
    challenge,
    hash_frame,
    is_point,
    lagrange_at,
    point_hex,
    prg,
    read_point,
    read_scalar,
    read_secret,
    scalar_hex,
    smul,
    smul_base,
    sub,
)
from .params import ElectionParams
from .shuffle import Tuples, as_tuples

__all__ = ["decryption_factors", "verify_decryption_factors", "combine", "read_factors", "factors_to_json",
           "pack_factors", "unpack_factors", "Factors"]

Factors = list[list[bytes]]
VECTOR_TAG = "governance/v1/decrypt/vector"
CHALLENGE_TAG = "governance/v1/decrypt"


def pack_factors(factors: Factors) -> bytes:
    """``32·N·w`` bytes in tuple order."""
    return b"".join(d for row in factors for d in row)


def unpack_factors(data: bytes, width: int) -> Factors:
    """The inverse of :func:`pack_factors`, every point checked."""
    row = 32 * width
    if len(data) % row:
        raise CryptoError(f"packed factors: {len(data)} bytes is not a multiple of {row}")
    out = []
    for i in range(len(data) // row):
        out.append([read_point(bytes(data[row * i + 32 * k: row * i + 32 * k + 32]),
                               f"decryption factor {i}/{k}") for k in range(width)])
    return out


def read_factors(value: Any, count: int, width: int) -> Factors:
    """Factors from packed bytes or ``[[point×w]×N]`` (hex or bytes), with exactly ``count`` rows."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        out = unpack_factors(bytes(value), width)
    elif isinstance(value, (list, tuple)):
        out = []
        for i, row in enumerate(value):
            if not isinstance(row, (list, tuple)) or len(row) != width:
                raise CryptoError(f"decryption factors: row {i} must hold {width} points")
            out.append([d if isinstance(d, bytes) and is_point(d) else read_point(d, f"decryption factor {i}/{k}")
                        for k, d in enumerate(row)])
    else:
        raise CryptoError("decryption factors: expected a list of rows")
    if len(out) != count:
        raise CryptoError(f"decryption factors: expected {count} rows, got {len(out)}")
    return out


def factors_to_json(factors: Factors) -> list[list[str]]:
    """The JSON form ``[[point×w]×N]``."""
    return [[point_hex(d) for d in row] for row in factors]


def _alphas(tuples: Tuples) -> bytes:
    return b"".join(a for row in tuples for a, _ in row)


def _msm(ex, points: bytes, scalars: bytes, workers: int) -> bytes:
    count = len(points) // 32
    parts = _work.run(ex, _work.point_msm, [(points[32 * lo: 32 * hi], scalars[32 * lo: 32 * hi])
                                            for lo, hi in _work.split(count, 1 if ex is None else 2 * workers)])
    acc = bytes(32)
    for part in parts:
        acc = add(acc, part)
    return acc


def _batch(params, index, key, n, alphas, factors, ex, workers):
    seed = hash_frame(VECTOR_TAG, params.fp, index, key, n, params.width, alphas, factors)
    z = b"".join(v.to_bytes(32, "little") for v in prg(seed, len(alphas) // 32))
    return seed, _msm(ex, alphas, z, workers), _msm(ex, factors, z, workers)


def decryption_factors(params: ElectionParams, secret_share: Any, index: int, tuples: Any, *,
                       workers: int = 1, rng: Rng | None = None) -> tuple[Factors, dict[str, str]]:
    """Trustee ``index``'s factors ``x·α`` for every ciphertext and its batched proof."""
    trustee = params.trustee(index)
    x = secret_share if isinstance(secret_share, Secret) else read_secret(secret_share, "secret share")
    if smul_base(x) != trustee.verification_key:
        raise CryptoError(f"this secret share does not belong to trustee {index}")
    rows = as_tuples(tuples, params.width, "decryption input")
    n, width = len(rows), params.width
    if n == 0:
        return [], {}
    alphas = _alphas(rows)
    with _work.pool(workers, n * width) as ex:
        count = len(alphas) // 32
        packed = b"".join(_work.run(ex, _work.smul_each, [
            (alphas[32 * lo: 32 * hi], x.public_bytes())
            for lo, hi in _work.split(count, 1 if ex is None else 2 * workers)]))
        seed, a, d = _batch(params, index, trustee.verification_key, n, alphas, packed, ex, workers)
    nonce = (rng or Secret.random)()
    c = challenge(CHALLENGE_TAG, seed, a, d, smul_base(nonce), smul(nonce, a))
    factors = [[packed[32 * (i * width + k): 32 * (i * width + k) + 32] for k in range(width)] for i in range(n)]
    return factors, {"challenge": scalar_hex(c), "response": (nonce + x * c).hex()}


def verify_decryption_factors(params: ElectionParams, index: int, tuples: Any, factors: Any, proof: Any, *,
                              workers: int = 1) -> None:
    """Check trustee ``index``'s factors against its verification key; raise CryptoError if they are wrong."""
    trustee = params.trustee(index)
    rows = as_tuples(tuples, params.width, "decryption input")
    n = len(rows)
    fs = read_factors(factors, n, params.width)
    if n == 0:
        if proof != {}:
            raise CryptoError(f"trustee {index}: an empty decryption has the proof {{}}")
        return
    if not isinstance(proof, dict) or set(proof) != {"challenge", "response"}:
        raise CryptoError(f"trustee {index}: the decryption proof must have exactly challenge and response")
    c = read_scalar(proof["challenge"], f"trustee {index}: decryption proof challenge")
    s = read_scalar(proof["response"], f"trustee {index}: decryption proof response")
    alphas = _alphas(rows)
    with _work.pool(workers, n * params.width) as ex:
        seed, a, d = _batch(params, index, trustee.verification_key, n, alphas, pack_factors(fs), ex, workers)
    t1 = sub(smul_base(s), smul(c, trustee.verification_key))
    t2 = sub(smul(s, a), smul(c, d))
    if challenge(CHALLENGE_TAG, seed, a, d, t1, t2) != c:
        raise CryptoError(f"trustee {index}: the decryption proof does not verify (altered factor, "
                          "other trustee or other ciphertexts)")


def combine(params: ElectionParams, tuples: Any, factors_by_trustee: Mapping[int, Any], *,
            workers: int = 1) -> list[list[int | None]]:
    """Decode every tuple from the factors of at least ``threshold`` trustees (the smallest indices are used).

    Values outside ``0..max_value`` decode to None: the caller counts that ballot as invalid.
    """
    rows = as_tuples(tuples, params.width, "decryption input")
    n, width = len(rows), params.width
    given = sorted(factors_by_trustee)
    for j in given:
        params.trustee(j)
    if len(given) < params.threshold:
        raise CryptoError(f"decryption needs factors from {params.threshold} trustees, got {len(given)}")
    chosen = given[: params.threshold]
    lambdas = [lagrange_at(chosen, j).to_bytes(32, "little") for j in chosen]
    packs = [pack_factors(read_factors(factors_by_trustee[j], n, width)) for j in chosen]
    packed = b"".join(a + b for row in rows for a, b in row)
    count = n * width
    with _work.pool(workers, count) as ex:
        chunks = _work.split(count, 1 if ex is None else 2 * workers)
        points = b"".join(_work.run(ex, _work.combine_chunk, [
            (packed[64 * lo: 64 * hi], [p[32 * lo: 32 * hi] for p in packs], lambdas) for lo, hi in chunks]))
    table = decode_table(params.max_value)
    return [[table.get(points[32 * (i * width + k): 32 * (i * width + k) + 32]) for k in range(width)]
            for i in range(n)]
