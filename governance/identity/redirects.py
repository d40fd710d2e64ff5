"""Open-redirect protection for ``next`` parameters (pure)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(value: str | None, default: str = "/") -> str:
    """Return ``value`` if it is a same-site relative path, else ``default``.

    Refuses absolute and scheme-relative URLs (``//host``), backslashes, control characters,
    ``javascript:`` and the same tricks percent-encoded (checked after repeated decoding).

    >>> safe_next("/polls/3?tab=results")
    '/polls/3?tab=results'
    >>> [safe_next(v) for v in ["//evil.example", "/\\\\evil.example", "https://evil.example/", "javascript:alert(1)",
    ...                         "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%5Cevil", " /x"]]
    ['/', '/', '/', '/', '/', '/', '/', '/']
    """
    if not value or len(value) > 2000:
        return default
    candidate = value
    for _ in range(4):  # look through up to four layers of percent-encoding
        if not _is_safe(candidate):
            return default
        decoded = unquote(candidate)
        if decoded == candidate:
            break
        candidate = decoded
    else:
        return default
    return value


def _is_safe(path: str) -> bool:
    if not path.startswith("/") or path.startswith("//"):
        return False
    if "\\" in path or _CONTROL.search(path):
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc
