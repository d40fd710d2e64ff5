"""Fixtures for the audit tests (the helpers live in ``audit_support``)."""

from __future__ import annotations

import pytest

from governance.audit.signing import generate_key
from tests.audit.audit_support import Poll, make_poll


@pytest.fixture
def keys(monkeypatch):
    """A signing key configured for the server (heads made at the close are signed with it)."""
    private_pem, public_pem = generate_key()
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", private_pem.decode("ascii"))
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", raising=False)
    return private_pem, public_pem


@pytest.fixture
def unsigned(monkeypatch):
    """No signing key: heads are unsigned."""
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("GOVERNANCE_AUDIT_SIGNING_KEY_FILE", raising=False)


@pytest.fixture(scope="session")
def poll() -> Poll:
    """The standard signed poll (built once: key generation and hashing are not free)."""
    return make_poll()


@pytest.fixture(scope="session")
def bundle(poll: Poll) -> bytes:
    """The standard poll's bundle."""
    return poll.build()
