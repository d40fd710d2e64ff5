"""Election parameters: the public description of one poll's encryption (docs/crypto.md §4).

Boundary rule: standard library and ``governance.crypto`` only.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from .group import CryptoError, add, canonical_json, lagrange_at, point_hex, read_point, sha256_hex, smul

__all__ = ["ElectionParams", "Trustee", "new_election_id", "MAX_WIDTH", "MAX_VALUE"]

MAX_WIDTH = 1024
MAX_VALUE = 4096
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_FIELDS = ("version", "group", "election_id", "poll", "options", "max_value", "public_key", "threshold",
           "trustees")


def new_election_id() -> str:
    """A fresh random election id (32 hex digits)."""
    return secrets.token_hex(16)


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise CryptoError(f"{what} must be an integer from {lo} to {hi}")
    return value


@dataclass(frozen=True)
class Trustee:
    """One trustee: index (1..n), name and verification key (point bytes)."""

    index: int
    name: str
    verification_key: bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"index": self.index, "name": self.name, "verification_key": point_hex(self.verification_key)}


@dataclass(frozen=True)
class ElectionParams:
    """The public parameters of one poll; lists may be given as lists of dicts and hex strings.

    Construction checks every field and that the verification keys lie on one polynomial whose
    value at 0 is the public key (so that any ``threshold`` trustees can decrypt).
    """

    election_id: str
    poll: int
    options: tuple[str, ...]
    max_value: int
    public_key: bytes
    threshold: int
    trustees: tuple[Trustee, ...]
    version: int = 1
    group: str = "ristretto255"
    _fp: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version != 1:
            raise CryptoError("params: version must be 1")
        if self.group != "ristretto255":
            raise CryptoError("params: group must be 'ristretto255'")
        if not isinstance(self.election_id, str) or not _HEX32.match(self.election_id):
            raise CryptoError("params: election_id must be 32 lowercase hex digits")
        _int(self.poll, "params: poll", 0, 2**53 - 1)
        opts = self.options
        if not isinstance(opts, (list, tuple)) or not 1 <= len(opts) <= MAX_WIDTH:
            raise CryptoError(f"params: options must be a list of 1 to {MAX_WIDTH} labels")
        if not all(isinstance(o, str) and o for o in opts):
            raise CryptoError("params: every option must be a non-empty string")
        object.__setattr__(self, "options", tuple(opts))
        _int(self.max_value, "params: max_value", 1, MAX_VALUE)
        object.__setattr__(self, "public_key", read_point(self.public_key, "params: public_key"))
        trustees = self.trustees
        if not isinstance(trustees, (list, tuple)) or not trustees:
            raise CryptoError("params: trustees must be a non-empty list")
        norm = []
        for pos, t in enumerate(trustees, start=1):
            if isinstance(t, Trustee):
                t = t.to_dict()
            if not isinstance(t, dict) or set(t) != {"index", "name", "verification_key"}:
                raise CryptoError(f"params: trustee {pos} must have exactly index, name, verification_key")
            if t["index"] != pos or isinstance(t["index"], bool):
                raise CryptoError(f"params: trustee indices must be 1..n in order (entry {pos})")
            if not isinstance(t["name"], str) or not t["name"]:
                raise CryptoError(f"params: trustee {pos} needs a non-empty name")
            norm.append(Trustee(pos, t["name"], read_point(t["verification_key"],
                                                            f"params: trustee {pos} verification_key")))
        if len({t.name for t in norm}) != len(norm):
            raise CryptoError("params: trustee names must be distinct")
        object.__setattr__(self, "trustees", tuple(norm))
        _int(self.threshold, "params: threshold", 1, len(norm))
        self._check_keys()
        object.__setattr__(self, "_fp", bytes.fromhex(sha256_hex(canonical_json(self.to_dict()))))

    def _check_keys(self) -> None:
        base = list(range(1, self.threshold + 1))
        keys = {t.index: t.verification_key for t in self.trustees}

        def interpolate(at: int) -> bytes:
            acc = bytes(32)
            for j in base:
                acc = add(acc, smul(lagrange_at(base, j, at), keys[j]))
            return acc

        if interpolate(0) != self.public_key:
            raise CryptoError("params: the public key does not match the trustees' verification keys")
        for t in self.trustees[self.threshold:]:
            if interpolate(t.index) != t.verification_key:
                raise CryptoError(f"params: trustee {t.index}'s verification key is not consistent with the others")

    @property
    def width(self) -> int:
        """The number of options (ciphertexts per ballot)."""
        return len(self.options)

    def trustee(self, index: int) -> Trustee:
        """The trustee with this index, or CryptoError."""
        if isinstance(index, int) and not isinstance(index, bool) and 1 <= index <= len(self.trustees):
            return self.trustees[index - 1]
        raise CryptoError(f"no trustee with index {index!r} in these parameters")

    def to_dict(self) -> dict[str, Any]:
        """JSON form (canonical-JSON-able)."""
        return {"version": self.version, "group": self.group, "election_id": self.election_id,
                "poll": self.poll, "options": list(self.options), "max_value": self.max_value,
                "public_key": point_hex(self.public_key), "threshold": self.threshold,
                "trustees": [t.to_dict() for t in self.trustees]}

    @classmethod
    def from_dict(cls, data: Any) -> ElectionParams:
        """Parse and check the JSON form; exactly the documented keys."""
        if not isinstance(data, dict) or set(data) != set(_FIELDS):
            raise CryptoError(f"params: expected exactly the keys {', '.join(_FIELDS)}")
        return cls(**data)

    def fingerprint(self) -> str:
        """SHA-256 hex of the canonical JSON of :meth:`to_dict`."""
        return self._fp.hex()

    @property
    def fp(self) -> bytes:
        """The fingerprint's 32 raw bytes (what transcripts hash)."""
        return self._fp
