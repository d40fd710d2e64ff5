"""The trustees' key ceremony (joint-Feldman / Pedersen DKG, as in Belenios' threshold mode) and the
platform-held key (docs/crypto.md §8–9).

Boundary rule: standard library, pysodium and ``governance.crypto`` only. Every function is pure:
messages and private state go in and come out as dicts; files are the CLI's business.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pysodium

from .group import (
    IDENTITY,
    CryptoError,
    L,
    Rng,
    Secret,
    add,
    canonical_json,
    challenge,
    frame,
    hash_frame,
    point_hex,
    read_point,
    read_points,
    read_scalar,
    read_secret,
    scalar_hex,
    sha256_hex,
    smul,
    smul_base,
    sub,
)

__all__ = ["read_setup", "ceremony_init", "ceremony_share", "ceremony_finish", "verify_ceremony",
           "platform_keypair", "PlatformKey", "verify_key_proof", "setup_digest", "STATE_FORMAT"]

STATE_FORMAT = "governance-trustee-state/1"
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_HEX = re.compile(r"(?:[0-9a-f]{2})+\Z")
_CERT_KEYS = {"index", "name", "signing_key", "box_key", "signature"}
_SHARES_KEYS = {"index", "certificates", "commitments", "proof", "shares", "signature"}
_KEY_KEYS = {"index", "shares", "verification_key", "proof", "signature"}


# --- helpers -------------------------------------------------------------------------------------

def _pok(tag: str, items: tuple, secret: Secret, rng: Rng | None) -> dict[str, str]:
    nonce = (rng or Secret.random)()
    c = challenge(tag, *items, smul_base(nonce))
    return {"challenge": scalar_hex(c), "response": (nonce + secret * c).hex()}


def _check_pok(tag: str, items: tuple, public: bytes, proof: Any, what: str) -> None:
    if not isinstance(proof, dict) or set(proof) != {"challenge", "response"}:
        raise CryptoError(f"{what}: the proof must have exactly challenge and response")
    c = read_scalar(proof["challenge"], f"{what}: proof challenge")
    s = read_scalar(proof["response"], f"{what}: proof response")
    if challenge(tag, *items, sub(smul_base(s), smul(c, public))) != c:
        raise CryptoError(f"{what}: the proof of knowledge does not verify")


def _hex(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.match(value):
        raise CryptoError(f"{what}: expected {2 * size} lowercase hex digits")
    return bytes.fromhex(value)


def _sign(tag: str, sd: bytes, body: dict, secret: bytes) -> str:
    return pysodium.crypto_sign_detached(frame(tag, sd, canonical_json(body)), secret).hex()


def _verify_sig(tag: str, sd: bytes, msg: dict, key: bytes, what: str) -> None:
    body = {k: v for k, v in msg.items() if k != "signature"}
    sig = _hex(msg["signature"], 64, f"{what}: signature")
    try:
        pysodium.crypto_sign_verify_detached(sig, frame(tag, sd, canonical_json(body)), key)
    except ValueError:
        raise CryptoError(f"{what}: the signature does not verify") from None


def _index(value: Any, n: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= n:
        raise CryptoError(f"{what}: index must be an integer from 1 to {n}")
    return value


def read_setup(setup: Any) -> dict[str, Any]:
    """Check a ceremony setup ``{"election_id", "poll", "threshold", "trustees": [{"index","name"}]}``."""
    if not isinstance(setup, dict) or set(setup) != {"election_id", "poll", "threshold", "trustees"}:
        raise CryptoError("setup: expected exactly the keys election_id, poll, threshold, trustees")
    if not isinstance(setup["election_id"], str) or not _HEX32.match(setup["election_id"]):
        raise CryptoError("setup: election_id must be 32 lowercase hex digits")
    poll = setup["poll"]
    if not isinstance(poll, int) or isinstance(poll, bool) or not 0 <= poll < 2**53:
        raise CryptoError("setup: poll must be a non-negative integer")
    trustees = setup["trustees"]
    if not isinstance(trustees, list) or not 1 <= len(trustees) <= 255:
        raise CryptoError("setup: trustees must be a list of 1 to 255 entries")
    for pos, t in enumerate(trustees, start=1):
        if not isinstance(t, dict) or set(t) != {"index", "name"} or t["index"] != pos \
                or not isinstance(t["name"], str) or not t["name"]:
            raise CryptoError(f"setup: trustee entry {pos} must be {{index: {pos}, name: non-empty string}}")
    if len({t["name"] for t in trustees}) != len(trustees):
        raise CryptoError("setup: trustee names must be distinct")
    _index(setup["threshold"], len(trustees), "setup: threshold")
    return setup


def setup_digest(setup: dict[str, Any]) -> bytes:
    """``sd``: SHA-256 of the canonical JSON of the setup (32 bytes)."""
    return hashlib.sha256(canonical_json(read_setup(setup))).digest()


def _digest(messages: list[dict]) -> str:
    return sha256_hex(canonical_json(sorted(messages, key=lambda m: m["index"])))


def _state(state: Any, sd: bytes, *need: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CryptoError("state: not a trustee state file")
    if state.get("setup") != sd.hex():
        raise CryptoError("state: it belongs to another ceremony setup")
    for key in need:
        if key not in state:
            raise CryptoError(f"state: missing {key} (run the earlier steps first)")
    return state


# --- round 1 -------------------------------------------------------------------------------------

def ceremony_init(setup: Any, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Round 1: a certificate (Ed25519 signing key and X25519 box key, signed) and the private state."""
    sd = setup_digest(setup)
    n = len(setup["trustees"])
    _index(index, n, "init")
    sign_pk, sign_sk = pysodium.crypto_sign_keypair()
    box_pk, box_sk = pysodium.crypto_box_keypair()
    body = {"index": index, "name": setup["trustees"][index - 1]["name"], "signing_key": sign_pk.hex(),
            "box_key": box_pk.hex()}
    cert = dict(body, signature=_sign("governance/v1/certificate", sd, body, sign_sk))
    state = {"format": STATE_FORMAT, "index": index, "setup": sd.hex(), "signing_secret": sign_sk.hex(),
             "box_secret": box_sk.hex(), "certificate": cert}
    return cert, state


def _certificate(setup: dict, sd: bytes, cert: Any) -> int:
    """Check one certificate (shape, index, name, self-signature); return its index."""
    if not isinstance(cert, dict) or set(cert) != _CERT_KEYS:
        raise CryptoError(f"certificate: expected exactly the keys {', '.join(sorted(_CERT_KEYS))}")
    j = _index(cert["index"], len(setup["trustees"]), "certificate")
    if cert["name"] != setup["trustees"][j - 1]["name"]:
        raise CryptoError(f"certificate of trustee {j}: the name is not the setup's")
    key = _hex(cert["signing_key"], 32, f"certificate of trustee {j}: signing_key")
    _hex(cert["box_key"], 32, f"certificate of trustee {j}: box_key")
    _verify_sig("governance/v1/certificate", sd, cert, key, f"certificate of trustee {j}")
    return j


def _certificates(setup: dict, sd: bytes, certificates: Any) -> dict[int, dict]:
    n = len(setup["trustees"])
    if not isinstance(certificates, list):
        raise CryptoError("certificates: expected a list")
    by_index: dict[int, dict] = {}
    for cert in certificates:
        j = _certificate(setup, sd, cert)
        if j in by_index:
            raise CryptoError(f"certificates: trustee {j} has two certificates")
        by_index[j] = cert
    if len(by_index) != n:
        missing = sorted(set(range(1, n + 1)) - set(by_index))
        raise CryptoError(f"certificates: missing trustee {', '.join(map(str, missing))}")
    keys = [c["signing_key"] for c in by_index.values()] + [c["box_key"] for c in by_index.values()]
    if len(set(keys)) != len(keys):
        raise CryptoError("certificates: two certificates share a key")
    return by_index


def verify_certificate(setup: Any, certificate: Any) -> None:
    """Check one round-1 certificate as it arrives (the platform relays only what passes)."""
    setup = read_setup(setup)
    _certificate(setup, setup_digest(setup), certificate)


# --- round 2 -------------------------------------------------------------------------------------

def _share_plain(sd: bytes, j: int, ell: int, share: bytes) -> bytes:
    return frame("governance/v1/dkg/share", sd, j, ell, share)


def ceremony_share(setup: Any, state: Any, certificates: Any, *,
                   rng: Rng | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Round 2: Feldman commitments, proof of the constant term, sealed shares for the others; signed."""
    sd = setup_digest(setup)
    st = _state(state, sd, "signing_secret")
    certs = _certificates(setup, sd, certificates)
    j, t = st["index"], setup["threshold"]
    if certs[j] != st["certificate"]:
        raise CryptoError(f"certificates: trustee {j}'s certificate is not the one this state made")
    draw = rng or Secret.random
    coeffs = [draw() for _ in range(t)]
    commitments = [smul_base(a) for a in coeffs]
    proof = _pok("governance/v1/dkg", (sd, j, b"".join(commitments)), coeffs[0], rng)

    def f(x: int) -> Secret:
        acc, power = Secret.zero(), 1
        for a in coeffs:
            acc = acc + a * power
            power = power * x % L
        return acc

    shares = []
    for ell in sorted(certs):
        if ell != j:
            plain = _share_plain(sd, j, ell, f(ell).public_bytes())
            sealed = pysodium.crypto_box_seal(plain, bytes.fromhex(certs[ell]["box_key"]))
            shares.append({"to": ell, "ciphertext": sealed.hex()})
    body = {"index": j, "certificates": _digest(list(certs.values())),
            "commitments": [point_hex(c) for c in commitments], "proof": proof, "shares": shares}
    msg = dict(body, signature=_sign("governance/v1/dkg/shares", sd, body, bytes.fromhex(st["signing_secret"])))
    new_state = dict(st, own_share=f(j).hex())
    return msg, new_state


def _feldman(commitments: list[bytes], ell: int) -> bytes:
    acc, power = IDENTITY, 1
    for c in commitments:
        acc = add(acc, smul(power, c))
        power = power * ell % L
    return acc


def _share_message(setup: dict, sd: bytes, certs: dict[int, dict], msg: Any) -> tuple[int, list[bytes]]:
    """Check one round-2 message (signature, certificates seen, commitments, proof, one share per
    other trustee); return its index and commitments."""
    n, t = len(setup["trustees"]), setup["threshold"]
    if not isinstance(msg, dict) or set(msg) != _SHARES_KEYS:
        raise CryptoError(f"share message: expected exactly the keys {', '.join(sorted(_SHARES_KEYS))}")
    j = _index(msg["index"], n, "share message")
    what = f"share message of trustee {j}"
    _verify_sig("governance/v1/dkg/shares", sd, msg, bytes.fromhex(certs[j]["signing_key"]), what)
    if msg["certificates"] != _digest(list(certs.values())):
        raise CryptoError(f"{what}: it was made with other certificates")
    commitments = read_points(msg["commitments"], f"{what}: commitments", t)
    _check_pok("governance/v1/dkg", (sd, j, b"".join(commitments)), commitments[0], msg["proof"], what)
    shares = msg["shares"]
    want = [ell for ell in range(1, n + 1) if ell != j]
    if not isinstance(shares, list) or [s.get("to") if isinstance(s, dict) else None for s in shares] != want \
            or not all(set(s) == {"to", "ciphertext"} and isinstance(s["ciphertext"], str) for s in shares):
        raise CryptoError(f"{what}: expected one share for each other trustee, in index order")
    return j, commitments


def _share_messages(setup: dict, sd: bytes, certs: dict[int, dict], messages: Any) -> dict[int, dict]:
    n = len(setup["trustees"])
    if not isinstance(messages, list):
        raise CryptoError("share messages: expected a list")
    by_index: dict[int, dict] = {}
    for msg in messages:
        j, commitments = _share_message(setup, sd, certs, msg)
        if j in by_index:
            raise CryptoError(f"share messages: trustee {j} sent two")
        by_index[j] = dict(msg, _commitments=commitments)
    if len(by_index) != n:
        missing = sorted(set(range(1, n + 1)) - set(by_index))
        raise CryptoError(f"share messages: missing trustee {', '.join(map(str, missing))}")
    return by_index


def verify_shares_message(setup: Any, certificates: Any, message: Any) -> None:
    """Check one round-2 message as it arrives, against every trustee's certificate."""
    setup = read_setup(setup)
    sd = setup_digest(setup)
    _share_message(setup, sd, _certificates(setup, sd, certificates), message)


def _public(messages: dict[int, dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if not k.startswith("_")} for m in messages.values()]


# --- round 3 -------------------------------------------------------------------------------------

def ceremony_finish(setup: Any, state: Any, certificates: Any,
                    share_messages: Any, *, rng: Rng | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Round 3: open and check my shares, then publish my verification key with its proof (signed).

    A share that does not match its sender's commitments stops here, naming the sender.
    """
    sd = setup_digest(setup)
    st = _state(state, sd, "signing_secret", "own_share")
    certs = _certificates(setup, sd, certificates)
    msgs = _share_messages(setup, sd, certs, share_messages)
    ell = st["index"]
    box_sk = bytes.fromhex(st["box_secret"])
    box_pk = bytes.fromhex(certs[ell]["box_key"])
    own = read_secret(st["own_share"], "state: own_share")
    if smul_base(own) != _feldman(msgs[ell]["_commitments"], ell):
        raise CryptoError(f"share messages: trustee {ell}'s published commitments are not this state's")
    total = own
    for j, msg in sorted(msgs.items()):
        if j == ell:
            continue
        entry = next(s for s in msg["shares"] if s["to"] == ell)
        try:
            plain = pysodium.crypto_box_seal_open(bytes.fromhex(entry["ciphertext"]), box_pk, box_sk)
        except ValueError:
            raise CryptoError(f"trustee {j} sent trustee {ell} a share that cannot be opened") from None
        expected = _share_plain(sd, j, ell, bytes(32))
        if len(plain) != len(expected) or plain[:-32] != expected[:-32] \
                or int.from_bytes(plain[-32:], "little") >= L:
            raise CryptoError(f"trustee {j} sent trustee {ell} a malformed share")
        share = Secret(plain[-32:])
        if smul_base(share) != _feldman(msg["_commitments"], ell):
            raise CryptoError(f"trustee {j} sent trustee {ell} a share that does not match its commitments")
        total = total + share
    if total.is_zero():
        raise CryptoError("the secret share is zero; run the ceremony again")
    key = smul_base(total)
    rd = _digest(_public(msgs))
    proof = _pok("governance/v1/key", (sd, ell, key, bytes.fromhex(rd)), total, rng)
    body = {"index": ell, "shares": rd, "verification_key": point_hex(key), "proof": proof}
    msg = dict(body, signature=_sign("governance/v1/dkg/key", sd, body, bytes.fromhex(st["signing_secret"])))
    public_key = IDENTITY
    for m in msgs.values():
        public_key = add(public_key, m["_commitments"][0])
    new_state = {k: v for k, v in st.items() if k != "own_share"}
    new_state.update(secret_share=total.hex(), verification_key=point_hex(key), public_key=point_hex(public_key))
    return msg, new_state


def _key_message(setup: dict, sd: bytes, certs: dict[int, dict], msgs: dict[int, dict], msg: Any) -> tuple[int, bytes]:
    """Check one round-3 message (signature, round-2 messages seen, key proof, key from the
    commitments); return its index and verification key."""
    if not isinstance(msg, dict) or set(msg) != _KEY_KEYS:
        raise CryptoError(f"key message: expected exactly the keys {', '.join(sorted(_KEY_KEYS))}")
    ell = _index(msg["index"], len(setup["trustees"]), "key message")
    what = f"key message of trustee {ell}"
    rd = _digest(_public(msgs))
    _verify_sig("governance/v1/dkg/key", sd, msg, bytes.fromhex(certs[ell]["signing_key"]), what)
    if msg["shares"] != rd:
        raise CryptoError(f"{what}: it saw other share messages than the ones published")
    key = read_point(msg["verification_key"], f"{what}: verification_key")
    _check_pok("governance/v1/key", (sd, ell, key, bytes.fromhex(rd)), key, msg["proof"], what)
    expected = IDENTITY
    for m in msgs.values():
        expected = add(expected, _feldman(m["_commitments"], ell))
    if key != expected:
        raise CryptoError(f"{what}: the verification key does not follow from the commitments")
    return ell, key


def verify_key_message(setup: Any, certificates: Any, share_messages: Any, message: Any) -> None:
    """Check one round-3 message as it arrives, against the certificates and every round-2 message."""
    setup = read_setup(setup)
    sd = setup_digest(setup)
    certs = _certificates(setup, sd, certificates)
    _key_message(setup, sd, certs, _share_messages(setup, sd, certs, share_messages), message)


def verify_ceremony(setup: Any, certificates: Any, share_messages: Any, key_messages: Any) -> dict[str, Any]:
    """Check the whole public transcript; return the ElectionParams fields it fixes.

    Returns ``{"election_id", "poll", "threshold", "public_key", "trustees": [{index, name, verification_key}]}``.
    """
    sd = setup_digest(setup)
    n = len(setup["trustees"])
    certs = _certificates(setup, sd, certificates)
    msgs = _share_messages(setup, sd, certs, share_messages)
    if not isinstance(key_messages, list):
        raise CryptoError("key messages: expected a list")
    keys: dict[int, bytes] = {}
    for msg in key_messages:
        ell, key = _key_message(setup, sd, certs, msgs, msg)
        if ell in keys:
            raise CryptoError(f"key messages: trustee {ell} sent two")
        keys[ell] = key
    if len(keys) != n:
        missing = sorted(set(range(1, n + 1)) - set(keys))
        raise CryptoError(f"key messages: missing trustee {', '.join(map(str, missing))}")
    public_key = IDENTITY
    for m in msgs.values():
        public_key = add(public_key, m["_commitments"][0])
    return {"election_id": setup["election_id"], "poll": setup["poll"], "threshold": setup["threshold"],
            "public_key": point_hex(public_key),
            "trustees": [{"index": t["index"], "name": t["name"], "verification_key": point_hex(keys[t["index"]])}
                         for t in setup["trustees"]]}


# --- platform-held key ---------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class PlatformKey:
    """The platform-held key of one poll: ``secret`` (a Secret), ``public_key`` (hex) and its proof."""

    secret: Secret
    public_key: str
    proof: dict[str, str]

    def __repr__(self) -> str:
        return f"PlatformKey(public_key={self.public_key!r})"


def _platform_context(election_id: str | None, poll: int | None) -> bytes:
    if election_id is None and poll is None:
        return b""
    return hashlib.sha256(f"{election_id or ''}{'' if poll is None else poll}".encode("ascii")).digest()


def platform_keypair(seed_bytes: bytes, *, election_id: str | None = None, poll: int | None = None,
                     rng: Rng | None = None) -> PlatformKey:
    """Derive the platform's key from a 32-byte seed: ``x = Hs("governance/v1/platform-key", seed)``."""
    if not isinstance(seed_bytes, (bytes, bytearray)) or len(seed_bytes) != 32:
        raise CryptoError("the platform key seed must be 32 bytes")

    x = Secret.from_digest(hash_frame("governance/v1/platform-key", bytes(seed_bytes)))
    if x.is_zero():  # pragma: no cover - probability 2**-252
        raise CryptoError("the seed gives a zero key")
    y = smul_base(x)
    ctx = _platform_context(election_id, poll)
    return PlatformKey(x, point_hex(y), _pok("governance/v1/key", (ctx, 1, y, b""), x, rng))


def verify_key_proof(public_key: Any, proof: Any, *, election_id: str | None = None,
                     poll: int | None = None) -> None:
    """Check the platform key's proof of knowledge (same context as :func:`platform_keypair`)."""
    y = read_point(public_key, "platform public key")
    _check_pok("governance/v1/key", (_platform_context(election_id, poll), 1, y, b""), y, proof, "platform key")
