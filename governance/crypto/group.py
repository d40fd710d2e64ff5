"""ristretto255 through libsodium: encodings, point and scalar arithmetic, framed hashing, PRG.

Boundary rule: standard library and pysodium only; nothing from Flask, SQL or the rest of the
project. This is the only module that calls libsodium's group functions directly.

Points are ``bytes`` of length 32 (canonical ristretto255 encodings); public scalars are Python
ints mod L; secret scalars (keys, nonces, randomness) are :class:`Secret` values whose arithmetic
runs in libsodium and which refuse to become Python ints.

>>> smul_base(2) == add(G, G)
True
>>> point_hex(smul_base(1))
'e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76'
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pysodium

__all__ = [
    "CryptoError", "L", "G", "IDENTITY", "Secret", "Rng", "add", "sub", "neg", "smul", "smul_base",
    "msm", "is_point", "point_hex", "read_point", "read_points", "read_scalar", "read_secret",
    "scalar_hex", "hash_frame", "frame", "challenge", "prg", "generators", "from_hash", "canonical_json",
    "sha256_hex", "random_index", "deterministic_rng", "ct_equal", "lagrange_at",
]

#: The order of the ristretto255 group (RFC 9496 §4).
L = 2**252 + 27742317777372353535851937790883648493

_lib = pysodium.sodium
if not pysodium.sodium_version_check(1, 0, 18):  # pragma: no cover - Debian 12 ships 1.0.18
    raise ImportError("governance.crypto needs libsodium 1.0.18 or newer (ristretto255)")
_lib.randombytes_uniform.restype = ctypes.c_uint32
_lib.randombytes_uniform.argtypes = [ctypes.c_uint32]

_smul = _lib.crypto_scalarmult_ristretto255
_smul_base = _lib.crypto_scalarmult_ristretto255_base
_add = _lib.crypto_core_ristretto255_add
_sub = _lib.crypto_core_ristretto255_sub
_valid = _lib.crypto_core_ristretto255_is_valid_point
_reduce = _lib.crypto_core_ristretto255_scalar_reduce
_sc_add = _lib.crypto_core_ristretto255_scalar_add
_sc_mul = _lib.crypto_core_ristretto255_scalar_mul
_sc_random = _lib.crypto_core_ristretto255_scalar_random
_from_hash = _lib.crypto_core_ristretto255_from_hash
_buf = ctypes.create_string_buffer

IDENTITY = bytes(32)
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class CryptoError(ValueError):
    """A cryptographic object is malformed, or a proof does not verify."""


# --- scalars -------------------------------------------------------------------------------------

def _sbytes(k: int) -> bytes:
    return (k % L).to_bytes(32, "little")


class Secret:
    """A secret scalar mod L, kept as libsodium's 32 bytes; its arithmetic runs in libsodium.

    It has no ``__int__``/``__index__`` on purpose: secret values never become Python ints.

    >>> s = Secret.from_int_for_tests(5) * 3 + Secret.from_int_for_tests(1)
    >>> s.public_bytes() == (16).to_bytes(32, "little")
    True
    """

    __slots__ = ("_b",)

    def __init__(self, data: bytes):
        if len(data) != 32 or int.from_bytes(data, "little") >= L:
            raise CryptoError("a secret scalar must be 32 bytes below the group order")
        self._b = bytes(data)

    @classmethod
    def random(cls) -> Secret:
        """A uniformly random scalar from libsodium."""
        b = _buf(32)
        _sc_random(b)
        return cls(b.raw)

    @classmethod
    def from_digest(cls, digest: bytes) -> Secret:
        """The 64-byte ``digest`` reduced mod L (libsodium ``scalar_reduce``)."""
        if len(digest) != 64:
            raise CryptoError("a digest to reduce must be 64 bytes")
        b = _buf(32)
        _reduce(b, digest)
        return cls(b.raw)

    @classmethod
    def zero(cls) -> Secret:
        """The scalar 0 (a starting point for sums)."""
        return cls(bytes(32))

    @classmethod
    def from_int_for_tests(cls, k: int) -> Secret:
        """A secret from a Python int: for tests and examples only."""
        return cls(_sbytes(k))

    def _other(self, other: Secret | int) -> bytes:
        if isinstance(other, Secret):
            return other._b
        if isinstance(other, int) and not isinstance(other, bool):
            return _sbytes(other)
        return NotImplemented  # type: ignore[return-value]

    def __add__(self, other: Secret | int) -> Secret:
        o = self._other(other)
        if o is NotImplemented:
            return NotImplemented
        b = _buf(32)
        _sc_add(b, self._b, o)
        return Secret(b.raw)

    __radd__ = __add__

    def __mul__(self, other: Secret | int) -> Secret:
        o = self._other(other)
        if o is NotImplemented:
            return NotImplemented
        b = _buf(32)
        _sc_mul(b, self._b, o)
        return Secret(b.raw)

    __rmul__ = __mul__

    def is_zero(self) -> bool:
        """Whether the scalar is 0 (constant time)."""
        return hmac.compare_digest(self._b, IDENTITY)

    def public_bytes(self) -> bytes:
        """The 32 bytes, for a value that is being published (a response) or sealed to its owner."""
        return self._b

    def hex(self) -> str:
        """The 64-hex encoding (for the private state file, or a value being published)."""
        return self._b.hex()

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._b, other._b)

    __hash__ = None  # type: ignore[assignment]


Rng = Callable[[], Secret]


def _random_secret() -> Secret:
    return Secret.random()


def random_index(upper: int, rng: Rng | None = None) -> int:
    """A uniform integer in ``0..upper-1`` (libsodium ``randombytes_uniform``; or from ``rng``)."""
    if rng is not None:
        return int.from_bytes(rng().public_bytes(), "little") % upper
    if upper >= 2**32:
        raise CryptoError("too many items to permute")
    return int(_lib.randombytes_uniform(upper))


# --- points --------------------------------------------------------------------------------------

def smul_base(k: int | Secret) -> bytes:
    """``k·g``."""
    kb = k.public_bytes() if isinstance(k, Secret) else _sbytes(k)
    b = _buf(32)
    if _smul_base(b, kb) != 0:
        return IDENTITY
    return b.raw


def smul(k: int | Secret, p: bytes) -> bytes:
    """``k·P`` for a valid point ``P`` (the identity when libsodium reports it)."""
    kb = k.public_bytes() if isinstance(k, Secret) else _sbytes(k)
    b = _buf(32)
    if _smul(b, kb, p) != 0:
        return IDENTITY
    return b.raw


def add(p: bytes, q: bytes) -> bytes:
    """``P + Q``."""
    b = _buf(32)
    if _add(b, p, q) != 0:  # only for invalid encodings, which never reach here
        raise CryptoError("invalid point in addition")
    return b.raw


def sub(p: bytes, q: bytes) -> bytes:
    """``P − Q``."""
    b = _buf(32)
    if _sub(b, p, q) != 0:
        raise CryptoError("invalid point in subtraction")
    return b.raw


def neg(p: bytes) -> bytes:
    """``−P``."""
    return sub(IDENTITY, p)


def msm(scalars: Iterable[int], points: Iterable[bytes]) -> bytes:
    """``Σ k_i·P_i`` (public scalars)."""
    acc = IDENTITY
    b = _buf(32)
    for k, p in zip(scalars, points, strict=True):
        if _smul(b, _sbytes(k), p) == 0:
            _add(b, acc, b.raw)
            acc = b.raw
    return acc


G = smul_base(1)


def is_point(data: bytes) -> bool:
    """A valid, canonical, non-identity ristretto255 encoding."""
    return len(data) == 32 and _valid(data) == 1 and data != IDENTITY


def point_hex(p: bytes) -> str:
    """The 64-hex JSON form of a point."""
    return p.hex()


def read_point(value: Any, what: str) -> bytes:
    """A point from its JSON form: 64 lowercase hex, valid, canonical, not the identity."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str) and _HEX64.match(value):
        data = bytes.fromhex(value)
    else:
        raise CryptoError(f"{what}: expected a point as 64 lowercase hex digits")
    if len(data) != 32 or _valid(data) != 1:
        raise CryptoError(f"{what} is not a valid point (non-canonical or not in the group)")
    if data == IDENTITY:
        raise CryptoError(f"{what} is the identity element, which is not allowed")
    return data


def read_points(values: Any, what: str, count: int | None = None) -> list[bytes]:
    """A list of points, optionally of exactly ``count`` entries."""
    if not isinstance(values, list):
        raise CryptoError(f"{what}: expected a list of points")
    if count is not None and len(values) != count:
        raise CryptoError(f"{what}: expected {count} points, got {len(values)}")
    return [read_point(v, f"{what}[{i}]") for i, v in enumerate(values)]


def read_scalar(value: Any, what: str) -> int:
    """A public scalar from 64 lowercase hex (little-endian, below L)."""
    if not isinstance(value, str) or not _HEX64.match(value):
        raise CryptoError(f"{what}: expected a scalar as 64 lowercase hex digits")
    k = int.from_bytes(bytes.fromhex(value), "little")
    if k >= L:
        raise CryptoError(f"{what} is not a reduced scalar (not below the group order)")
    return k


def read_secret(value: Any, what: str) -> Secret:
    """A non-zero secret scalar from 64 lowercase hex or 32 bytes."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        data = bytes(value)
    elif isinstance(value, str) and _HEX64.match(value):
        data = bytes.fromhex(value)
    else:
        raise CryptoError(f"{what}: expected a secret scalar as 64 lowercase hex digits")
    if int.from_bytes(data, "little") >= L:
        raise CryptoError(f"{what} is not a reduced scalar")
    s = Secret(data)
    if s.is_zero():
        raise CryptoError(f"{what} is zero")
    return s


def scalar_hex(k: int | Secret) -> str:
    """The 64-hex JSON form of a scalar."""
    return k.hex() if isinstance(k, Secret) else _sbytes(k).hex()


def ct_equal(a: bytes, b: bytes) -> bool:
    """Constant-time equality of byte strings."""
    return hmac.compare_digest(a, b)


# --- hashing -------------------------------------------------------------------------------------

def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _item(x: bytes | int | str) -> bytes:
    if isinstance(x, bool):
        raise TypeError("no booleans in a transcript")
    if isinstance(x, int):
        return _u64(x)
    if isinstance(x, str):
        return x.encode("utf-8")
    return bytes(x)


def frame(tag: str, *items: bytes | int | str) -> bytes:
    """``u64(len(tag)) ‖ tag ‖ u64(len(x1)) ‖ x1 ‖ …`` (ints become their 8-byte big-endian value)."""
    out = [_u64(len(tag)), tag.encode("ascii")]
    for x in items:
        b = _item(x)
        out += [_u64(len(b)), b]
    return b"".join(out)


def hash_frame(tag: str, *items: bytes | int | str) -> bytes:
    """SHA-512 of :func:`frame`, computed incrementally (items may be megabytes)."""
    h = hashlib.sha512()
    t = tag.encode("ascii")
    h.update(_u64(len(t)) + t)
    for x in items:
        b = _item(x)
        h.update(_u64(len(b)))
        h.update(b)
    return h.digest()


def _reduce_int(digest: bytes) -> int:
    b = _buf(32)
    _reduce(b, digest)
    return int.from_bytes(b.raw, "little")


def challenge(tag: str, *items: bytes | int | str) -> int:
    """``Hs``: the framed SHA-512 reduced mod L with libsodium's ``scalar_reduce``."""
    return _reduce_int(hash_frame(tag, *items))


def prg(seed: bytes, count: int, start: int = 0) -> list[int]:
    """``PRG(seed)_i`` for ``i = start .. start+count-1``: ``Hs("governance/v1/prg", seed, u64(i))``."""
    head = frame("governance/v1/prg", seed)
    tail = _u64(8)
    sha = hashlib.sha512
    return [_reduce_int(sha(head + tail + _u64(i)).digest()) for i in range(start, start + count)]


def from_hash(digest: bytes) -> bytes:
    """RFC 9496 §4.3.4's one-way map of 64 bytes to a group element (``crypto_core_ristretto255_from_hash``)."""
    if len(digest) != 64:
        raise CryptoError("from_hash needs 64 bytes")
    b = _buf(32)
    _from_hash(b, digest)
    return b.raw


def generators(fingerprint: bytes, count: int) -> list[bytes]:
    """``h_i = from_hash(H("governance/v1/generators", fp, u64(i)))`` for ``i < count``."""
    out = []
    b = _buf(32)
    for i in range(count):
        _from_hash(b, hash_frame("governance/v1/generators", fingerprint, i))
        out.append(b.raw)
    return out


def deterministic_rng(seed: bytes) -> Rng:
    """Reproducible randomness for test vectors only: draw i is ``Hs("governance/v1/test-rng", seed, u64(i))``."""
    counter = iter(range(2**62))
    return lambda: Secret.from_digest(hash_frame("governance/v1/test-rng", seed, next(counter)))


# --- canonical JSON (docs/audit.md §2) -----------------------------------------------------------

def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, strings/integers/booleans/null only.

    >>> canonical_json({"b": [1, True, None], "a": "é"}).decode()
    '{"a":"é","b":[1,true,null]}'
    """
    parts: list[str] = []
    _enc(obj, parts)
    return "".join(parts).encode("utf-8")


def _enc(obj: Any, out: list[str]) -> None:
    if obj is None or obj is True or obj is False:
        out.append(json.dumps(obj))
    elif isinstance(obj, int):
        if abs(obj) > 2**53 - 1:
            raise CryptoError("integer too large for canonical JSON")
        out.append(str(obj))
    elif isinstance(obj, str):
        out.append(json.dumps(obj, ensure_ascii=False))
    elif isinstance(obj, dict):
        out.append("{")
        keys = sorted(obj, key=lambda k: k.encode("utf-16-be") if isinstance(k, str) else b"")
        for n, k in enumerate(keys):
            if not isinstance(k, str):
                raise CryptoError("canonical JSON keys must be strings")
            if n:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _enc(obj[k], out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for n, v in enumerate(obj):
            if n:
                out.append(",")
            _enc(v, out)
        out.append("]")
    else:
        raise CryptoError(f"cannot write {type(obj).__name__} as canonical JSON")


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def lagrange_at(indices: Sequence[int], j: int, at: int = 0) -> int:
    """The Lagrange coefficient of index ``j`` over ``indices``, evaluated at ``at`` (public, mod L)."""
    num, den = 1, 1
    for m in indices:
        if m != j:
            num = num * (at - m) % L
            den = den * (j - m) % L
    return num * pow(den, -1, L) % L
