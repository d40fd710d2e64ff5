"""Helpers for the stand-in forum's tests: build DiscourseConnect requests the way a consumer
(such as the platform) does, and check the forum's signed answers independently of its code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

RETURN_URL = "http://platform.example/auth/discourse/callback"


def connect_query(secret: str, **fields) -> dict[str, str]:
    """A signed DiscourseConnect request: Base64 of the form-encoded fields, HMAC-SHA256 hex."""
    payload = base64.b64encode(urlencode(fields).encode()).decode()
    return {"sso": payload, "sig": hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}


def read_answer(location: str, secret: str) -> dict[str, str]:
    """Check the signature of a redirect back from the forum and return the decoded fields."""
    query = dict(parse_qsl(urlsplit(location).query))
    expected = hmac.new(secret.encode(), query["sso"].encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, query["sig"]), "forum answer has a bad signature"
    return dict(parse_qsl(base64.b64decode(query["sso"]).decode(), keep_blank_values=True))


def csrf_token(html: str) -> str:
    """The login form's CSRF token."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
