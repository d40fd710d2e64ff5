"""DiscourseConnect with Discourse as the identity provider: build requests, verify answers.

Boundary rule: pure functions over strings and bytes; no Flask, no database.

pydiscourse's ``sso_validate`` is written for the other direction (Discourse logging in against an
app), returns only the nonce and compares signatures with ``!=``; so the verifier lives here:
the signature is checked over the ``sso`` string exactly as received, in constant time, before
anything is decoded, and decoding is strict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

MAX_PAYLOAD_CHARS = 16_384
_SIG_RE = re.compile(r"^[0-9a-f]{64}$")


class ConnectError(ValueError):
    """A DiscourseConnect answer that must not log anybody in; the message says why."""


def sign(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of the base64 payload string."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def request_params(secret: str, *, nonce: str, return_sso_url: str, prompt_none: bool = False,
                   logout: bool = False) -> dict[str, str]:
    """Query parameters for ``{forum}/session/sso_provider`` (``logout``: end the forum session).

    >>> p = request_params("s", nonce="n", return_sso_url="https://x/auth/sso")
    >>> base64.b64decode(p["sso"]).decode()
    'nonce=n&return_sso_url=https%3A%2F%2Fx%2Fauth%2Fsso'
    """
    fields = {"nonce": nonce, "return_sso_url": return_sso_url}
    if prompt_none:
        fields["prompt"] = "none"
    if logout:
        fields["logout"] = "true"
    payload = base64.b64encode(urlencode(fields).encode()).decode()
    return {"sso": payload, "sig": sign(secret, payload)}


@dataclass(frozen=True)
class ConnectUser:
    """The identity fields of a verified DiscourseConnect answer."""

    nonce: str
    return_sso_url: str
    external_id: int
    username: str
    name: str
    email: str
    avatar_url: str
    admin: bool
    moderator: bool
    groups: tuple[str, ...]


def verify(secret: str, sso: str | None, sig: str | None) -> dict[str, str]:
    """Check the signature in constant time, then decode strictly; return the raw fields.

    Raises ConnectError for a missing, malformed or wrong signature, a payload that is not strict
    base64 of a query string, or a repeated field.
    """
    if not sso or not sig:
        raise ConnectError("the forum's answer is missing its payload or signature")
    if len(sso) > MAX_PAYLOAD_CHARS or len(sig) > 128:
        raise ConnectError("the forum's answer is too large")
    expected = sign(secret, sso)
    # compare_digest on equal-length ASCII strings; a truncated or case-changed signature fails.
    if not hmac.compare_digest(expected.encode(), sig.encode("ascii", "replace")) or not _SIG_RE.match(sig):
        raise ConnectError("the forum's answer has an invalid signature")
    try:
        raw = base64.b64decode(sso.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise ConnectError("the forum's answer is not valid base64 text") from None
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeError):
        raise ConnectError("the forum's answer is not a valid query string") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise ConnectError(f"the forum's answer repeats the field {key!r}")
        fields[key] = value
    return fields


def parse_user(fields: dict[str, str]) -> ConnectUser:
    """Turn verified fields into a ConnectUser; refuse failed logins and missing fields."""
    if fields.get("failed") == "true":
        raise ConnectError("the forum did not log you in")
    for key in ("nonce", "return_sso_url", "external_id", "username"):
        if not fields.get(key):
            raise ConnectError(f"the forum's answer lacks {key}")
    try:
        external_id = int(fields["external_id"])
    except ValueError:
        raise ConnectError("the forum's answer has a non-numeric external_id") from None
    if external_id <= 0:
        raise ConnectError("system accounts cannot log in here")
    groups = tuple(g for g in fields.get("groups", "").split(",") if g)
    return ConnectUser(
        nonce=fields["nonce"],
        return_sso_url=fields["return_sso_url"],
        external_id=external_id,
        username=fields["username"],
        name=fields.get("name", ""),
        email=fields.get("email", ""),
        avatar_url=fields.get("avatar_url", ""),
        admin=fields.get("admin") == "true",
        moderator=fields.get("moderator") == "true",
        groups=groups,
    )
