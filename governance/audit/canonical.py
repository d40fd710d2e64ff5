"""Canonical JSON and hashing: the byte encoding every audit hash and signature is computed over.

Boundary rule: pure standard library; no Flask, SQLModel, SQLAlchemy or other project imports.

The encoding is the subset of RFC 8785 (JSON Canonicalization Scheme) that needs no number
formatting rules: object keys sorted by their UTF-16 code units, no insignificant whitespace,
UTF-8 output, strings escaped as RFC 8785 prescribes, and integers only. Floats are refused,
because two systems need not print the same float the same way; exact numbers that are not
whole (quotas, keep factors) travel as decimal strings, as ``governance.tally`` already writes them.

>>> canonical_json({"b": [1, True, None], "a": "é"})
b'{"a":"\\xc3\\xa9","b":[1,true,null]}'
>>> sha256_hex(b"")
'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["AuditError", "CanonicalJSONError", "MAX_SAFE_INTEGER", "canonical_json", "plain", "sha256_hex"]

#: Integers beyond this cannot be represented exactly by every JSON reader (RFC 7493, I-JSON).
MAX_SAFE_INTEGER = 2**53 - 1


class AuditError(ValueError):
    """An audit record, proof, signature or bundle is malformed or does not verify."""


class CanonicalJSONError(AuditError):
    """A value cannot be written as canonical JSON (a float, a non-string key, ...)."""


def canonical_json(obj: Any) -> bytes:
    """Encode ``obj`` as canonical JSON bytes (sorted keys, no whitespace, UTF-8, integers only).

    Mappings need string keys; lists and tuples become arrays. Floats, integers outside
    +/-(2**53 - 1), unpaired surrogates and any other type raise CanonicalJSONError naming
    where in the value the problem is.

    >>> canonical_json({"z": 1, "a": [None, False]})
    b'{"a":[null,false],"z":1}'
    >>> canonical_json({"quota": 2.5})
    Traceback (most recent call last):
    ...
    governance.audit.canonical.CanonicalJSONError: $.quota: floats are not allowed in canonical JSON \
(use an integer, or a decimal string for an exact number)
    """
    parts: list[str] = []
    _encode(obj, parts, "$")
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate slipped through a key or string
        raise CanonicalJSONError(f"text is not valid Unicode: {exc.reason}") from None


def plain(value: Any) -> Any:
    """Data made canonical-JSON-able: mappings with string keys, tuples as lists, floats as their repr text.

    >>> plain({1: (0.5, "x")})
    {'1': ['0.5', 'x']}
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hexadecimal SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


# === Encoder ====================================================================================


def _encode(value: Any, out: list[str], where: str) -> None:
    # bool before int: True is an int in Python but a literal in JSON.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalJSONError(
                f"{where}: integer {value} is too large for exact JSON (use a decimal string)"
            )
        out.append(str(int(value)))
    elif isinstance(value, float):
        raise CanonicalJSONError(
            f"{where}: floats are not allowed in canonical JSON "
            "(use an integer, or a decimal string for an exact number)"
        )
    elif isinstance(value, str):
        out.append(_string(value, where))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{where}: object keys must be strings, not {type(key).__name__}")
        # RFC 8785 sorts keys by UTF-16 code units; this differs from code point order only
        # for characters above U+FFFF, but it is the rule, so follow it.
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(_string(key, where))
            out.append(":")
            _encode(value[key], out, f"{where}.{key}")
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, f"{where}[{i}]")
        out.append("]")
    else:
        raise CanonicalJSONError(f"{where}: {type(value).__name__} values cannot be written as JSON")


def _string(text: str, where: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError(f"{where}: string contains an unpaired surrogate") from None
    # json.dumps with ensure_ascii=False escapes exactly what RFC 8785 escapes: the quote, the
    # backslash and the C0 controls (short forms \b \t \n \f \r, otherwise lowercase \u00xx).
    return json.dumps(text, ensure_ascii=False)
