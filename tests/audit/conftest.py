"""Fixtures for the audit tests (the helpers live in ``audit_support``)."""

from __future__ import annotations

import pytest

from tests.audit.audit_support import Poll, make_poll

# ``keys`` and ``unsigned`` (the audit signing key configured or not) are in tests/conftest.py.


@pytest.fixture(scope="session")
def poll() -> Poll:
    """The standard signed poll (built once: key generation and hashing are not free)."""
    return make_poll()


@pytest.fixture(scope="session")
def bundle(poll: Poll) -> bytes:
    """The standard poll's bundle."""
    return poll.build()
